//! Compact JWS (RFC 7515 §7.1) parsing and verification, strictly.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! use oauth_filter::__internal::jose::{self, JoseError};
//! // A JWE (five segments) is never mistaken for a JWS.
//! assert_eq!(jose::parse_compact("a.b.c.d.e").unwrap_err(), JoseError::Encrypted);
//! // `none` is not an algorithm.
//! assert_eq!(
//!     jose::parse_compact("eyJhbGciOiJub25lIn0.e30.").unwrap_err(),
//!     JoseError::UnsupportedAlgorithm
//! );
//! # }
//! ```
//!
//! This module owns the JWS step instead of delegating it to `jsonwebtoken`, for three reasons
//! the Wycheproof vectors and our invariants make concrete: header and claims JSON must reject
//! duplicate member names (serde_json keeps the last one); `crit` must be honoured; and keys must
//! be parsed once per key set, not once per call. All cryptography stays in aws-lc-rs.
//!
//! What a token's header can never do here: select a key through `jku`, `x5u`, `jwk` or `x5c`
//! (they are ignored and never fetched), pick `none`, or pick HMAC without a configured secret.

pub mod alg;
pub mod base64url;
pub mod json;
pub mod jwk;

pub use alg::Algorithm;
pub use jwk::{KeyRejected, VerifyingKey};

use serde_json::{Map, Value};
use std::fmt;

/// Why a compact JWS was refused. Messages are fixed and never contain token content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoseError {
    /// Not three base64url segments of valid JSON (header) or a header member of the wrong type.
    Malformed,
    /// Five segments: an encrypted JWT (JWE), which this filter does not accept.
    Encrypted,
    /// `alg` is missing from the known set (`none` included) or not allowed here.
    UnsupportedAlgorithm,
    /// The header has `crit`, naming extensions this implementation does not understand.
    CriticalHeader,
    /// No configured key has the token's `kid` and fits its algorithm.
    UnknownKey,
    /// More than one configured key fits the token's `kid` and algorithm.
    AmbiguousKey,
    /// The signature did not verify.
    BadSignature,
}

impl JoseError {
    /// A short fixed description, safe for logs and `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the token is malformed",
            Self::Encrypted => "encrypted tokens are not accepted",
            Self::UnsupportedAlgorithm => "the token's algorithm is not accepted",
            Self::CriticalHeader => "the token has unsupported critical header parameters",
            Self::UnknownKey => "the token's signing key is unknown",
            Self::AmbiguousKey => "the token's signing key is ambiguous",
            Self::BadSignature => "the token's signature is invalid",
        }
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for JoseError {}

/// The protected header of a compact JWS.
#[derive(Debug, Clone)]
pub struct JwsHeader {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id, if present.
    pub kid: Option<String>,
    /// The media type of the whole JWS (`typ`), if present.
    pub typ: Option<String>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct CompactJws<'a> {
    signing_input: &'a str,
    header: JwsHeader,
    payload_b64: &'a str,
    signature: Vec<u8>,
}

fn header_str(header: &Map<String, Value>, name: &str) -> Result<Option<String>, JoseError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JoseError::Malformed),
    }
}

/// Parses a compact JWS: three segments of strict base64url, a strict-JSON object header with a
/// known `alg`, no `crit`. The payload is only checked to be base64url here; see
/// [`CompactJws::payload`].
pub fn parse_compact(token: &str) -> Result<CompactJws<'_>, JoseError> {
    let mut segments = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Err(JoseError::Malformed);
    };
    match segments.count() {
        0 => {}
        2 => return Err(JoseError::Encrypted),
        _ => return Err(JoseError::Malformed),
    }
    // A token's `jwk` is never used: its key comes from its issuer's key set.
    let (header, _) = parse_header(header_b64)?;
    let signature = base64url::decode(signature_b64).map_err(|_| JoseError::Malformed)?;
    if signature.is_empty() {
        return Err(JoseError::Malformed);
    }
    // Validate the payload encoding now so that garbage is refused before any cryptography.
    if !base64url::is_alphabet(payload_b64.as_bytes()) {
        return Err(JoseError::Malformed);
    }
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JoseError::Malformed)?;
    Ok(CompactJws {
        signing_input,
        header,
        payload_b64,
        signature,
    })
}

/// Parses a protected header segment (strict base64url of a strict-JSON object with a known
/// `alg` and no `crit`), with its `jwk` member as sent (a DPoP proof's own key; never used to
/// verify an access token).
pub(crate) fn parse_header(header_b64: &str) -> Result<(JwsHeader, Option<Value>), JoseError> {
    let header_bytes = base64url::decode(header_b64).map_err(|_| JoseError::Malformed)?;
    let mut header = json::parse_object(&header_bytes).map_err(|_| JoseError::Malformed)?;
    let alg_name = header_str(&header, "alg")?.ok_or(JoseError::Malformed)?;
    let alg = Algorithm::from_name(&alg_name).ok_or(JoseError::UnsupportedAlgorithm)?;
    // RFC 7515 §4.1.11: we implement no extension, so any `crit` must be refused.
    if header.contains_key("crit") {
        return Err(JoseError::CriticalHeader);
    }
    let kid = header_str(&header, "kid")?;
    let typ = header_str(&header, "typ")?;
    Ok((JwsHeader { alg, kid, typ }, header.remove("jwk")))
}

impl CompactJws<'_> {
    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The decoded payload bytes (strict base64url).
    pub fn payload(&self) -> Result<Vec<u8>, JoseError> {
        base64url::decode(self.payload_b64).map_err(|_| JoseError::Malformed)
    }

    /// Verifies the signature with `key`, which must fit the header's algorithm.
    pub fn verify_with(&self, key: &VerifyingKey) -> Result<(), JoseError> {
        if !key.fits(self.header.alg) {
            return Err(JoseError::UnknownKey);
        }
        if key.verify(
            self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(JoseError::BadSignature)
        }
    }

    /// Chooses the key from `keys` and verifies: with a `kid`, exactly one key with that `kid`
    /// fitting the algorithm must exist; without one, each key fitting the algorithm is tried.
    pub fn verify_with_any<'k, I>(&self, keys: I) -> Result<(), JoseError>
    where
        I: IntoIterator<Item = &'k VerifyingKey>,
    {
        self.verifying_key(keys).map(|_| ())
    }

    /// The key that verifies this token's signature: by `kid` when the header names one (one
    /// fitting key, no more), else the first fitting key whose check passes.
    fn verifying_key<'k, I>(&self, keys: I) -> Result<&'k VerifyingKey, JoseError>
    where
        I: IntoIterator<Item = &'k VerifyingKey>,
    {
        let alg = self.header.alg;
        let mut fitting = keys.into_iter().filter(|k| k.fits(alg));
        match &self.header.kid {
            Some(kid) => {
                let mut named = fitting.filter(|k| k.kid() == Some(kid.as_str()));
                let key = named.next().ok_or(JoseError::UnknownKey)?;
                if named.next().is_some() {
                    return Err(JoseError::AmbiguousKey);
                }
                self.verify_with(key).map(|()| key)
            }
            None => {
                let mut tried = false;
                for key in fitting.by_ref() {
                    tried = true;
                    if self.verify_with(key).is_ok() {
                        return Ok(key);
                    }
                }
                Err(if tried {
                    JoseError::BadSignature
                } else {
                    JoseError::UnknownKey
                })
            }
        }
    }
}

/// A compact JWS with its claims parsed but its signature not yet checked. The claims may be
/// read to route the token (which issuer's keys to use), never to judge it: judging takes a
/// [`Verified`], and only [`Unverified::verify`] makes one.
#[derive(Debug)]
pub struct Unverified<'a> {
    jws: CompactJws<'a>,
    claims: Map<String, Value>,
    /// The decoded payload: the claims' JSON text, kept for [`Verified::into_claims_and_json`].
    payload: Vec<u8>,
}

impl<'a> Unverified<'a> {
    /// Parses `token` strictly: a compact JWS whose payload is a strict JSON object.
    pub fn parse(token: &'a str) -> Result<Self, JoseError> {
        let jws = parse_compact(token)?;
        let payload = jws.payload()?;
        let claims = json::parse_object(&payload).map_err(|_| JoseError::Malformed)?;
        Ok(Self {
            jws,
            claims,
            payload,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        self.jws.header()
    }

    /// The claims, for routing only (they are not verified).
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Checks the signature with `keys`. On failure the token comes back, so that the caller
    /// may retry with a refreshed key set.
    #[allow(clippy::result_large_err)] // the token comes back by value for the retry
    pub fn verify<'k, I>(self, keys: I) -> Result<Verified, (JoseError, Self)>
    where
        I: IntoIterator<Item = &'k VerifyingKey>,
    {
        match self.jws.verifying_key(keys) {
            Ok(key) => Ok(Verified {
                kid: key.kid().map(str::to_owned),
                header: self.jws.header,
                claims: self.claims,
                payload: self.payload,
            }),
            Err(e) => Err((e, self)),
        }
    }
}

/// A JWS whose signature verified. Its fields are private to this module: nothing else can
/// make one, so claims can never be judged on an unverified token (the type is the proof, as
/// rustls's verifier assertions are).
///
/// ```compile_fail
/// // Outside `jose`, a `Verified` cannot be made up (private fields; without the internal
/// // feature the module is not even visible).
/// let forged = oauth_filter::__internal::jose::Verified {
///     header: unimplemented!(),
///     claims: Default::default(),
///     payload: Vec::new(),
///     kid: None,
/// };
/// ```
#[derive(Debug)]
pub struct Verified {
    header: JwsHeader,
    claims: Map<String, Value>,
    payload: Vec<u8>,
    kid: Option<String>,
}

impl Verified {
    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }
    /// The verified claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    /// The `kid` of the key that verified the signature, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The verified claims, by value.
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
    /// The verified claims, with the payload they were parsed from (strict JSON, the exact
    /// bytes the signature covers): what a verified-token cache keeps instead of the map.
    pub fn into_claims_and_json(self) -> (Map<String, Value>, Vec<u8>) {
        (self.claims, self.payload)
    }
}
