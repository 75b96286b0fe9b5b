//! The `verify` step: which way a token goes (JWT, introspection, or refused), and the facts
//! that way finds.
//!
//! ```
//! use oauth_filter::{Introspection, JwtIssuer, OAuthFilter, VerificationPath};
//! // Hybrid mode: the trusted issuer's JWTs locally, everything else by introspection.
//! let filter = OAuthFilter::builder()
//!     .jwt_issuer(JwtIssuer::new("https://idp.example").audience("api").jwks_url("https://idp.example/jwks"))
//!     .introspection(Introspection::new("https://idp.example/introspect", "api", "secret"))
//!     .build()?;
//! assert_eq!(filter.verification_path("opaque-token-value"), VerificationPath::Introspection);
//! # Ok::<(), oauth_filter::ConfigError>(())
//! ```
//!
//! The routing rule (the architecture's hybrid rule) is written once, in [`Verifier::route`];
//! the JWT path is `jose` (structure, signature: [`crate::jose::Verified`]) then `jwt`
//! (claims), the opaque path is `introspection`; both end in `claims::facts`, and both caches
//! keep what it made and re-check its time window on every hit.

use crate::access_token::AccessToken;
use crate::clock::{Clock, unix_seconds};
use crate::error::AuthError;
use crate::explain::Trace;
use crate::introspection::Introspector;
use crate::jose::{self, Unverified, json};
use crate::jwt::IssuerVerifier;
use crate::jwt_cache::{JwtCache, VerifiedJwt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Which way [`crate::OAuthFilter::verify`] takes a token (from
/// [`crate::OAuthFilter::verification_path`]).
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

/// Everything verification needs; owned by the filter.
pub(crate) struct Verifier {
    pub(crate) id: usize,
    pub(crate) issuers: HashMap<String, Arc<IssuerVerifier>>,
    pub(crate) introspector: Option<Introspector>,
    pub(crate) jwt_cache: Option<JwtCache>,
    pub(crate) leeway: f64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_token_len: usize,
}

/// Where a token goes.
enum Route<'t, 'f> {
    Jwt(Unverified<'t>, &'f Arc<IssuerVerifier>),
    Introspect,
    Reject(AuthError),
}

/// Every `iss` a token's payload states, read leniently (see [`Verifier::route`]); empty
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

impl Verifier {
    /// Seconds since the epoch, by the filter's clock.
    pub(crate) fn now(&self) -> f64 {
        unix_seconds(&*self.clock)
    }

    /// The size cap, checked before anything else looks at the token.
    fn too_large(&self, token: &str) -> bool {
        token.len() > self.max_token_len
    }

    /// The token's facts, or why it is refused. With the trace on, the JWT cache is skipped
    /// (and not filled), so every step runs.
    ///
    /// A cached token is answered inline; what may do I/O (a new JWT's verification and key
    /// fetch, introspection) runs in a boxed future. Unboxed, those made this future and every
    /// caller's 5.3 KB, which the gateway moved several times per request (~3% of a proxied
    /// request's instructions by callgrind, `scripts/bench-gateway.sh`).
    pub(crate) async fn verify(
        &self,
        token: &str,
        trace: &mut Trace,
    ) -> Result<AccessToken, AuthError> {
        if self.too_large(token) {
            trace.fail("size", || {
                format!("{} bytes, cap {}", token.len(), self.max_token_len)
            });
            return Err(AuthError::TokenTooLarge);
        }
        trace.pass("size", || {
            format!("{} bytes (cap {})", token.len(), self.max_token_len)
        });
        let cache = self.jwt_cache.as_ref().filter(|_| !trace.is_on());
        let cache_key = cache.map(|c| c.key_of(token));
        if let (Some(cache), Some(key)) = (cache, cache_key) {
            if let Some(hit) = cache.get(key) {
                let valid = self.still_valid(&hit).await;
                if let Some(answer) = settle(cache, key, &hit, valid) {
                    return answer;
                }
            }
        }
        match self.route(token, trace) {
            Route::Jwt(jwt, issuer) => match (cache, cache_key) {
                // Concurrent requests with this new token wait for one verification.
                (Some(cache), Some(key)) => {
                    let cell = cache.join(key);
                    let answer = cell
                        .get_or_init(|| {
                            Box::pin(self.verify_jwt(jwt, issuer, Some((cache, key)), trace))
                        })
                        .await
                        .clone();
                    cache.finished(key, &cell);
                    answer
                }
                _ => Box::pin(self.verify_jwt(jwt, issuer, None, trace)).await,
            },
            Route::Introspect => match &self.introspector {
                Some(i) => {
                    let token = Box::pin(i.introspect(token, trace)).await?;
                    Self::describe(&token, trace);
                    Ok(token)
                }
                None => Err(AuthError::MalformedToken),
            },
            Route::Reject(e) => Err(e),
        }
    }

    /// A JWT of a trusted issuer: its signature checked (fetching keys if need be), then
    /// [`Verifier::judge`]d.
    async fn verify_jwt(
        &self,
        jwt: jose::Unverified<'_>,
        issuer: &Arc<IssuerVerifier>,
        cache: Option<(&JwtCache, u128)>,
        trace: &mut Trace,
    ) -> Result<AccessToken, AuthError> {
        let (verified, key_generation) = match issuer.verify_signature(jwt, trace).await {
            Ok(v) => v,
            Err(e) => {
                let step = match e {
                    AuthError::UnknownKey
                    | AuthError::AmbiguousKey
                    | AuthError::KeysUnavailable => "key",
                    _ => "signature",
                };
                // The algorithm step records its own refusal.
                if e != AuthError::UnsupportedAlgorithm {
                    trace.fail(step, || e.description().to_owned());
                }
                return Err(e);
            }
        };
        trace.pass("signature", || "verified".to_owned());
        self.judge(issuer, verified, key_generation, cache, trace)
    }

    /// A JWT whose signature verified: its claims judged, its facts cached.
    fn judge(
        &self,
        issuer: &Arc<IssuerVerifier>,
        verified: jose::Verified,
        key_generation: Option<u64>,
        cache: Option<(&JwtCache, u128)>,
        trace: &mut Trace,
    ) -> Result<AccessToken, AuthError> {
        let token = issuer.validate_claims(verified, self.now(), self.leeway, self.id, trace)?;
        let token = AccessToken::new(token);
        Self::describe(&token, trace);
        if let Some((cache, key)) = cache {
            cache.insert(
                key,
                VerifiedJwt {
                    token: token.clone(),
                    issuer: issuer.clone(),
                    key_generation,
                },
            );
        }
        Ok(token)
    }

    /// Records what a verified token says (for `explain`).
    fn describe(token: &AccessToken, trace: &mut Trace) {
        trace.pass("facts", || {
            format!(
                "sub {:?}, client_id {:?}, scopes \"{}\", aud {:?}; claims {}",
                token.subject(),
                token.client_id(),
                token.scopes(),
                token.audiences(),
                Value::Object(token.claims().clone())
            )
        });
    }

    /// The way [`Verifier::verify`] takes `token`.
    pub(crate) fn path(&self, token: &str) -> VerificationPath {
        if self.too_large(token) {
            return VerificationPath::Refused;
        }
        match self.route(token, &mut Trace::off()) {
            Route::Jwt(..) | Route::Reject(_) => VerificationPath::Local,
            Route::Introspect => VerificationPath::Introspection,
        }
    }

    /// Re-checks a cached JWT: its time claims now, and that the key set it was verified with
    /// is still the current one. `Ok(false)`: the key set changed; verify again.
    async fn still_valid(&self, hit: &VerifiedJwt) -> Result<bool, AuthError> {
        if let Some(answer) = self.still_valid_now(hit) {
            return answer;
        }
        match hit.key_generation {
            None => Ok(true),
            // Boxed, as in `verify`: the rare path's future stays off every caller's stack.
            Some(generation) => {
                Ok(Box::pin(hit.issuer.keys.current()).await?.generation == generation)
            }
        }
    }

    /// [`Verifier::still_valid`] when it needs no I/O; `None`: the key set must be fetched.
    fn still_valid_now(&self, hit: &VerifiedJwt) -> Option<Result<bool, AuthError>> {
        if let Err(e) = hit.token.window().check(self.now(), self.leeway) {
            return Some(Err(e));
        }
        match hit.key_generation {
            None => Some(Ok(true)),
            Some(generation) => hit
                .issuer
                .keys
                .current_now()
                .map(|keys| keys.map(|k| k.generation == generation)),
        }
    }

    /// [`Verifier::verify`] without I/O: a token refused before verification, one the
    /// verified-JWT cache holds whose key set is still current, or a JWT of a trusted issuer
    /// whose keys are in hand and fresh (verified here, and cached). `None`: anything that
    /// needs the network (introspection, a key set to fetch, an unknown `kid`), for
    /// [`Verifier::verify`], which answers the same. Nothing is traced.
    pub(crate) fn verify_now(&self, token: &str) -> Option<Result<AccessToken, AuthError>> {
        if self.too_large(token) {
            return Some(Err(AuthError::TokenTooLarge));
        }
        let cache = self.jwt_cache.as_ref();
        let cache_key = cache.map(|c| c.key_of(token));
        if let (Some(cache), Some(key)) = (cache, cache_key) {
            if let Some(hit) = cache.peek(key) {
                let valid = self.still_valid_now(&hit)?;
                if let Some(answer) = settle(cache, key, &hit, valid) {
                    if answer.is_ok() {
                        crate::metrics::cache(crate::metrics::Cache::Jwt, true);
                    }
                    return Some(answer);
                }
            }
        }
        let mut trace = Trace::off();
        let answer = match self.route(token, &mut trace) {
            Route::Jwt(jwt, issuer) => match issuer.verify_signature_now(jwt)? {
                Ok((verified, generation)) => self.judge(
                    issuer,
                    verified,
                    generation,
                    cache.zip(cache_key),
                    &mut trace,
                ),
                Err(e) => Err(e),
            },
            Route::Introspect => return None,
            Route::Reject(e) => Err(e),
        };
        // A miss is counted once, by whichever path answers.
        if cache.is_some() {
            crate::metrics::cache(crate::metrics::Cache::Jwt, false);
        }
        Some(answer)
    }

    /// Where a token goes (the architecture's hybrid rule). A token that parses strictly is
    /// routed by its `iss`. One that does not is looked at leniently (three segments, a payload
    /// that decodes to a JSON object with `iss` under any base64 flavour): if any `iss` there
    /// names a configured JWT issuer, the strict error stands and the token is refused here,
    /// never introspected, so a trusted issuer's token re-encoded with padding or `+`/`/`
    /// cannot skip the local audience, `typ`, algorithm and strict-mode checks by way of an
    /// authorization server that decodes leniently. Only tokens that are not JWS-shaped, or
    /// name no locally verified issuer, go to introspection.
    fn route<'t>(&self, token: &'t str, trace: &mut Trace) -> Route<'t, '_> {
        let jwt = match Unverified::parse(token) {
            Ok(jwt) => jwt,
            Err(e) => {
                let e = AuthError::from(e);
                let named = lenient_issuers(token);
                if named.iter().any(|iss| self.issuers.contains_key(iss)) {
                    trace.fail("structure", || {
                        format!("{e}, and it names a trusted JWT issuer: refused locally")
                    });
                    return Route::Reject(e);
                }
                let why = || format!("not a strict compact JWS ({e})");
                return self.introspect_or(e.clone(), &named, ("structure", why), trace);
            }
        };
        trace.pass("structure", || {
            format!(
                "compact JWS, JSON header and claims, alg {}",
                jwt.header().alg
            )
        });
        match jwt.unverified_claims().get("iss") {
            Some(Value::String(iss)) => match self.issuers.get(iss) {
                Some(issuer) => {
                    trace.pass("issuer", || {
                        format!("{iss}: a trusted JWT issuer, verified locally")
                    });
                    Route::Jwt(jwt, issuer)
                }
                None => self.introspect_or(
                    AuthError::UnknownIssuer,
                    std::slice::from_ref(iss),
                    ("issuer", || format!("{iss}: not a configured JWT issuer")),
                    trace,
                ),
            },
            Some(_) => self.introspect_or(
                AuthError::InvalidClaim("iss"),
                &[],
                ("issuer", || String::from("iss is not a string")),
                trace,
            ),
            None => self.introspect_or(
                AuthError::MissingClaim("iss"),
                &[],
                ("issuer", || String::from("no iss")),
                trace,
            ),
        }
    }

    /// Introspection when it is configured and allowed for the issuers the token names;
    /// otherwise `error`. `why` is the step that sent the token here and what it saw: a fact
    /// when introspection takes over, the refusal when there is none.
    fn introspect_or(
        &self,
        error: AuthError,
        named_issuers: &[String],
        why: (&'static str, impl FnOnce() -> String),
        trace: &mut Trace,
    ) -> Route<'static, '_> {
        let (step, detail) = why;
        match &self.introspector {
            Some(i) if named_issuers.iter().all(|iss| i.may_introspect_issuer(iss)) => {
                trace.note(step, detail);
                trace.note("route", || "introspection".to_owned());
                Route::Introspect
            }
            Some(_) => {
                trace.note(step, detail);
                trace.fail("route", || {
                    "a JWS of an issuer not allowed for introspection (introspect_jwt_issuers)"
                        .to_owned()
                });
                Route::Reject(AuthError::UnknownIssuer)
            }
            None => {
                trace.fail(step, detail);
                Route::Reject(error)
            }
        }
    }
}

/// What a verified-JWT cache hit answers once its validity is known: the token (still valid),
/// the error (its time window has closed; the entry is dropped), or `None` after dropping the
/// entry when the key set changed since, so that the token is verified again from scratch.
fn settle(
    cache: &JwtCache,
    key: u128,
    hit: &VerifiedJwt,
    valid: Result<bool, AuthError>,
) -> Option<Result<AccessToken, AuthError>> {
    match valid {
        Ok(true) => Some(Ok(hit.token.clone())),
        Ok(false) => {
            cache.invalidate(key);
            None
        }
        Err(e) => {
            cache.invalidate(key);
            Some(Err(e))
        }
    }
}
