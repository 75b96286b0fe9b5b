//! [`OAuthFilterBuilder`]: every setting of a filter, checked once by
//! [`OAuthFilterBuilder::build`], which names the setting at fault.
//!
//! ```
//! use oauth_filter::{JwtIssuer, OAuthFilter};
//! use std::time::Duration;
//! let filter = OAuthFilter::builder()
//!     .jwt_issuer(JwtIssuer::new("https://idp.example").audience("api").jwks_url("https://idp.example/jwks"))
//!     .leeway(Duration::from_secs(30))
//!     .realm("orders")
//!     .build()?;
//! # let _ = filter;
//! let err = OAuthFilter::builder().build().unwrap_err();
//! assert_eq!(err.key(), "issuers");
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```

use crate::challenge::is_attribute_text;
use crate::clock::{Clock, SystemClock};
use crate::dpop::Dpop;
use crate::error::ConfigError;
use crate::extract::ExtractionPolicy;
use crate::filter::{FilterInner, OAuthFilter};
use crate::http::HttpClientConfig;
use crate::introspection::Introspection;
use crate::jwt::JwtIssuer;
use crate::jwt_cache::JwtCache;
use crate::verify::Verifier;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The largest leeway accepted: clocks further apart than this are a problem to fix, not hide.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The leeway used when none is set.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Identifies each filter, so a layer never trusts a token another filter verified.
static NEXT_FILTER_ID: AtomicUsize = AtomicUsize::new(1);

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
    clock: Option<Arc<dyn Clock>>,
    dpop: Option<Dpop>,
    sender_constrained: bool,
    fapi2: bool,
    resource_metadata: Option<crate::metadata::ResourceMetadata>,
}

/// [`OAuthFilterBuilder`]'s dangerous settings, from [`OAuthFilterBuilder::dangerous`].
#[derive(Debug, Clone)]
pub struct DangerousFilterBuilder(OAuthFilterBuilder);

impl DangerousFilterBuilder {
    /// Also accept `?access_token=` in the query (RFC 6750 §2.3). Query tokens end up in access
    /// logs, proxies and browser history; RFC 6750 says not to use them.
    pub fn allow_query_token(self, allow: bool) -> OAuthFilterBuilder {
        let mut b = self.0;
        b.extraction.allow_query_token = allow;
        b
    }
}

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
    /// a keyed hash of the exact token, hold the token's facts (never a decision), never outlive
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
    /// HTTP client settings for reaching the authorization server.
    pub fn http(mut self, http: HttpClientConfig) -> Self {
        self.http = http;
        self
    }
    /// The clock every time check reads (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Verify DPoP-bound tokens (RFC 9449): `Authorization: DPoP <token>` with one `DPoP`
    /// proof header, checked against the token's `cnf.jkt`, the request's method and the URL
    /// clients call (the [`Dpop`]'s base URL and the request's path), and accepted once.
    /// Without it a DPoP-bound token is refused (`sender_constrained_token`).
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }
    /// Only sender-constrained tokens pass: DPoP-bound (RFC 9449, with [`Dpop`] configured)
    /// or certificate-bound (RFC 8705); a token bound to no key is refused with 401
    /// `invalid_token` (`sender_constraint_required`), whatever the scheme.
    pub fn require_sender_constrained(mut self, on: bool) -> Self {
        self.sender_constrained = on;
        self
    }
    /// The FAPI 2.0 Security Profile's rules for resource servers, in one switch:
    /// - sender-constrained tokens required (DPoP or mTLS,
    ///   [`OAuthFilterBuilder::require_sender_constrained`]);
    /// - token and proof signatures by PS256, ES256 or EdDSA only (issuers and [`Dpop`] left
    ///   at their default lists are narrowed to these; explicit lists with others, shared
    ///   secrets and the `accept_sender_constrained_as_bearer` opt-outs are errors);
    /// - RSA keys of at least 2048 bits (always enforced by this filter);
    /// - no query tokens (an error if the `dangerous()` door allowed them);
    /// - RFC 9068 strict mode for every issuer.
    ///
    /// [`OAuthFilter::describe_profile`] says what it turned on.
    pub fn fapi2(mut self) -> Self {
        self.fapi2 = true;
        self.sender_constrained = true;
        self
    }
    /// Publish RFC 9728 protected-resource metadata for this API, and point to it from every
    /// 401 and 403 challenge (`resource_metadata="..."`). See [`crate::metadata`].
    pub fn resource_metadata(mut self, metadata: crate::metadata::ResourceMetadata) -> Self {
        self.resource_metadata = Some(metadata);
        self
    }
    /// The settings that weaken security, each explained where it is set.
    pub fn dangerous(self) -> DangerousFilterBuilder {
        DangerousFilterBuilder(self)
    }

    /// Validates the configuration and builds the filter. Nothing is fetched yet: keys load on
    /// first use, so the filter starts even when the authorization server is down (requests then
    /// get 503 until it is reachable).
    pub fn build(mut self) -> Result<OAuthFilter, ConfigError> {
        let profile = if self.fapi2 {
            Some(self.apply_fapi2()?)
        } else {
            None
        };
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
        let mut issuer_names: Vec<String> =
            self.issuers.iter().map(|i| i.name().to_owned()).collect();
        if let Some(name) = self
            .introspection
            .as_ref()
            .and_then(Introspection::issuer_name)
            && !issuer_names.iter().any(|n| n == name)
        {
            issuer_names.push(name.to_owned());
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let fetcher = self.http.build()?;
        let mut issuers = HashMap::new();
        for (i, cfg) in self.issuers.into_iter().enumerate() {
            if issuers.contains_key(cfg.name()) {
                return Err(ConfigError::new(
                    format!("issuers[{i}].issuer"),
                    "configured twice",
                ));
            }
            let issuer = cfg.build(i, &self.http, &fetcher)?;
            issuers.insert(issuer.issuer.to_string(), Arc::new(issuer));
        }
        let leeway = leeway.as_secs_f64();
        let dpop = self.dpop.map(Dpop::build).transpose()?;
        let metadata = match self.resource_metadata {
            Some(m) => Some(
                m.build(&crate::metadata::FilterFacts {
                    issuers: issuer_names,
                    query_tokens: self.extraction.allow_query_token,
                    dpop_algs: dpop
                        .as_ref()
                        .map(|d| d.algs.split_whitespace().map(str::to_owned).collect()),
                    dpop_required: dpop.as_ref().is_some_and(|d| !d.accept_bearer),
                })?,
            ),
            None => None,
        };
        let introspector = match self.introspection {
            Some(i) => Some(i.build(&self.http, &fetcher, leeway, clock.clone(), id, &issuers)?),
            None => None,
        };
        let jwt_cache = match self.jwt_cache_capacity.unwrap_or(10_000) {
            0 => None,
            capacity => Some(JwtCache::new(capacity)),
        };
        Ok(OAuthFilter::from_inner(FilterInner {
            verifier: Verifier {
                id,
                issuers,
                introspector,
                jwt_cache,
                leeway,
                clock,
                max_token_len: self.extraction.max_token_len,
            },
            realm,
            extraction: ExtractionPolicy {
                dpop: dpop.is_some(),
                ..self.extraction
            },
            dpop,
            sender_constrained: self.sender_constrained,
            profile,
            metadata,
        }))
    }

    /// Applies the FAPI 2.0 rules; returns what they turned on, in words.
    fn apply_fapi2(&mut self) -> Result<String, ConfigError> {
        if self.extraction.allow_query_token {
            return Err(ConfigError::new(
                "allow_query_token",
                "the FAPI 2.0 profile forbids access tokens in the query",
            ));
        }
        self.issuers = std::mem::take(&mut self.issuers)
            .into_iter()
            .enumerate()
            .map(|(i, issuer)| issuer.fapi2(i))
            .collect::<Result<_, _>>()?;
        self.introspection = self
            .introspection
            .take()
            .map(Introspection::fapi2)
            .transpose()?;
        self.dpop = self.dpop.take().map(Dpop::fapi2).transpose()?;
        Ok(format!(
            "FAPI 2.0: sender-constrained tokens required ({}), signatures PS256/ES256/EdDSA only, \
             RSA keys of 2048 bits or more, no query tokens, RFC 9068 strict mode",
            if self.dpop.is_some() {
                "DPoP or a client certificate"
            } else {
                "a client certificate; no DPoP configured"
            }
        ))
    }
}
