//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use oauth_filter::{Introspection, JwksPolicy, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, TestIssuer};
use std::net::SocketAddr;
use std::time::Duration;

/// A filter trusting `issuer` through its JWKS URL.
pub(crate) fn filter_for(issuer: &TestIssuer) -> OAuthFilter {
    OAuthFilter::with_jwks(&issuer.jwks_url(), issuer.issuer(), issuer.audience()).unwrap()
}

/// The issuer's configuration: its issuer string, audience `api`, its JWKS URL.
pub(crate) fn jwt_issuer(issuer: &TestIssuer) -> JwtIssuer {
    JwtIssuer::new(issuer.issuer())
        .audience(issuer.audience())
        .jwks_url(issuer.jwks_url())
}

/// Introspection at the issuer's endpoint with the test kit's client credentials, expecting its
/// issuer and audience.
pub(crate) fn introspection_for(issuer: &TestIssuer) -> Introspection {
    Introspection::new(
        issuer.introspection_url(),
        INTROSPECTION_CLIENT_ID,
        INTROSPECTION_CLIENT_SECRET,
    )
    .issuer(issuer.issuer())
    .audience(issuer.audience())
}

/// A filter with a short cooldown and backoff, for refresh tests.
pub(crate) fn fast_filter(issuer: &TestIssuer, policy: JwksPolicy) -> OAuthFilter {
    OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(issuer).jwks_policy(policy))
        .build()
        .unwrap()
}

pub(crate) fn short_policy() -> JwksPolicy {
    JwksPolicy::default()
        .cooldown(Duration::from_millis(300))
        .failure_backoff(Duration::from_millis(200))
        .max_age_bounds(Duration::ZERO, Duration::from_secs(3600))
}

/// Serves an axum router on a free loopback port.
pub(crate) async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A port with nothing listening.
pub(crate) async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
