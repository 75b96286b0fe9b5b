//! Key sets per issuer: a remote JWKS with caching, refresh on unknown `kid` (single-flight, with a
//! cooldown), last-known-good keys when a refresh fails, or a fixed set from configuration.
//!
//! ```
//! use oauth_filter::JwksPolicy;
//! use std::time::Duration;
//! let policy = JwksPolicy::default().cooldown(Duration::from_secs(10));
//! # let _ = policy;
//! ```
//!
//! How a remote set behaves:
//! - The first request that needs keys fetches them; concurrent requests wait for that one fetch.
//! - Keys are fresh for the response's `Cache-Control: max-age`, clamped to
//!   `[min_max_age, max_max_age]` (`default_max_age` when absent); a request after that refreshes.
//! - A token with an unknown `kid` triggers a refresh only if the last fetch attempt is older than
//!   `cooldown`: a flood of random kids costs at most one fetch per cooldown.
//! - A failed refresh never wipes keys: the last good set keeps serving for up to `max_stale`
//!   past its freshness, and fetches are retried at most every `failure_backoff`. With nothing
//!   usable cached, verification fails closed with [`AuthError::KeysUnavailable`] (503).
//! - Keys a JWKS marks unusable (wrong `use`, weak RSA, unknown curve…) are skipped, not fatal.

use crate::discovery::{self, Metadata};
use crate::error::AuthError;
use crate::http::{FetchError, HttpClientConfig, HttpFetcher};
use crate::jose::{Algorithm, VerifyingKey};
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// Timing rules for a remote JWKS.
#[derive(Debug, Clone)]
pub struct JwksPolicy {
    pub(crate) cooldown: Duration,
    pub(crate) min_max_age: Duration,
    pub(crate) max_max_age: Duration,
    pub(crate) default_max_age: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) failure_backoff: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(30),
            min_max_age: Duration::from_secs(60),
            max_max_age: Duration::from_secs(24 * 3600),
            default_max_age: Duration::from_secs(600),
            max_stale: Duration::from_secs(6 * 3600),
            failure_backoff: Duration::from_secs(5),
        }
    }
}

impl JwksPolicy {
    /// The server's `max-age` (or the default) within the bounds. Never panics: `build()`
    /// refuses inverted bounds, and `max`/`min` are used here instead of `clamp`, which panics
    /// when `min > max`.
    fn bounded_max_age(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.default_max_age)
            .max(self.min_max_age)
            .min(self.max_max_age)
    }

    /// The configuration mistake in this policy, if any: (setting, reason).
    pub(crate) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.min_max_age > self.max_max_age {
            return Err(("max_age_bounds", "the minimum is larger than the maximum"));
        }
        Ok(())
    }

    /// Minimum time between refreshes caused by unknown `kid`s (default 30 s).
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cooldown = d;
        self
    }
    /// Bounds applied to the server's `max-age` (default 60 s to 24 h).
    pub fn max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_max_age = min;
        self.max_max_age = max;
        self
    }
    /// Freshness when the server sends no `max-age` (default 10 min).
    pub fn default_max_age(mut self, d: Duration) -> Self {
        self.default_max_age = d;
        self
    }
    /// How long past freshness the last good keys serve while refreshes fail (default 6 h).
    pub fn max_stale(mut self, d: Duration) -> Self {
        self.max_stale = d;
        self
    }
    /// Minimum time between fetch attempts after a failure (default 5 s).
    pub fn failure_backoff(mut self, d: Duration) -> Self {
        self.failure_backoff = d;
        self
    }
}

/// One loaded key set.
pub(crate) struct KeySnapshot {
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) generation: u64,
    /// Fingerprint of `keys` (see [`ParsedJwks`]): a refresh that brings the same one is no
    /// change of keys.
    fingerprint: [u8; 32],
    fresh_until: Option<Instant>,
    usable_until: Option<Instant>,
}

impl KeySnapshot {
    pub(crate) fn fixed(parsed: ParsedJwks) -> Self {
        Self {
            keys: parsed.keys,
            generation: 0,
            fingerprint: parsed.fingerprint,
            fresh_until: None,
            usable_until: None,
        }
    }
    fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_none_or(|t| now < t)
    }
    fn is_usable(&self, now: Instant) -> bool {
        self.usable_until.is_none_or(|t| now < t)
    }
}

/// A parsed JWKS: the keys that passed every check, how many were skipped, and a fingerprint
/// of the usable keys (order-independent), so that a refresh returning the same keys is
/// recognised as no change.
pub(crate) struct ParsedJwks {
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) skipped: usize,
    pub(crate) fingerprint: [u8; 32],
}

/// Parses a JWKS document, keeping the keys that pass every check.
pub(crate) fn parse_jwks(
    doc: &Map<String, Value>,
    allowed: &[Algorithm],
) -> Result<ParsedJwks, &'static str> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no `keys` array")?;
    let mut usable = Vec::new();
    let mut digests = Vec::new();
    let mut skipped = 0;
    for jwk in keys {
        match jwk
            .as_object()
            .ok_or(crate::jose::KeyRejected("not a JSON object"))
            .and_then(|o| VerifyingKey::from_jwk(o, allowed))
        {
            Ok(k) => {
                usable.push(k);
                let text = jwk.to_string();
                digests.push(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    text.as_bytes(),
                ));
            }
            Err(e) => {
                skipped += 1;
                tracing::debug!(reason = e.reason(), "skipping unusable JWK");
            }
        }
    }
    digests.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let mut all = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for d in &digests {
        all.update(d.as_ref());
    }
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(all.finish().as_ref());
    Ok(ParsedJwks {
        keys: usable,
        skipped,
        fingerprint,
    })
}

pub(crate) enum JwksLocation {
    Url(Url),
    Discovery { issuer_url: Url },
}

struct RemoteState {
    snapshot: Option<Arc<KeySnapshot>>,
    last_attempt: Option<Instant>,
    retry_not_before: Option<Instant>,
    jwks_uri: Option<Url>,
    generation: u64,
}

/// Why the key set is being asked to refresh.
#[derive(Clone, Copy)]
pub(crate) enum RefreshCause {
    /// Nothing fresh is cached.
    Expired,
    /// A token named a key that the snapshot of this generation lacks.
    UnknownKey { seen_generation: u64 },
}

/// A remote JWKS for one issuer.
pub(crate) struct RemoteKeySet {
    issuer: String,
    location: JwksLocation,
    fetcher: HttpFetcher,
    http: HttpClientConfig,
    allowed: Vec<Algorithm>,
    policy: JwksPolicy,
    state: RwLock<RemoteState>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl RemoteKeySet {
    pub(crate) fn new(
        issuer: String,
        location: JwksLocation,
        fetcher: HttpFetcher,
        http: HttpClientConfig,
        allowed: Vec<Algorithm>,
        policy: JwksPolicy,
    ) -> Self {
        let jwks_uri = match &location {
            JwksLocation::Url(u) => Some(u.clone()),
            JwksLocation::Discovery { .. } => None,
        };
        Self {
            issuer,
            location,
            fetcher,
            http,
            allowed,
            policy,
            state: RwLock::new(RemoteState {
                snapshot: None,
                last_attempt: None,
                retry_not_before: None,
                jwks_uri,
                generation: 0,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&RemoteState) -> T) -> T {
        let guard = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    fn write<T>(&self, f: impl FnOnce(&mut RemoteState) -> T) -> T {
        let mut guard = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The keys to verify with now, fetching if nothing fresh is cached.
    pub(crate) async fn current(self: &Arc<Self>) -> Result<Arc<KeySnapshot>, AuthError> {
        let now = Instant::now();
        match self.read(|st| without_fetch(st, now)) {
            Some(r) => r,
            None => self.refresh(RefreshCause::Expired).await,
        }
    }

    /// Refreshes (single-flight): concurrent callers wait for one fetch and share its result.
    /// The work runs in its own task, so a caller that goes away (a client disconnecting) does
    /// not cancel a fetch that others are waiting for, nor cause a new one.
    pub(crate) async fn refresh(
        self: &Arc<Self>,
        cause: RefreshCause,
    ) -> Result<Arc<KeySnapshot>, AuthError> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.refresh_now(cause).await })
            .await
            .unwrap_or(Err(AuthError::KeysUnavailable))
    }

    async fn refresh_now(&self, cause: RefreshCause) -> Result<Arc<KeySnapshot>, AuthError> {
        let _guard = self.refresh_lock.lock().await;
        let now = Instant::now();
        // Re-check under the lock: another task may have just done the work.
        let shortcut = self.read(|st| {
            let snapshot = st.snapshot.clone();
            match cause {
                RefreshCause::Expired => without_fetch(st, now),
                RefreshCause::UnknownKey { seen_generation } => {
                    let cooling = st
                        .last_attempt
                        .is_some_and(|t| now.duration_since(t) < self.policy.cooldown);
                    match snapshot {
                        Some(s) if s.generation != seen_generation => Some(Ok(s)),
                        Some(s) if (cooling || in_backoff(st, now)) && s.is_usable(now) => {
                            Some(Ok(s))
                        }
                        _ if cooling || in_backoff(st, now) => {
                            Some(Err(AuthError::KeysUnavailable))
                        }
                        _ => None,
                    }
                }
            }
        });
        if let Some(r) = shortcut {
            return r;
        }
        // Record the attempt before fetching, so the cooldown counts it whatever happens next.
        self.write(|st| st.last_attempt = Some(now));
        let result = self.fetch().await;
        crate::metrics::jwks_fetch(result.is_ok());
        let now = Instant::now();
        self.write(|st| {
            // Again at completion, so the cooldown runs from the end of a slow fetch.
            st.last_attempt = Some(now);
            match result {
                Ok((parsed, max_age)) => {
                    // The same keys again (a routine refresh, or one caused by an unknown kid)
                    // keep the generation: cached tokens stay valid and are not re-verified.
                    let same_keys = st
                        .snapshot
                        .as_ref()
                        .is_some_and(|s| s.fingerprint == parsed.fingerprint);
                    if !same_keys {
                        st.generation += 1;
                    }
                    let ttl = self.policy.bounded_max_age(max_age);
                    let fresh_until = now + ttl;
                    let snapshot = Arc::new(KeySnapshot {
                        keys: parsed.keys,
                        generation: st.generation,
                        fingerprint: parsed.fingerprint,
                        fresh_until: Some(fresh_until),
                        usable_until: Some(fresh_until + self.policy.max_stale),
                    });
                    st.snapshot = Some(snapshot.clone());
                    st.retry_not_before = None;
                    Ok(snapshot)
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refresh failed; keeping last known good keys");
                    st.retry_not_before = Some(now + self.policy.failure_backoff);
                    match &st.snapshot {
                        Some(s) if s.is_usable(now) => Ok(s.clone()),
                        _ => Err(AuthError::KeysUnavailable),
                    }
                }
            }
        })
    }

    async fn fetch(&self) -> Result<(ParsedJwks, Option<std::time::Duration>), String> {
        let uri = match self.read(|st| st.jwks_uri.clone()) {
            Some(u) => u,
            None => {
                let JwksLocation::Discovery { issuer_url } = &self.location else {
                    return Err(String::from("no JWKS location"));
                };
                let Metadata { jwks_uri, .. } =
                    discovery::discover(&self.fetcher, &self.http, &self.issuer, issuer_url)
                        .await
                        .map_err(|e| e.to_string())?;
                self.write(|st| st.jwks_uri = Some(jwks_uri.clone()));
                jwks_uri
            }
        };
        let fetched = match self.fetcher.get_json(&uri).await {
            Ok(f) => f,
            Err(e) => {
                // A moved key set under discovery: look the metadata up again next time.
                if matches!(e, FetchError::Status(404))
                    && matches!(self.location, JwksLocation::Discovery { .. })
                {
                    self.write(|st| st.jwks_uri = None);
                }
                return Err(format!("{uri}: {e}"));
            }
        };
        let parsed = parse_jwks(&fetched.body, &self.allowed).map_err(|e| format!("{uri}: {e}"))?;
        // A set with nothing we can use is a failed fetch: the last good keys keep serving.
        if parsed.keys.is_empty() {
            return Err(format!("{uri}: no usable key ({} skipped)", parsed.skipped));
        }
        tracing::debug!(issuer = %self.issuer, usable = parsed.keys.len(), skipped = parsed.skipped, "JWKS fetched");
        Ok((parsed, fetched.max_age))
    }
}

/// The answer when nothing needs fetching: fresh keys; or, while fetches back off, the last good
/// keys if still usable, else unavailable. `None`: a fetch is due.
fn without_fetch(st: &RemoteState, now: Instant) -> Option<Result<Arc<KeySnapshot>, AuthError>> {
    match &st.snapshot {
        Some(s) if s.is_fresh(now) => Some(Ok(s.clone())),
        Some(s) if in_backoff(st, now) && s.is_usable(now) => Some(Ok(s.clone())),
        _ if in_backoff(st, now) => Some(Err(AuthError::KeysUnavailable)),
        _ => None,
    }
}

fn in_backoff(st: &RemoteState, now: Instant) -> bool {
    st.retry_not_before.is_some_and(|t| now < t)
}

/// Where an issuer's keys come from.
pub(crate) enum KeySource {
    Fixed(Arc<KeySnapshot>),
    Remote(Arc<RemoteKeySet>),
}

impl KeySource {
    pub(crate) async fn current(&self) -> Result<Arc<KeySnapshot>, AuthError> {
        match self {
            Self::Fixed(s) => Ok(s.clone()),
            Self::Remote(r) => r.current().await,
        }
    }

    /// [`KeySource::current`] when it needs no fetch; `None`: nothing fresh is cached.
    pub(crate) fn current_now(&self) -> Option<Result<Arc<KeySnapshot>, AuthError>> {
        match self {
            Self::Fixed(s) => Some(Ok(s.clone())),
            Self::Remote(r) => r.read(|st| without_fetch(st, Instant::now())),
        }
    }

    /// After a key miss: a newer snapshot if a refresh is allowed and brings one.
    pub(crate) async fn after_miss(&self, seen: &KeySnapshot) -> Option<Arc<KeySnapshot>> {
        match self {
            Self::Fixed(_) => None,
            Self::Remote(r) => match r
                .refresh(RefreshCause::UnknownKey {
                    seen_generation: seen.generation,
                })
                .await
            {
                Ok(s) if s.generation != seen.generation => Some(s),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth_filter_testkit::{SigningAlg, TestIssuer};

    /// Finding 14: a refresh that brings the same keys keeps the generation, so one unknown-kid
    /// token per cooldown no longer flushes every cached JWT; new keys do bump it.
    #[tokio::test]
    async fn only_a_changed_key_set_bumps_the_generation() {
        let issuer = TestIssuer::start().await;
        let http = HttpClientConfig::default();
        let set = Arc::new(RemoteKeySet::new(
            issuer.issuer().to_owned(),
            JwksLocation::Url(Url::parse(&issuer.jwks_url()).unwrap()),
            http.build().unwrap(),
            http,
            Algorithm::DEFAULT_ASYMMETRIC.to_vec(),
            JwksPolicy::default().cooldown(Duration::ZERO),
        ));
        let first = set.current().await.unwrap().generation;
        for _ in 0..3 {
            let again = set
                .refresh(RefreshCause::UnknownKey {
                    seen_generation: first,
                })
                .await
                .unwrap();
            assert_eq!(again.generation, first, "same keys, same generation");
        }
        assert_eq!(issuer.jwks_requests(), 4, "each refresh did fetch");
        issuer.rotate(SigningAlg::ES256).unwrap();
        let rotated = set
            .refresh(RefreshCause::UnknownKey {
                seen_generation: first,
            })
            .await
            .unwrap();
        assert_eq!(rotated.generation, first + 1);
    }

    #[test]
    fn max_age_bounds_never_panic() {
        let inverted =
            JwksPolicy::default().max_age_bounds(Duration::from_secs(600), Duration::from_secs(60));
        assert!(inverted.check().is_err());
        // Even unchecked, the bound is applied without `clamp`'s panic.
        assert_eq!(inverted.bounded_max_age(None), Duration::from_secs(60));
    }
}
