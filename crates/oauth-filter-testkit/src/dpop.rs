//! A DPoP client (RFC 9449): a key pair of its own, proofs for requests, and the thumbprint a
//! token bound to it carries (`cnf.jkt`).
//!
//! ```no_run
//! # async fn t() {
//! use oauth_filter_testkit::{DpopClient, SigningAlg, TestIssuer};
//! let issuer = TestIssuer::start().await;
//! let client = DpopClient::generate(SigningAlg::ES256).unwrap();
//! let token = issuer.mint().claim("cnf", client.cnf()).sign();
//! let proof = client.proof("GET", "https://api.example/orders", &token);
//! // Negative tests change any header parameter or claim before signing:
//! let stale = client.proof_builder("GET", "https://api.example/orders", &token)
//!     .claim("iat", oauth_filter_testkit::now_secs() - 3600)
//!     .sign();
//! # let _ = (proof, stale);
//! # }
//! ```
//!
//! Like the rest of the kit it does not use the crate it tests: the thumbprint (RFC 7638) and
//! `ath` are computed here, so that the two implementations check each other.

use crate::keys::{KeyGenerationFailed, SigningAlg, SigningKey, random_u64};
use crate::{TokenBuilder, b64url, now_secs};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A client holding a DPoP key.
#[derive(Debug, Clone)]
pub struct DpopClient {
    key: Arc<SigningKey>,
    jwk: Map<String, Value>,
    thumbprint: String,
}

fn sha256_b64url(bytes: &[u8]) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

impl DpopClient {
    /// A client with a new key for `alg`.
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyGenerationFailed> {
        Ok(Self::with_key(Arc::new(SigningKey::generate(alg)?)))
    }

    /// A client proving possession of `key`.
    pub fn with_key(key: Arc<SigningKey>) -> Self {
        // The proof's `jwk` is the public key alone (no `kid`, `alg` or `use`).
        let public = key.public_jwk();
        let members: &[&str] = match public.get("kty").and_then(Value::as_str) {
            Some("RSA") => &["e", "kty", "n"],
            Some("EC") => &["crv", "kty", "x", "y"],
            _ => &["crv", "kty", "x"],
        };
        let jwk: Map<String, Value> = members
            .iter()
            .filter_map(|m| public.get(*m).map(|v| ((*m).to_owned(), v.clone())))
            .collect();
        // RFC 7638 §3: the required members in lexicographic order, no whitespace. `members`
        // lists them in that order, so the map writes them so whether it sorts its keys or keeps
        // their insertion order.
        let thumbprint = sha256_b64url(Value::Object(jwk.clone()).to_string().as_bytes());
        Self {
            key,
            jwk,
            thumbprint,
        }
    }

    /// The RFC 7638 SHA-256 thumbprint of the client's key.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The `cnf` claim of a token bound to this client: `{"jkt": thumbprint}`.
    pub fn cnf(&self) -> Value {
        json!({ "jkt": self.thumbprint })
    }

    /// The client's public JWK, as its proofs carry it.
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.jwk.clone())
    }

    /// A fresh proof (new `jti`, `iat` now) for `method` and `uri` with `access_token`.
    pub fn proof(&self, method: &str, uri: &str, access_token: &str) -> String {
        self.proof_builder(method, uri, access_token).sign()
    }

    /// The proof [`DpopClient::proof`] would make, still open to changes: `typ` `dpop+jwt`,
    /// `alg` of the key, `jwk`; claims `jti`, `htm`, `htu`, `iat` and `ath`.
    pub fn proof_builder(&self, method: &str, uri: &str, access_token: &str) -> TokenBuilder {
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        header.insert("alg".into(), json!(self.key.alg().name()));
        header.insert("jwk".into(), Value::Object(self.jwk.clone()));
        let mut claims = Map::new();
        claims.insert(
            "jti".into(),
            json!(format!("{:016x}{:016x}", random_u64(), random_u64())),
        );
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(uri));
        claims.insert("iat".into(), json!(now_secs()));
        claims.insert("ath".into(), json!(sha256_b64url(access_token.as_bytes())));
        TokenBuilder {
            header,
            claims,
            key: Some(self.key.clone()),
            raw_header: None,
            raw_payload: None,
        }
    }
}
