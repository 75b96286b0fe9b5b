//! Per-route scopes, like the seed's `@protect(["read"])` decorator.
//!
//! ```text
//! cargo run -p oauth-filter --example per_route
//! OAUTH_ISSUER=https://idp.example OAUTH_AUDIENCE=api cargo run -p oauth-filter --example per_route
//! ```
//!
//! `/hello_world` needs `read`, `/write` needs `read` and `write`, `/admin` needs `admin` or
//! `owner`, `/public` needs nothing.

mod support;

use axum::{Router, routing::get};
use oauth_filter::{AccessToken, Requirement};

async fn hello(token: AccessToken) -> String {
    format!("Hello World, {}!\n", token.subject().unwrap_or("caller"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let f = &setup.filter;
    let app = Router::new()
        .route("/hello_world", get(hello).route_layer(f.require(["read"])))
        .route(
            "/write",
            get(hello).route_layer(f.require(["read", "write"])),
        )
        .route(
            "/admin",
            get(hello).route_layer(f.require(Requirement::any_of(["admin", "owner"]))),
        )
        .route("/public", get(|| async { "public\n" }));
    support::serve(&setup.listen, app).await
}
