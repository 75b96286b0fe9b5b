//! axum extractors: `AccessToken` for protected routes, `Option<AccessToken>` for optional ones.
//!
//! ```
//! use axum::{Router, routing::get};
//! use oauth_filter::{AccessToken, OAuthFilter};
//!
//! async fn me(token: Option<AccessToken>) -> String {
//!     match token {
//!         Some(t) => format!("hello {}", t.subject().unwrap_or("?")),
//!         None => "hello stranger".into(),
//!     }
//! }
//! # fn app(filter: OAuthFilter) -> Router {
//! Router::new().route("/me", get(me)).layer(filter.optional())
//! # }
//! ```
//!
//! The extractors read what the layer put in the request extensions; they never verify anything
//! themselves. `AccessToken` on a route without a layer fails closed with 500 (the handler does
//! not run), so a forgotten layer is loud, not open.

use crate::access_token::AccessToken;
use crate::challenge::Rejection;
use crate::error::AuthError;
use crate::tower::{ErrorResponder, JsonErrorResponder};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use std::convert::Infallible;

/// The rejection of the `AccessToken` extractor when no layer protects the route.
#[derive(Debug)]
pub struct NotProtected;

impl IntoResponse for NotProtected {
    fn into_response(self) -> Response {
        tracing::error!(
            "AccessToken extracted on a route without an OAuth layer; add filter.require(..)"
        );
        let rejection = Rejection::new(AuthError::NotProtected, "api", None);
        ErrorResponder::<axum::body::Body>::respond(&JsonErrorResponder, &rejection)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = NotProtected;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(NotProtected)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AccessToken {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}
