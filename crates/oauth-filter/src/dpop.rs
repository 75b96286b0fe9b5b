//! DPoP proofs (RFC 9449 §4.3): what a resource server checks of a request's `DPoP` header
//! before the `bind` step compares the proof's key with the access token's `cnf.jkt`.
//!
//! ```
//! use oauth_filter::dpop::{DpopError, DpopPolicy, ProofRequest};
//! let policy = DpopPolicy::default();
//! let request = ProofRequest {
//!     method: "GET",
//!     uri: "https://api.example/orders?page=2",
//!     access_token: "eyJ...",
//! };
//! // Not a JWS at all: refused before any cryptography.
//! let refused = policy.verify("garbage", &request, 1_700_000_000.0).unwrap_err();
//! assert_eq!(refused, DpopError::Malformed);
//! assert_eq!(refused.reason_code(), "dpop_malformed");
//! ```
//!
//! A filter verifies DPoP-bound tokens with [`crate::OAuthFilterBuilder::dpop`] and a [`Dpop`];
//! the `bind` step then checks each request's proof with these functions.
//!
//! A proof is accepted by [`DpopPolicy::verify`] when it is a compact JWS of at most
//! [`MAX_PROOF_LEN`] bytes whose header has `typ` `dpop+jwt` and an `alg` from the policy's
//! list (asymmetric only: `none` and HMAC are never proof algorithms), a `jwk` that is a public
//! key (no private member: `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) passing every check the
//! key-set loader makes (RSA 2048 bits and up, EC points on their curve), and a signature that
//! verifies with that key; and whose claims have a `jti` (1 to 256 characters), `htm` equal to
//! the request's method, `htu` equal to the request's URI without query and fragment (both
//! normalised, below), `iat` no older than the policy's `max_age` and no later than its
//! `leeway` ahead, and `ath` equal to the base64url SHA-256 of the access token (§4.2; a
//! resource server always has one). The answer, [`VerifiedProof`], carries the key's RFC 7638
//! thumbprint for the token's `cnf.jkt` and what [`ReplayCache`] needs to accept the proof once.
//!
//! `htu` comparison (§4.3 check 9, RFC 3986 §6.2.2-6.2.3) is the one step here that is ours:
//! the `url` crate parses both sides (lower-case scheme and host, default port dropped, empty
//! path made `/`, dot segments resolved) but keeps percent-encodings as written, so on its
//! path this module upper-cases the hex digits and decodes the unreserved characters, as
//! RFC 3986's syntax-based normalisation requires; no maintained crate offers that step alone.
//! Only `http` and `https` URIs without user information compare at all.
//!
//! Every refusal is a [`DpopError`] with a fixed description and a reason code; none echoes
//! the proof, its claims or the token.

use crate::jose::{self, Algorithm, JoseError, VerifyingKey, base64url};
use aws_lc_rs::{digest, hmac};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The largest `DPoP` header accepted, in bytes (an RSA-4096 proof with its key is under 2 KiB).
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// The longest `jti` accepted, in characters.
pub const MAX_JTI_LEN: usize = 256;
/// Members of a JWK that belong to a private or symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2): a proof carrying one is refused.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a DPoP proof was refused. Descriptions are fixed and never contain request content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    /// Not a compact JWS with a JSON header and claims, or larger than [`MAX_PROOF_LEN`].
    Malformed,
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`, HMAC, unknown, or not in the policy's list.
    UnsupportedAlgorithm,
    /// The header has no `jwk`, or one that is not a usable public key.
    InvalidKey,
    /// The header's `jwk` holds private key material.
    PrivateKey,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `jti` is missing, not a string, empty or too long.
    InvalidJti,
    /// `htm` is missing or is not the request's method.
    MethodMismatch,
    /// `htu` is missing, not an http(s) URI, or not the request's URI.
    UriMismatch,
    /// `iat` is missing or not a number.
    MissingIat,
    /// `iat` is older than the policy allows.
    Stale,
    /// `iat` is later than now plus the leeway.
    IssuedInTheFuture,
    /// `ath` is missing or is not the hash of the presented access token.
    AccessTokenHashMismatch,
    /// The proof was accepted before (its key and `jti` were seen within its lifetime).
    Replayed,
    /// The replay cache is full of live entries: the proof cannot be checked for replay, so it
    /// is refused (fail closed).
    ReplayCacheFull,
    /// A DPoP-bound token came without a `DPoP` header.
    Missing,
    /// More than one `DPoP` header (RFC 9449 §4.3 check 1: exactly one).
    Multiple,
    /// The proof's key is not the one the token is bound to (`cnf.jkt`, RFC 9449 §7.1).
    KeyMismatch,
    /// The shared replay store (Redis) cannot be reached and the configuration refuses proofs
    /// it cannot check there: 503, fail closed.
    ReplayUnavailable,
    /// Nonces are required and the proof has none (RFC 9449 §9): 401 `use_dpop_nonce`.
    NonceMissing,
    /// The proof's nonce is not one this server gave within its window: 401 `use_dpop_nonce`.
    NonceExpired,
}

impl DpopError {
    /// A short fixed description, safe for logs and `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the DPoP proof is malformed",
            Self::WrongType => "the DPoP proof's typ is not dpop+jwt",
            Self::UnsupportedAlgorithm => "the DPoP proof's algorithm is not accepted",
            Self::InvalidKey => "the DPoP proof's key is missing or invalid",
            Self::PrivateKey => "the DPoP proof's key contains private key material",
            Self::BadSignature => "the DPoP proof's signature is invalid",
            Self::InvalidJti => "the DPoP proof's jti is missing or invalid",
            Self::MethodMismatch => "the DPoP proof is for another HTTP method",
            Self::UriMismatch => "the DPoP proof is for another URI",
            Self::MissingIat => "the DPoP proof has no valid iat",
            Self::Stale => "the DPoP proof is too old",
            Self::IssuedInTheFuture => "the DPoP proof is issued in the future",
            Self::AccessTokenHashMismatch => "the DPoP proof is for another access token",
            Self::Replayed => "the DPoP proof was already used",
            Self::ReplayCacheFull => "the DPoP proof cannot be checked for replay",
            Self::Missing => "a DPoP proof is required",
            Self::Multiple => "more than one DPoP proof",
            Self::KeyMismatch => "the DPoP proof's key is not the token's",
            Self::ReplayUnavailable => "the DPoP proof cannot be checked for replay now",
            Self::NonceMissing => "the DPoP proof must carry a nonce from this server",
            Self::NonceExpired => "the DPoP proof's nonce is not current",
        }
    }

    /// A stable machine-readable reason, for logs and metrics.
    pub fn reason_code(self) -> &'static str {
        match self {
            Self::Malformed => "dpop_malformed",
            Self::WrongType => "dpop_wrong_typ",
            Self::UnsupportedAlgorithm => "dpop_unsupported_alg",
            Self::InvalidKey => "dpop_invalid_key",
            Self::PrivateKey => "dpop_private_key",
            Self::BadSignature => "dpop_bad_signature",
            Self::InvalidJti => "dpop_invalid_jti",
            Self::MethodMismatch => "dpop_htm_mismatch",
            Self::UriMismatch => "dpop_htu_mismatch",
            Self::MissingIat => "dpop_missing_iat",
            Self::Stale => "dpop_stale",
            Self::IssuedInTheFuture => "dpop_iat_in_future",
            Self::AccessTokenHashMismatch => "dpop_ath_mismatch",
            Self::Replayed => "dpop_replayed",
            Self::ReplayCacheFull => "dpop_replay_cache_full",
            Self::Missing => "dpop_missing",
            Self::Multiple => "dpop_multiple",
            Self::KeyMismatch => "dpop_jkt_mismatch",
            Self::ReplayUnavailable => "dpop_replay_unavailable",
            Self::NonceMissing => "dpop_nonce_missing",
            Self::NonceExpired => "dpop_nonce_expired",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for DpopError {}

/// What a proof must be made for: the request as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, as sent (methods are case-sensitive).
    pub method: &'a str,
    /// The absolute URI the client used (behind a proxy: the configured external base URL and
    /// the request's path, never a `Host` header unless configured). Query and fragment are
    /// ignored.
    pub uri: &'a str,
    /// The access token presented with the proof (`Authorization: DPoP <token>`).
    pub access_token: &'a str,
}

/// How proofs are judged: the algorithms accepted and the `iat` window.
#[derive(Debug, Clone)]
pub struct DpopPolicy {
    algorithms: Vec<Algorithm>,
    max_age_secs: u64,
    leeway_secs: u64,
}

impl Default for DpopPolicy {
    /// ES256, PS256 and EdDSA (the algorithms FAPI 2.0 allows); proofs up to 60 s old; 5 s of
    /// leeway for clocks ahead or behind.
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::ES256, Algorithm::PS256, Algorithm::EdDSA],
            max_age_secs: 60,
            leeway_secs: 5,
        }
    }
}

impl DpopPolicy {
    /// A policy with these algorithms, in the order the `DPoP` challenge lists them. `None`
    /// when the list is empty or names an HMAC algorithm (a proof's key is always public).
    pub fn new(algorithms: &[Algorithm], max_age_secs: u64, leeway_secs: u64) -> Option<Self> {
        if algorithms.is_empty() || algorithms.iter().any(|a| a.is_hmac()) || max_age_secs == 0 {
            return None;
        }
        Some(Self {
            algorithms: algorithms.to_vec(),
            max_age_secs,
            leeway_secs,
        })
    }

    /// The algorithms accepted, for the challenge's `algs`.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Checks `proof` (the `DPoP` header's value) for `request` at `now` (Unix seconds).
    /// Replay is not checked here: pass the answer to [`ReplayCache::first_use`] once the
    /// token it binds has been verified too.
    pub fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        now: f64,
    ) -> Result<VerifiedProof, DpopError> {
        let target = Target::Uri(request.uri);
        self.verify_for(
            proof,
            request.method,
            target,
            request.access_token,
            now,
            None,
        )
    }

    /// The checks of a protected header (`typ`, `alg`, a public `jwk`), and its key.
    fn header_key(&self, header_b64: &str) -> Result<(Algorithm, VerifyingKey, Value), DpopError> {
        let (header, jwk) = jose::parse_header(header_b64).map_err(|e| match e {
            JoseError::UnsupportedAlgorithm => DpopError::UnsupportedAlgorithm,
            _ => DpopError::Malformed,
        })?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(DpopError::WrongType);
        }
        let alg = header.alg;
        if alg.is_hmac() || !self.algorithms.contains(&alg) {
            return Err(DpopError::UnsupportedAlgorithm);
        }
        let jwk = jwk.ok_or(DpopError::InvalidKey)?;
        let members = jwk.as_object().ok_or(DpopError::InvalidKey)?;
        if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
            return Err(DpopError::PrivateKey);
        }
        let key = VerifyingKey::from_jwk(members, &[alg]).map_err(|_| DpopError::InvalidKey)?;
        Ok((alg, key, jwk))
    }

    /// [`Self::verify`], with the filter's cache of checked headers when given.
    fn verify_for(
        &self,
        proof: &str,
        method: &str,
        target: Target<'_>,
        access_token: &str,
        now: f64,
        keys: Option<&ProofKeys>,
    ) -> Result<VerifiedProof, DpopError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(DpopError::Malformed);
        }
        let mut segments = proof.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(DpopError::Malformed);
        };
        let header = match keys.and_then(|k| k.get(header_b64)) {
            Some(k) => Header::Cached(k),
            None => {
                let (alg, key, jwk) = self.header_key(header_b64)?;
                Header::Fresh(alg, key, jwk)
            }
        };
        let signature = base64url::decode(signature_b64).map_err(|_| DpopError::Malformed)?;
        let payload = base64url::decode(payload_b64).map_err(|_| DpopError::Malformed)?;
        let signing_input = proof
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(DpopError::Malformed)?;
        let (alg, key) = match &header {
            Header::Cached(k) => (k.alg, &k.key),
            Header::Fresh(alg, key, _) => (*alg, key),
        };
        if signature.is_empty() || !key.verify(alg, signing_input.as_bytes(), &signature) {
            return Err(DpopError::BadSignature);
        }
        let proof_key = match header {
            Header::Cached(k) => k,
            Header::Fresh(alg, key, jwk) => {
                let thumbprint = jwk
                    .as_object()
                    .and_then(jwk_thumbprint)
                    .ok_or(DpopError::InvalidKey)?;
                let k = Arc::new(ProofKey {
                    alg,
                    key,
                    thumbprint,
                });
                if let Some(keys) = keys {
                    keys.insert(header_b64, Arc::clone(&k));
                }
                k
            }
        };

        let claims = jose::json::parse_object(&payload).map_err(|_| DpopError::Malformed)?;
        let jti = claim_str(&claims, "jti")
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_LEN)
            .ok_or(DpopError::InvalidJti)?;
        if claim_str(&claims, "htm") != Some(method) {
            return Err(DpopError::MethodMismatch);
        }
        if !claim_str(&claims, "htu").is_some_and(|htu| target.matches(htu)) {
            return Err(DpopError::UriMismatch);
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite())
            .ok_or(DpopError::MissingIat)?;
        let (max_age, leeway) = (self.max_age_secs as f64, self.leeway_secs as f64);
        if iat > now + leeway {
            return Err(DpopError::IssuedInTheFuture);
        }
        if iat < now - max_age - leeway {
            return Err(DpopError::Stale);
        }
        if claim_str(&claims, "ath") != Some(access_token_hash(access_token).as_str()) {
            return Err(DpopError::AccessTokenHashMismatch);
        }
        Ok(VerifiedProof {
            replay_key: replay_key(&proof_key.thumbprint, jti),
            nonce: claim_str(&claims, "nonce").map(str::to_owned),
            thumbprint: proof_key.thumbprint.clone(),
            // Past this instant the proof is stale, so its entry need not be kept.
            usable_until: iat + max_age + leeway,
        })
    }
}

/// The URI a proof must name.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// An absolute URI, as given.
    Uri(&'a str),
    /// The filter's external base URL (valid, `http` or `https`, no user information) and the
    /// request's path.
    BaseAndPath(&'a str, &'a str),
}

impl Target<'_> {
    /// Whether `htu` names this URI once both are normalised. A `htu` spelled exactly as the
    /// base and an absolute path is that URI without normalising either (the same string
    /// normalises the same way, and such a string always parses).
    fn matches(self, htu: &str) -> bool {
        let uri = match self {
            Self::BaseAndPath(base, path) => {
                if path.starts_with('/') && htu.strip_prefix(base) == Some(path) {
                    return true;
                }
                std::borrow::Cow::Owned(format!("{base}{path}"))
            }
            Self::Uri(uri) => std::borrow::Cow::Borrowed(uri),
        };
        let htu = normalized_uri(htu);
        htu.is_some() && htu == normalized_uri(&uri)
    }
}

/// A proof's protected header: one already checked (its key verified an earlier proof), or
/// checked now (its algorithm, key and `jwk`).
enum Header {
    Cached(Arc<ProofKey>),
    Fresh(Algorithm, VerifyingKey, Value),
}

/// A protected header that passed [`DpopPolicy`]'s checks, and whose key verified a proof.
struct ProofKey {
    alg: Algorithm,
    key: VerifyingKey,
    thumbprint: String,
}

/// Checked proof headers by their base64url segment, so that a client's next proofs (same
/// key, same header) skip the header's JSON, the key's parsing and its thumbprint. Entries are
/// added only once a signature by their key verified. Bounded: a full shard is emptied (a
/// miss only costs the work the cache saves).
struct ProofKeys {
    shards: Vec<Mutex<HashMap<Box<str>, Arc<ProofKey>>>>,
}

/// Headers kept per shard of [`ProofKeys`] (16 shards).
const PROOF_KEYS_PER_SHARD: usize = 256;

impl ProofKeys {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, header_b64: &str) -> Option<&Mutex<HashMap<Box<str>, Arc<ProofKey>>>> {
        // The header's end is the key's coordinates: as good as random between clients.
        let spread = header_b64.bytes().rev().take(8).fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        self.shards.get(spread % SHARDS)
    }

    fn get(&self, header_b64: &str) -> Option<Arc<ProofKey>> {
        let shard = self.shard(header_b64)?;
        let keys = shard.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(header_b64).cloned()
    }

    fn insert(&self, header_b64: &str, key: Arc<ProofKey>) {
        let Some(shard) = self.shard(header_b64) else {
            return;
        };
        let mut keys = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= PROOF_KEYS_PER_SHARD {
            keys.clear();
        }
        keys.insert(header_b64.into(), key);
    }
}

impl fmt::Debug for ProofKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofKeys").finish_non_exhaustive()
    }
}

/// A proof that passed [`DpopPolicy::verify`].
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    thumbprint: String,
    nonce: Option<String>,
    replay_key: [u8; 32],
    usable_until: f64,
}

impl VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key (base64url), which a DPoP-bound
    /// token's `cnf.jkt` must equal.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Whether this proof's key is the one `jkt` (a token's `cnf.jkt`) names.
    pub fn binds(&self, jkt: &str) -> bool {
        self.thumbprint == jkt
    }
}

/// Proofs accepted recently, so that each is accepted once (RFC 9449 §11.1): keyed by the
/// proof key's thumbprint and `jti`, each kept until the proof would be stale anyway.
///
/// Bounded: when a shard is full of entries that are still live, a new proof is refused
/// ([`DpopError::ReplayCacheFull`]) rather than accepted unchecked or let push out an entry
/// whose proof could then be replayed.
#[derive(Debug)]
pub struct ReplayCache {
    shards: Vec<Mutex<HashMap<[u8; 32], f64>>>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl ReplayCache {
    /// A cache for about `capacity` live proofs (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// About how many live proofs it holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Records `proof` as used at `now`: `Err(Replayed)` when it was used before.
    pub fn first_use(&self, proof: &VerifiedProof, now: f64) -> Result<(), DpopError> {
        let index = usize::from(proof.replay_key.first().copied().unwrap_or(0)) % SHARDS;
        let shard = self.shards.get(index).ok_or(DpopError::ReplayCacheFull)?;
        let mut seen = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if seen
            .get(&proof.replay_key)
            .is_some_and(|until| *until >= now)
        {
            return Err(DpopError::Replayed);
        }
        if seen.len() >= self.per_shard {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= self.per_shard {
                return Err(DpopError::ReplayCacheFull);
            }
        }
        seen.insert(proof.replay_key, proof.usable_until);
        Ok(())
    }
}

fn claim_str<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c str> {
    claims.get(name).and_then(Value::as_str)
}

/// base64url (no padding) of the SHA-256 of `bytes`: `ath` (RFC 9449), `x5t#S256` (RFC 8705).
pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    base64url::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// DPoP for a filter ([`crate::OAuthFilterBuilder::dpop`]): the URL clients call, how proofs
/// are judged, the replay cache, and whether plain bearer tokens are still accepted.
#[derive(Clone)]
pub struct Dpop {
    base_url: String,
    policy: DpopPolicy,
    replay_capacity: usize,
    accept_bearer: bool,
    nonces: Option<(Vec<u8>, Duration)>,
    #[cfg(feature = "redis")]
    redis: Option<RedisReplay>,
}

/// A replay store shared by a fleet through Redis (feature `redis`), so that a proof is
/// accepted once by the whole fleet (RFC 9449 §11.1): `SET <prefix><hash of key and jti> 1 NX`
/// with the proof's remaining lifetime as expiry. Each instance checks its own cache first.
/// When Redis cannot be reached (each operation is bounded by a short timeout), proofs are
/// refused with 503 (fail closed), or, with [`RedisReplay::fall_back_to_local`], checked by
/// the instance's own cache alone.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisReplay {
    url: String,
    prefix: String,
    timeout: Duration,
    fall_back: bool,
}

#[cfg(feature = "redis")]
impl fmt::Debug for RedisReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplay")
            .field("url", &crate::introspection::redacted_url(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("fall_back", &self.fall_back)
            .finish()
    }
}

#[cfg(feature = "redis")]
impl RedisReplay {
    /// Redis at `url` (`redis://host:port/db`, or `rediss://`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: String::from("oauth-filter:dpop:"),
            timeout: Duration::from_millis(100),
            fall_back: false,
        }
    }
    /// Key prefix (default `oauth-filter:dpop:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Time allowed for each Redis operation (default 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// While Redis is unavailable, accept proofs that this instance's own cache has not seen
    /// (a replay to another instance then goes unnoticed) instead of refusing them.
    pub fn fall_back_to_local(mut self, fall_back: bool) -> Self {
        self.fall_back = fall_back;
        self
    }
}

/// The shared store, built.
#[cfg(feature = "redis")]
struct SharedReplay {
    conn: crate::redis_conn::RedisConnection,
    prefix: String,
    fall_back: bool,
}

#[cfg(feature = "redis")]
impl fmt::Debug for SharedReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedReplay")
            .field("prefix", &self.prefix)
            .field("fall_back", &self.fall_back)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
impl SharedReplay {
    /// Records `proof` in Redis: `Err(Replayed)` when another instance (or this one, before a
    /// restart) accepted it already.
    async fn first_use(&self, proof: &VerifiedProof, now: f64) -> Result<(), DpopError> {
        // The proof's remaining lifetime, at least 1 ms (it was fresh a moment ago).
        let ttl_ms = ((proof.usable_until - now) * 1000.0).ceil().max(1.0) as u64;
        let mut key = self.prefix.clone();
        for b in proof.replay_key {
            key.push_str(&format!("{b:02x}"));
        }
        let unavailable = || {
            if self.fall_back {
                Ok(())
            } else {
                Err(DpopError::ReplayUnavailable)
            }
        };
        let Some(mut conn) = self.conn.get("DPoP replay store").await else {
            return unavailable();
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(1).arg("NX").arg("PX").arg(ttl_ms);
        match tokio::time::timeout(
            self.conn.timeout,
            cmd.query_async::<Option<String>>(&mut conn),
        )
        .await
        {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(DpopError::Replayed),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "DPoP replay store write failed");
                unavailable()
            }
            Err(_) => {
                tracing::warn!("DPoP replay store write timed out");
                unavailable()
            }
        }
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("base_url", &self.base_url)
            .field("policy", &self.policy)
            .field("replay_capacity", &self.replay_capacity)
            .field("accept_bearer", &self.accept_bearer)
            .field("nonces", &self.nonces.as_ref().map(|(_, w)| w))
            .finish_non_exhaustive()
    }
}

/// The shortest secret [`Dpop::nonces`] takes, in bytes.
pub const MIN_NONCE_SECRET_LEN: usize = 32;

/// The replay cache's default size: proofs live about a minute, so this is ~1,600 DPoP
/// requests a second before new proofs are refused (fail closed).
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

impl Dpop {
    /// DPoP for an API that clients call at `base_url` (`https://api.example.com`, or with the
    /// prefix a proxy strips, `https://example.com/api`): a proof's `htu` must be this URL
    /// followed by the request's path. Taken from configuration, never from the request's
    /// `Host` header: behind a TLS-terminating proxy the request says `http://` and another
    /// host.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            policy: DpopPolicy::default(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            accept_bearer: true,
            nonces: None,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// Share the replay store through Redis (feature `redis`), for fleets.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, redis: RedisReplay) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Require server-provided nonces (RFC 9449 §8, §9): a proof must carry a `nonce` this
    /// server handed out. Nonces are stateless: an HMAC-SHA256 under `secret` (at least
    /// [`MIN_NONCE_SECRET_LEN`] bytes; share it across a fleet so that any instance accepts
    /// another's nonces) of the current `window` of time, and accepted during that window and
    /// the next. A proof without one, or with an old one, gets 401 `use_dpop_nonce` with a
    /// `DPoP-Nonce` header; an accepted proof whose nonce is from the previous window gets a
    /// fresh one on the answer ([`crate::OAuthFilter::dpop_nonce_refresh`]).
    pub fn nonces(mut self, secret: impl AsRef<[u8]>, window: Duration) -> Self {
        self.nonces = Some((secret.as_ref().to_vec(), window));
        self
    }

    /// The algorithms and `iat` window (default [`DpopPolicy::default`]).
    pub fn policy(mut self, policy: DpopPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Live proofs the replay cache holds (default [`DEFAULT_REPLAY_CAPACITY`]).
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Whether unbound tokens are still accepted with the `Bearer` scheme (default `true`);
    /// `false` requires DPoP-bound tokens. A DPoP-bound token is never accepted as a bearer
    /// token either way.
    pub fn accept_bearer(mut self, accept: bool) -> Self {
        self.accept_bearer = accept;
        self
    }

    /// The FAPI 2.0 rules for proofs: PS256, ES256 and EdDSA only.
    pub(crate) fn fapi2(self) -> Result<Self, crate::ConfigError> {
        match self
            .policy
            .algorithms
            .iter()
            .find(|a| !Algorithm::FAPI2.contains(a))
        {
            Some(a) => Err(crate::ConfigError::new(
                "dpop.algorithms",
                format!("{a:?} is not allowed by the FAPI 2.0 profile (PS256, ES256, EdDSA)"),
            )),
            None => Ok(self),
        }
    }

    pub(crate) fn build(self) -> Result<DpopState, crate::ConfigError> {
        let bad = |why: &str| crate::ConfigError::new("dpop.base_url", why.to_owned());
        let url = url::Url::parse(&self.base_url)
            .map_err(|_| bad("not an absolute URL, e.g. https://api.example.com"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be an http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry user information"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        if self.replay_capacity == 0 {
            return Err(crate::ConfigError::new(
                "dpop.replay_capacity",
                "must be at least 1: without a replay cache every proof would be refused",
            ));
        }
        let nonces = match self.nonces {
            None => None,
            Some((secret, window)) => {
                if secret.len() < MIN_NONCE_SECRET_LEN {
                    return Err(crate::ConfigError::new(
                        "dpop.nonce_secret",
                        format!("at least {MIN_NONCE_SECRET_LEN} bytes of random data"),
                    ));
                }
                let window_secs = window.as_secs();
                if !(1..=3600).contains(&window_secs) {
                    return Err(crate::ConfigError::new(
                        "dpop.nonce_window_secs",
                        "must be 1 to 3600 seconds",
                    ));
                }
                Some(Nonces {
                    key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
                    window_secs,
                })
            }
        };
        #[cfg(feature = "redis")]
        let shared = match self.redis {
            None => None,
            Some(r) => {
                let client = redis::Client::open(r.url.as_str())
                    .map_err(|e| crate::ConfigError::new("dpop.redis.url", e.to_string()))?;
                if r.timeout.is_zero() {
                    return Err(crate::ConfigError::new(
                        "dpop.redis.timeout_ms",
                        "must be positive",
                    ));
                }
                Some(SharedReplay {
                    conn: crate::redis_conn::RedisConnection::new(client, r.timeout),
                    prefix: r.prefix,
                    fall_back: r.fall_back,
                })
            }
        };
        let base = url.as_str().trim_end_matches('/').to_owned();
        let algs = self
            .policy
            .algorithms()
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(DpopState {
            base,
            policy: self.policy,
            proof_keys: ProofKeys::new(),
            replay: ReplayCache::new(self.replay_capacity),
            accept_bearer: self.accept_bearer,
            algs,
            nonces,
            #[cfg(feature = "redis")]
            shared,
        })
    }
}

/// A filter's DPoP settings, built.
#[derive(Debug)]
pub(crate) struct DpopState {
    base: String,
    policy: DpopPolicy,
    proof_keys: ProofKeys,
    replay: ReplayCache,
    pub(crate) accept_bearer: bool,
    /// The challenge's `algs` value.
    pub(crate) algs: String,
    nonces: Option<Nonces>,
    #[cfg(feature = "redis")]
    shared: Option<SharedReplay>,
}

/// Stateless server nonces: the HMAC of a window of time.
struct Nonces {
    key: hmac::Key,
    window_secs: u64,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    fn window(&self, now: f64) -> u64 {
        // `as` saturates: a clock before 1970 is window 0, never a panic.
        (now.max(0.0) as u64) / self.window_secs
    }

    fn of(&self, window: u64) -> String {
        let mut input = b"oauth-filter dpop nonce v1:".to_vec();
        input.extend_from_slice(&window.to_be_bytes());
        base64url::encode(hmac::sign(&self.key, &input).as_ref())
    }

    fn current(&self, now: f64) -> String {
        self.of(self.window(now))
    }

    /// `Ok(true)` for the current window's nonce, `Ok(false)` for the previous one's.
    fn check(&self, nonce: Option<&str>, now: f64) -> Result<bool, DpopError> {
        let nonce = nonce.ok_or(DpopError::NonceMissing)?;
        let window = self.window(now);
        // Nonces are handed to every client: comparing them needs no constant time.
        if nonce == self.of(window) {
            Ok(true)
        } else if window > 0 && nonce == self.of(window - 1) {
            Ok(false)
        } else {
            Err(DpopError::NonceExpired)
        }
    }
}

impl DpopState {
    /// The nonce to hand out now, when nonces are on.
    pub(crate) fn current_nonce(&self, now: f64) -> Option<String> {
        self.nonces.as_ref().map(|n| n.current(now))
    }

    /// The current nonce when `proof` (already verified for this request) carries the previous
    /// window's: the answer should hand out the fresh one.
    pub(crate) fn nonce_refresh(&self, proof: &[u8], now: f64) -> Option<String> {
        let nonces = self.nonces.as_ref()?;
        let proof = std::str::from_utf8(proof).ok()?;
        let jws = jose::parse_compact(proof.trim_ascii()).ok()?;
        let payload = jws.payload().ok()?;
        let claims = jose::json::parse_object(&payload).ok()?;
        match nonces.check(claim_str(&claims, "nonce"), now) {
            Ok(true) => None,
            _ => Some(nonces.current(now)),
        }
    }

    /// The settings in words.
    pub(crate) fn describe(&self) -> String {
        format!(
            "proofs for {} ({}, up to {} s old), each accepted once (up to {} live{}), {}{}",
            self.base,
            self.algs,
            self.policy.max_age_secs,
            self.replay.capacity(),
            if self.needs_io() {
                ", and once per fleet through Redis"
            } else {
                ""
            },
            match &self.nonces {
                Some(n) => format!("server nonces required ({} s windows), ", n.window_secs),
                None => String::new(),
            },
            if self.accept_bearer {
                "plain bearer tokens accepted too"
            } else {
                "plain bearer tokens refused"
            }
        )
    }

    /// Checks the request's one proof for `token` (bound to `jkt`) and records it as used.
    pub(crate) fn check(
        &self,
        proof: &[u8],
        method: &str,
        path: &str,
        token: &str,
        jkt: &str,
        now: f64,
    ) -> Result<VerifiedProof, DpopError> {
        let proof = std::str::from_utf8(proof).map_err(|_| DpopError::Malformed)?;
        let verified = self.policy.verify_for(
            proof.trim_ascii(),
            method,
            Target::BaseAndPath(&self.base, path),
            token,
            now,
            Some(&self.proof_keys),
        )?;
        if let Some(nonces) = &self.nonces {
            nonces.check(verified.nonce.as_deref(), now)?;
        }
        if !verified.binds(jkt) {
            return Err(DpopError::KeyMismatch);
        }
        self.replay.first_use(&verified, now)?;
        Ok(verified)
    }

    /// Whether a proof's check needs I/O (the shared replay store), so that a caller without
    /// a runtime defers it.
    pub(crate) fn needs_io(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.shared.is_some();
        #[cfg(not(feature = "redis"))]
        return false;
    }

    /// The shared replay store's check of a proof [`DpopState::check`] accepted; nothing to do
    /// without one.
    pub(crate) async fn shared_first_use(
        &self,
        proof: &VerifiedProof,
        now: f64,
    ) -> Result<(), DpopError> {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            return shared.first_use(proof, now).await;
        }
        let _ = (proof, now);
        Ok(())
    }
}

/// `ath` for `token` (RFC 9449 §4.2): base64url(SHA-256(ASCII token)).
pub fn access_token_hash(token: &str) -> String {
    sha256_b64(token.as_bytes())
}

fn replay_key(thumbprint: &str, jti: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(thumbprint.as_bytes());
    ctx.update(b"\0");
    ctx.update(jti.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK: its required members only, in
/// lexicographic order, as JSON without whitespace. `None` for a key type without a defined
/// member set or a required member that is not a string.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let required: &[&str] = match member("kty")? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut json = String::from("{");
    for (i, name) in required.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&serde_json::to_string(name).ok()?);
        json.push(':');
        json.push_str(&serde_json::to_string(member(name)?).ok()?);
    }
    json.push('}');
    Some(sha256_b64(json.as_bytes()))
}

/// An http(s) URI without query and fragment, normalised for comparison (module docs).
fn normalized_uri(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!(
        "{}://{host}{port}{}",
        url.scheme(),
        normalized_percent_encoding(url.path())
    ))
}

/// RFC 3986 §6.2.2.1-6.2.2.2: percent-encodings with upper-case hex digits, and unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) decoded.
fn normalized_percent_encoding(path: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2)) {
                if let (Some(hv), Some(lv)) = (hex(*h), hex(*l)) {
                    let decoded = hv * 16 + lv;
                    if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                        out.push(char::from(decoded));
                    } else {
                        out.push('%');
                        out.push(char::from(h.to_ascii_uppercase()));
                        out.push(char::from(l.to_ascii_uppercase()));
                    }
                    i += 3;
                    continue;
                }
            }
        }
        out.push(char::from(b));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth_filter_testkit::{DpopClient, SigningAlg};
    use serde_json::json;

    const NOW: f64 = 1_700_000_000.0;
    const TOKEN: &str = "an-access-token";
    const URI: &str = "https://api.example/orders";

    fn client(alg: SigningAlg) -> DpopClient {
        DpopClient::generate(alg).unwrap()
    }

    /// Proofs made by the test kit's client (its own signing, `jwk` and `ath`), at [`NOW`].
    trait Proofs {
        /// A valid proof for `GET` [`URI`] with [`TOKEN`], with each member of `header` and
        /// `claims` set over it (a `null` removes the member).
        fn proof_with(&self, header: Value, claims: Value) -> String;
        /// The valid proof itself.
        fn valid_proof(&self) -> String {
            self.proof_with(json!({}), json!({}))
        }
    }

    impl Proofs for DpopClient {
        fn proof_with(&self, header: Value, claims: Value) -> String {
            let mut proof = self
                .proof_builder("GET", URI, TOKEN)
                .claim("jti", "id-1")
                .claim("iat", NOW);
            for (k, v) in header.as_object().unwrap() {
                proof = if v.is_null() {
                    proof.without_header(k)
                } else {
                    proof.header(k, v.clone())
                };
            }
            for (k, v) in claims.as_object().unwrap() {
                proof = if v.is_null() {
                    proof.without_claim(k)
                } else {
                    proof.claim(k, v.clone())
                };
            }
            proof.sign()
        }
    }

    fn request() -> ProofRequest<'static> {
        ProofRequest {
            method: "GET",
            uri: URI,
            access_token: TOKEN,
        }
    }

    fn verify(proof: &str) -> Result<VerifiedProof, DpopError> {
        DpopPolicy::default().verify(proof, &request(), NOW)
    }

    #[test]
    fn a_valid_proof_for_each_default_algorithm_is_accepted_with_its_thumbprint() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::PS256] {
            let c = client(alg);
            let proof = verify(&c.valid_proof()).unwrap();
            // The kit computes the thumbprint on its own.
            assert_eq!(proof.thumbprint(), c.thumbprint(), "{alg:?}");
            assert!(proof.binds(c.thumbprint()) && !proof.binds("another"));
        }
    }

    #[test]
    fn rfc7638_thumbprint_vector() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            jwk_thumbprint(json!({"kty": "oct", "k": "AA"}).as_object().unwrap()),
            None
        );
    }

    #[test]
    fn rfc9449_access_token_hash_vector() {
        // RFC 9449 §7.1: the access token of the example and its `ath`.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn every_header_defect_is_refused_with_its_reason() {
        let s = client(SigningAlg::ES256);
        let cases = [
            (json!({"typ": null}), DpopError::WrongType),
            (json!({"typ": "JWT"}), DpopError::WrongType),
            (json!({"typ": "at+jwt"}), DpopError::WrongType),
            (json!({"jwk": null}), DpopError::InvalidKey),
            (json!({"jwk": "a string"}), DpopError::InvalidKey),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
                DpopError::InvalidKey,
            ),
            (json!({"crit": ["exp"]}), DpopError::Malformed),
        ];
        for (header, want) in cases {
            assert_eq!(
                verify(&s.proof_with(header.clone(), json!({}))).unwrap_err(),
                want,
                "{header}"
            );
        }
        // The header's key with its private scalar.
        let mut jwk = s.public_jwk();
        jwk["d"] = json!("c2VjcmV0");
        let proof = s.proof_with(json!({"jwk": jwk}), json!({}));
        assert_eq!(verify(&proof).unwrap_err(), DpopError::PrivateKey);
        // A symmetric key is never a proof key.
        let proof = s.proof_with(json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), json!({}));
        assert_eq!(verify(&proof).unwrap_err(), DpopError::PrivateKey);
    }

    #[test]
    fn none_hmac_and_unlisted_algorithms_are_refused() {
        let s = client(SigningAlg::ES256);
        let h = |v: Value| base64url::encode(v.to_string().as_bytes());
        let claims = h(json!({"jti": "1", "htm": "GET", "htu": URI, "iat": NOW}));
        let none = format!(
            "{}.{claims}.",
            h(json!({"typ": "dpop+jwt", "alg": "none", "jwk": s.public_jwk()}))
        );
        assert_eq!(verify(&none).unwrap_err(), DpopError::UnsupportedAlgorithm);
        let hmac = format!(
            "{}.{claims}.AAAA",
            h(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": s.public_jwk()}))
        );
        assert_eq!(verify(&hmac).unwrap_err(), DpopError::UnsupportedAlgorithm);
        // ES256 is not in a policy that lists EdDSA only.
        let eddsa_only = DpopPolicy::new(&[Algorithm::EdDSA], 60, 5).unwrap();
        assert_eq!(
            eddsa_only
                .verify(&s.valid_proof(), &request(), NOW)
                .unwrap_err(),
            DpopError::UnsupportedAlgorithm
        );
        assert!(DpopPolicy::new(&[Algorithm::HS256], 60, 5).is_none());
        assert!(DpopPolicy::new(&[], 60, 5).is_none());
    }

    #[test]
    fn a_bad_signature_or_another_key_is_refused() {
        let s = client(SigningAlg::ES256);
        let proof = s.valid_proof();
        let (input, signature) = proof.rsplit_once('.').unwrap();
        let mut signature = base64url::decode(signature).unwrap();
        signature[10] ^= 1;
        let proof = format!("{input}.{}", base64url::encode(&signature));
        assert_eq!(verify(&proof).unwrap_err(), DpopError::BadSignature);
        // Signed by one key, naming another.
        let other = client(SigningAlg::ES256);
        let proof = s.proof_with(json!({"jwk": other.public_jwk()}), json!({}));
        assert_eq!(verify(&proof).unwrap_err(), DpopError::BadSignature);
    }

    #[test]
    fn every_claim_defect_is_refused_with_its_reason() {
        let s = client(SigningAlg::ES256);
        let long_jti = "j".repeat(MAX_JTI_LEN + 1);
        let cases = [
            (json!({"jti": null}), DpopError::InvalidJti),
            (json!({"jti": ""}), DpopError::InvalidJti),
            (json!({"jti": 7}), DpopError::InvalidJti),
            (json!({"jti": long_jti}), DpopError::InvalidJti),
            (json!({"htm": null}), DpopError::MethodMismatch),
            (json!({"htm": "POST"}), DpopError::MethodMismatch),
            (json!({"htm": "get"}), DpopError::MethodMismatch),
            (json!({"htu": null}), DpopError::UriMismatch),
            (
                json!({"htu": "https://api.example/other"}),
                DpopError::UriMismatch,
            ),
            (
                json!({"htu": "https://evil.example/orders"}),
                DpopError::UriMismatch,
            ),
            (
                json!({"htu": "http://api.example/orders"}),
                DpopError::UriMismatch,
            ),
            (
                json!({"htu": "https://api.example:8443/orders"}),
                DpopError::UriMismatch,
            ),
            (
                json!({"htu": "https://user@api.example/orders"}),
                DpopError::UriMismatch,
            ),
            (json!({"htu": "/orders"}), DpopError::UriMismatch),
            (json!({"iat": null}), DpopError::MissingIat),
            (json!({"iat": "1700000000"}), DpopError::MissingIat),
            (json!({"iat": NOW - 66.0}), DpopError::Stale),
            (json!({"iat": NOW + 6.0}), DpopError::IssuedInTheFuture),
            (json!({"ath": null}), DpopError::AccessTokenHashMismatch),
            (
                json!({"ath": access_token_hash("another token")}),
                DpopError::AccessTokenHashMismatch,
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(
                verify(&s.proof_with(json!({}), claims.clone())).unwrap_err(),
                want,
                "{claims}"
            );
        }
        // The edges of the window are inside it.
        for iat in [NOW - 65.0, NOW + 5.0] {
            assert!(
                verify(&s.proof_with(json!({}), json!({"iat": iat}))).is_ok(),
                "{iat}"
            );
        }
    }

    #[test]
    fn htu_is_compared_after_normalisation_without_query_or_fragment() {
        let s = client(SigningAlg::ES256);
        for htu in [
            "https://api.example/orders",
            "HTTPS://API.EXAMPLE/orders",
            "https://api.example:443/orders",
            "https://api.example/orders?page=2",
            "https://api.example/orders#top",
            "https://api.example/%6Frders",
            "https://api.example/a/../orders",
        ] {
            let proof = s.proof_with(json!({}), json!({"htu": htu}));
            assert!(verify(&proof).is_ok(), "{htu}");
        }
        // The request's own URI is normalised too.
        let proof = s.proof_with(json!({}), json!({"htu": "https://api.example/a%2fb"}));
        let request = ProofRequest {
            uri: "https://api.example:443/a%2Fb?x=1",
            ..request()
        };
        assert!(DpopPolicy::default().verify(&proof, &request, NOW).is_ok());
        // The path is case-sensitive, and an encoded slash is not a slash.
        for htu in ["https://api.example/Orders", "https://api.example/a/b"] {
            let proof = s.proof_with(json!({}), json!({"htu": htu}));
            assert_eq!(
                DpopPolicy::default()
                    .verify(&proof, &request, NOW)
                    .unwrap_err(),
                DpopError::UriMismatch,
                "{htu}"
            );
        }
    }

    #[test]
    fn garbage_and_oversize_proofs_are_malformed() {
        for proof in [
            "",
            "a.b",
            "a.b.c",
            "e30.e30.AAAA",
            &"a".repeat(MAX_PROOF_LEN + 1),
        ] {
            assert_eq!(
                verify(proof).unwrap_err(),
                DpopError::Malformed,
                "{proof:.20}"
            );
        }
    }

    /// The cache of checked headers never stands in for a signature: a header is kept only
    /// after its key verified a proof, and each later proof's signature is still checked.
    #[test]
    fn cached_proof_headers_still_need_a_good_signature_for_every_proof() {
        let policy = DpopPolicy::default();
        let keys = ProofKeys::new();
        let check = |proof: &str| {
            let target = Target::BaseAndPath("https://api.example", "/orders");
            policy.verify_for(proof, "GET", target, TOKEN, NOW, Some(&keys))
        };
        let s = client(SigningAlg::ES256);
        let good = s.valid_proof();
        let header = good.split('.').next().unwrap();
        let (input, _) = good.rsplit_once('.').unwrap();
        let forged = format!("{input}.{}", base64url::encode(&[7u8; 64]));
        assert_eq!(check(&forged).unwrap_err(), DpopError::BadSignature);
        assert!(
            keys.get(header).is_none(),
            "kept before a signature verified"
        );
        let accepted = check(&good).unwrap();
        assert!(keys.get(header).is_some());
        assert_eq!(accepted.thumbprint(), s.thumbprint());
        // Same header, another payload, the old signature: refused although the header is known.
        let next = s.proof_with(json!({}), json!({"jti": "id-2"}));
        let (next_input, next_sig) = next.rsplit_once('.').unwrap();
        let (_, good_sig) = good.rsplit_once('.').unwrap();
        assert_eq!(next_input.split('.').next(), Some(header));
        assert_eq!(
            check(&format!("{next_input}.{good_sig}")).unwrap_err(),
            DpopError::BadSignature
        );
        assert_eq!(
            check(&format!("{next_input}.{next_sig}"))
                .unwrap()
                .thumbprint(),
            s.thumbprint()
        );
        // Claims are checked on a cache hit as on a miss.
        let stale = s.proof_with(json!({}), json!({"iat": NOW - 600.0}));
        assert_eq!(check(&stale).unwrap_err(), DpopError::Stale);
        // The htu fast path and normalisation agree.
        let spelled = s.proof_with(
            json!({}),
            json!({"htu": "HTTPS://API.example:443/%6Frders"}),
        );
        assert!(check(&spelled).is_ok());
        let elsewhere = s.proof_with(json!({}), json!({"htu": "https://api.example/orders/1"}));
        assert_eq!(check(&elsewhere).unwrap_err(), DpopError::UriMismatch);
        // A full shard is emptied, never grown past its bound.
        let known = keys.get(header).unwrap();
        for i in 0..(PROOF_KEYS_PER_SHARD * SHARDS * 2) {
            keys.insert(&format!("{header}{i:08}"), Arc::clone(&known));
        }
        for shard in &keys.shards {
            assert!(shard.lock().unwrap().len() <= PROOF_KEYS_PER_SHARD);
        }
    }

    #[test]
    fn a_proof_is_accepted_once_and_its_entry_outlives_its_window_only() {
        let s = client(SigningAlg::ES256);
        let cache = ReplayCache::new(1_000);
        let proof = verify(&s.valid_proof()).unwrap();
        assert_eq!(cache.first_use(&proof, NOW), Ok(()));
        assert_eq!(cache.first_use(&proof, NOW + 1.0), Err(DpopError::Replayed));
        // Another jti, or the same jti under another key, is another proof.
        let next = verify(&s.proof_with(json!({}), json!({"jti": "id-2"}))).unwrap();
        assert_eq!(cache.first_use(&next, NOW), Ok(()));
        let other_key = verify(&client(SigningAlg::ES256).valid_proof()).unwrap();
        assert_eq!(cache.first_use(&other_key, NOW), Ok(()));
        // Once the proof is stale its entry may go: verify refuses it by then anyway.
        assert_eq!(
            cache.first_use(&proof, NOW + 65.0),
            Err(DpopError::Replayed)
        );
        assert_eq!(cache.first_use(&proof, NOW + 66.0), Ok(()));
    }

    #[test]
    fn a_full_replay_cache_refuses_instead_of_forgetting() {
        let s = client(SigningAlg::ES256);
        let cache = ReplayCache::new(1); // one live entry per shard
        let (mut accepted, mut full) = (Vec::new(), 0);
        // 1,000 random keys leave no shard empty (the chance that one does is below 1e-27).
        for k in 0..1_000 {
            let proof =
                verify(&s.proof_with(json!({}), json!({"jti": format!("id-{k}")}))).unwrap();
            match cache.first_use(&proof, NOW) {
                Ok(()) => accepted.push(proof),
                Err(DpopError::ReplayCacheFull) => full += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!((accepted.len(), full), (SHARDS, 1_000 - SHARDS));
        // None was pushed out: each accepted proof is still refused as a replay.
        for proof in &accepted {
            assert_eq!(cache.first_use(proof, NOW + 1.0), Err(DpopError::Replayed));
        }
        // Once the entries are stale, there is room again.
        let late = s.proof_with(json!({}), json!({"jti": "late", "iat": NOW + 100.0}));
        let late = DpopPolicy::default()
            .verify(&late, &request(), NOW + 100.0)
            .unwrap();
        assert_eq!(cache.first_use(&late, NOW + 100.0), Ok(()));
    }

    #[test]
    fn errors_never_echo_input() {
        let all = [
            DpopError::Malformed,
            DpopError::WrongType,
            DpopError::UnsupportedAlgorithm,
            DpopError::InvalidKey,
            DpopError::PrivateKey,
            DpopError::BadSignature,
            DpopError::InvalidJti,
            DpopError::MethodMismatch,
            DpopError::UriMismatch,
            DpopError::MissingIat,
            DpopError::Stale,
            DpopError::IssuedInTheFuture,
            DpopError::AccessTokenHashMismatch,
            DpopError::Replayed,
            DpopError::ReplayCacheFull,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.reason_code()).collect();
        assert_eq!(codes.len(), all.len(), "reason codes are distinct");
        for e in all {
            assert!(e.reason_code().starts_with("dpop_"));
            assert!(!e.description().is_empty());
        }
    }
}
