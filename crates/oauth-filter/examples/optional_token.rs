//! Optional authentication: anonymous callers are served, a token that is present must be valid.
//!
//! ```text
//! cargo run -p oauth-filter --example optional_token
//! ```

mod support;

use axum::{Router, routing::get};
use oauth_filter::AccessToken;

async fn greet(token: Option<AccessToken>) -> String {
    match token {
        Some(t) => format!("welcome back, {}\n", t.subject().unwrap_or("caller")),
        None => String::from("hello, stranger\n"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = support::from_env().await?;
    let app = Router::new()
        .route("/", get(greet))
        .layer(setup.filter.optional());
    support::serve(&setup.listen, app).await
}
