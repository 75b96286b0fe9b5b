//! JWT access tokens (RFC 7519, RFC 9068): one trusted issuer's configuration, its build step,
//! its signature check and its claim validation.
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
//!
//! The signature check ([`IssuerVerifier::verify_signature`]) returns a
//! [`Verified`](crate::jose::Verified), which only `jose` can make, and claim validation
//! ([`IssuerVerifier::validate_claims`]) takes nothing else.

use crate::access_token::{TokenFacts, TokenKind};
use crate::claims::{self, Established, TimeWindow};
use crate::error::{AuthError, ConfigError};
use crate::explain::Trace;
use crate::http::{HttpClientConfig, HttpFetcher};
use crate::jose::{Algorithm, JoseError, Unverified, Verified, VerifyingKey, json};
use crate::keys::{JwksLocation, JwksPolicy, KeySnapshot, KeySource, RemoteKeySet, parse_jwks};
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
    issuer: String,
    audiences: Vec<String>,
    keys: KeysConfig,
    algorithms: Vec<Algorithm>,
    strict_rfc9068: bool,
    jwks_policy: JwksPolicy,
    shared_secrets: Vec<(Algorithm, Option<String>, Secret)>,
    accept_bound_as_bearer: bool,
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
    /// refused unless a shared secret is configured with [`DangerousJwtIssuer::hmac_secret`].
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self
    }
    /// RFC 9068 strict mode: `typ` must be `at+jwt`, and `sub`, `client_id`, `iat`, `jti` present.
    pub fn strict_rfc9068(mut self, strict: bool) -> Self {
        self.strict_rfc9068 = strict;
        self
    }
    /// Timing rules for the remote key set.
    pub fn jwks_policy(mut self, policy: JwksPolicy) -> Self {
        self.jwks_policy = policy;
        self
    }
    /// The settings that weaken security, each explained where it is set.
    pub fn dangerous(self) -> DangerousJwtIssuer {
        DangerousJwtIssuer(self)
    }
    /// The issuer identifier.
    pub(crate) fn name(&self) -> &str {
        &self.issuer
    }
}

/// [`JwtIssuer`]'s dangerous settings, from [`JwtIssuer::dangerous`]. Each returns the issuer.
#[derive(Debug, Clone)]
pub struct DangerousJwtIssuer(JwtIssuer);

impl DangerousJwtIssuer {
    /// Accept HMAC-signed tokens (`HS256/384/512`) verified with a shared secret. Anyone
    /// holding the secret can mint tokens, so every API sharing it can impersonate users to the
    /// others. The secret must be at least as long as the hash output.
    pub fn hmac_secret(
        self,
        alg: Algorithm,
        kid: Option<&str>,
        secret: impl Into<Vec<u8>>,
    ) -> JwtIssuer {
        let mut issuer = self.0;
        issuer
            .shared_secrets
            .push((alg, kid.map(str::to_owned), Secret(secret.into())));
        if !issuer.algorithms.contains(&alg) {
            issuer.algorithms.push(alg);
        }
        issuer
    }
    /// Accept tokens bound to a key (`cnf` with `jkt`, `x5t#S256` or any other member) as plain
    /// bearer tokens. By default they are refused with 401 `invalid_token` (RFC 9449 §7.1,
    /// RFC 8705 §3): without checking the proof of possession, a stolen bound token would work
    /// for anyone, which is exactly what binding exists to prevent. Turn this on only where the
    /// binding is enforced in front of this filter (for example mTLS checked by a proxy that
    /// compares the certificate thumbprint).
    pub fn accept_sender_constrained_as_bearer(self, accept: bool) -> JwtIssuer {
        let mut issuer = self.0;
        issuer.accept_bound_as_bearer = accept;
        issuer
    }
}

impl JwtIssuer {
    /// The FAPI 2.0 rules for this issuer (errors name `issuers[i].<setting>`): PS256, ES256
    /// and EdDSA only (the default list narrows to them; an explicit list must keep to them),
    /// no shared secrets, bound tokens proven here, RFC 9068 strict mode.
    pub(crate) fn fapi2(mut self, i: usize) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("issuers[{i}].{k}");
        if !self.shared_secrets.is_empty() {
            return Err(ConfigError::new(
                key("hmac_secret"),
                "the FAPI 2.0 profile allows PS256, ES256 and EdDSA only, never shared secrets",
            ));
        }
        if self.accept_bound_as_bearer {
            return Err(ConfigError::new(
                key("accept_sender_constrained_as_bearer"),
                "the FAPI 2.0 profile requires the proof of possession to be checked here",
            ));
        }
        if self.algorithms == Algorithm::DEFAULT_ASYMMETRIC {
            self.algorithms = Algorithm::FAPI2.to_vec();
        } else if let Some(a) = self
            .algorithms
            .iter()
            .find(|a| !Algorithm::FAPI2.contains(a))
        {
            return Err(ConfigError::new(
                key("algorithms"),
                format!("{a:?} is not allowed by the FAPI 2.0 profile (PS256, ES256, EdDSA)"),
            ));
        }
        self.strict_rfc9068 = true;
        Ok(self)
    }

    /// The build step: checks this issuer's settings (errors name `issuers[i].<setting>`) and
    /// makes its runtime state. Nothing is fetched.
    pub(crate) fn build(
        self,
        i: usize,
        http: &HttpClientConfig,
        fetcher: &HttpFetcher,
    ) -> Result<IssuerVerifier, ConfigError> {
        let key = |k: &str| format!("issuers[{i}].{k}");
        if self.issuer.is_empty() {
            return Err(ConfigError::new(key("issuer"), "must not be empty"));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                key("audience"),
                "at least one non-empty audience is required",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::new(
                key("algorithms"),
                "the allow-list is empty",
            ));
        }
        self.jwks_policy.check().map_err(|(setting, why)| {
            ConfigError::new(key(&format!("jwks_policy.{setting}")), why)
        })?;
        let hmac_keys = self.hmac_keys(&key)?;
        let asymmetric: Vec<_> = self
            .algorithms
            .iter()
            .copied()
            .filter(|a| !a.is_hmac())
            .collect();
        let remote = |location| {
            KeySource::Remote(Arc::new(RemoteKeySet::new(
                self.issuer.clone(),
                location,
                fetcher.clone(),
                http.clone(),
                asymmetric.clone(),
                self.jwks_policy.clone(),
            )))
        };
        let keys = match &self.keys {
            KeysConfig::Jwks(doc) => {
                let doc = json::parse_object(doc.as_bytes())
                    .map_err(|e| ConfigError::new(key("jwks"), e.to_string()))?;
                let parsed =
                    parse_jwks(&doc, &asymmetric).map_err(|e| ConfigError::new(key("jwks"), e))?;
                KeySource::Fixed(Arc::new(KeySnapshot::fixed(parsed)))
            }
            KeysConfig::JwksUrl(u) => {
                remote(JwksLocation::Url(http.check_url(&key("jwks_url"), u)?))
            }
            KeysConfig::Discovery => remote(JwksLocation::Discovery {
                issuer_url: http.check_url(&key("issuer"), &self.issuer)?,
            }),
        };
        Ok(IssuerVerifier {
            issuer: Arc::from(self.issuer),
            audiences: self.audiences,
            algorithms: self.algorithms,
            strict_rfc9068: self.strict_rfc9068,
            keys,
            hmac_keys,
            accept_bound_as_bearer: self.accept_bound_as_bearer,
        })
    }

    /// The configured shared secrets as keys; every HMAC algorithm allowed needs one.
    fn hmac_keys(&self, key: &dyn Fn(&str) -> String) -> Result<Vec<VerifyingKey>, ConfigError> {
        let mut hmac_keys: Vec<VerifyingKey> = Vec::new();
        for (alg, kid, secret) in &self.shared_secrets {
            // Two secrets under one (alg, kid) would make key choice ambiguous.
            if hmac_keys
                .iter()
                .any(|k| k.fits(*alg) && k.kid() == kid.as_deref())
            {
                return Err(ConfigError::new(
                    key("hmac_secret"),
                    format!("two {alg} secrets share a kid"),
                ));
            }
            hmac_keys.push(
                VerifyingKey::from_shared_secret(*alg, &secret.0, kid.clone())
                    .map_err(|e| ConfigError::new(key("hmac_secret"), e.reason()))?,
            );
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| a.is_hmac() && !hmac_keys.iter().any(|k| k.fits(**a)))
        {
            return Err(ConfigError::new(
                key("algorithms"),
                format!("{alg} needs a shared secret (dangerous().hmac_secret)"),
            ));
        }
        Ok(hmac_keys)
    }
}

/// Runtime state of one issuer.
pub(crate) struct IssuerVerifier {
    pub(crate) issuer: Arc<str>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    strict_rfc9068: bool,
    pub(crate) keys: KeySource,
    hmac_keys: Vec<VerifyingKey>,
    accept_bound_as_bearer: bool,
}

impl IssuerVerifier {
    /// Checks the algorithm against the allow-list and the signature against the issuer's keys.
    /// A key we do not have may be a new one: the key set is refreshed (cooldown permitting) and
    /// the check retried once; without a `kid`, a bad signature may also mean a new key.
    /// Returns the verified token and the generation of the key set that verified it (`None`
    /// for shared secrets).
    pub(crate) async fn verify_signature(
        self: &Arc<Self>,
        jwt: Unverified<'_>,
        trace: &mut Trace,
    ) -> Result<(Verified, Option<u64>), AuthError> {
        let alg = jwt.header().alg;
        if !self.algorithms.contains(&alg) {
            trace.fail("algorithm", || {
                format!("{alg} is not in the issuer's allow-list")
            });
            return Err(AuthError::UnsupportedAlgorithm);
        }
        trace.pass("algorithm", || alg.to_string());
        if alg.is_hmac() {
            let verified = jwt.verify(&self.hmac_keys).map_err(|(e, _)| e)?;
            trace.pass("key", || {
                format!("shared secret, kid {:?}", verified.key_id())
            });
            return Ok((verified, None));
        }
        let snapshot = self.keys.current().await?;
        let (verified, used) = match jwt.verify(&snapshot.keys) {
            Ok(v) => (v, snapshot),
            Err((e, jwt)) if calls_for_refresh(&e, &jwt) => {
                trace.note("key", || format!("{e}; refreshing the key set once"));
                match self.keys.after_miss(&snapshot).await {
                    Some(newer) => (jwt.verify(&newer.keys).map_err(|(e, _)| e)?, newer),
                    None => return Err(e.into()),
                }
            }
            Err((e, _)) => return Err(e.into()),
        };
        trace.pass("key", || {
            format!(
                "kid {:?} in the issuer's key set (generation {})",
                verified.key_id(),
                used.generation
            )
        });
        Ok((verified, Some(used.generation)))
    }
}

impl IssuerVerifier {
    /// [`IssuerVerifier::verify_signature`] when it needs no I/O: the keys are in hand and
    /// fresh, and the answer does not call for a refresh (an unknown `kid`, or a bad signature
    /// without a `kid`, may be a rotation: `None`, for the async path to decide). Nothing is
    /// traced.
    pub(crate) fn verify_signature_now(
        &self,
        jwt: Unverified<'_>,
    ) -> Option<Result<(Verified, Option<u64>), AuthError>> {
        let alg = jwt.header().alg;
        if !self.algorithms.contains(&alg) {
            return Some(Err(AuthError::UnsupportedAlgorithm));
        }
        if alg.is_hmac() {
            return Some(
                jwt.verify(&self.hmac_keys)
                    .map(|v| (v, None))
                    .map_err(|(e, _)| e.into()),
            );
        }
        let snapshot = match self.keys.current_now()? {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        match jwt.verify(&snapshot.keys) {
            Ok(v) => Some(Ok((v, Some(snapshot.generation)))),
            Err((e, jwt)) if calls_for_refresh(&e, &jwt) => None,
            Err((e, _)) => Some(Err(e.into())),
        }
    }
}

/// Whether a failed verification may be a key rotation, worth one refresh of the key set: an
/// unknown `kid`, or a bad signature from a token that names no `kid`.
fn calls_for_refresh(e: &JoseError, jwt: &Unverified<'_>) -> bool {
    *e == JoseError::UnknownKey || (*e == JoseError::BadSignature && jwt.header().kid.is_none())
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

/// Claims strict RFC 9068 mode requires (§2.2).
const STRICT_CLAIMS: [&str; 4] = ["sub", "client_id", "iat", "jti"];

impl IssuerVerifier {
    /// Checks the claims of a signature-verified token. `now` and `leeway` are in seconds.
    pub(crate) fn validate_claims(
        &self,
        verified: Verified,
        now: f64,
        leeway: f64,
        verified_by: usize,
        trace: &mut Trace,
    ) -> Result<TokenFacts, AuthError> {
        let typ = verified.header().typ.as_deref();
        if !typ_is_access_token(typ, self.strict_rfc9068) {
            trace.fail("typ", || {
                format!("{typ:?} (strict RFC 9068: {})", self.strict_rfc9068)
            });
            return Err(AuthError::WrongTokenType);
        }
        trace.pass("typ", || format!("{typ:?}"));
        let (claims, json) = verified.into_claims_and_json();
        // iss was matched exactly when the issuer was chosen; check again as a claim.
        if claims.get("iss").and_then(Value::as_str) != Some(&*self.issuer) {
            return Err(AuthError::UnknownIssuer);
        }
        // An ID token is not an access token, in every mode (RFC 9068 §4 asks for `typ` only
        // in strict mode; these claims give an ID token away everywhere).
        if let Some(c) = ID_TOKEN_CLAIMS.iter().find(|c| claims.contains_key(**c)) {
            trace.fail("token type", || {
                format!("has `{c}`: an OpenID Connect ID token")
            });
            return Err(AuthError::WrongTokenType);
        }
        let window = TimeWindow {
            exp: Some(numeric_date(&claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?),
            nbf: numeric_date(&claims, "nbf")?,
            iat: numeric_date(&claims, "iat")?,
        };
        window.check(now, leeway).inspect_err(|e| {
            trace.fail("time", || window.explain(now, leeway, e));
        })?;
        trace.pass("time", || window.describe(now, leeway));
        // A missing `aud` is an empty list here, which names none of ours.
        let audiences =
            claims::audiences(claims.get("aud")).map_err(|_| AuthError::InvalidClaim("aud"))?;
        if !audiences.iter().any(|a| self.audiences.contains(a)) {
            trace.fail("aud", || {
                format!("{audiences:?}, expected one of {:?}", self.audiences)
            });
            return Err(AuthError::AudienceMismatch);
        }
        trace.pass("aud", || format!("{audiences:?}"));
        if self.strict_rfc9068 {
            if let Some(c) = STRICT_CLAIMS.iter().find(|c| !claims.contains_key(**c)) {
                trace.fail("strict RFC 9068", || format!("`{c}` is missing"));
                return Err(AuthError::MissingClaim(c));
            }
        }
        let key_bound = claims.contains_key("cnf");
        claims::facts(
            &claims,
            json,
            Established {
                kind: TokenKind::Jwt,
                issuer: self.issuer.clone(),
                audiences,
                window,
                azp_is_client_id: !self.strict_rfc9068,
                key_bound,
                accept_bound_as_bearer: self.accept_bound_as_bearer,
                verified_by,
                introspection_jwt: None,
            },
        )
        .map_err(AuthError::InvalidClaim)
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
