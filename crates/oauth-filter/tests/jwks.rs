//! Key sets against a live test issuer: rotation, unknown-kid floods, last-known-good keys,
//! `Cache-Control`, faults, and discovery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{fast_filter, filter_for, short_policy};
use oauth_filter::{AuthError, HttpClientConfig, JwksPolicy, JwtIssuer, OAuthFilter};
use oauth_filter_testkit::{Fault, SigningAlg, TestIssuer};
use std::time::{Duration, Instant};

#[tokio::test]
async fn rotation_is_picked_up_without_restart() {
    let issuer = TestIssuer::start().await;
    let filter = fast_filter(&issuer, short_policy());
    let old = issuer.mint().sign();
    assert!(filter.verify(&old).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);

    let new_kid = issuer.rotate(SigningAlg::ES256).unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await; // past the cooldown
    let new = issuer.mint().sign();
    let t = filter.verify(&new).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2, "one refresh for the new kid");
    assert!(t.subject().is_some());
    assert_eq!(issuer.keys()[0].kid(), new_kid);
    // Overlap: tokens of the old key still pass, with no further fetch.
    assert!(filter.verify(&old).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn unknown_kid_flood_costs_at_most_one_fetch_per_cooldown() {
    let issuer = TestIssuer::start().await;
    // Default policy: 30 s cooldown.
    let filter = filter_for(&issuer);
    let flood = |n: usize| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let f = filter.clone();
                let t = issuer.mint().header("kid", format!("random-{i}")).sign();
                tokio::spawn(async move { f.verify(&t).await })
            })
            .collect();
        futures_util::future::join_all(tasks)
    };
    // Cold start: 1,000 concurrent requests with random kids.
    for r in flood(1000).await {
        assert_eq!(r.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(issuer.jwks_requests(), 1, "cold flood: one fetch in all");
    for r in flood(1000).await {
        assert_eq!(r.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(issuer.jwks_requests(), 1, "within the cooldown: no fetch");

    // With a short cooldown: after it, one more fetch for a whole flood.
    let issuer2 = TestIssuer::start().await;
    let filter2 = fast_filter(&issuer2, short_policy());
    assert!(filter2.verify(&issuer2.mint().sign()).await.is_ok());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let f = filter2.clone();
            let t = issuer2.mint().header("kid", format!("r{i}")).sign();
            tokio::spawn(async move { f.verify(&t).await })
        })
        .collect();
    for r in futures_util::future::join_all(tasks).await {
        assert_eq!(r.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(
        issuer2.jwks_requests(),
        2,
        "one refresh for the whole flood"
    );
}

#[tokio::test]
async fn last_known_good_keys_survive_a_failing_refresh() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(0)); // stale immediately (bounds allow 0)
    let filter = fast_filter(&issuer, short_policy());
    let token = issuer.mint().sign();
    assert!(filter.verify(&token).await.is_ok());
    for fault in [
        Fault::Status(500),
        Fault::Garbage,
        Fault::Down,
        Fault::Huge(600 * 1024),
    ] {
        issuer.set_fault(fault.clone());
        tokio::time::sleep(Duration::from_millis(250)).await; // past the failure backoff
        let before = issuer.jwks_requests();
        for _ in 0..50 {
            assert!(
                filter.verify(&token).await.is_ok(),
                "{fault:?}: keys wiped by a failed refresh"
            );
        }
        let attempts = issuer.jwks_requests() - before;
        assert!(
            attempts <= 1,
            "{fault:?}: {attempts} fetches while backing off"
        );
    }
    issuer.set_fault(Fault::None);
}

#[tokio::test]
async fn stale_keys_stop_serving_after_max_stale() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(0));
    let policy = short_policy().max_stale(Duration::from_millis(300));
    let filter = fast_filter(&issuer, policy);
    let token = issuer.mint().sign();
    assert!(filter.verify(&token).await.is_ok());
    issuer.set_fault(Fault::Status(503));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    // Recovery without restart.
    issuer.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(filter.verify(&token).await.is_ok());
}

#[tokio::test]
async fn down_at_start_then_recovers() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Down);
    let filter = fast_filter(&issuer, short_policy());
    let token = issuer.mint().sign();
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    // Backing off: no new attempt right away.
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    issuer.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(filter.verify(&token).await.is_ok());
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_within_bounds() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(1));
    let filter = fast_filter(&issuer, short_policy());
    let token = issuer.mint().sign();
    assert!(filter.verify(&token).await.is_ok());
    assert!(filter.verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(filter.verify(&token).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 2, "refreshed after max-age");

    // A long max-age is capped by the upper bound; a short one raised by the lower bound.
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(0));
    let bounded = fast_filter(
        &issuer,
        short_policy().max_age_bounds(Duration::from_secs(60), Duration::from_secs(120)),
    );
    let token = issuer.mint().sign();
    assert!(bounded.verify(&token).await.is_ok());
    assert!(bounded.verify(&token).await.is_ok());
    assert_eq!(
        issuer.jwks_requests(),
        1,
        "max-age 0 raised to the 60 s floor"
    );
}

#[tokio::test]
async fn a_removed_key_is_rejected_once_the_set_is_refreshed() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(1));
    let filter = fast_filter(&issuer, short_policy());
    let old_kid = issuer.keys()[0].kid().to_owned();
    let old = issuer.mint().sign();
    assert!(filter.verify(&old).await.is_ok());
    issuer.rotate(SigningAlg::RS256).unwrap();
    issuer.remove_key(&old_kid);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        filter.verify(&old).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn slow_redirecting_and_oversized_key_sets_fail_closed() {
    // Slow: bounded by the timeout.
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Slow(Duration::from_secs(5)));
    let filter = OAuthFilter::builder()
        .http(HttpClientConfig::default().timeout(Duration::from_millis(300)))
        .jwt_issuer(common::jwt_issuer(&issuer))
        .build()
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "timeout not applied: {:?}",
        started.elapsed()
    );

    // Redirect: not followed.
    let elsewhere = TestIssuer::start().await;
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Redirect(elsewhere.jwks_url()));
    let filter = filter_for(&issuer);
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    assert_eq!(elsewhere.requests(), 0, "a redirect was followed");

    // Oversized body: refused.
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Huge(600 * 1024));
    let filter = filter_for(&issuer);
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );

    // TLS is really used for https: a plain-HTTP server does not pass as a TLS one.
    let issuer = TestIssuer::start().await;
    let https = format!("https://{}/jwks", issuer.addr());
    let filter = OAuthFilter::with_jwks(&https, issuer.issuer(), "api").unwrap();
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn discovery_finds_the_keys_and_refuses_a_mixed_up_issuer() {
    let issuer = TestIssuer::builder().path("/realms/demo").start().await;
    let filter = OAuthFilter::with_discovery(issuer.issuer(), "api").unwrap();
    assert!(filter.verify(&issuer.mint().sign()).await.is_ok());
    assert_eq!(issuer.metadata_requests(), 1);
    assert_eq!(issuer.jwks_requests(), 1);

    // Metadata naming another issuer is refused: no keys, 503, and the JWKS is never fetched.
    let issuer = TestIssuer::start().await;
    issuer.set_metadata_issuer(Some("https://evil.example"));
    let filter = OAuthFilter::with_discovery(issuer.issuer(), "api").unwrap();
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    assert_eq!(issuer.jwks_requests(), 0);

    // A trailing slash is a different issuer (exact match).
    let issuer = TestIssuer::start().await;
    let slash = format!("{}/", issuer.issuer());
    issuer.set_metadata_issuer(Some(&slash));
    let filter = OAuthFilter::with_discovery(issuer.issuer(), "api").unwrap();
    assert_eq!(
        filter.verify(&issuer.mint().sign()).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn discovery_tolerates_a_server_that_is_down_at_start() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Status(500));
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_policy(JwksPolicy::default().failure_backoff(Duration::from_millis(100))),
        )
        .build()
        .unwrap();
    let token = issuer.mint().sign();
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    issuer.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(filter.verify(&token).await.is_ok());
}

#[tokio::test]
async fn a_cancelled_refresh_still_counts_against_the_cooldown() {
    // Regression: the attempt used to be recorded only when the fetch completed, so callers that
    // went away mid-fetch could trigger fetch after fetch.
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer); // 30 s cooldown
    assert!(filter.verify(&issuer.mint().sign()).await.is_ok());
    assert_eq!(issuer.jwks_requests(), 1);
    // Past freshness is not needed: unknown kids within the cooldown never fetch. Make the
    // server slow and use a fresh filter whose first fetch is cancelled.
    issuer.set_fault(Fault::Slow(Duration::from_millis(500)));
    let fresh = filter_for(&issuer);
    for i in 0..5 {
        let t = issuer.mint().header("kid", format!("gone-{i}")).sign();
        let _ = tokio::time::timeout(Duration::from_millis(50), fresh.verify(&t)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        issuer.jwks_requests(),
        2,
        "cancelled callers caused extra fetches"
    );
}
