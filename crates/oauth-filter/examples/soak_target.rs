//! The soak test's target (`scripts/soak.sh`): an embedded issuer and an API protected in hybrid
//! mode (JWTs through discovery, opaque tokens through introspection).
//!
//! ```text
//! TOKENS_FILE=/tmp/tokens LISTEN=127.0.0.1:3900 cargo run --release -p oauth-filter --example soak_target
//! ```
//!
//! Writes a mix of tokens to `TOKENS_FILE`, one per line: valid JWTs, valid opaque tokens,
//! expired, forged, unknown-kid and revoked ones. `GET /api` needs scope `read`; `GET /stats`
//! (open) reports how often the authorization server was called, and `wrongly_accepted`: how
//! many requests reached the handler with a token that must be refused (every such token has
//! the subject `must-be-refused`). The soak fails unless it is 0.

use axum::routing::get;
use axum::{Json, Router};
use oauth_filter::AccessToken;
use oauth_filter::{Introspection, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The subject of every token that must never reach the handler.
const REFUSE: &str = "must-be-refused";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| String::from("127.0.0.1:3900"));
    let tokens_file = std::env::var("TOKENS_FILE")?;
    let issuer = Arc::new(TestIssuer::try_start_default().await?);
    let filter = OAuthFilter::builder()
        .jwt_issuer(JwtIssuer::new(issuer.issuer()).audience("api"))
        .introspection(Introspection::discover(
            issuer.issuer(),
            INTROSPECTION_CLIENT_ID,
            INTROSPECTION_CLIENT_SECRET,
        ))
        .build()?;

    let day = 24 * 3600;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(issuer.mint().scope("read").expires_in_secs(day).sign()); // valid: 200
    }
    for _ in 0..5 {
        tokens.push(issuer.opaque().scope("read").expires_in_secs(day).issue()); // valid opaque: 200
    }
    let bad = || issuer.mint().subject(REFUSE);
    tokens.push(bad().scope("write").expires_in_secs(day).sign()); // 403
    tokens.push(bad().scope("read").expires_in_secs(-600).sign()); // expired: 401
    let forged = bad().scope("read").expires_in_secs(day).sign();
    tokens.push(format!("{}AAAA", forged.trim_end_matches(|c| c != '.'))); // forged signature: 401
    tokens.push(
        bad()
            .scope("read")
            .header("kid", "unknown-kid")
            .expires_in_secs(day)
            .sign(),
    ); // 401
    let revoked = issuer.opaque().scope("read").subject(REFUSE).issue();
    issuer.revoke(&revoked);
    tokens.push(revoked); // inactive: 401
    std::fs::write(&tokens_file, tokens.join("\n") + "\n")?;

    let stats_issuer = issuer.clone();
    let wrongly_accepted = Arc::new(AtomicUsize::new(0));
    let (counter, report) = (wrongly_accepted.clone(), wrongly_accepted);
    let app = Router::new()
        .route(
            "/api",
            get(move |token: AccessToken| {
                if token.subject() == Some(REFUSE) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                async { "ok" }
            })
            .route_layer(filter.require(["read"])),
        )
        .route(
            "/stats",
            get(move || {
                let i = stats_issuer.clone();
                let wrong = report.load(Ordering::Relaxed);
                async move {
                    Json(serde_json::json!({
                        "wrongly_accepted": wrong,
                        "jwks_requests": i.jwks_requests(),
                        "metadata_requests": i.metadata_requests(),
                        "introspection_requests": i.introspection_requests(),
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("soak target on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
