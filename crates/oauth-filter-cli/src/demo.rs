//! `oauth-filter demo`: the seed's hello_world, protected, with its own issuer.

use axum::routing::get;
use axum::{Json, Router};
use oauth_filter::{AccessToken, OAuthFilter};
use oauth_filter_testkit::TestIssuer;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};

/// Options of `demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Port of the protected API on 127.0.0.1 (0: any free port).
    #[arg(long, env = "DEMO_PORT", default_value_t = 3000)]
    port: u16,
    /// Port of the development issuer on 127.0.0.1 (0: any free port).
    #[arg(long, env = "DEMO_ISSUER_PORT", default_value_t = 9400)]
    issuer_port: u16,
}

async fn hello_world(token: AccessToken) -> Json<serde_json::Value> {
    Json(json!({
        "data": "Hello World!",
        "subject": token.subject(),
        "client_id": token.client_id(),
        "scopes": token.scopes().iter().collect::<Vec<_>>(),
    }))
}

pub(crate) async fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::builder()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.issuer_port)))
        .try_start()
        .await?;
    // The seed's three lines: a filter from discovery of the issuer, hello_world needs `read`.
    let filter = OAuthFilter::with_discovery(issuer.issuer(), issuer.audience())?;
    let app = Router::new()
        .route(
            "/hello_world",
            get(hello_world).route_layer(filter.require(["read"])),
        )
        .route("/public", get(|| async { "anyone may read this\n" }));

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let api = listener.local_addr()?;
    let valid = issuer
        .mint()
        .scope("read")
        .subject("demo-user")
        .expires_in_secs(3600)
        .sign();
    let lacking = issuer
        .mint()
        .scope("write")
        .subject("demo-user")
        .expires_in_secs(3600)
        .sign();
    println!("oauth-filter demo");
    println!("  issuer (JWKS, discovery): {}", issuer.issuer());
    println!("  protected API:            http://{api}/hello_world (needs scope `read`)");
    println!();
    println!("# 200: a valid token with scope read");
    println!("curl -i -H 'Authorization: Bearer {valid}' http://{api}/hello_world");
    println!("# 403 insufficient_scope: a valid token without read");
    println!("curl -i -H 'Authorization: Bearer {lacking}' http://{api}/hello_world");
    println!("# 401: no token");
    println!("curl -i http://{api}/hello_world");
    println!();
    println!("Press Ctrl-C to stop.");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(issuer);
    Ok(())
}
