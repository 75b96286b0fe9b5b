//! JWT access tokens: per-issuer configuration and claim validation (RFC 7519, RFC 9068).
//!
//! ```
//! use oauth_filter::{Algorithm, JwtIssuer};
//! let issuer = JwtIssuer::new("https://idp.example")
//!     .audience("https://api.example")
//!     .jwks_url("https://idp.example/jwks")
//!     .algorithms([Algorithm::RS256, Algorithm::ES256])
//!     .strict_rfc9068(true);
//! # let _ = issuer;
//! ```

use crate::access_token::{Scopes, TokenFacts, TokenKind};
use crate::claims::{self, TimeWindow};
use crate::error::AuthError;
use crate::jose::{Algorithm, CompactJws, JoseError, JwsHeader, VerifyingKey};
use crate::keys::{JwksPolicy, KeySource};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// A secret that never prints.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub(crate) enum KeysConfig {
    Discovery,
    JwksUrl(String),
    Jwks(String),
}

/// One trusted issuer of JWT access tokens.
#[derive(Debug, Clone)]
pub struct JwtIssuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) keys: KeysConfig,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) strict_rfc9068: bool,
    pub(crate) jwks_policy: JwksPolicy,
    pub(crate) shared_secrets: Vec<(Algorithm, Option<String>, Secret)>,
    pub(crate) accept_bound_as_bearer: bool,
}

impl JwtIssuer {
    /// An issuer, matched exactly against `iss`. Keys default to discovery from this URL.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            keys: KeysConfig::Discovery,
            algorithms: Algorithm::DEFAULT_ASYMMETRIC.to_vec(),
            strict_rfc9068: false,
            jwks_policy: JwksPolicy::default(),
            shared_secrets: Vec::new(),
            accept_bound_as_bearer: false,
        }
    }
    /// An accepted audience; `aud` must contain one of them. At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// Fetch keys from this JWKS URL.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = KeysConfig::JwksUrl(url.into());
        self
    }
    /// Find `jwks_uri` through RFC 8414 / OpenID discovery of the issuer (the default).
    pub fn discover(mut self) -> Self {
        self.keys = KeysConfig::Discovery;
        self
    }
    /// Use this fixed JWKS document; never fetch.
    pub fn jwks_json(mut self, jwks: impl Into<String>) -> Self {
        self.keys = KeysConfig::Jwks(jwks.into());
        self
    }
    /// The algorithm allow-list (default: RS/PS/ES 256–512 and EdDSA). HMAC names here are
    /// refused unless a shared secret is configured with [`JwtIssuer::dangerous_hmac_secret`].
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self
    }
    /// RFC 9068 strict mode: `typ` must be `at+jwt`, and `sub`, `client_id`, `iat`, `jti` present.
    pub fn strict_rfc9068(mut self, strict: bool) -> Self {
        self.strict_rfc9068 = strict;
        self
    }
    /// **Dangerous**: accept tokens bound to a key (`cnf` with `jkt`, `x5t#S256` or any other
    /// member) as plain bearer tokens. By default they are refused with 401 `invalid_token`
    /// (RFC 9449 §7.1, RFC 8705 §3): without checking the proof of possession, a stolen bound
    /// token would work for anyone, which is exactly what binding exists to prevent. Turn this
    /// on only where the binding is enforced in front of this filter (for example mTLS checked
    /// by a proxy that compares the certificate thumbprint).
    pub fn dangerous_accept_sender_constrained_as_bearer(mut self, accept: bool) -> Self {
        self.accept_bound_as_bearer = accept;
        self
    }
    /// Timing rules for the remote key set.
    pub fn jwks_policy(mut self, policy: JwksPolicy) -> Self {
        self.jwks_policy = policy;
        self
    }
    /// **Dangerous**: accept HMAC-signed tokens (`HS256/384/512`) verified with a shared secret.
    /// Anyone holding the secret can mint tokens, so every API sharing it can impersonate
    /// users to the others. The secret must be at least as long as the hash output.
    pub fn dangerous_hmac_secret(
        mut self,
        alg: Algorithm,
        kid: Option<&str>,
        secret: impl Into<Vec<u8>>,
    ) -> Self {
        self.shared_secrets
            .push((alg, kid.map(str::to_owned), Secret(secret.into())));
        if !self.algorithms.contains(&alg) {
            self.algorithms.push(alg);
        }
        self
    }
}

/// Runtime state of one issuer.
pub(crate) struct IssuerVerifier {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) strict_rfc9068: bool,
    pub(crate) keys: KeySource,
    pub(crate) hmac_keys: Vec<VerifyingKey>,
    pub(crate) accept_bound_as_bearer: bool,
}

impl IssuerVerifier {
    /// Checks the algorithm against the allow-list and the signature against the issuer's keys.
    /// A key we do not have may be a new one: the key set is refreshed (cooldown permitting) and
    /// the check retried once; without a `kid`, a bad signature may also mean a new key.
    /// Returns the generation of the key set that verified (`None` for shared secrets).
    pub(crate) async fn verify_signature(
        self: &Arc<Self>,
        jws: &CompactJws<'_>,
    ) -> Result<Option<u64>, AuthError> {
        let alg = jws.header().alg;
        if !self.algorithms.contains(&alg) {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if alg.is_hmac() {
            jws.verify_with_any(&self.hmac_keys)?;
            return Ok(None);
        }
        let snapshot = self.keys.current().await?;
        let used = match jws.verify_with_any(&snapshot.keys) {
            Ok(()) => snapshot,
            Err(e @ (JoseError::UnknownKey | JoseError::BadSignature))
                if e == JoseError::UnknownKey || jws.header().kid.is_none() =>
            {
                match self.keys.after_miss(&snapshot).await {
                    Some(newer) => {
                        jws.verify_with_any(&newer.keys)?;
                        newer
                    }
                    None => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some(used.generation))
    }
}

/// Accepted `typ` values outside strict mode: absent, generic JWT, or an access token. Anything
/// else (`dpop+jwt`, `logout+jwt`, `secevent+jwt`, …) names another kind of token.
fn typ_is_access_token(typ: Option<&str>, strict: bool) -> bool {
    let Some(t) = typ else { return !strict };
    let t = t.to_ascii_lowercase();
    let t = t.strip_prefix("application/").unwrap_or(&t);
    t == "at+jwt" || (!strict && t == "jwt")
}

/// A NumericDate (RFC 7519 §2), by the shared rule in `claims`.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    claims::numeric_date(claims.get(name)).map_err(|_| AuthError::InvalidClaim(name))
}

/// Claims only OpenID Connect ID tokens carry (OIDC Core §2, §3.1.3.6, §3.3.2.11): a JWT with
/// any of them was issued to a client to read, not to an API, even when its `aud` names us.
const ID_TOKEN_CLAIMS: [&str; 3] = ["nonce", "at_hash", "c_hash"];

fn string_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

fn scopes(claims: &Map<String, Value>) -> Result<Scopes, AuthError> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Ok(Scopes::from_space_separated(s)),
        (Some(_), _) => Err(AuthError::InvalidClaim("scope")),
        (None, Some(Value::String(s))) => Ok(Scopes::from_space_separated(s)),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(AuthError::InvalidClaim("scp"))
            })
            .collect(),
        (None, Some(_)) => Err(AuthError::InvalidClaim("scp")),
        (None, None) => Ok(Scopes::default()),
    }
}

impl IssuerVerifier {
    /// Checks the claims of a signature-verified token. `now` and `leeway` are in seconds.
    pub(crate) fn validate_claims(
        &self,
        header: &JwsHeader,
        claims: Map<String, Value>,
        now: f64,
        leeway: f64,
        verified_by: usize,
    ) -> Result<TokenFacts, AuthError> {
        if !typ_is_access_token(header.typ.as_deref(), self.strict_rfc9068) {
            return Err(AuthError::WrongTokenType);
        }
        // iss was matched exactly when the issuer was chosen; check again as a claim.
        if string_claim(&claims, "iss")?.as_deref() != Some(self.issuer.as_str()) {
            return Err(AuthError::UnknownIssuer);
        }
        // An ID token is not an access token, in every mode (RFC 9068 §4 asks for `typ` only
        // in strict mode; these claims give an ID token away everywhere).
        if ID_TOKEN_CLAIMS.iter().any(|c| claims.contains_key(*c)) {
            return Err(AuthError::WrongTokenType);
        }
        let exp = numeric_date(&claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
        let nbf = numeric_date(&claims, "nbf")?;
        let iat = numeric_date(&claims, "iat")?;
        TimeWindow {
            exp: Some(exp),
            nbf,
            iat,
        }
        .check(now, leeway)?;
        // A missing `aud` is an empty list here, which names none of ours.
        let audiences =
            claims::audiences(claims.get("aud")).map_err(|_| AuthError::InvalidClaim("aud"))?;
        if !audiences.iter().any(|a| self.audiences.contains(a)) {
            return Err(AuthError::AudienceMismatch);
        }
        // A key-bound token needs its proof (DPoP, mTLS), which is not verified here yet.
        if claims.contains_key("cnf") && !self.accept_bound_as_bearer {
            return Err(AuthError::SenderConstrainedToken);
        }
        let subject = string_claim(&claims, "sub")?;
        let client_id = match string_claim(&claims, "client_id")? {
            Some(c) => Some(c),
            None if self.strict_rfc9068 => None,
            None => string_claim(&claims, "azp")?,
        };
        let jwt_id = string_claim(&claims, "jti")?;
        if self.strict_rfc9068 {
            if subject.is_none() {
                return Err(AuthError::MissingClaim("sub"));
            }
            if client_id.is_none() {
                return Err(AuthError::MissingClaim("client_id"));
            }
            if iat.is_none() {
                return Err(AuthError::MissingClaim("iat"));
            }
            if jwt_id.is_none() {
                return Err(AuthError::MissingClaim("jti"));
            }
        }
        let scopes = scopes(&claims)?;
        Ok(TokenFacts {
            introspection_jwt: None,
            kind: TokenKind::Jwt,
            issuer: self.issuer.clone(),
            subject,
            client_id,
            scopes,
            audiences,
            expires_at: Some(exp),
            issued_at: iat,
            not_before: nbf,
            jwt_id,
            claims,
            verified_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_rules() {
        assert!(typ_is_access_token(None, false));
        assert!(!typ_is_access_token(None, true));
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(typ_is_access_token(Some(ok), true), "{ok}");
        }
        assert!(typ_is_access_token(Some("JWT"), false));
        assert!(!typ_is_access_token(Some("JWT"), true));
        for bad in [
            "dpop+jwt",
            "logout+jwt",
            "secevent+jwt",
            "id_token+jwt",
            "",
            "at+jwt ",
            "jose",
        ] {
            assert!(!typ_is_access_token(Some(bad), false), "{bad}");
        }
    }
}
