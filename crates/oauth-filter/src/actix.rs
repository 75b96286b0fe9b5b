//! actix-web middleware and extractors (feature `actix`), over the same core as the tower layer.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use oauth_filter::OAuthFilter;
//! use oauth_filter::actix::OAuthMiddleware;
//! use oauth_filter::AccessToken;
//!
//! async fn hello(token: AccessToken) -> String {
//!     format!("Hello {}", token.subject().unwrap_or("world"))
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api").unwrap();
//! HttpServer::new(move || {
//!     App::new()
//!         // Per route, like the seed's @protect(["read"]):
//!         .service(web::resource("/hello_world").wrap(OAuthMiddleware::require(&filter, ["read"])).to(hello))
//!         // A whole scope with one rule:
//!         .service(web::scope("/api").wrap(OAuthMiddleware::require(&filter, [] as [&str; 0])).route("/status", web::get().to(|| async { "ok" })))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await
//! # }
//! ```
//!
//! The answers are the tower layer's, byte for byte: same status, `WWW-Authenticate`,
//! `Cache-Control`, `Retry-After` and JSON body (a conformance test checks it). Replace them with
//! [`OAuthMiddleware::with_responder`]. `AccessToken` is an extractor; `Option<AccessToken>` gives
//! `None` on routes with no token (use [`OAuthMiddleware::optional`]).
//!
//! Certificate-bound tokens (RFC 8705): the middleware reads a [`ClientCertificate`] from the
//! connection data; with a rustls listener, [`client_certificate_on_connect`] (feature `rustls`)
//! puts it there.
//!
//! This adapter is a feature of the core crate rather than a crate of its own because Rust's
//! orphan rule only lets the crate defining `AccessToken` implement actix's `FromRequest` for it.
//! actix-web 4 is on `http` 0.2; the core only sees [`RequestParts`] built from header bytes.

use crate::access_token::AccessToken;
use crate::authorize::Requirement;
use crate::challenge::Rejection;
use crate::error::AuthError;
use crate::extract::RequestParts;
use crate::filter::OAuthFilter;
use crate::filter::{Decision, Guard};
use crate::mtls::ClientCertificate;
use crate::routes::PathRequirements;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

type Responder = Arc<dyn Fn(&Rejection) -> HttpResponse + Send + Sync>;

/// The default answer, identical to the tower layer's `JsonErrorResponder`.
pub fn json_response(rejection: &Rejection) -> HttpResponse {
    let mut builder = HttpResponse::build(
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::UNAUTHORIZED),
    );
    for (name, value) in rejection.challenge_headers() {
        builder.insert_header((name, value));
    }
    builder
        .content_type("application/json")
        .body(rejection.json_body())
}

/// Protects an `App`, a `scope` or a `resource`.
#[derive(Clone)]
pub struct OAuthMiddleware {
    filter: OAuthFilter,
    mode: Guard,
    responder: Responder,
}

impl std::fmt::Debug for OAuthMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthMiddleware")
            .field("filter", &self.filter)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl OAuthMiddleware {
    /// Requires a valid token meeting `requirement` (`[]`: any valid token).
    pub fn require(filter: &OAuthFilter, requirement: impl Into<Requirement>) -> Self {
        Self {
            filter: filter.clone(),
            mode: Guard::require(requirement.into()),
            responder: Arc::new(json_response),
        }
    }
    /// The requirement of each request's route, by method and path ([`PathRequirements`]:
    /// public routes, 405 with `Allow`, the mandatory default), as the tower layer's
    /// `require_per_path`.
    pub fn require_per_path(filter: &OAuthFilter, rules: PathRequirements) -> Self {
        Self {
            filter: filter.clone(),
            mode: Guard::routes(rules),
            responder: Arc::new(json_response),
        }
    }
    /// Optional authentication: no token passes; a token that is present must be valid.
    pub fn optional(filter: &OAuthFilter) -> Self {
        Self {
            filter: filter.clone(),
            mode: Guard::Optional,
            responder: Arc::new(json_response),
        }
    }
    /// The authentication schemes this middleware's route takes (default: the filter's), as
    /// the tower layer's `schemes`. For per-path middleware, set it per route.
    pub fn schemes(mut self, schemes: crate::TokenSchemes) -> Self {
        self.mode = self.mode.with_schemes(schemes);
        self
    }
    /// Replaces the answer to rejected requests.
    pub fn with_responder(
        mut self,
        responder: impl Fn(&Rejection) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.responder = Arc::new(responder);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for OAuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = OAuthMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(OAuthMiddlewareService {
            service: Rc::new(service),
            config: self.clone(),
        }))
    }
}

/// The service made by [`OAuthMiddleware`].
pub struct OAuthMiddlewareService<S> {
    service: Rc<S>,
    config: OAuthMiddleware,
}

impl<S> std::fmt::Debug for OAuthMiddlewareService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthMiddlewareService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn request_parts(req: &HttpRequest) -> RequestParts<'_> {
    let headers = req.headers();
    let parts = headers
        .get_all(actix_web::http::header::AUTHORIZATION)
        .fold(RequestParts::new(), |p, v| p.authorization(v.as_bytes()));
    let parts = headers
        .get_all("dpop")
        .fold(parts, |p, v| p.dpop(v.as_bytes()))
        .query(Some(req.query_string()).filter(|q| !q.is_empty()))
        .method(req.method().as_str())
        .path(req.path());
    match req.conn_data::<ClientCertificate>() {
        Some(c) => parts.client_certificate(c.der()),
        None => parts,
    }
}

/// An `on_connect` callback (features `actix` and `rustls`) that keeps the client
/// certificate of a rustls connection in the connection data, where the middleware reads it
/// for certificate-bound tokens (RFC 8705).
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use oauth_filter::actix::client_certificate_on_connect;
/// use oauth_filter::mtls::AnyClientCertificate;
/// # fn run(config: rustls::ServerConfig) -> std::io::Result<()> {
/// // `config` built with `.with_client_cert_verifier(AnyClientCertificate::optional())`
/// // (any certificate binds) or rustls' `WebPkiClientVerifier` (a CA's).
/// let server = HttpServer::new(|| App::new())
///     .on_connect(client_certificate_on_connect)
///     .bind_rustls_0_23(("127.0.0.1", 8443), config)?;
/// # let _ = server; Ok(())
/// # }
/// ```
#[cfg(feature = "rustls")]
pub fn client_certificate_on_connect(
    connection: &dyn std::any::Any,
    data: &mut actix_web::dev::Extensions,
) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = connection.downcast_ref::<Tls>()
        && let Some(cert) = ClientCertificate::from_connection(tls.get_ref().1)
    {
        data.insert(cert);
    }
}

impl<S, B> Service<ServiceRequest> for OAuthMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let config = self.config.clone();
        Box::pin(async move {
            let verified = req.extensions().get::<AccessToken>().cloned();
            let protection = config.mode.protection();
            let parts = request_parts(req.request());
            let decision = config
                .filter
                .decide(&parts, verified.as_ref(), protection)
                .await;
            let nonce = match decision {
                Decision::Allow(_) => config.filter.dpop_nonce_refresh(&parts),
                _ => None,
            };
            match decision {
                Decision::Deny(rejection) => {
                    let response = (config.responder)(&rejection);
                    Ok(req.into_response(response).map_into_right_body())
                }
                decision => {
                    if let Decision::Allow(t) = decision {
                        req.extensions_mut().insert(t);
                    }
                    let mut response = service.call(req).await?;
                    if let Some(v) =
                        nonce.and_then(|n| actix_web::http::header::HeaderValue::from_str(&n).ok())
                    {
                        response.headers_mut().insert(
                            actix_web::http::header::HeaderName::from_static("dpop-nonce"),
                            v,
                        );
                    }
                    Ok(response.map_into_left_body())
                }
            }
        })
    }
}

/// The `AccessToken` extractor's error on a route that no middleware protects: 500, fail closed.
#[derive(Debug)]
pub struct NotProtected;

impl std::fmt::Display for NotProtected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(AuthError::NotProtected.description())
    }
}

impl ResponseError for NotProtected {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn error_response(&self) -> HttpResponse {
        tracing::error!("AccessToken extracted on a route without OAuthMiddleware");
        json_response(&Rejection::new(AuthError::NotProtected, "api", None))
    }
}

impl FromRequest for AccessToken {
    type Error = NotProtected;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Self>().cloned().ok_or(NotProtected))
    }
}
