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
//!   last-known-good when the issuer is down ([`keys`]).
//! - Opaque tokens resolved by RFC 7662 introspection, with a bounded cache, request coalescing
//!   and (feature `redis`) a cache shared across instances; hybrid JWT + introspection mode
//!   ([`introspection`]).
//! - Scope requirements per route or for everything ([`Requirement`]); the handler receives the
//!   [`AccessToken`].
//! - Answers: 401 bare challenge (no token), 401 `invalid_token`, 403 `insufficient_scope` with
//!   `scope`, 400 `invalid_request`, 503 when keys are unavailable ([`Rejection`]).
//!
//! ## Non-features (on purpose)
//! - No `none`, and no HMAC unless a shared secret is configured through
//!   [`JwtIssuer::dangerous_hmac_secret`]; symmetric keys are never read from a JWKS.
//! - `jku`, `x5u`, `jwk`, `x5c` header parameters never select a key and never cause a request.
//! - No JWE, no JSON serialization of JWS, no `crit` extensions, no unencoded payloads.
//! - No form-body tokens (RFC 6750 §2.2): reading the body would mean buffering it. Query tokens
//!   only behind [`OAuthFilterBuilder::dangerous_allow_query_token`].
//! - Plain `http://` to the authorization server only for loopback hosts unless explicitly allowed.
//!
//! ## Design
//! ```text
//!  adapter (tower layer)          core (no framework types)
//!  http::Request ──► RequestParts ──► extract ──► verify (jose + keys + claims) ──► authorize
//!        ▲                                                                         │
//!        └──── Response (Rejection → ErrorResponder) ◄──── AuthError ◄─────────────┘
//!        └──── inner service, AccessToken in extensions ◄──── Ok ◄─────────────────┘
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

pub mod access_token;
#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
pub mod challenge;
pub mod claims;
pub mod discovery;
pub mod error;
pub mod filter;
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
pub mod introspection;
pub mod jose;
pub mod jwt;
pub mod keys;
pub mod metrics;
pub mod path;
pub mod requirement;
pub mod token;
pub mod tower;

pub use access_token::{AccessToken, Scopes, TokenKind};
pub use challenge::Rejection;
pub use error::{AuthError, ConfigError};
pub use filter::{OAuthFilter, OAuthFilterBuilder, ReadinessCheck, VerificationPath};
pub use http::HttpClientConfig;
#[cfg(feature = "redis")]
pub use introspection::RedisCache;
pub use introspection::{ClientAuth, ClientSecret, Introspection};
pub use jose::Algorithm;
pub use jwt::JwtIssuer;
pub use keys::JwksPolicy;
pub use requirement::{PathRequirements, Requirement};
pub use token::{ExtractionPolicy, RequestParts};
pub use tower::{ErrorResponder, JsonErrorResponder, OAuthLayer, OAuthService};
