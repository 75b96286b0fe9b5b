//! [`OAuthFilter`]: the configuration and shared state, and the framework-neutral pipeline.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_filter::{OAuthFilter, Requirement, RequestParts};
//! // The seed's configure_with_jwt(jwks, issuer, audience):
//! let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api")?;
//! let parts = RequestParts::new().authorization(b"Bearer eyJ...");
//! match filter.check(&parts, &Requirement::all_of(["read"])).await {
//!     Ok(token) => println!("hello {:?}", token.subject()),
//!     Err(e) => println!("rejected: {}", e.reason_code()),
//! }
//! # Ok(()) }
//! ```

use crate::access_token::AccessToken;
use crate::challenge::{Rejection, is_attribute_text};
use crate::claims::TimeWindow;
use crate::error::{AuthError, ConfigError};
use crate::http::HttpClientConfig;
use crate::introspection::{Introspection, Introspector};
use crate::jose::{self, VerifyingKey, json};
use crate::jwt::{IssuerVerifier, JwtIssuer, KeysConfig};
use crate::keys::{JwksLocation, KeySnapshot, KeySource, RemoteKeySet, parse_jwks};
use crate::requirement::Requirement;
use crate::token::{ExtractionPolicy, RequestParts};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The filter: trusted issuers, their keys, and the request policy. Cheap to clone.
#[derive(Clone)]
pub struct OAuthFilter {
    inner: Arc<FilterInner>,
}

struct FilterInner {
    id: usize,
    issuers: HashMap<String, Arc<IssuerVerifier>>,
    introspector: Option<Introspector>,
    jwt_cache: Option<JwtCache>,
    realm: String,
    extraction: ExtractionPolicy,
    leeway: f64,
}

impl std::fmt::Debug for OAuthFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut issuers: Vec<&String> = self.inner.issuers.keys().collect();
        issuers.sort();
        f.debug_struct("OAuthFilter")
            .field("issuers", &issuers)
            .field("realm", &self.inner.realm)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OAuthFilter`]; every mistake is reported by [`OAuthFilterBuilder::build`] with the
/// setting it concerns.
#[derive(Debug, Clone, Default)]
pub struct OAuthFilterBuilder {
    issuers: Vec<JwtIssuer>,
    introspection: Option<Introspection>,
    jwt_cache_capacity: Option<u64>,
    realm: Option<String>,
    extraction: ExtractionPolicy,
    leeway: Option<Duration>,
    http: HttpClientConfig,
}

/// The largest leeway accepted: clocks further apart than this are a problem to fix, not hide.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The leeway used when none is set.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

impl OAuthFilterBuilder {
    /// Trusts JWT access tokens from this issuer. Several issuers may be added.
    pub fn jwt_issuer(mut self, issuer: JwtIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }
    /// Resolve tokens through RFC 7662 introspection. With JWT issuers configured too, this is
    /// hybrid mode: a compact JWS whose `iss` is a configured JWT issuer is verified locally
    /// (and refused locally if it fails, never introspected); every other token is introspected.
    ///
    /// In hybrid mode any token that is not a trusted issuer's JWT goes to *this API's*
    /// authorization server, including JWTs of third parties: the AS learns of them (their
    /// contents, who sent them). Where that matters, restrict which JWS-shaped tokens are sent
    /// with [`Introspection::introspect_jwt_issuers`].
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }
    /// Entries in the verified-JWT cache (default 10,000; 0 turns it off). A client reusing its
    /// token then costs a hash and a lookup instead of a signature check. Entries are keyed by
    /// SHA-256 of the exact token, hold the token's facts (never a decision), never outlive
    /// `exp`, have their time claims re-checked on every hit, and are dropped when the issuer's
    /// key set is refreshed. Memory: about 1–2 KiB per entry for typical tokens.
    pub fn verified_token_cache(mut self, capacity: u64) -> Self {
        self.jwt_cache_capacity = Some(capacity);
        self
    }
    /// The `realm` of challenges (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
    /// Clock-skew leeway for `exp`, `nbf` and `iat` ([`DEFAULT_LEEWAY`], at most [`MAX_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }
    /// Largest token accepted, in bytes (default 16 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.extraction.max_token_len = len;
        self
    }
    /// **Dangerous**: also accept `?access_token=` in the query (RFC 6750 §2.3).
    pub fn dangerous_allow_query_token(mut self, allow: bool) -> Self {
        self.extraction.dangerous_allow_query_token = allow;
        self
    }
    /// HTTP client settings for reaching the authorization server.
    pub fn http(mut self, http: HttpClientConfig) -> Self {
        self.http = http;
        self
    }

    /// Validates the configuration and builds the filter. Nothing is fetched yet: keys load on
    /// first use, so the filter starts even when the authorization server is down (requests then
    /// get 503 until it is reachable).
    pub fn build(self) -> Result<OAuthFilter, ConfigError> {
        if self.issuers.is_empty() && self.introspection.is_none() {
            return Err(ConfigError::new(
                "issuers",
                "at least one trusted issuer or an introspection endpoint is required",
            ));
        }
        let id = NEXT_FILTER_ID.fetch_add(1, Ordering::Relaxed);
        let realm = self.realm.unwrap_or_else(|| String::from("api"));
        if realm.is_empty() || !is_attribute_text(&realm) {
            return Err(ConfigError::new(
                "realm",
                "must be non-empty printable ASCII without '\"' or '\\'",
            ));
        }
        let leeway = self.leeway.unwrap_or(DEFAULT_LEEWAY);
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::new("leeway", "must be at most 300 seconds"));
        }
        if self.extraction.max_token_len == 0 {
            return Err(ConfigError::new("max_token_len", "must be positive"));
        }
        let fetcher = self.http.build()?;
        let mut issuers = HashMap::new();
        for (i, cfg) in self.issuers.into_iter().enumerate() {
            let key = |k: &str| format!("issuers[{i}].{k}");
            if cfg.issuer.is_empty() {
                return Err(ConfigError::new(key("issuer"), "must not be empty"));
            }
            if issuers.contains_key(&cfg.issuer) {
                return Err(ConfigError::new(key("issuer"), "configured twice"));
            }
            if cfg.audiences.is_empty() || cfg.audiences.iter().any(String::is_empty) {
                return Err(ConfigError::new(
                    key("audience"),
                    "at least one non-empty audience is required",
                ));
            }
            if cfg.algorithms.is_empty() {
                return Err(ConfigError::new(
                    key("algorithms"),
                    "the allow-list is empty",
                ));
            }
            cfg.jwks_policy.check().map_err(|(setting, why)| {
                ConfigError::new(key(&format!("jwks_policy.{setting}")), why)
            })?;
            let mut hmac_keys: Vec<VerifyingKey> = Vec::new();
            for (alg, kid, secret) in &cfg.shared_secrets {
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
            if let Some(alg) = cfg
                .algorithms
                .iter()
                .find(|a| a.is_hmac() && !hmac_keys.iter().any(|k| k.fits(**a)))
            {
                return Err(ConfigError::new(
                    key("algorithms"),
                    format!("{alg} needs a shared secret (dangerous_hmac_secret)"),
                ));
            }
            let asymmetric: Vec<_> = cfg
                .algorithms
                .iter()
                .copied()
                .filter(|a| !a.is_hmac())
                .collect();
            let keys = match &cfg.keys {
                KeysConfig::Jwks(doc) => {
                    let doc = json::parse_object(doc.as_bytes())
                        .map_err(|e| ConfigError::new(key("jwks"), e.to_string()))?;
                    let parsed = parse_jwks(&doc, &asymmetric)
                        .map_err(|e| ConfigError::new(key("jwks"), e))?;
                    KeySource::Fixed(Arc::new(KeySnapshot::fixed(parsed)))
                }
                KeysConfig::JwksUrl(u) => {
                    let url = self.http.check_url(&key("jwks_url"), u)?;
                    remote(
                        &cfg,
                        JwksLocation::Url(url),
                        &fetcher,
                        &self.http,
                        asymmetric,
                    )
                }
                KeysConfig::Discovery => {
                    let issuer_url = self.http.check_url(&key("issuer"), &cfg.issuer)?;
                    remote(
                        &cfg,
                        JwksLocation::Discovery { issuer_url },
                        &fetcher,
                        &self.http,
                        asymmetric,
                    )
                }
            };
            issuers.insert(
                cfg.issuer.clone(),
                Arc::new(IssuerVerifier {
                    issuer: cfg.issuer,
                    audiences: cfg.audiences,
                    algorithms: cfg.algorithms,
                    strict_rfc9068: cfg.strict_rfc9068,
                    keys,
                    hmac_keys,
                    accept_bound_as_bearer: cfg.accept_bound_as_bearer,
                }),
            );
        }
        let introspector = match self.introspection {
            Some(i) => Some(i.build(&self.http, &fetcher, leeway.as_secs_f64(), id, &issuers)?),
            None => None,
        };
        let jwt_cache = match self.jwt_cache_capacity.unwrap_or(10_000) {
            0 => None,
            capacity => Some(JwtCache::new(capacity)),
        };
        Ok(OAuthFilter {
            inner: Arc::new(FilterInner {
                id,
                issuers,
                introspector,
                jwt_cache,
                realm,
                extraction: self.extraction,
                leeway: leeway.as_secs_f64(),
            }),
        })
    }
}

fn remote(
    cfg: &JwtIssuer,
    location: JwksLocation,
    fetcher: &crate::http::HttpFetcher,
    http: &HttpClientConfig,
    allowed: Vec<crate::jose::Algorithm>,
) -> KeySource {
    KeySource::Remote(Arc::new(RemoteKeySet::new(
        cfg.issuer.clone(),
        location,
        fetcher.clone(),
        http.clone(),
        allowed,
        cfg.jwks_policy.clone(),
    )))
}

/// Identifies each filter, so a layer never trusts a token another filter verified.
static NEXT_FILTER_ID: AtomicUsize = AtomicUsize::new(1);

/// A JWT verified earlier: its facts and what its validity depended on.
struct VerifiedJwt {
    token: AccessToken,
    issuer: Arc<IssuerVerifier>,
    /// Generation of the key set that verified it; `None` for configured HMAC secrets.
    key_generation: Option<u64>,
    exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
}

/// The verified-JWT cache. Keys are a keyed SipHash-1-3 (128-bit) of the exact token bytes,
/// under a random per-process key: a pseudorandom function, so nobody without the key can aim a
/// token at another's entry, and 128 bits make accidental collisions negligible. It replaced
/// SHA-256 here because hashing every token on every request dominated the cache-hit path (47%
/// of server instructions under callgrind); this cache never leaves the process. The
/// introspection cache keeps SHA-256: its keys are shared with other instances through Redis.
struct JwtCache {
    entries: moka::sync::Cache<u128, Arc<VerifiedJwt>>,
    key: (u64, u64),
}

impl JwtCache {
    fn new(capacity: u64) -> Self {
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
        let entries = moka::sync::Cache::builder()
            .max_capacity(if key == (0, 0) { 0 } else { capacity })
            .expire_after(UntilExp)
            .build();
        Self { entries, key }
    }

    fn key_of(&self, token: &str) -> u128 {
        use siphasher::sip128::Hasher128;
        use std::hash::Hasher;
        let mut h = siphasher::sip128::SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(token.as_bytes());
        h.finish128().as_u128()
    }
}

/// Cache entries live until the token's `exp`, never longer.
struct UntilExp;

impl moka::Expiry<u128, Arc<VerifiedJwt>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &u128,
        value: &Arc<VerifiedJwt>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(
            Duration::try_from_secs_f64((value.exp - unix_now()).max(0.0))
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// Every `iss` a token's payload states, read leniently (see `OAuthFilter::route`); empty
/// when the token is not three segments with a JSON-object payload.
fn lenient_issuers(token: &str) -> Vec<String> {
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(_), Some(payload), Some(_), None) => jose::base64url::decode_lenient(payload)
            .and_then(|bytes| json::lenient_member_strings(&bytes, "iss"))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Where a token goes.
enum Route<'t, 'f> {
    Jwt(
        jose::CompactJws<'t>,
        serde_json::Map<String, Value>,
        &'f Arc<IssuerVerifier>,
    ),
    Introspect,
    Reject(AuthError),
}

/// Which way [`OAuthFilter::verify`] takes a token (from [`OAuthFilter::verification_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerificationPath {
    /// Verified or refused locally: a JWT of a configured issuer, or (without introspection)
    /// any token, which the local checks then judge.
    Local,
    /// Sent to the introspection endpoint.
    Introspection,
    /// Refused before any verification (too large).
    Refused,
}

/// One component's state, from [`OAuthFilter::readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessCheck {
    /// `issuer <identifier>` or `introspection`.
    pub component: String,
    /// Whether the component can serve requests now.
    pub ready: bool,
    /// A fixed description of the state (never caller data).
    pub detail: &'static str,
}

/// Seconds since the Unix epoch, as JWT NumericDates count them.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl OAuthFilter {
    /// Starts a builder.
    pub fn builder() -> OAuthFilterBuilder {
        OAuthFilterBuilder::default()
    }

    /// The seed's `configure_with_jwt(jwks_url, issuer, audience)`.
    pub fn with_jwks(jwks_url: &str, issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        Self::builder()
            .jwt_issuer(JwtIssuer::new(issuer).audience(audience).jwks_url(jwks_url))
            .build()
    }

    /// The seed's `configure_with_opaque(introspection_url, client_id, client_secret)`.
    pub fn with_introspection(
        endpoint: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Self, ConfigError> {
        Self::builder()
            .introspection(Introspection::new(endpoint, client_id, client_secret))
            .build()
    }

    /// Keys found through discovery of `issuer` (RFC 8414 / OpenID), fetched on first use.
    pub fn with_discovery(issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        Self::builder()
            .jwt_issuer(JwtIssuer::new(issuer).audience(audience))
            .build()
    }

    pub(crate) fn id(&self) -> usize {
        self.inner.id
    }

    /// The challenge realm.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// The answer for `error`, with `requirement` for the 403 `scope` attribute.
    pub fn reject(&self, error: AuthError, requirement: Option<&Requirement>) -> Rejection {
        Rejection::new(error, &self.inner.realm, requirement)
    }

    /// Verifies a token string: a JWT from a configured issuer locally (structure, key,
    /// signature, claims); any other token through introspection when it is configured.
    pub async fn verify(&self, token: &str) -> Result<AccessToken, AuthError> {
        if self.too_large(token) {
            return Err(AuthError::TokenTooLarge);
        }
        let cache_key = self.inner.jwt_cache.as_ref().map(|c| c.key_of(token));
        if let (Some(cache), Some(key)) = (&self.inner.jwt_cache, &cache_key) {
            let hit = cache.entries.get(key);
            crate::metrics::cache(crate::metrics::Cache::Jwt, hit.is_some());
            if let Some(hit) = hit {
                match self.still_valid(&hit).await {
                    Ok(true) => return Ok(hit.token.clone()),
                    // The key set changed since: verify again from scratch.
                    Ok(false) => cache.entries.invalidate(key),
                    Err(e) => {
                        cache.entries.invalidate(key);
                        return Err(e);
                    }
                }
            }
        }
        match self.route(token) {
            Route::Jwt(jws, claims, issuer) => {
                let verified = self.verify_jwt(&jws, claims, issuer).await?;
                let token = verified.token.clone();
                if let (Some(cache), Some(key)) = (&self.inner.jwt_cache, cache_key) {
                    cache.entries.insert(key, Arc::new(verified));
                }
                Ok(token)
            }
            Route::Introspect => match &self.inner.introspector {
                Some(i) => i.introspect(token).await,
                None => Err(AuthError::MalformedToken),
            },
            Route::Reject(e) => Err(e),
        }
    }

    /// The way [`OAuthFilter::verify`] takes `token`: the filter's own routing decision, for
    /// tools that explain a verdict (`oauth-filter inspect`) and must never guess it.
    pub fn verification_path(&self, token: &str) -> VerificationPath {
        if self.too_large(token) {
            return VerificationPath::Refused;
        }
        match self.route(token) {
            Route::Jwt(..) | Route::Reject(_) => VerificationPath::Local,
            Route::Introspect => VerificationPath::Introspection,
        }
    }

    /// The size cap, checked before anything else looks at the token.
    fn too_large(&self, token: &str) -> bool {
        token.len() > self.inner.extraction.max_token_len
    }

    /// Re-checks a cached JWT: its time claims now, and that the key set it was verified with
    /// is still the current one. `Ok(false)`: the key set changed; verify again.
    async fn still_valid(&self, hit: &VerifiedJwt) -> Result<bool, AuthError> {
        TimeWindow {
            exp: Some(hit.exp),
            nbf: hit.nbf,
            iat: hit.iat,
        }
        .check(unix_now(), self.inner.leeway)?;
        match hit.key_generation {
            None => Ok(true),
            Some(generation) => Ok(hit.issuer.keys.current().await?.generation == generation),
        }
    }

    /// Where a token goes (the architecture's hybrid rule). A token that parses strictly is
    /// routed by its `iss`. One that does not is looked at leniently (three segments, a payload
    /// that decodes to a JSON object with `iss` under any base64 flavour): if any `iss` there
    /// names a configured JWT issuer, the strict error stands and the token is refused here,
    /// never introspected, so a trusted issuer's token re-encoded with padding or `+`/`/`
    /// cannot skip the local audience, `typ`, algorithm and strict-mode checks by way of an
    /// authorization server that decodes leniently. Only tokens that are not JWS-shaped, or
    /// name no locally verified issuer, go to introspection.
    fn route<'t>(&self, token: &'t str) -> Route<'t, '_> {
        let strict = jose::parse_compact(token)
            .map_err(AuthError::from)
            .and_then(|jws| {
                let claims =
                    json::parse_object(&jws.payload()?).map_err(|_| AuthError::MalformedToken)?;
                Ok((jws, claims))
            });
        let (jws, claims) = match strict {
            Ok(p) => p,
            Err(e) => {
                let named = lenient_issuers(token);
                if named.iter().any(|iss| self.inner.issuers.contains_key(iss)) {
                    return Route::Reject(e);
                }
                return self.introspect_or(e, &named);
            }
        };
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) => self.inner.issuers.get(iss),
            _ => None,
        };
        match (issuer, claims.get("iss")) {
            (Some(issuer), _) => Route::Jwt(jws, claims, issuer),
            (None, Some(Value::String(iss))) => {
                self.introspect_or(AuthError::UnknownIssuer, std::slice::from_ref(iss))
            }
            (None, Some(_)) => self.introspect_or(AuthError::InvalidClaim("iss"), &[]),
            (None, None) => self.introspect_or(AuthError::MissingClaim("iss"), &[]),
        }
    }

    /// Introspection when it is configured and allowed for the issuers the token names;
    /// otherwise `error`.
    fn introspect_or(&self, error: AuthError, named_issuers: &[String]) -> Route<'static, '_> {
        match &self.inner.introspector {
            Some(i) if named_issuers.iter().all(|iss| i.may_introspect_issuer(iss)) => {
                Route::Introspect
            }
            Some(_) => Route::Reject(AuthError::UnknownIssuer),
            None => Route::Reject(error),
        }
    }

    async fn verify_jwt(
        &self,
        jws: &jose::CompactJws<'_>,
        claims: serde_json::Map<String, Value>,
        issuer: &Arc<IssuerVerifier>,
    ) -> Result<VerifiedJwt, AuthError> {
        let key_generation = issuer.verify_signature(jws).await?;
        let facts = issuer.validate_claims(
            jws.header(),
            claims,
            unix_now(),
            self.inner.leeway,
            self.id(),
        )?;
        let (exp, nbf, iat) = (
            facts.expires_at.unwrap_or(0.0),
            facts.not_before,
            facts.issued_at,
        );
        Ok(VerifiedJwt {
            token: AccessToken::new(facts),
            issuer: issuer.clone(),
            key_generation,
            exp,
            nbf,
            iat,
        })
    }

    /// Whether the filter can decide requests now: every JWT issuer's keys are loaded (fetched
    /// if needed), and the introspection endpoint answers a probe with our credentials (one
    /// introspection call with a random token, which must come back as a valid answer).
    /// One entry per component, issuers first in name order. For a `/readyz` endpoint; cache
    /// the result for a few seconds rather than probing on every poll.
    pub async fn readiness(&self) -> Vec<ReadinessCheck> {
        let mut names: Vec<&String> = self.inner.issuers.keys().collect();
        names.sort();
        let mut checks = Vec::with_capacity(names.len() + 1);
        for name in names {
            let Some(issuer) = self.inner.issuers.get(name) else {
                continue;
            };
            let result = issuer.keys.current().await;
            checks.push(ReadinessCheck {
                component: format!("issuer {name}"),
                ready: result.is_ok(),
                detail: match result {
                    Ok(_) => "keys loaded",
                    Err(e) => e.description(),
                },
            });
        }
        if let Some(introspector) = &self.inner.introspector {
            let result = introspector.probe().await;
            checks.push(ReadinessCheck {
                component: String::from("introspection"),
                ready: result.is_ok(),
                detail: match result {
                    Ok(()) => "endpoint answered",
                    Err(e) => e.description(),
                },
            });
        }
        checks
    }

    /// Finds and verifies the request's token. `Ok(None)`: the request carries no credentials.
    pub async fn authenticate(
        &self,
        parts: &RequestParts<'_>,
    ) -> Result<Option<AccessToken>, AuthError> {
        match parts.bearer_token(&self.inner.extraction)? {
            Some(token) => self.verify(token).await.map(Some),
            None => Ok(None),
        }
    }

    /// Checks a verified token against a requirement.
    pub fn authorize(
        &self,
        token: &AccessToken,
        requirement: &Requirement,
    ) -> Result<(), AuthError> {
        if requirement.is_met_by(token.scopes()) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope)
        }
    }

    /// What an adapter does with a request. `requirement` `None` is optional authentication.
    /// `verified` is a token already in the request (put there by an outer layer): it is reused
    /// only if this very filter verified it. `Ok(Some)`: let through with this token;
    /// `Ok(None)`: let through anonymously (optional mode, no credentials).
    pub async fn admit(
        &self,
        parts: &RequestParts<'_>,
        verified: Option<&AccessToken>,
        requirement: Option<&Requirement>,
    ) -> Result<Option<AccessToken>, AuthError> {
        let token = match verified {
            Some(t) if t.verified_by() == self.id() => Some(t.clone()),
            _ => self.authenticate(parts).await?,
        };
        match (token, requirement) {
            (Some(t), Some(r)) => self.authorize(&t, r).map(|()| Some(t)),
            (Some(t), None) => Ok(Some(t)),
            (None, Some(_)) => Err(AuthError::MissingToken),
            (None, None) => Ok(None),
        }
    }

    /// The whole pipeline: a token is required, valid, and meets `requirement`.
    pub async fn check(
        &self,
        parts: &RequestParts<'_>,
        requirement: &Requirement,
    ) -> Result<AccessToken, AuthError> {
        let token = self
            .authenticate(parts)
            .await?
            .ok_or(AuthError::MissingToken)?;
        self.authorize(&token, requirement)?;
        Ok(token)
    }
}
