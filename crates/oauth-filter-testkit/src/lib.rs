//! # oauth-filter-testkit
//!
//! An in-process OAuth 2.0 issuer for tests and local development: it generates RS256, ES256
//! and EdDSA keys, serves JWKS and discovery metadata on loopback, mints tokens with any header and
//! claims, rotates keys, and has fault switches (down, slow, HTTP status, garbage, huge, redirect).
//!
//! ```no_run
//! # async fn t() {
//! use oauth_filter_testkit::{Fault, TestIssuer};
//! let issuer = TestIssuer::start().await;
//! let token = issuer.mint().scope("read").sign();
//! let expired = issuer.mint().expires_in_secs(-120).sign();
//! let forged = issuer.mint().header("alg", "none").sign_with(|_| Vec::new());
//! issuer.set_fault(Fault::Status(500)); // the JWKS endpoint now fails
//! # let _ = (token, expired, forged);
//! # }
//! ```
//!
//! The kit never depends on the crate it tests: tokens are built byte by byte, so tests can
//! produce anything an attacker could.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dpop;
mod keys;
mod mtls;
mod server;

pub use dpop::DpopClient;
pub use keys::{KeyGenerationFailed, SigningAlg, SigningKey};
pub use mtls::{CertificateGenerationFailed, MtlsClient, TestCa};
pub use server::{
    Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, RawResponse, TestIssuer,
    TestIssuerBuilder,
};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unpadded base64url, as JOSE uses.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses a `Bearer` challenge (RFC 6750 §3) as a strict client would: `Bearer ` then
/// `name="value"` pairs separated by `, `, values without `"` or `\`. `None` when the text is
/// not exactly that, so a test can check that a challenge parses back into what was meant.
///
/// ```
/// use oauth_filter_testkit::parse_bearer_challenge;
/// let attrs = parse_bearer_challenge(r#"Bearer realm="api", scope="a b""#).unwrap();
/// assert_eq!(attrs, [("realm".to_owned(), "api".to_owned()), ("scope".to_owned(), "a b".to_owned())]);
/// assert!(parse_bearer_challenge(r#"Bearer realm="a"b""#).is_none());
/// ```
pub fn parse_bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let mut rest = header.strip_prefix("Bearer ")?;
    let mut attrs = Vec::new();
    loop {
        let (name, after) = rest.split_once("=\"")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return None;
        }
        let (value, after) = after.split_once('"')?;
        if value.contains('\\') {
            return None;
        }
        attrs.push((name.to_owned(), value.to_owned()));
        if after.is_empty() {
            return Some(attrs);
        }
        rest = after.strip_prefix(", ")?;
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Builds one opaque token and registers it with the issuer's introspection endpoint. Start from
/// [`TestIssuer::opaque`].
pub struct OpaqueTokenBuilder<'a> {
    issuer: &'a TestIssuer,
    response: Map<String, Value>,
}

impl<'a> OpaqueTokenBuilder<'a> {
    pub(crate) fn new(issuer: &'a TestIssuer) -> Self {
        let now = now_secs();
        let mut response = Map::new();
        response.insert("active".into(), json!(true));
        response.insert("iss".into(), json!(issuer.issuer()));
        response.insert("aud".into(), json!(issuer.audience()));
        response.insert("sub".into(), json!("user-1"));
        response.insert("client_id".into(), json!("test-client"));
        response.insert("token_type".into(), json!("Bearer"));
        response.insert("iat".into(), json!(now));
        response.insert("exp".into(), json!(now + 300));
        Self { issuer, response }
    }
    /// Sets `scope`.
    pub fn scope(self, scope: &str) -> Self {
        self.member("scope", scope)
    }
    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.member("sub", sub)
    }
    /// Sets `exp` to now plus `secs`.
    pub fn expires_in_secs(self, secs: i64) -> Self {
        self.member("exp", now_secs() + secs)
    }
    /// Sets any member of the introspection response (including `active`).
    pub fn member(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.response.insert(name.into(), value.into());
        self
    }
    /// Removes a member.
    pub fn without_member(mut self, name: &str) -> Self {
        self.response.remove(name);
        self
    }
    /// Registers the token and returns it.
    pub fn issue(self) -> String {
        let token = format!(
            "opaque-{:016x}{:016x}",
            keys::random_u64(),
            keys::random_u64()
        );
        self.issuer
            .register_opaque(token.clone(), Value::Object(self.response));
        token
    }
}

/// Builds one token. Start from [`TestIssuer::mint`]; every default can be replaced or removed.
#[derive(Clone)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    key: Option<Arc<SigningKey>>,
    raw_header: Option<Vec<u8>>,
    raw_payload: Option<Vec<u8>>,
}

impl TokenBuilder {
    /// A builder for a token from `issuer` for `audience`, signed with `key`, without a running
    /// [`TestIssuer`] (the `mint` command uses it with a saved development key).
    pub fn for_issuer(issuer: &str, audience: &str, key: Arc<SigningKey>) -> Self {
        Self::new(issuer, audience, Some(key))
    }

    pub(crate) fn new(issuer: &str, audience: &str, key: Option<Arc<SigningKey>>) -> Self {
        let now = now_secs();
        let mut header = Map::new();
        if let Some(k) = &key {
            header.insert("alg".into(), json!(k.alg().name()));
            header.insert("kid".into(), json!(k.kid()));
        }
        header.insert("typ".into(), json!("at+jwt"));
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(audience));
        claims.insert("sub".into(), json!("user-1"));
        claims.insert("client_id".into(), json!("test-client"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(format!("jti-{}", keys::random_u64())));
        Self {
            header,
            claims,
            key,
            raw_header: None,
            raw_payload: None,
        }
    }

    /// Sets `scope` (space-separated).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }
    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }
    /// Sets `aud` (string); use [`TokenBuilder::claim`] for an array.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }
    /// Sets `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }
    /// Sets `exp` to now plus `secs` (negative: already expired).
    pub fn expires_in_secs(self, secs: i64) -> Self {
        self.claim("exp", now_secs() + secs)
    }
    /// Sets any claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }
    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }
    /// Sets any header parameter (including `alg`, `kid`, `jku`, `jwk`, `crit`…).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }
    /// Removes a header parameter.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }
    /// Signs with this key instead of the issuer's active one; `alg` and `kid` follow it.
    pub fn key(mut self, key: Arc<SigningKey>) -> Self {
        self.header.insert("alg".into(), json!(key.alg().name()));
        self.header.insert("kid".into(), json!(key.kid()));
        self.key = Some(key);
        self
    }
    /// Uses these exact payload bytes instead of the claims (for malformed-JSON tests).
    pub fn raw_payload(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw_payload = Some(bytes.into());
        self
    }

    /// Uses these exact header bytes instead of the header map (duplicate members, bad JSON…).
    pub fn raw_header(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw_header = Some(bytes.into());
        self
    }

    /// The signing input `BASE64URL(header) . BASE64URL(payload)`.
    pub fn signing_input(&self) -> String {
        let header = match &self.raw_header {
            Some(h) => h.clone(),
            None => Value::Object(self.header.clone()).to_string().into_bytes(),
        };
        let payload = match &self.raw_payload {
            Some(p) => p.clone(),
            None => Value::Object(self.claims.clone()).to_string().into_bytes(),
        };
        format!("{}.{}", b64url(&header), b64url(&payload))
    }

    /// Signs with the chosen key (the issuer's active key by default). With no key at all, the
    /// signature segment is empty.
    pub fn sign(self) -> String {
        let key = self.key.clone();
        self.sign_with(|input| key.map(|k| k.sign(input)).unwrap_or_default())
    }

    /// Signs with an HMAC over the signing input, keyed with `secret` (`HS256` unless the header
    /// names HS384/HS512). For configured-secret tests and for key-confusion attacks.
    pub fn sign_hmac(self, secret: &[u8]) -> String {
        let alg = match self.header.get("alg").and_then(Value::as_str) {
            Some("HS384") => aws_lc_rs::hmac::HMAC_SHA384,
            Some("HS512") => aws_lc_rs::hmac::HMAC_SHA512,
            _ => aws_lc_rs::hmac::HMAC_SHA256,
        };
        let key = aws_lc_rs::hmac::Key::new(alg, secret);
        self.sign_with(|input| aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec())
    }

    /// Signs with any function of the signing input (or none: return an empty vector).
    pub fn sign_with(self, f: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
        let input = self.signing_input();
        let sig = f(input.as_bytes());
        format!("{input}.{}", b64url(&sig))
    }
}
