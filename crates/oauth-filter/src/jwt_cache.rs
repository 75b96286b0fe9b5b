//! The verified-JWT cache: a client reusing its token costs a hash and a lookup instead of a
//! signature check.
//!
//! ```
//! use oauth_filter::OAuthFilter;
//! // 10,000 entries by default; 0 turns it off.
//! let builder = OAuthFilter::builder().verified_token_cache(50_000);
//! # let _ = builder;
//! ```
//!
//! Entries hold a token's facts (never a decision), are never answered after `exp` (their time
//! claims are re-checked on every hit, and an entry found expired is dropped), and are dropped
//! when the issuer's key set changes. The table is `quick_cache`'s (S3-FIFO eviction, sharded
//! locks): it replaced moka here because moka's per-entry bookkeeping (access and write order
//! deques, the timer wheel for per-entry expiry, its concurrent map's own nodes) was about half
//! of an entry's memory (`examples/memory_flood.rs`; numbers in BENCHMARKS.md). Expiry by
//! `exp` needs no timer here: an expired entry is never answered, and one nobody asks for again
//! is evicted like any cold entry, within the same capacity bound. Concurrent
//! requests with one token the cache does not hold yet share one verification (and so one key
//! fetch and one signature check): the first runs it, the others wait for its answer, which is
//! an error for all of them when it fails (and is not kept).
//!
//! Keys are a keyed SipHash-1-3 (128-bit) of the exact token bytes, under a random
//! per-process key: a pseudorandom function, so nobody without the key can aim a token at
//! another's entry, and 128 bits make accidental collisions negligible. It replaced SHA-256
//! here because hashing every token on every request dominated the cache-hit path (47% of
//! server instructions under callgrind); this cache never leaves the process. The
//! introspection cache keeps SHA-256: its keys are shared with other instances through Redis.
//! Because a key is already the output of a keyed pseudorandom function, the cache's own table
//! does not hash it again: it takes the key's bits ([`KeyBits`]), which no client can aim
//! without the per-process key (a second SipHash there cost 4% of a new token's verification).

use crate::access_token::AccessToken;
use crate::error::AuthError;
use crate::jwt::IssuerVerifier;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A JWT verified earlier: its facts and what its validity depended on. Held by value: the
/// cache's own entry is already shared, and a hit clones two `Arc`s.
#[derive(Clone)]
pub(crate) struct VerifiedJwt {
    pub(crate) token: AccessToken,
    pub(crate) issuer: Arc<IssuerVerifier>,
    /// Generation of the key set that verified it; `None` for configured HMAC secrets.
    pub(crate) key_generation: Option<u64>,
}

type Table = quick_cache::sync::Cache<
    u128,
    VerifiedJwt,
    quick_cache::UnitWeighter,
    std::hash::BuildHasherDefault<KeyBits>,
>;

pub(crate) struct JwtCache {
    /// `None` when the system RNG could not give a key (see [`JwtCache::new`]).
    entries: Option<Table>,
    key: (u64, u64),
    /// Verifications under way, by cache key: concurrent requests with one new token share
    /// one signature check (and one key fetch) instead of each making its own. An entry
    /// lives only while its verification runs.
    in_flight: Mutex<HashMap<u128, Arc<InFlight>>>,
}

/// One verification under way: its answer, once there is one.
pub(crate) type InFlight = tokio::sync::OnceCell<Result<AccessToken, AuthError>>;

impl JwtCache {
    pub(crate) fn new(capacity: u64) -> Self {
        let mut seed = [0u8; 16];
        // If the system RNG failed, a fixed key would make collisions plannable: go without the
        // cache rather than with a predictable one.
        let key = match aws_lc_rs::rand::fill(&mut seed) {
            Ok(()) => {
                let (a, b) = seed.split_at(8);
                (
                    u64::from_le_bytes(a.try_into().unwrap_or_default()),
                    u64::from_le_bytes(b.try_into().unwrap_or_default()),
                )
            }
            Err(_) => (0, 0),
        };
        let entries = (key != (0, 0)).then(|| {
            Table::with(
                usize::try_from(capacity).unwrap_or(usize::MAX),
                capacity,
                quick_cache::UnitWeighter,
                std::hash::BuildHasherDefault::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            )
        });
        Self {
            entries,
            key,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The verification under way for `key`, joined, or a new one to run.
    pub(crate) fn join(&self, key: u128) -> Arc<InFlight> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(key).or_default().clone()
    }

    /// Forgets a finished verification (once: the first of its waiters to return).
    pub(crate) fn finished(&self, key: u128, cell: &Arc<InFlight>) {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            map.remove(&key);
        }
    }

    pub(crate) fn key_of(&self, token: &str) -> u128 {
        use siphasher::sip128::Hasher128;
        use std::hash::Hasher;
        let mut h = siphasher::sip128::SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(token.as_bytes());
        h.finish128().as_u128()
    }

    pub(crate) fn get(&self, key: u128) -> Option<VerifiedJwt> {
        let hit = self.peek(key);
        crate::metrics::cache(crate::metrics::Cache::Jwt, hit.is_some());
        hit
    }

    /// [`JwtCache::get`] without counting a miss (for a lookup that a full one may follow).
    pub(crate) fn peek(&self, key: u128) -> Option<VerifiedJwt> {
        self.entries.as_ref()?.get(&key)
    }

    pub(crate) fn insert(&self, key: u128, entry: VerifiedJwt) {
        if let Some(t) = &self.entries {
            t.insert(key, entry);
        }
    }

    pub(crate) fn invalidate(&self, key: u128) {
        if let Some(t) = &self.entries {
            t.remove(&key);
        }
    }
}

/// The table's hash of a cache key: the key's own bits, folded to 64. Sound only because keys
/// are keyed SipHash-128 outputs ([`JwtCache::key_of`]): uniform, and unpredictable without the
/// per-process key, so nobody can crowd one bucket.
#[derive(Default)]
pub(crate) struct KeyBits(u64);

impl std::hash::Hasher for KeyBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        // Truncation intended: the two halves folded into one.
        self.0 ^= (key as u64) ^ ((key >> 64) as u64);
    }

    /// Not reached for `u128` keys; any other input is mixed in byte by byte (FNV-1a) so
    /// that the hasher stays a hash whatever it is given.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
