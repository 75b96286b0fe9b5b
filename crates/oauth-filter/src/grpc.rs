//! gRPC answers for rejected calls, for tonic servers protected by the tower layer.
//!
//! ```no_run
//! use oauth_filter::grpc::GrpcErrorResponder;
//! use oauth_filter::{OAuthFilter, PathRequirements, Requirement};
//! # async fn serve(filter: OAuthFilter) -> Result<(), Box<dyn std::error::Error>> {
//! let (_, health) = tonic_health::server::health_reporter();
//! let rules = PathRequirements::builder(Requirement::Authenticated)
//!     .exact("/grpc.health.v1.Health/Watch", ["health:watch"])
//!     .build()?;
//! tonic::transport::Server::builder()
//!     .layer(filter.require_per_path(rules).with_responder(GrpcErrorResponder))
//!     .add_service(health)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! A rejection becomes a trailers-only gRPC response (HTTP 200, `grpc-status` in the headers):
//! missing or invalid token, or a step-up needed → `UNAUTHENTICATED` (16), insufficient scope or
//! another requirement not met → `PERMISSION_DENIED` (7), no route for the method
//! (`PathRequirements` without a default) → `UNIMPLEMENTED` (12), keys or introspection
//! unavailable → `UNAVAILABLE` (14). The RFC 6750 challenge stays in
//! the `www-authenticate` metadata, so clients can read `error` and `scope` as over HTTP.

use crate::challenge::Rejection;
use crate::tower::ErrorResponder;
use http::{HeaderValue, Response};

/// The gRPC status code (as a number) for a rejection.
pub fn grpc_code(rejection: &Rejection) -> u16 {
    match rejection.status() {
        400 | 401 => 16, // UNAUTHENTICATED: no credentials, or credentials that are not valid
        403 => 7,        // PERMISSION_DENIED
        404 | 405 => 12, // UNIMPLEMENTED: no route serves this method (PathRequirements)
        503 => 14,       // UNAVAILABLE
        _ => 13,         // INTERNAL
    }
}

/// Answers rejected calls with a gRPC status instead of an HTTP error.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcErrorResponder;

impl<B: Default> ErrorResponder<B> for GrpcErrorResponder {
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from(grpc_code(rejection)));
        // Fixed ASCII descriptions without '%': valid grpc-message values as they are.
        if let Ok(v) = HeaderValue::from_str(rejection.error().description()) {
            headers.insert("grpc-message", v);
        }
        for (name, value) in rejection.challenge_headers() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        response
    }
}
