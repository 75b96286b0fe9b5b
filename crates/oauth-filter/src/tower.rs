//! The tower [`Layer`](tower_layer::Layer): protects any `tower::Service` over `http` 1.x
//! (axum, hyper, tonic).
//!
//! ```
//! use axum::{Router, routing::get};
//! use oauth_filter::{AccessToken, OAuthFilter};
//!
//! async fn hello(token: AccessToken) -> String {
//!     format!("hello {}", token.subject().unwrap_or("anonymous"))
//! }
//!
//! # fn app() -> Result<Router, oauth_filter::ConfigError> {
//! let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api")?;
//! let app: Router = Router::new()
//!     // Per route, like the seed's @protect(["read"]):
//!     .route("/hello_world", get(hello).route_layer(filter.require(["read"])))
//!     // Every other route: any valid token (the seed's before_request filter).
//!     .route("/status", get(|| async { "ok" }))
//!     .layer(filter.require([] as [&str; 0]));
//! # Ok(app) }
//! ```
//!
//! A rejected request never reaches the inner service. The default answer is the RFC 6750
//! challenge with a small JSON body; [`OAuthLayer::with_responder`] replaces the body (and anything
//! else) with a closure or an [`ErrorResponder`].
//!
//! Layers nest: when an outer layer of the same filter has verified the token, an inner
//! per-route layer only checks its own requirement.

use crate::access_token::AccessToken;
use crate::authorize::Requirement;
use crate::challenge::Rejection;
use crate::extract::RequestParts;
use crate::filter::OAuthFilter;
use crate::filter::{Decision, Guard};
use crate::routes::PathRequirements;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Turns a [`Rejection`] into a response. Implemented for closures `Fn(&Rejection) -> Response<B>`.
pub trait ErrorResponder<B> {
    /// Builds the response for a rejected request.
    fn respond(&self, rejection: &Rejection) -> Response<B>;
}

impl<B, F> ErrorResponder<B> for F
where
    F: Fn(&Rejection) -> Response<B>,
{
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default answer: status, `WWW-Authenticate`, `Cache-Control: no-store`, JSON body.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonErrorResponder;

impl<B: From<Bytes>> ErrorResponder<B> for JsonErrorResponder {
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        let mut response = Response::new(B::from(rejection.json_body()));
        *response.status_mut() =
            StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        apply_challenge_headers(rejection, response.headers_mut());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Sets `WWW-Authenticate`, `Retry-After` and `Cache-Control: no-store` for a rejection; for
/// custom responders that keep the standard headers.
pub fn apply_challenge_headers(rejection: &Rejection, headers: &mut http::HeaderMap) {
    for (name, value) in rejection.challenge_headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// Protects a service: a valid token meeting the requirement, or (optional mode) no token.
#[derive(Clone)]
pub struct OAuthLayer<R = JsonErrorResponder> {
    filter: OAuthFilter,
    mode: Guard,
    responder: R,
}

impl<R> std::fmt::Debug for OAuthLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthLayer")
            .field("filter", &self.filter)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl OAuthFilter {
    /// A layer that requires a valid token meeting `requirement`. `[]` means any valid token.
    pub fn require(&self, requirement: impl Into<Requirement>) -> OAuthLayer {
        OAuthLayer {
            filter: self.clone(),
            mode: Guard::require(requirement.into()),
            responder: JsonErrorResponder,
        }
    }

    /// A layer that requires any valid token.
    pub fn layer(&self) -> OAuthLayer {
        self.require(Requirement::Authenticated)
    }

    /// A layer whose requirement depends on the request's method and path: per gRPC method,
    /// per route prefix ([`PathRequirements`]).
    pub fn require_per_path(&self, rules: PathRequirements) -> OAuthLayer {
        OAuthLayer {
            filter: self.clone(),
            mode: Guard::routes(rules),
            responder: JsonErrorResponder,
        }
    }

    /// A layer for optional authentication: no token passes (handlers see `Option<AccessToken>`
    /// as `None`); a token that is present must be valid.
    pub fn optional(&self) -> OAuthLayer {
        OAuthLayer {
            filter: self.clone(),
            mode: Guard::Optional,
            responder: JsonErrorResponder,
        }
    }
}

impl<R> OAuthLayer<R> {
    /// The authentication schemes this layer's route takes (default: the filter's): for
    /// example a route that keeps bearer tokens where the rest of the API takes DPoP too, or
    /// one that takes only DPoP. For per-path layers, set it per route ([`crate::Route::schemes`]).
    pub fn schemes(mut self, schemes: crate::TokenSchemes) -> Self {
        self.mode = self.mode.with_schemes(schemes);
        self
    }

    /// Replaces the answer to rejected requests (the seed's custom error handlers).
    pub fn with_responder<R2>(self, responder: R2) -> OAuthLayer<R2> {
        OAuthLayer {
            filter: self.filter,
            mode: self.mode,
            responder,
        }
    }
}

impl<S, R: Clone> tower_layer::Layer<S> for OAuthLayer<R> {
    type Service = OAuthService<S, R>;
    fn layer(&self, inner: S) -> Self::Service {
        OAuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`OAuthLayer`].
#[derive(Clone)]
pub struct OAuthService<S, R = JsonErrorResponder> {
    inner: S,
    layer: OAuthLayer<R>,
}

impl<S, R> std::fmt::Debug for OAuthService<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

/// The future of [`OAuthService`].
pub type OAuthFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, R, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for OAuthService<S, R>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    R: ErrorResponder<ResBody> + Clone + Send + Sync + 'static,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = OAuthFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone is ready-less; the ready one (self.inner) is the one we call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            // Only the head is borrowed across the await, so bodies need not be `Sync`.
            let (mut head, body) = req.into_parts();
            let verified = head.extensions.get::<AccessToken>().cloned();
            let protection = layer.mode.protection();
            let parts = RequestParts::from_http_parts(&head);
            match layer
                .filter
                .decide(&parts, verified.as_ref(), protection)
                .await
            {
                Decision::Allow(token) => {
                    let nonce = layer.filter.dpop_nonce_refresh(&parts);
                    head.extensions.insert(token);
                    let mut response = inner.call(Request::from_parts(head, body)).await?;
                    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static("dpop-nonce"), v);
                    }
                    Ok(response)
                }
                Decision::Deny(rejection) => Ok(layer.responder.respond(&rejection)),
                _ => inner.call(Request::from_parts(head, body)).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use oauth_filter_testkit::TestIssuer;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    /// Inner-service runs: a refused request must never reach the service.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let who = req
            .extensions()
            .get::<AccessToken>()
            .and_then(|t| t.subject().map(str::to_owned))
            .unwrap_or_default();
        Ok(Response::new(Full::new(Bytes::from(who))))
    }

    fn runs() -> usize {
        RUNS.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn request(auth: Option<&str>) -> Request<Full<Bytes>> {
        let mut b = Request::builder().uri("/x");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Full::default()).unwrap()
    }

    #[tokio::test]
    async fn protects_a_plain_tower_service_without_axum() {
        let issuer = TestIssuer::start().await;
        let filter = OAuthFilter::with_jwks(&issuer.jwks_url(), issuer.issuer(), "api").unwrap();
        let svc = ServiceBuilder::new()
            .layer(filter.require(["read"]))
            .service(service_fn(echo));

        let good = format!(
            "Bearer {}",
            issuer.mint().scope("read").subject("alice").sign()
        );
        let resp = svc.clone().oneshot(request(Some(&good))).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes(),
            "alice"
        );
        assert_eq!(runs(), 1);

        let resp = svc.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"],
            "unauthorized"
        );

        let no_scope = format!("Bearer {}", issuer.mint().sign());
        let resp = svc.clone().oneshot(request(Some(&no_scope))).await.unwrap();
        assert_eq!(resp.status(), 403);
        let last = if good.ends_with('A') { "B" } else { "A" };
        let forged = format!("{}{last}", &good[..good.len() - 1]);
        let resp = svc.oneshot(request(Some(&forged))).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(runs(), 1, "a refused request reached the inner service");
    }
}
