//! Opaque tokens: RFC 7662 introspection with a bounded cache, request coalescing and, with the
//! `redis` feature, a cache shared by a fleet of instances.
//!
//! ```
//! use oauth_filter::{Introspection, OAuthFilter};
//! use std::time::Duration;
//! // The seed's configure_with_opaque(introspection_url, client_id, client_secret):
//! let filter = OAuthFilter::with_introspection("https://idp.example/introspect", "api-client", "s3cret")?;
//! // Or with every knob:
//! let filter = OAuthFilter::builder()
//!     .introspection(
//!         Introspection::new("https://idp.example/introspect", "api-client", "s3cret")
//!             .issuer("https://idp.example")
//!             .audience("https://api.example")
//!             .max_cache_ttl(Duration::from_secs(30)), // the revocation window
//!     )
//!     .build()?;
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```
//!
//! What is checked: only a JSON `"active": true` is active; `false`, `"true"`, `1`, a missing
//! `active` and HTTP 204 are inactive (401). When present, `iss` must equal the configured issuer,
//! `aud` must contain a configured audience (and must be present with
//! [`Introspection::require_audience`]), `exp` must be in the future and `nbf` not (with the
//! filter's leeway). `token_type` must be absent, `Bearer` or `access_token`: a refresh token
//! the AS calls active is refused (`wrong_token_type`). A key-bound token (`cnf`, or
//! `token_type` `DPoP`) is refused (`sender_constrained_token`) unless explicitly allowed.
//! Dates follow the JWT rules (numbers only, at most year 9999). Any other status, a body that is
//! not a strict JSON object, a member of the wrong type, a timeout or a refused connection gives
//! 503: fail closed, and distinguishable from a bad token.
//!
//! The cache holds the verified facts of a response (an [`AccessToken`]), never
//! an authorization decision: every request is still checked against its route's requirement
//! (CVE-2021-32701). Keys are SHA-256 hashes of the token. An active entry lives
//! `min(exp − now, max_cache_ttl)`: `max_cache_ttl` is the revocation window, how long a revoked
//! token may still be accepted. Inactive answers live `inactive_cache_ttl`, so a flood of bad
//! tokens does not hammer the authorization server. Errors are never cached. Concurrent requests
//! with the same uncached token make one call, and at most `max_concurrent_requests` calls are in
//! flight at once.

use crate::access_token::{AccessToken, TokenKind};
use crate::claims::{self, Established, TimeWindow};
use crate::clock::{Clock, unix_seconds};
use crate::discovery;
use crate::error::{AuthError, ConfigError};
use crate::explain::Trace;
use crate::http::{HttpClientConfig, HttpFetcher};
use crate::jose::{Unverified, json};
use crate::jwt::IssuerVerifier;
use aws_lc_rs::digest;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use url::Url;

#[cfg(feature = "redis")]
mod shared;
#[cfg(feature = "redis")]
pub use shared::RedisCache;
#[cfg(feature = "redis")]
pub(crate) use shared::redacted_url;

/// A client secret that never prints.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the API authenticates to the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with form-urlencoded credentials (the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

#[derive(Debug, Clone)]
enum Endpoint {
    Url(String),
    Discover(String),
}

/// Introspection settings: the seed's `configure_with_opaque`.
#[derive(Debug, Clone)]
pub struct Introspection {
    endpoint: Endpoint,
    client_id: String,
    client_secret: ClientSecret,
    auth: ClientAuth,
    issuer: Option<String>,
    audiences: Vec<String>,
    max_cache_ttl: Duration,
    inactive_cache_ttl: Option<Duration>,
    cache_capacity: u64,
    max_concurrent_requests: usize,
    jwt_response: bool,
    require_audience: bool,
    accept_bound_as_bearer: bool,
    jwt_issuers: Option<Vec<String>>,
    #[cfg(feature = "redis")]
    redis: Option<RedisCache>,
}

/// [`Introspection`]'s dangerous settings, from [`Introspection::dangerous`].
#[derive(Debug, Clone)]
pub struct DangerousIntrospection(Introspection);

impl DangerousIntrospection {
    /// Accept answers for key-bound tokens (`cnf`, or `token_type` `DPoP`) as plain bearer
    /// tokens. By default they are refused (401 `invalid_token`, RFC 9449 §7.1, RFC 8705 §3):
    /// without its proof of possession a stolen bound token works for anyone.
    pub fn accept_sender_constrained_as_bearer(self, accept: bool) -> Introspection {
        let mut i = self.0;
        i.accept_bound_as_bearer = accept;
        i
    }
}

impl Introspection {
    /// The issuer of the tokens it resolves, when configured.
    pub(crate) fn issuer_name(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The FAPI 2.0 rules for introspection: bound tokens are proven here.
    pub(crate) fn fapi2(self) -> Result<Self, crate::ConfigError> {
        if self.accept_bound_as_bearer {
            return Err(crate::ConfigError::new(
                "introspection.accept_sender_constrained_as_bearer",
                "the FAPI 2.0 profile requires the proof of possession to be checked here",
            ));
        }
        Ok(self)
    }
}

/// The media type of signed introspection responses (RFC 9701).
const JWT_RESPONSE_TYPE: &str = "application/token-introspection+jwt";

/// The longest revocation window accepted.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(3600);

impl Introspection {
    /// Introspect at `endpoint`, authenticating as `client_id` / `client_secret`.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: Endpoint::Url(endpoint.into()),
            client_id: client_id.into(),
            client_secret: ClientSecret::new(client_secret),
            auth: ClientAuth::default(),
            issuer: None,
            audiences: Vec::new(),
            max_cache_ttl: Duration::from_secs(60),
            inactive_cache_ttl: None,
            cache_capacity: 100_000,
            max_concurrent_requests: 64,
            jwt_response: false,
            require_audience: false,
            accept_bound_as_bearer: false,
            jwt_issuers: None,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }
    /// Find the endpoint through discovery of `issuer` (RFC 8414 / OpenID); `iss` in responses
    /// must then equal `issuer` when present.
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let issuer = issuer.into();
        let mut s = Self::new(String::new(), client_id, client_secret);
        s.endpoint = Endpoint::Discover(issuer.clone());
        s.issuer = Some(issuer);
        s
    }
    /// Ask for signed introspection responses (RFC 9701, `Accept:
    /// application/token-introspection+jwt`), for the phantom-token pattern: the response JWT is
    /// verified with the keys of the JWT issuer named by [`Introspection::issuer`] (which must
    /// also be configured as a trusted JWT issuer), and the verified token carries it in
    /// [`crate::AccessToken::introspection_jwt`]. The JWT must have `typ`
    /// `token-introspection+jwt`, that `iss`, our client id in `aud`, an `iat`, and a
    /// `token_introspection` object, which is then judged like a plain response. A server that
    /// answers anything else gets 503, never a fallback to the unsigned answer.
    pub fn jwt_response(mut self, on: bool) -> Self {
        self.jwt_response = on;
        self
    }
    /// Authenticate with `client_secret_post` instead of `client_secret_basic`.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }
    /// When a response has `iss`, it must equal this.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// When a response has `aud`, it must contain one of the configured audiences.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// With an audience configured, also refuse answers that have no `aud` (401
    /// `invalid_token`). RFC 7662 makes `aud` optional, so this is off by default; turn it on
    /// when your authorization server states audiences, so that a token meant for another API
    /// of the same AS is not accepted here. Needs [`Introspection::audience`].
    pub fn require_audience(mut self, require: bool) -> Self {
        self.require_audience = require;
        self
    }
    /// The settings that weaken security, each explained where it is set.
    pub fn dangerous(self) -> DangerousIntrospection {
        DangerousIntrospection(self)
    }
    /// In hybrid mode, the only issuers whose JWT-shaped tokens are sent to introspection.
    /// Without this list every token that is not a locally verified JWT is introspected, so the
    /// authorization server sees third parties' JWTs too; with it, a JWS naming any other
    /// issuer is refused (`unknown_issuer`) without a call. Opaque (non-JWS) tokens are always
    /// introspected. An empty list sends no JWS-shaped token at all.
    pub fn introspect_jwt_issuers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.jwt_issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }
    /// Longest time an active answer is reused: the revocation window (default 60 s, at most
    /// 1 h). Zero disables caching of active answers.
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.max_cache_ttl = ttl;
        self
    }
    /// How long an inactive answer is reused (default 5 s or `max_cache_ttl` if shorter; at
    /// most `max_cache_ttl`).
    pub fn inactive_cache_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_cache_ttl = Some(ttl);
        self
    }
    /// Most entries kept in memory (default 100,000).
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }
    /// Most introspection calls in flight at once (default 64); more wait, within the timeout.
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        self.max_concurrent_requests = n;
        self
    }
    /// Share results with other instances through Redis.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, cache: RedisCache) -> Self {
        self.redis = Some(cache);
        self
    }

    /// The settings' own checks (errors name `introspection.<setting>`); returns the inactive
    /// answers' cache lifetime.
    fn check(&self) -> Result<Duration, ConfigError> {
        if self.client_id.is_empty() {
            return Err(ConfigError::new(
                "introspection.client_id",
                "must not be empty",
            ));
        }
        if self.client_secret.expose().is_empty() {
            return Err(ConfigError::new(
                "introspection.client_secret",
                "must not be empty",
            ));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "introspection.audience",
                "must not be empty",
            ));
        }
        if self.require_audience && self.audiences.is_empty() {
            return Err(ConfigError::new(
                "introspection.require_audience",
                "needs an audience to require (introspection.audience)",
            ));
        }
        if self.max_cache_ttl > MAX_CACHE_TTL {
            return Err(ConfigError::new(
                "introspection.max_cache_ttl",
                "must be at most 3600 seconds (it is the revocation window)",
            ));
        }
        let inactive_cache_ttl = self
            .inactive_cache_ttl
            .unwrap_or(Duration::from_secs(5).min(self.max_cache_ttl));
        if inactive_cache_ttl > self.max_cache_ttl {
            return Err(ConfigError::new(
                "introspection.inactive_cache_ttl",
                "must not exceed max_cache_ttl",
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err(ConfigError::new(
                "introspection.max_concurrent_requests",
                "must be positive",
            ));
        }
        Ok(inactive_cache_ttl)
    }

    pub(crate) fn build(
        self,
        http: &HttpClientConfig,
        fetcher: &HttpFetcher,
        leeway: f64,
        clock: Arc<dyn Clock>,
        filter_id: usize,
        issuers: &HashMap<String, Arc<IssuerVerifier>>,
    ) -> Result<Introspector, ConfigError> {
        let jwt_verifier = match (self.jwt_response, &self.issuer) {
            (false, _) => None,
            (true, Some(iss)) => Some(issuers.get(iss).cloned().ok_or_else(|| {
                ConfigError::new(
                    "introspection.issuer",
                    "signed responses are verified with this issuer's keys: configure it as a \
                     trusted JWT issuer too",
                )
            })?),
            (true, None) => {
                return Err(ConfigError::new(
                    "introspection.issuer",
                    "signed responses (jwt_response) need the issuer whose keys sign them",
                ));
            }
        };
        #[cfg(feature = "redis")]
        if jwt_verifier.is_some() && self.redis.is_some() {
            return Err(ConfigError::new(
                "introspection.redis",
                "the shared cache holds plain answers; it cannot be combined with jwt_response",
            ));
        }
        let endpoint = match &self.endpoint {
            Endpoint::Url(u) => EndpointState::Known(http.check_url("introspection.endpoint", u)?),
            Endpoint::Discover(issuer) => {
                let issuer_url = http.check_url("introspection.issuer", issuer)?;
                EndpointState::Discover {
                    issuer: issuer.clone(),
                    issuer_url,
                    found: tokio::sync::Mutex::new(None),
                }
            }
        };
        let inactive_cache_ttl = self.check()?;
        let authorization = match self.auth {
            ClientAuth::ClientSecretBasic => Some(basic_authorization(
                &self.client_id,
                self.client_secret.expose(),
            )),
            ClientAuth::ClientSecretPost => None,
        };
        let cache = moka::future::Cache::builder()
            .max_capacity(self.cache_capacity)
            .expire_after(EntryExpiry)
            .build();
        // What a shared cache entry is bound to: the answer came from this endpoint, for this
        // client (RFC 7662 §4 lets the AS answer per client).
        #[cfg(feature = "redis")]
        let context = match &self.endpoint {
            Endpoint::Url(u) => format!("endpoint={u}"),
            Endpoint::Discover(issuer) => format!("discover={issuer}"),
        } + "\0client_id="
            + &self.client_id;
        Ok(Introspector {
            endpoint,
            fetcher: fetcher.clone(),
            http: http.clone(),
            client_id: self.client_id,
            client_secret: self.client_secret,
            authorization,
            issuer: self.issuer,
            audiences: self.audiences,
            max_cache_ttl: self.max_cache_ttl,
            inactive_cache_ttl,
            cache,
            limiter: Semaphore::new(self.max_concurrent_requests),
            wait_limit: http.timeout,
            leeway,
            clock,
            filter_id,
            jwt_verifier,
            require_audience: self.require_audience,
            accept_bound_as_bearer: self.accept_bound_as_bearer,
            jwt_issuers: self.jwt_issuers,
            #[cfg(feature = "redis")]
            shared: match self.redis {
                Some(r) => Some(r.build(&context)?),
                None => None,
            },
        })
    }
}

/// RFC 6749 §2.3.1: each credential form-urlencoded, then `id:secret` in base64.
fn basic_authorization(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(client_id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

enum EndpointState {
    Known(Url),
    Discover {
        issuer: String,
        issuer_url: Url,
        found: tokio::sync::Mutex<Option<Url>>,
    },
}

/// What a response said about a token.
#[derive(Clone)]
enum Outcome {
    Active(AccessToken),
    Rejected(AuthError),
}

#[derive(Clone)]
pub(crate) struct CacheEntry {
    outcome: Outcome,
    ttl: Duration,
}

impl CacheEntry {
    #[cfg(feature = "__internal")]
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.outcome, Outcome::Active(_))
    }
}

struct EntryExpiry;

impl moka::Expiry<[u8; 32], CacheEntry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &CacheEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The runtime introspection client.
pub(crate) struct Introspector {
    endpoint: EndpointState,
    fetcher: HttpFetcher,
    http: HttpClientConfig,
    client_id: String,
    client_secret: ClientSecret,
    authorization: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    max_cache_ttl: Duration,
    inactive_cache_ttl: Duration,
    cache: moka::future::Cache<[u8; 32], CacheEntry>,
    limiter: Semaphore,
    wait_limit: Duration,
    leeway: f64,
    clock: Arc<dyn Clock>,
    filter_id: usize,
    /// Set when signed responses (RFC 9701) are requested: the issuer whose keys sign them.
    jwt_verifier: Option<Arc<IssuerVerifier>>,
    require_audience: bool,
    accept_bound_as_bearer: bool,
    jwt_issuers: Option<Vec<String>>,
    #[cfg(feature = "redis")]
    shared: Option<shared::SharedCache>,
}

pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Introspector {
    /// Whether a JWS-shaped token naming `issuer` may be sent to the authorization server.
    pub(crate) fn may_introspect_issuer(&self, issuer: &str) -> bool {
        self.jwt_issuers
            .as_ref()
            .is_none_or(|list| list.iter().any(|i| i == issuer))
    }

    /// Resolves a token: from the cache, else (once for concurrent callers) from the shared cache
    /// or the authorization server.
    pub(crate) async fn introspect(
        &self,
        token: &str,
        trace: &mut Trace,
    ) -> Result<AccessToken, AuthError> {
        let key = token_hash(token);
        let entry = match self.cache.get(&key).await {
            Some(hit) => {
                crate::metrics::cache(crate::metrics::Cache::Introspection, true);
                trace.note("introspection", || "answer from the cache".to_owned());
                hit
            }
            None => {
                crate::metrics::cache(crate::metrics::Cache::Introspection, false);
                let entry = self
                    .cache
                    .try_get_with(key, self.resolve(token, key))
                    .await
                    .map_err(|e: Arc<AuthError>| (*e).clone());
                match &entry {
                    Ok(_) => trace.note("introspection", || "the endpoint answered".to_owned()),
                    Err(e) => trace.fail("introspection", || e.description().to_owned()),
                }
                entry?
            }
        };
        match entry.outcome {
            // Belt and braces: an entry never outlives exp, and the window is checked on every hit.
            Outcome::Active(t) => {
                let now = unix_seconds(&*self.clock);
                t.window().check(now, self.leeway).inspect_err(|e| {
                    trace.fail("time", || t.window().explain(now, self.leeway, e));
                })?;
                trace.pass("introspection", || {
                    format!("active; {}", t.window().describe(now, self.leeway))
                });
                Ok(t)
            }
            Outcome::Rejected(e) => {
                trace.fail("introspection", || format!("refused: {}", e.reason_code()));
                Err(e)
            }
        }
    }

    /// Readiness: one uncached call with a random token; any valid answer (it will say
    /// inactive) proves the endpoint is reachable and accepts our credentials.
    pub(crate) async fn probe(&self) -> Result<(), AuthError> {
        let mut nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| AuthError::IntrospectionUnavailable)?;
        let token: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        self.call(&format!("readiness-probe-{token}"))
            .await
            .map(|_| ())
    }

    async fn resolve(&self, token: &str, key: [u8; 32]) -> Result<CacheEntry, AuthError> {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            let now = unix_seconds(&*self.clock);
            if let Some(answer) = shared.get(&key, now).await {
                match self.judge(answer.as_ref(), now, None) {
                    Ok(entry) => return Ok(entry),
                    Err(e) => tracing::warn!(error = %e, "ignoring an unusable shared cache entry"),
                }
            }
        }
        let answer = self.call(token).await;
        crate::metrics::introspection_call(match &answer {
            Ok((Some(doc), _)) if doc.get("active") == Some(&Value::Bool(true)) => "active",
            Ok(_) => "inactive",
            Err(_) => "error",
        });
        let (answer, jwt) = answer?;
        // One reading of the clock: the entry's lifetime and its shared not-after count from it.
        let now = unix_seconds(&*self.clock);
        let entry = self.judge(answer.as_ref(), now, jwt)?;
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            shared.put(&key, answer.as_ref(), now, entry.ttl).await;
        }
        #[cfg(not(feature = "redis"))]
        let _ = key;
        Ok(entry)
    }

    async fn endpoint(&self) -> Result<Url, AuthError> {
        match &self.endpoint {
            EndpointState::Known(u) => Ok(u.clone()),
            EndpointState::Discover {
                issuer,
                issuer_url,
                found,
            } => {
                let mut found = found.lock().await;
                if let Some(u) = found.as_ref() {
                    return Ok(u.clone());
                }
                let meta = discovery::discover(&self.fetcher, &self.http, issuer, issuer_url)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "introspection endpoint discovery failed");
                        AuthError::IntrospectionUnavailable
                    })?;
                let url = meta.introspection_endpoint.ok_or_else(|| {
                    tracing::warn!("the metadata has no usable introspection_endpoint");
                    AuthError::IntrospectionUnavailable
                })?;
                *found = Some(url.clone());
                Ok(url)
            }
        }
    }

    /// One call to the authorization server. `Ok(None)`: HTTP 204 (inactive). With signed
    /// responses, also the verified response JWT.
    async fn call(
        &self,
        token: &str,
    ) -> Result<(Option<Map<String, Value>>, Option<Arc<str>>), AuthError> {
        let _permit = tokio::time::timeout(self.wait_limit, self.limiter.acquire())
            .await
            .map_err(|_| {
                tracing::warn!("too many introspection calls in flight; request refused");
                AuthError::IntrospectionUnavailable
            })?
            .map_err(|_| AuthError::IntrospectionUnavailable)?;
        let url = self.endpoint().await?;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        if self.authorization.is_none() {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", self.client_secret.expose()));
        }
        let accept = if self.jwt_verifier.is_some() {
            JWT_RESPONSE_TYPE
        } else {
            "application/json"
        };
        let (status, content_type, body) = self
            .fetcher
            .post_form(&url, &form, self.authorization.as_deref(), accept)
            .await
            .map_err(|e| {
                tracing::warn!(endpoint = %url, error = %e, "introspection call failed");
                AuthError::IntrospectionUnavailable
            })?;
        match status {
            200 if self.jwt_verifier.is_some() => self
                .verify_response_jwt(content_type.as_deref(), &body)
                .await
                .map(|(doc, jwt)| (Some(doc), Some(jwt)))
                .map_err(|why| {
                    tracing::warn!(endpoint = %url, why, "signed introspection response refused");
                    AuthError::IntrospectionUnavailable
                }),
            200 => json::parse_object(&body).map(|doc| (Some(doc), None)).map_err(|_| {
                tracing::warn!(endpoint = %url, "introspection response is not a strict JSON object");
                AuthError::IntrospectionUnavailable
            }),
            204 => Ok((None, None)),
            other => {
                tracing::warn!(endpoint = %url, status = other, "introspection endpoint answered with an error status");
                Err(AuthError::IntrospectionUnavailable)
            }
        }
    }

    /// RFC 9701: a signed response from the configured issuer, for us, wrapping the answer.
    async fn verify_response_jwt(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(Map<String, Value>, Arc<str>), &'static str> {
        let Some(verifier) = &self.jwt_verifier else {
            return Err("signed responses are not configured");
        };
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        if media.as_deref() != Some(JWT_RESPONSE_TYPE) {
            return Err(
                "not application/token-introspection+jwt (is RFC 9701 enabled for this client?)",
            );
        }
        let text = std::str::from_utf8(body).map_err(|_| "not UTF-8")?.trim();
        let jwt = Unverified::parse(text).map_err(|_| "not a compact JWS with JSON claims")?;
        let typ_ok = jwt.header().typ.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t == "token-introspection+jwt" || t == JWT_RESPONSE_TYPE
        });
        if !typ_ok {
            return Err("typ is not token-introspection+jwt");
        }
        let (verified, _) = verifier
            .verify_signature(jwt, &mut Trace::off())
            .await
            .map_err(|e| e.description())?;
        let mut claims = verified.into_claims();
        if claims.get("iss").and_then(Value::as_str) != Some(&*verifier.issuer) {
            return Err("iss is not the configured issuer");
        }
        let for_us =
            claims::audiences(claims.get("aud")).is_ok_and(|list| list.contains(&self.client_id));
        if !for_us {
            return Err("aud does not name our client id");
        }
        if !claims.get("iat").is_some_and(Value::is_number) {
            return Err("iat is missing");
        }
        match claims.remove("token_introspection") {
            Some(Value::Object(doc)) => Ok((doc, Arc::from(text))),
            _ => Err("token_introspection is missing or not an object"),
        }
    }

    /// Validates an introspection answer into a cache entry.
    pub(crate) fn judge(
        &self,
        answer: Option<&Map<String, Value>>,
        now: f64,
        jwt: Option<Arc<str>>,
    ) -> Result<CacheEntry, AuthError> {
        let rejected = |e| CacheEntry {
            outcome: Outcome::Rejected(e),
            ttl: self.inactive_cache_ttl,
        };
        let Some(doc) = answer else {
            return Ok(rejected(AuthError::InactiveToken));
        };
        // RFC 7662 §2.2: only the JSON boolean true means active.
        if doc.get("active") != Some(&Value::Bool(true)) {
            return Ok(rejected(AuthError::InactiveToken));
        }
        let malformed = |member: &str| {
            tracing::warn!(member, "introspection response member has the wrong type");
            AuthError::IntrospectionUnavailable
        };
        let string = |name: &'static str| claims::string(doc, name).map_err(malformed);
        let date = |name: &str| claims::numeric_date(doc.get(name)).map_err(|_| malformed(name));
        let iss = string("iss")?;
        let window = TimeWindow {
            exp: date("exp")?,
            nbf: date("nbf")?,
            iat: date("iat")?,
        };
        let audiences = claims::audiences(doc.get("aud")).map_err(|_| malformed("aud"))?;
        // RFC 7662 §2.2 `token_type`: only access tokens are let through. A refresh token (or
        // anything else) that the AS calls active is still not a credential for an API.
        let bound_type = match string("token_type")?.as_deref() {
            None | Some("Bearer" | "bearer" | "access_token") => false,
            Some(t) if t.eq_ignore_ascii_case("dpop") => true,
            Some(_) => return Ok(rejected(AuthError::WrongTokenType)),
        };
        if let (Some(expected), Some(got)) = (&self.issuer, &iss) {
            if expected != got {
                return Ok(rejected(AuthError::UnknownIssuer));
            }
        }
        if !self.audiences.is_empty()
            && (doc.contains_key("aud") || self.require_audience)
            && !audiences.iter().any(|a| self.audiences.contains(a))
        {
            return Ok(rejected(AuthError::AudienceMismatch));
        }
        if let Err(e) = window.check(now, self.leeway) {
            return Ok(rejected(e));
        }
        let ttl = match window.exp {
            Some(exp) => self
                .max_cache_ttl
                .min(Duration::try_from_secs_f64((exp - now).max(0.0)).unwrap_or(Duration::ZERO)),
            None => self.max_cache_ttl,
        };
        // The document written out compactly: what the facts keep instead of the map.
        let json = serde_json::to_vec(doc).map_err(|_| AuthError::IntrospectionUnavailable)?;
        let facts = claims::facts(
            doc,
            json,
            Established {
                kind: TokenKind::Introspected,
                issuer: Arc::from(
                    iss.as_deref()
                        .or(self.issuer.as_deref())
                        .unwrap_or_default(),
                ),
                audiences,
                window,
                azp_is_client_id: false,
                key_bound: bound_type || doc.contains_key("cnf"),
                accept_bound_as_bearer: self.accept_bound_as_bearer,
                verified_by: self.filter_id,
                introspection_jwt: jwt,
            },
        )
        .map_err(malformed)?;
        Ok(CacheEntry {
            outcome: Outcome::Active(AccessToken::new(facts)),
            ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // RFC 6749 §2.3.1 example characters: space, colon, plus, percent.
        let h = basic_authorization("my client", "p@ss:w+rd%");
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(h.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client:p%40ss%3Aw%2Brd%25"
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = ClientSecret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let cfg = Introspection::new("https://i/introspect", "id", "hunter2");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn token_hash_is_sha256() {
        let h = token_hash("abc");
        assert_eq!(h[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
