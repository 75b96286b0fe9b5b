//! Fault injection with the test kit's switches: slow servers and bounded concurrency towards the
//! authorization server, key rotation under load, a removed key, requests bounded by timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{fast_filter, short_policy};
use oauth_filter::{AuthError, HttpClientConfig, Introspection, OAuthFilter};
use oauth_filter_testkit::{
    Fault, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, SigningAlg, TestIssuer,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::test]
async fn slow_introspection_is_bounded_in_time_and_concurrency() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Slow(Duration::from_millis(300)));
    let filter = OAuthFilter::builder()
        .http(HttpClientConfig::default().timeout(Duration::from_secs(2)))
        .introspection(
            Introspection::new(
                issuer.introspection_url(),
                INTROSPECTION_CLIENT_ID,
                INTROSPECTION_CLIENT_SECRET,
            )
            .max_concurrent_requests(4),
        )
        .build()
        .unwrap();
    let tokens: Vec<String> = (0..40).map(|_| issuer.opaque().issue()).collect();
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let f = filter.clone();
            tokio::spawn(async move {
                let begun = Instant::now();
                let r = f.verify(&t).await;
                (r, begun.elapsed())
            })
        })
        .collect();
    let results = futures_util::future::join_all(tasks).await;
    assert!(
        issuer.max_in_flight() <= 4,
        "{} calls in flight",
        issuer.max_in_flight()
    );
    let mut ok = 0;
    for r in results {
        let (r, took) = r.unwrap();
        // Each request either got an answer or gave up within the configured timeout (plus slack).
        assert!(took < Duration::from_secs(3), "{took:?}");
        match r {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e, AuthError::IntrospectionUnavailable),
        }
    }
    assert!(ok >= 4, "the bounded pool still served requests: {ok}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn slow_jwks_is_fetched_once_whatever_the_load() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Slow(Duration::from_millis(300)));
    let filter = fast_filter(&issuer, short_policy());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let f = filter.clone();
            let t = issuer.mint().header("kid", format!("k{i}")).sign();
            tokio::spawn(async move { f.verify(&t).await })
        })
        .collect();
    for r in futures_util::future::join_all(tasks).await {
        assert_eq!(r.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    assert_eq!(issuer.max_in_flight(), 1);
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_rejects_no_valid_request() {
    let issuer = Arc::new(TestIssuer::start().await);
    let filter = fast_filter(&issuer, short_policy());
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (issuer, filter, stop, ok, failed) = (
                issuer.clone(),
                filter.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // Always a token from the key the issuer signs with right now.
                    let token = issuer.mint().sign();
                    match filter.verify(&token).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("rejected during rotation: {e:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    // Verification with cached keys never waits; let the other tasks run.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    // Rotate four times; each new key overlaps with the old ones. Tokens of a new key may arrive
    // within the cooldown of the previous fetch, so rotations are spaced beyond it.
    for alg in [
        SigningAlg::ES256,
        SigningAlg::RS256,
        SigningAlg::EdDSA,
        SigningAlg::ES384,
    ] {
        tokio::time::sleep(Duration::from_millis(400)).await;
        issuer.rotate(alg).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) > 100);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "valid requests rejected during rotation"
    );
    assert!(
        issuer.jwks_requests() <= 1 + 4,
        "{} fetches",
        issuer.jwks_requests()
    );
}
