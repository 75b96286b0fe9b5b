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

fn slow_introspection_filter(issuer: &TestIssuer, timeout: Duration) -> OAuthFilter {
    OAuthFilter::builder()
        .http(HttpClientConfig::default().timeout(timeout))
        .introspection(
            Introspection::new(
                issuer.introspection_url(),
                INTROSPECTION_CLIENT_ID,
                INTROSPECTION_CLIENT_SECRET,
            )
            .max_concurrent_requests(4),
        )
        .build()
        .unwrap()
}

async fn verify_all(filter: &OAuthFilter, tokens: Vec<String>) -> Vec<Result<(), AuthError>> {
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let f = filter.clone();
            tokio::spawn(async move { f.verify(&t).await.map(|_| ()) })
        })
        .collect();
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// At most `max_concurrent_requests` calls are in flight, whatever the load; with a timeout
/// that the slow server stays within, every request is answered.
#[tokio::test]
async fn slow_introspection_is_bounded_in_concurrency() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Slow(Duration::from_millis(100)));
    // 40 calls, 4 at a time, 100 ms each: about 1 s of waiting, far within the 60 s allowed.
    let filter = slow_introspection_filter(&issuer, Duration::from_secs(60));
    let tokens: Vec<String> = (0..40).map(|_| issuer.opaque().issue()).collect();
    let results = verify_all(&filter, tokens).await;
    assert!(
        issuer.max_in_flight() <= 4,
        "{} calls in flight",
        issuer.max_in_flight()
    );
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        40,
        "{results:?}"
    );
}

/// A server slower than the timeout: every request fails closed (503), none hangs. The outer
/// bound only catches a hang; it is 100 times the configured timeout.
#[tokio::test]
async fn slow_introspection_is_bounded_in_time() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Fault::Slow(Duration::from_secs(3600)));
    let filter = slow_introspection_filter(&issuer, Duration::from_millis(300));
    let tokens: Vec<String> = (0..12).map(|_| issuer.opaque().issue()).collect();
    let results = tokio::time::timeout(Duration::from_secs(30), verify_all(&filter, tokens))
        .await
        .expect("a request outlived its timeout by far");
    for r in results {
        assert_eq!(r, Err(AuthError::IntrospectionUnavailable));
    }
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
    // No cooldown: whether a new key's first token can refresh then depends on the key set,
    // not on how fast this machine runs (single-flight still makes one fetch per rotation).
    let filter = fast_filter(&issuer, short_policy().cooldown(Duration::ZERO));
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
    // Rotate four times; each new key overlaps with the old ones. After each rotation, wait
    // until the filter has fetched the new set and verified a round of new-key tokens: a
    // condition, not a duration.
    let deadline = Instant::now() + Duration::from_secs(60);
    for alg in [
        SigningAlg::ES256,
        SigningAlg::RS256,
        SigningAlg::EdDSA,
        SigningAlg::ES384,
    ] {
        let fetches = issuer.jwks_requests();
        issuer.rotate(alg).unwrap();
        let served = ok.load(Ordering::Relaxed);
        while issuer.jwks_requests() == fetches || ok.load(Ordering::Relaxed) < served + 50 {
            assert!(
                Instant::now() < deadline,
                "rotation to {alg:?} never took effect"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
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
