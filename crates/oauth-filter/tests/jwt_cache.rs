//! The verified-JWT cache: hits return the same facts, expire with the token, re-check time claims,
//! are dropped when the key set changes, never stand in for a route's requirement, and can be off.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{jwt_issuer, short_policy};
use oauth_filter::{AccessToken, AuthError, OAuthFilter, RequestParts, Requirement};
use oauth_filter_testkit::{SigningAlg, SigningKey, TestIssuer};
use std::time::Duration;

/// Two results carry the very same facts: the second came from the cache.
fn same_facts(a: &AccessToken, b: &AccessToken) -> bool {
    std::ptr::eq(a.claims(), b.claims())
}

#[tokio::test]
async fn a_reused_token_is_served_from_the_cache() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let token = issuer.mint().scope("read").sign();
    let a = filter.verify(&token).await.unwrap();
    let b = filter.verify(&token).await.unwrap();
    assert!(
        same_facts(&a, &b),
        "second verification was not a cache hit"
    );
    // Another token is another entry.
    let c = filter
        .verify(&issuer.mint().scope("read").sign())
        .await
        .unwrap();
    assert!(!same_facts(&a, &c));

    // Off: every verification is a full one.
    let off = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .verified_token_cache(0)
        .build()
        .unwrap();
    let a = off.verify(&token).await.unwrap();
    let b = off.verify(&token).await.unwrap();
    assert!(!same_facts(&a, &b));
}

#[tokio::test]
async fn entries_never_outlive_exp_and_time_claims_are_rechecked() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .leeway(Duration::ZERO)
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    // A fractional exp a few seconds ahead: valid now, cached, then expired once the wall clock
    // has passed it (waited for as a condition, not as a duration).
    let exp = now_f64() + 3.0;
    let token = issuer.mint().claim("exp", exp).sign();
    assert!(filter.verify(&token).await.is_ok());
    assert!(filter.verify(&token).await.is_ok());
    while now_f64() < exp {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(filter.verify(&token).await.unwrap_err(), AuthError::Expired);
}

/// Cached facts keep the claims as the payload's text and parse it when first asked: a hit
/// must still give every claim, nested and oddly typed ones included, exactly as signed.
#[tokio::test]
async fn a_cached_token_still_has_every_claim_as_signed() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let token = issuer
        .mint()
        .scope("read write")
        .claim(
            "tenant",
            serde_json::json!({"id": "t-1", "roles": ["admin", "ops"]}),
        )
        .claim("ratio", 0.5)
        .claim("big", u64::MAX)
        .claim("flag", false)
        .claim("none", serde_json::Value::Null)
        .claim("name", "Zoë \"quoted\" \u{2603}")
        .sign();
    let payload = token.split('.').nth(1).unwrap();
    let signed: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    let first = filter.verify(&token).await.unwrap();
    let hit = filter.verify(&token).await.unwrap();
    assert!(same_facts(&first, &hit), "the second was not a cache hit");
    // Asked on the hit first: the map is parsed from the kept text there.
    assert_eq!(hit.claims(), &signed);
    assert_eq!(hit.claim("tenant").unwrap()["roles"][1], "ops");
    assert_eq!(first.claims(), &signed);
    assert_eq!(hit.subject(), signed["sub"].as_str());
    assert!(hit.scopes().contains("write") && hit.scopes().len() == 2);
}

fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_key_set_refresh_drops_what_the_old_keys_verified() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(Some(1));
    let filter = common::fast_filter(&issuer, short_policy());
    let old_kid = issuer.keys()[0].kid().to_owned();
    let token = issuer.mint().sign();
    let a = filter.verify(&token).await.unwrap();
    assert!(same_facts(&a, &filter.verify(&token).await.unwrap()));
    // The key leaves the JWKS; once the set is refreshed, the cached token is verified again and fails.
    issuer.rotate(SigningAlg::ES256).unwrap();
    issuer.remove_key(&old_kid);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // A token of a key that stays is re-verified after a refresh and cached again.
    let fresh = issuer.mint().sign();
    let x = filter.verify(&fresh).await.unwrap();
    assert!(same_facts(&x, &filter.verify(&fresh).await.unwrap()));
}

#[tokio::test]
async fn cached_facts_are_not_decisions() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let header = format!("Bearer {}", issuer.mint().scope("read").sign());
    let parts = RequestParts::new().authorization(header.as_bytes());
    assert!(
        filter
            .check(&parts, &Requirement::all_of(["read"]))
            .await
            .is_ok()
    );
    assert_eq!(
        filter
            .check(&parts, &Requirement::all_of(["admin"]))
            .await
            .unwrap_err(),
        AuthError::InsufficientScope
    );
    assert!(
        filter
            .check(&parts, &Requirement::all_of(["read"]))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn failures_are_never_cached() {
    let issuer = TestIssuer::start().await;
    // No cooldown: every unknown kid may refresh, so the outcome depends on what the JWKS
    // publishes, never on how fast the test runs.
    let filter = common::fast_filter(&issuer, short_policy().cooldown(Duration::ZERO));
    assert!(filter.verify(&issuer.mint().sign()).await.is_ok());
    // Signed by a key the JWKS does not publish yet: unknown (after a refresh that finds nothing).
    let unpublished = std::sync::Arc::new(SigningKey::generate(SigningAlg::EdDSA).unwrap());
    let token = issuer.mint().key(unpublished.clone()).sign();
    let fetches = issuer.jwks_requests();
    assert_eq!(
        filter.verify(&token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(
        issuer.jwks_requests(),
        fetches + 1,
        "the miss refreshed the key set"
    );
    // Once published, the very same token verifies: the failure was not cached.
    issuer.publish(unpublished);
    assert!(filter.verify(&token).await.is_ok(), "a failure was cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_new_token_share_one_verification() {
    let issuer = TestIssuer::start().await;
    // Keys that take a while to come, so that every request arrives while the first waits.
    issuer.set_fault(oauth_filter_testkit::Fault::Slow(Duration::from_millis(
        300,
    )));
    let filter = std::sync::Arc::new(
        OAuthFilter::builder()
            .jwt_issuer(jwt_issuer(&issuer))
            .build()
            .unwrap(),
    );
    let token = std::sync::Arc::new(issuer.mint().scope("read").sign());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (filter, token) = (filter.clone(), token.clone());
            tokio::spawn(async move { filter.verify(&token).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    // One signature check made the facts every request got; one key fetch.
    assert!(answers.iter().all(|a| same_facts(a, &answers[0])));
    assert_eq!(issuer.jwks_requests(), 1);

    // An error is shared the same way, and is not kept: the next request tries again.
    let down = std::sync::Arc::new(
        OAuthFilter::builder()
            .jwt_issuer(jwt_issuer(&issuer))
            .build()
            .unwrap(),
    );
    issuer.set_fault(oauth_filter_testkit::Fault::Status(500));
    let before = issuer.jwks_requests();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (filter, token) = (down.clone(), token.clone());
            tokio::spawn(async move { filter.verify(&token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), AuthError::KeysUnavailable);
    }
    assert_eq!(issuer.jwks_requests() - before, 1);
}
