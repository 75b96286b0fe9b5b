//! One rule for every route, like the seed's `before_request` filter.
//!
//! ```text
//! cargo run -p oauth-filter --example protect_all
//! REQUIRED_SCOPES="read" OAUTH_ISSUER=https://idp.example cargo run -p oauth-filter --example protect_all
//! ```
//!
//! Every route requires a valid token with the scopes in `REQUIRED_SCOPES` (space-separated;
//! empty or unset: any valid token).

mod support;

use axum::{Router, routing::get};
use oauth_filter::{AccessToken, Requirement};

async fn whoami(token: AccessToken) -> String {
    format!(
        "subject={:?} client={:?} scopes={}\n",
        token.subject(),
        token.client_id(),
        token.scopes()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let scopes = std::env::var("REQUIRED_SCOPES").unwrap_or_default();
    let requirement = Requirement::all_of(scopes.split_whitespace());
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/orders", get(|| async { "[]\n" }))
        .layer(setup.filter.require(requirement));
    support::serve(&setup.listen, app).await
}
