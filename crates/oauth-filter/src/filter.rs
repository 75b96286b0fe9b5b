//! [`OAuthFilter`]: the façade. Each request goes extract → verify → bind → authorize →
//! challenge, each step in its own module, entered once and in that order by
//! [`OAuthFilter::decide`] (and, recording every step, by [`OAuthFilter::explain`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_filter::{Decision, OAuthFilter, Requirement, RequestParts};
//! // The seed's configure_with_jwt(jwks, issuer, audience):
//! let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api")?;
//! let parts = RequestParts::new().authorization(b"Bearer eyJ...");
//! match filter.decide(&parts, None, &Requirement::all_of(["read"])).await {
//!     Decision::Allow(token) => println!("hello {:?}", token.subject()),
//!     Decision::Deny(rejection) => println!("rejected: {}", rejection.status()),
//!     _ => {}
//! }
//! # Ok(()) }
//! ```

use crate::access_token::AccessToken;
use crate::authorize::{Requirement, Unmet};
use crate::bind::{Presented, bind};
use crate::builder::OAuthFilterBuilder;
use crate::challenge::Rejection;
use crate::dpop::DpopState;
use crate::error::{AuthError, ConfigError};
use crate::explain::{Trace, Verdict};
use crate::extract::{ExtractionPolicy, RequestParts, Scheme};
use crate::introspection::Introspection;
use crate::jwt::JwtIssuer;
use crate::routes::PathRequirements;
use crate::verify::{VerificationPath, Verifier};
use std::sync::Arc;

/// The filter: trusted issuers, their keys, and the request policy. Cheap to clone.
#[derive(Clone)]
pub struct OAuthFilter {
    inner: Arc<FilterInner>,
}

pub(crate) struct FilterInner {
    pub(crate) verifier: Verifier,
    pub(crate) realm: String,
    pub(crate) extraction: ExtractionPolicy,
    pub(crate) dpop: Option<crate::dpop::DpopState>,
    /// Only sender-constrained tokens pass (the FAPI 2.0 profile).
    pub(crate) sender_constrained: bool,
    /// What the FAPI 2.0 profile turned on, for `describe_profile` (`None`: no profile).
    pub(crate) profile: Option<String>,
    /// RFC 9728 metadata, when configured.
    pub(crate) metadata: Option<crate::metadata::ResourceMetadataDocument>,
}

impl std::fmt::Debug for OAuthFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut issuers: Vec<&String> = self.inner.verifier.issuers.keys().collect();
        issuers.sort();
        f.debug_struct("OAuthFilter")
            .field("issuers", &issuers)
            .field("realm", &self.inner.realm)
            .finish_non_exhaustive()
    }
}

/// What a request must show, for [`OAuthFilter::decide`] and [`OAuthFilter::explain`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Protection<'a> {
    /// A valid token meeting this requirement.
    Require(&'a Requirement),
    /// The requirement of the request's route (by [`RequestParts::method`] and
    /// [`RequestParts::path`]).
    Routes(&'a PathRequirements),
    /// No token passes anonymously; a token that is present must be valid.
    Optional,
    /// A route already chosen ([`PathRequirements::select`]): its requirement (none: public)
    /// and the schemes it takes.
    Route(crate::routes::Selected<'a>),
}

impl<'a> From<crate::routes::Selected<'a>> for Protection<'a> {
    fn from(r: crate::routes::Selected<'a>) -> Self {
        Self::Route(r)
    }
}

impl<'a> From<&'a Requirement> for Protection<'a> {
    fn from(r: &'a Requirement) -> Self {
        Self::Require(r)
    }
}

impl<'a> From<&'a PathRequirements> for Protection<'a> {
    fn from(r: &'a PathRequirements) -> Self {
        Self::Routes(r)
    }
}

/// What an adapter keeps of its configuration: the owned form of [`Protection`], one type for
/// the tower layer and the actix middleware.
#[derive(Debug, Clone)]
pub(crate) enum Guard {
    Require(Arc<Requirement>, Option<crate::extract::TokenSchemes>),
    Routes(Arc<PathRequirements>),
    Optional,
}

impl Guard {
    /// A requirement guard; warns when the requirement can never be met (adapters' builders
    /// are infallible; [`crate::PathRequirementsBuilder::build`] refuses the same as an error).
    pub(crate) fn require(requirement: Requirement) -> Self {
        if let Err(e) = crate::routes::check_requirement("requirement", &requirement) {
            tracing::warn!(error = %e, "this requirement names a value no token can carry in a challenge; it will never be met");
        }
        Self::Require(Arc::new(requirement), None)
    }

    /// The schemes a `require` guard takes (the routes of a per-path guard set their own).
    pub(crate) fn with_schemes(self, schemes: crate::extract::TokenSchemes) -> Self {
        match self {
            Self::Require(r, _) => Self::Require(r, Some(schemes)),
            other => {
                tracing::warn!(
                    "schemes() applies to a require layer; set the schemes of each route \
                     with Route::schemes instead (ignored)"
                );
                other
            }
        }
    }

    pub(crate) fn routes(rules: PathRequirements) -> Self {
        Self::Routes(Arc::new(rules))
    }

    pub(crate) fn protection(&self) -> Protection<'_> {
        match self {
            Self::Require(r, None) => Protection::Require(r),
            Self::Require(r, Some(schemes)) => Protection::Route(crate::routes::Selected {
                name: "layer",
                requirement: Some(r),
                schemes: Some(*schemes),
            }),
            Self::Routes(rules) => Protection::Routes(rules),
            Self::Optional => Protection::Optional,
        }
    }
}

/// What an adapter does with a request, from [`OAuthFilter::decide`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Decision {
    /// Let through, with the verified token (put it where handlers find it).
    Allow(AccessToken),
    /// Let through without a token: optional authentication without credentials, or a public
    /// route.
    Anonymous,
    /// Refused: answer with this (the rejection is already logged).
    Deny(Rejection),
}

/// One component's state, from [`OAuthFilter::readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadinessCheck {
    /// `issuer <identifier>` or `introspection`.
    pub component: String,
    /// Whether the component can serve requests now.
    pub ready: bool,
    /// A fixed description of the state (never caller data).
    pub detail: &'static str,
}

/// A refusal inside the pipeline, before it becomes a [`Rejection`].
enum Refusal {
    Error(AuthError),
    Unmet(Unmet),
    /// No route takes the request: the answer is made already ([`OAuthFilter::route_rejection`]).
    Route(Box<Rejection>),
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Self::Error(e)
    }
}

impl OAuthFilter {
    /// Starts a builder.
    pub fn builder() -> OAuthFilterBuilder {
        OAuthFilterBuilder::default()
    }

    pub(crate) fn from_inner(inner: FilterInner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
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
        self.inner.verifier.id
    }

    /// The challenge realm.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// What DPoP verification is configured, in words (for `check-config`); `None` when off.
    pub fn describe_dpop(&self) -> Option<String> {
        self.inner
            .dpop
            .as_ref()
            .map(crate::dpop::DpopState::describe)
    }

    /// The RFC 9728 metadata ([`crate::OAuthFilterBuilder::resource_metadata`]): its URL,
    /// path and document.
    pub fn resource_metadata(&self) -> Option<&crate::metadata::ResourceMetadataDocument> {
        self.inner.metadata.as_ref()
    }

    /// A tower service answering with the RFC 9728 document, for its path
    /// ([`crate::metadata::ResourceMetadataDocument::path`]); `None` without metadata
    /// configured. With axum:
    /// `router.route_service(m.path(), filter.resource_metadata_service::<axum::body::Body>().unwrap())`.
    pub fn resource_metadata_service<B>(
        &self,
    ) -> Option<crate::metadata::ResourceMetadataService<B>> {
        self.inner
            .metadata
            .clone()
            .map(crate::metadata::ResourceMetadataService::new)
    }

    /// What a security profile ([`OAuthFilterBuilder::fapi2`]) turned on, in words (for
    /// `check-config`); `None` without one.
    pub fn describe_profile(&self) -> Option<&str> {
        self.inner.profile.as_deref()
    }

    /// The answer for `error`, with `requirement` for the 403 `scope` attribute. With DPoP
    /// configured the challenge offers it too ([`OAuthFilter::reject_request`] also knows
    /// which scheme the request used).
    pub fn reject(&self, error: AuthError, requirement: Option<&Requirement>) -> Rejection {
        let r = Rejection::new(error, &self.inner.realm, requirement);
        self.with_challenges(r, false, self.accepts(None))
    }

    /// [`OAuthFilter::reject`] for `parts`: a refusal of a `DPoP`-scheme request carries its
    /// error in the `DPoP` challenge (RFC 9449 §7.1).
    pub fn reject_request(
        &self,
        parts: &RequestParts<'_>,
        error: AuthError,
        requirement: Option<&Requirement>,
    ) -> Rejection {
        let r = Rejection::new(error, &self.inner.realm, requirement);
        self.with_challenges(r, parts.uses_dpop_scheme(), self.accepts(None))
    }

    /// The schemes a request may use: the route's, else the filter's.
    pub(crate) fn accepts(&self, route: Option<crate::extract::TokenSchemes>) -> Accepts {
        let (bearer, dpop) = match (route, &self.inner.dpop) {
            (Some(s), _) => s.accepts(),
            (None, Some(d)) => (d.accept_bearer, true),
            (None, None) => (true, false),
        };
        Accepts {
            bearer,
            // Without DPoP configured there is nothing to check a proof with.
            dpop: dpop && self.inner.dpop.is_some(),
        }
    }

    /// What a refusal's challenges add besides the error: the RFC 9728 metadata URL, and the
    /// `DPoP` challenge (and its nonce) where the route takes DPoP.
    fn with_challenges(&self, rejection: Rejection, used: bool, accepts: Accepts) -> Rejection {
        let rejection = match &self.inner.metadata {
            Some(m) => rejection.with_resource_metadata(m.shared_url()),
            None => rejection,
        };
        match &self.inner.dpop {
            Some(d) if accepts.dpop => {
                // Every 401 hands out a nonce when nonces are on, so a client recovers in one
                // retry whatever it was refused for.
                let nonce = (rejection.status() == 401)
                    .then(|| d.current_nonce(self.inner.verifier.now()))
                    .flatten();
                rejection.with_dpop(&d.algs, accepts.bearer, used, nonce)
            }
            _ => rejection,
        }
    }

    /// The `DPoP-Nonce` to put on the answer to an allowed request (RFC 9449 §8.2): with
    /// nonces on, when the request's proof carries the previous window's nonce (the window
    /// rolled). `None` otherwise, and for requests without a proof. Adapters call it after
    /// [`Decision::Allow`].
    pub fn dpop_nonce_refresh(&self, parts: &RequestParts<'_>) -> Option<String> {
        let dpop = self.inner.dpop.as_ref()?;
        let proof = parts.dpop_proof().ok()??;
        dpop.nonce_refresh(proof, self.inner.verifier.now())
    }

    /// The answer to a request no route of `rules` takes (the error of
    /// [`PathRequirements::select`]): 400 for a path not in normal form, 404 without a default,
    /// 405 with the `Allow` of the raw `path`'s most specific routes.
    pub fn route_rejection(
        &self,
        rules: &PathRequirements,
        path: &str,
        error: AuthError,
    ) -> Rejection {
        match error {
            AuthError::MethodNotAllowed => {
                Rejection::method_not_allowed(&self.inner.realm, &rules.allowed_methods(path))
            }
            e => self.reject(e, None),
        }
    }

    /// Verifies a token string outside a request: a JWT from a configured issuer locally
    /// (structure, key, signature, claims); any other token through introspection when it is
    /// configured. A token bound to a key is refused (there is no request to prove it with).
    pub async fn verify(&self, token: &str) -> Result<AccessToken, AuthError> {
        let mut trace = Trace::off();
        let t = self.inner.verifier.verify(token, &mut trace).await?;
        // Without a proof nothing is left for a replay store to check.
        bind(
            &t,
            &RequestParts::new(),
            &self.presented(None, self.accepts(None)),
            &mut trace,
        )?;
        Ok(t)
    }

    /// The way [`OAuthFilter::verify`] takes `token`: the filter's own routing decision.
    pub fn verification_path(&self, token: &str) -> VerificationPath {
        self.inner.verifier.path(token)
    }

    /// Whether the filter can decide requests now: every JWT issuer's keys are loaded (fetched
    /// if needed), and the introspection endpoint answers a probe with our credentials (one
    /// introspection call with a random token, which must come back as a valid answer).
    /// One entry per component, issuers first in name order. For a `/readyz` endpoint; cache
    /// the result for a few seconds rather than probing on every poll.
    pub async fn readiness(&self) -> Vec<ReadinessCheck> {
        let verifier = &self.inner.verifier;
        let mut names: Vec<&String> = verifier.issuers.keys().collect();
        names.sort();
        let mut checks = Vec::with_capacity(names.len() + 1);
        for name in names {
            let Some(issuer) = verifier.issuers.get(name) else {
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
        if let Some(introspector) = &verifier.introspector {
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

    /// Finds, verifies and binds the request's token. `Ok(None)`: no credentials.
    pub async fn authenticate(
        &self,
        parts: &RequestParts<'_>,
    ) -> Result<Option<AccessToken>, AuthError> {
        self.authenticate_traced(parts, self.accepts(None), &mut Trace::off())
            .await
    }

    /// The request's credential, for the schemes the route takes: a `DPoP` one where only
    /// `Bearer` is taken is no credential (as where DPoP is not configured).
    fn credential<'p>(
        &self,
        parts: &RequestParts<'p>,
        accepts: Accepts,
    ) -> Result<Option<(Scheme, &'p str)>, AuthError> {
        match parts.credential(&self.inner.extraction)? {
            Some((Scheme::Dpop, _)) if !accepts.dpop => Ok(None),
            c => Ok(c),
        }
    }

    async fn authenticate_traced(
        &self,
        parts: &RequestParts<'_>,
        accepts: Accepts,
        trace: &mut Trace,
    ) -> Result<Option<AccessToken>, AuthError> {
        let (scheme, token) = match self.credential(parts, accepts) {
            Ok(Some(t)) => t,
            Ok(None) => {
                trace.note("credential", || "no bearer credentials".to_owned());
                return Ok(None);
            }
            Err(e) => {
                trace.fail("credential", || e.description().to_owned());
                return Err(e);
            }
        };
        trace.pass("credential", || match scheme {
            Scheme::Dpop => "a DPoP token".to_owned(),
            _ => "a Bearer token".to_owned(),
        });
        let t = self.inner.verifier.verify(token, trace).await?;
        let presented = self.presented(Some((scheme, token)), accepts);
        if let Some(proof) = bind(&t, parts, &presented, trace)? {
            if let Some(dpop) = &self.inner.dpop {
                let now = self.inner.verifier.now();
                if let Err(e) = dpop.shared_first_use(&proof, now).await {
                    trace.fail("binding", || e.description().to_owned());
                    return Err(AuthError::Dpop(e));
                }
            }
        }
        Ok(Some(t))
    }

    /// What `bind` is given besides the token.
    fn presented<'a>(
        &'a self,
        credential: Option<(Scheme, &'a str)>,
        accepts: Accepts,
    ) -> Presented<'a> {
        Presented {
            credential,
            dpop: self.inner.dpop.as_ref(),
            verifier: &self.inner.verifier,
            accepts,
            sender_constrained: self.inner.sender_constrained,
        }
    }

    /// Checks a verified token against a requirement.
    pub fn authorize(
        &self,
        token: &AccessToken,
        requirement: &Requirement,
    ) -> Result<(), AuthError> {
        requirement
            .evaluate(token, self.inner.verifier.now(), &mut Trace::off())
            .map_err(|u| u.error())
    }

    /// The whole pipeline: a token is required, valid, and meets `requirement`.
    pub async fn check(
        &self,
        parts: &RequestParts<'_>,
        requirement: &Requirement,
    ) -> Result<AccessToken, AuthError> {
        match self.decide(parts, None, requirement).await {
            Decision::Allow(t) => Ok(t),
            Decision::Anonymous => Err(AuthError::MissingToken),
            Decision::Deny(r) => Err(r.error().clone()),
        }
    }

    /// What an adapter does with a request: the one entry point. `verified` is a token already
    /// in the request (put there by an outer layer): it is reused only if this very filter
    /// verified it. A rejection is logged here, once, at `info` with its reason code.
    pub async fn decide<'p>(
        &self,
        parts: &RequestParts<'_>,
        verified: Option<&AccessToken>,
        protection: impl Into<Protection<'p>>,
    ) -> Decision {
        let mut trace = Trace::failures();
        let mut accepts = self.accepts(None);
        let result = self
            .pipeline(parts, verified, protection.into(), &mut accepts, &mut trace)
            .await;
        let decision = self.decision(parts, result, accepts);
        Self::log_denial(parts, &decision, &trace);
        decision
    }

    /// [`OAuthFilter::decide`] when it needs no I/O, for adapters on a synchronous host (the
    /// Python extension) where reaching the async runtime costs more than the check: a request
    /// without a token, one refused before verification (route, size, extraction), one whose
    /// token the verified-JWT cache holds with its key set still current, or a JWT of a
    /// trusted issuer whose keys are in hand and fresh (verified in the calling thread). `None`:
    /// call [`OAuthFilter::decide`], which takes every other case (introspection, a key set to
    /// fetch, an unknown `kid`) and gives the same answers.
    pub fn decide_now<'p>(
        &self,
        parts: &RequestParts<'_>,
        protection: impl Into<Protection<'p>>,
    ) -> Option<Decision> {
        let mut trace = Trace::failures();
        let mut accepts = self.accepts(None);
        let result = self.pipeline_now(parts, protection.into(), &mut accepts, &mut trace)?;
        let decision = self.decision(parts, result, accepts);
        Self::log_denial(parts, &decision, &trace);
        Some(decision)
    }

    /// A rejection is logged once, at `info`, with its reason code.
    fn log_denial(parts: &RequestParts<'_>, decision: &Decision, trace: &Trace) {
        if let Decision::Deny(r) = decision {
            // The context (the step, and what it saw: `exp` and the clock, the audiences) is
            // for the operator; the client's answer keeps its fixed description.
            tracing::info!(
                reason = r.error().reason_code(),
                status = r.status(),
                method = parts.request_method(),
                path = ?parts.request_path(),
                detail = ?trace.failure_context(256),
                "request rejected"
            );
        }
    }

    /// The verifier's own trace of what [`OAuthFilter::decide`] does with `parts`: every step
    /// as it runs (the verified-JWT cache is skipped so that every step runs). Nothing is logged.
    pub async fn explain<'p>(
        &self,
        parts: &RequestParts<'_>,
        protection: impl Into<Protection<'p>>,
    ) -> Trace {
        let mut trace = Trace::on();
        let mut accepts = self.accepts(None);
        let result = self
            .pipeline(parts, None, protection.into(), &mut accepts, &mut trace)
            .await;
        let decision = self.decision(parts, result, accepts);
        trace.finish(match decision {
            Decision::Allow(_) => Verdict::Allowed,
            Decision::Anonymous => Verdict::Anonymous,
            Decision::Deny(r) => Verdict::Refused(r.error().clone()),
        });
        trace
    }

    fn decision(
        &self,
        parts: &RequestParts<'_>,
        result: Result<Option<AccessToken>, Refusal>,
        accepts: Accepts,
    ) -> Decision {
        let used = parts.uses_dpop_scheme();
        match result {
            Ok(Some(t)) => Decision::Allow(t),
            Ok(None) => Decision::Anonymous,
            Err(Refusal::Error(e)) => {
                let r = Rejection::new(e, &self.inner.realm, None);
                Decision::Deny(self.with_challenges(r, used, accepts))
            }
            Err(Refusal::Unmet(u)) => {
                let r = Rejection::unmet(&u, &self.inner.realm);
                Decision::Deny(self.with_challenges(r, used, accepts))
            }
            Err(Refusal::Route(r)) => Decision::Deny(*r),
        }
    }

    /// extract → verify → bind → authorize, in that order.
    async fn pipeline(
        &self,
        parts: &RequestParts<'_>,
        verified: Option<&AccessToken>,
        protection: Protection<'_>,
        accepts: &mut Accepts,
        trace: &mut Trace,
    ) -> Result<Option<AccessToken>, Refusal> {
        let requirement = match self.need(parts, protection, trace)? {
            Need::Nothing => return Ok(None),
            Need::Token(r, schemes) => {
                *accepts = self.accepts(schemes);
                r
            }
        };
        let token = match verified {
            // An outer layer's token passed this filter's binding for that layer's schemes;
            // this layer's may be narrower (and the proof is spent: no second check).
            Some(t) if t.verified_by() == self.id() => {
                scheme_fits(parts, *accepts)?;
                Some(t.clone())
            }
            _ => self.authenticate_traced(parts, *accepts, trace).await?,
        };
        self.conclude(token, requirement, trace)
    }

    /// [`OAuthFilter::pipeline`] without I/O; `None` where it would need some.
    fn pipeline_now(
        &self,
        parts: &RequestParts<'_>,
        protection: Protection<'_>,
        accepts: &mut Accepts,
        trace: &mut Trace,
    ) -> Option<Result<Option<AccessToken>, Refusal>> {
        let requirement = match self.need(parts, protection, trace) {
            Ok(Need::Nothing) => return Some(Ok(None)),
            Ok(Need::Token(r, schemes)) => {
                *accepts = self.accepts(schemes);
                r
            }
            Err(refusal) => return Some(Err(refusal)),
        };
        let token = match self.credential(parts, *accepts) {
            // A proof for the shared replay store needs I/O: all of it goes the async way (a
            // proof recorded here would be a replay there).
            Ok(Some((Scheme::Dpop, _)))
                if self.inner.dpop.as_ref().is_some_and(DpopState::needs_io) =>
            {
                return None;
            }
            Ok(Some((scheme, token))) => match self.inner.verifier.verify_now(token)? {
                Ok(t) => match bind(
                    &t,
                    parts,
                    &self.presented(Some((scheme, token)), *accepts),
                    trace,
                ) {
                    Ok(None) => Some(t),
                    // Not reached (checked above); never a pass without the shared check.
                    Ok(Some(_)) => return None,
                    Err(e) => return Some(Err(e.into())),
                },
                Err(e) => return Some(Err(e.into())),
            },
            Ok(None) => None,
            Err(e) => return Some(Err(e.into())),
        };
        Some(self.conclude(token, requirement, trace))
    }

    /// What the request must show: the route's requirement (or a refusal when no route takes
    /// it), the given one, or nothing.
    fn need<'r>(
        &self,
        parts: &RequestParts<'_>,
        protection: Protection<'r>,
        trace: &mut Trace,
    ) -> Result<Need<'r>, Refusal> {
        match protection {
            Protection::Require(r) => Ok(Need::Token(Some(r), None)),
            Protection::Optional => Ok(Need::Token(None, None)),
            Protection::Route(selected) => Ok(match selected.requirement() {
                Some(r) => Need::Token(Some(r), selected.schemes()),
                None => Need::Nothing,
            }),
            Protection::Routes(rules) => {
                let (method, path) = (parts.request_method(), parts.request_path());
                match rules.select(method, path) {
                    Ok(selected) => {
                        trace.pass("route", || {
                            format!(
                                "{method} {path:?}: {} ({})",
                                selected.name(),
                                selected
                                    .requirement()
                                    .map_or_else(|| String::from("public"), ToString::to_string)
                            )
                        });
                        Ok(match selected.requirement() {
                            Some(r) => Need::Token(Some(r), selected.schemes()),
                            None => Need::Nothing,
                        })
                    }
                    Err(e) => {
                        trace.fail("route", || {
                            format!("{method} {path:?}: {}", e.description())
                        });
                        Err(Refusal::Route(Box::new(
                            self.route_rejection(rules, path, e),
                        )))
                    }
                }
            }
        }
    }

    /// The authorize step, once the token (if any) is known.
    fn conclude(
        &self,
        token: Option<AccessToken>,
        requirement: Option<&Requirement>,
        trace: &mut Trace,
    ) -> Result<Option<AccessToken>, Refusal> {
        match (token, requirement) {
            (Some(t), Some(r)) => {
                r.evaluate(&t, self.inner.verifier.now(), trace)
                    .map_err(Refusal::Unmet)?;
                Ok(Some(t))
            }
            (Some(t), None) => Ok(Some(t)),
            (None, Some(_)) => Err(AuthError::MissingToken.into()),
            (None, None) => Ok(None),
        }
    }
}

/// What a request must show, from [`OAuthFilter::need`].
enum Need<'r> {
    /// Nothing: a public route.
    Nothing,
    /// A token if present (`None`: optional), meeting the requirement, by the schemes the
    /// route takes (`None`: the filter's).
    Token(
        Option<&'r Requirement>,
        Option<crate::extract::TokenSchemes>,
    ),
}

/// The schemes a request may use, resolved from the route and the filter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepts {
    pub(crate) bearer: bool,
    pub(crate) dpop: bool,
}

/// Whether a token an outer layer verified came by a scheme this layer takes: a `DPoP` one
/// where only `Bearer` is taken is no credential; a `Bearer` one where only `DPoP` is taken
/// is refused.
fn scheme_fits(parts: &RequestParts<'_>, accepts: Accepts) -> Result<(), AuthError> {
    match (parts.uses_dpop_scheme(), accepts.bearer, accepts.dpop) {
        (true, _, false) => Err(AuthError::MissingToken),
        (false, false, _) => Err(AuthError::DpopRequired),
        _ => Ok(()),
    }
}
