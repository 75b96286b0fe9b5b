//! # oauth-filter
//!
//! An OAuth 2.0 resource-server filter: every request must carry a valid access token with the
//! scopes its route requires, or it gets the RFC 6750 answer. The Rust successor of Curity's
//! OAuth filter for Flask, for tower (axum, hyper, tonic) over a framework-neutral core.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use oauth_filter::{AccessToken, OAuthFilter};
//!
//! async fn hello(token: AccessToken) -> String {
//!     format!("hello {}", token.subject().unwrap_or("world"))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api")?;
//!     let app = Router::new().route("/hello_world", get(hello).route_layer(filter.require(["read"])));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! ## What it does
//! - Bearer extraction per RFC 6750 §2.1 ([`RequestParts`]), with a size cap before any parsing.
//! - JWT access tokens (RFC 7519 / RFC 9068) verified with keys from each trusted issuer's JWKS
//!   (by URL or discovery), kept per issuer, refreshed on unknown `kid` with a cooldown, served
//!   last-known-good when the issuer is down ([`JwksPolicy`]).
//! - Opaque tokens resolved by RFC 7662 introspection, with a bounded cache, request coalescing
//!   and (feature `redis`) a cache shared across instances; hybrid JWT + introspection mode
//!   ([`Introspection`]).
//! - Requirements per route or for everything ([`Requirement`]): scopes (all of / any of),
//!   claims (present, equals, contains; nested paths), clients, token age, RFC 9470 step-up,
//!   composed with and / or; routes by method and path ([`PathRequirements`]). The handler
//!   receives the [`AccessToken`].
//! - Answers: 401 bare challenge (no token), 401 `invalid_token`, 401
//!   `insufficient_user_authentication`, 403 `insufficient_scope`, 400 `invalid_request`, 503
//!   when keys are unavailable ([`Rejection`]).
//! - A trace of every step for operators ([`OAuthFilter::explain`]).
//!
//! ## Non-features (on purpose)
//! - No `none`, and no HMAC unless a shared secret is configured through
//!   [`JwtIssuer::dangerous`]; symmetric keys are never read from a JWKS.
//! - `jku`, `x5u`, `jwk`, `x5c` header parameters never select a key and never cause a request.
//! - No JWE, no JSON serialization of JWS, no `crit` extensions, no unencoded payloads.
//! - No form-body tokens (RFC 6750 §2.2): reading the body would mean buffering it. Query tokens
//!   only behind [`OAuthFilterBuilder::dangerous`].
//! - Plain `http://` to the authorization server only for loopback hosts unless explicitly allowed.
//!
//! Every setting that weakens security sits behind a `dangerous()` door that returns a builder
//! of its own ([`OAuthFilterBuilder::dangerous`], [`JwtIssuer::dangerous`],
//! [`Introspection::dangerous`], [`HttpClientConfig::dangerous`]), so it stands out in review.
//!
//! ## Design: one module per step
//! ```text
//!  adapter (tower, actix, gateway): a translation of RequestParts in, Decision out
//!  ──► extract (extract.rs) ──► verify (verify.rs: jose/ + jwt.rs | introspection.rs,
//!      │                        claims.rs for facts, jwt_cache.rs)
//!      ──► bind (bind.rs) ──► authorize (authorize.rs, routes.rs) ──► challenge (challenge.rs)
//!  filter.rs: the façade that enters each step once, in order (OAuthFilter::decide);
//!  builder.rs: the settings; clock.rs: the one clock; explain.rs: the trace of every step.
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod access_token;
#[cfg(feature = "actix")]
pub mod actix;
mod authorize;
#[cfg(feature = "axum")]
pub mod axum;
mod bind;
mod builder;
mod challenge;
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub mod claims;
#[cfg(not(feature = "__internal"))]
#[allow(unreachable_pub, dead_code)]
mod claims;
mod clock;
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub mod discovery;
#[cfg(not(feature = "__internal"))]
#[allow(unreachable_pub, dead_code)]
mod discovery;
pub mod dpop;
mod error;
mod explain;
mod extract;
mod filter;
pub mod grpc;
mod http;
mod introspection;
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub mod jose;
#[cfg(not(feature = "__internal"))]
#[allow(unreachable_pub, dead_code)]
mod jose;
mod jwt;
mod jwt_cache;
mod keys;
pub mod metadata;
pub mod metrics;
pub mod mtls;
pub mod path;
#[cfg(feature = "redis")]
mod redis_conn;
mod routes;
pub mod tower;
mod verify;

pub use access_token::{AccessToken, Scopes, TokenKind};
pub use authorize::{ClaimPath, ClaimRule, ClaimTest, Requirement};
pub use builder::{DEFAULT_LEEWAY, DangerousFilterBuilder, MAX_LEEWAY, OAuthFilterBuilder};
pub use challenge::{Rejection, is_scope_token};
pub use clock::{Clock, SystemClock};
#[cfg(feature = "redis")]
pub use dpop::RedisReplay;
pub use dpop::{Dpop, DpopError, DpopPolicy};
pub use error::{AuthError, ConfigError};
pub use explain::{Outcome, Step, Trace, Verdict};
pub use extract::{DEFAULT_MAX_TOKEN_LEN, ExtractionPolicy, RequestParts, Scheme, TokenSchemes};
pub use filter::{Decision, OAuthFilter, Protection, ReadinessCheck};
pub use http::{DangerousHttpClientConfig, HttpClientConfig};
#[cfg(feature = "redis")]
pub use introspection::RedisCache;
pub use introspection::{
    ClientAuth, ClientSecret, DangerousIntrospection, Introspection, MAX_CACHE_TTL,
};
pub use jose::Algorithm;
pub use jwt::{DangerousJwtIssuer, JwtIssuer};
pub use keys::JwksPolicy;
pub use metadata::{ResourceMetadata, ResourceMetadataDocument};
pub use mtls::{ClientCertHeaderError, ClientCertificate};
pub use routes::{PathRequirements, PathRequirementsBuilder, Route, Selected};
pub use tower::{ErrorResponder, JsonErrorResponder, OAuthLayer, OAuthService};
pub use verify::VerificationPath;

/// Internal entry points for the fuzz targets, benchmarks and vector tests (feature
/// `__internal`): not a public API, no semver promise.
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub mod __internal {
    pub use crate::claims;
    pub use crate::discovery;
    pub use crate::dpop;
    pub use crate::fuzzing::*;
    pub use crate::jose;
}
#[cfg(feature = "__internal")]
mod fuzzing;
