//! Configuration shared by the examples, from environment variables:
//!
//! - `OAUTH_ISSUER`: the issuer to trust. Unset: an embedded development issuer is started and
//!   sample tokens are printed.
//! - `OAUTH_AUDIENCE`: this API's audience (default `api`).
//! - `OAUTH_JWKS_URL`: the JWKS URL (default: discovery from the issuer).
//! - `LISTEN`: the address to serve on (default `127.0.0.1:3000`).

use oauth_filter::{JwtIssuer, OAuthFilter};
use oauth_filter_testkit::TestIssuer;

pub(crate) struct Setup {
    pub(crate) filter: OAuthFilter,
    pub(crate) listen: String,
    /// Kept alive while the example runs, when no outside issuer is configured.
    pub(crate) _dev_issuer: Option<TestIssuer>,
}

pub(crate) async fn from_env() -> Result<Setup, Box<dyn std::error::Error>> {
    let audience = std::env::var("OAUTH_AUDIENCE").unwrap_or_else(|_| String::from("api"));
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| String::from("127.0.0.1:3000"));
    let (issuer_cfg, dev_issuer) = match std::env::var("OAUTH_ISSUER") {
        Ok(issuer) => (JwtIssuer::new(issuer), None),
        Err(_) => {
            let dev = TestIssuer::builder()
                .audience(&audience)
                .try_start()
                .await?;
            eprintln!(
                "no OAUTH_ISSUER: using a development issuer at {}",
                dev.issuer()
            );
            eprintln!(
                "token with scope read:        {}",
                dev.mint().scope("read").expires_in_secs(3600).sign()
            );
            eprintln!(
                "token with scopes read write: {}",
                dev.mint().scope("read write").expires_in_secs(3600).sign()
            );
            eprintln!(
                "token without scopes:         {}",
                dev.mint().expires_in_secs(3600).sign()
            );
            (JwtIssuer::new(dev.issuer()), Some(dev))
        }
    };
    let issuer_cfg = match std::env::var("OAUTH_JWKS_URL") {
        Ok(url) => issuer_cfg.jwks_url(url),
        Err(_) => issuer_cfg.discover(),
    };
    let filter = OAuthFilter::builder()
        .jwt_issuer(issuer_cfg.audience(audience))
        .build()?;
    Ok(Setup {
        filter,
        listen,
        _dev_issuer: dev_issuer,
    })
}

#[allow(dead_code)] // the actix example serves with actix-web
pub(crate) async fn serve(
    listen: &str,
    app: axum::Router,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
