//! Issue 12: the injectable clock, the trace, claim paths, and the library's route model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::{
    AuthError, Clock, Decision, JwtIssuer, OAuthFilter, Outcome, PathRequirements, RequestParts,
    Requirement, Route, Verdict,
};
use oauth_filter_testkit::TestIssuer;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug)]
struct Fixed(SystemTime);
impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        self.0
    }
}

fn filter_at(issuer: &TestIssuer, clock: Option<SystemTime>) -> OAuthFilter {
    let mut b = OAuthFilter::builder().jwt_issuer(
        JwtIssuer::new(issuer.issuer())
            .audience("api")
            .jwks_url(issuer.jwks_url()),
    );
    if let Some(t) = clock {
        b = b.clock(Arc::new(Fixed(t)));
    }
    b.build().unwrap()
}

#[tokio::test]
async fn every_time_check_reads_the_filters_clock() {
    let issuer = TestIssuer::start().await;
    let past = SystemTime::now() - Duration::from_secs(7200);
    let expired = issuer
        .mint()
        .expires_in_secs(-3600)
        .claim("iat", past_secs(past) - 60)
        .sign();
    // By the system clock it is expired; by a clock two hours back it is valid.
    assert_eq!(
        filter_at(&issuer, None).verify(&expired).await.unwrap_err(),
        AuthError::Expired
    );
    let past = SystemTime::now() - Duration::from_secs(7200);
    assert!(
        filter_at(&issuer, Some(past))
            .verify(&expired)
            .await
            .is_ok()
    );
    // A fresh token is expired for a clock a day ahead, cache or not.
    let fresh = issuer.mint().sign();
    let ahead = filter_at(
        &issuer,
        Some(SystemTime::now() + Duration::from_secs(86_400)),
    );
    for _ in 0..2 {
        assert_eq!(ahead.verify(&fresh).await.unwrap_err(), AuthError::Expired);
    }
    // Token age reads it too: the same token is 30 s old by one clock, 120 s by another.
    let token = issuer.mint().claim("iat", past_secs(past)).sign();
    let young = filter_at(&issuer, Some(past + Duration::from_secs(30)));
    let old = filter_at(&issuer, Some(past + Duration::from_secs(120)));
    let age = Requirement::max_token_age(Duration::from_secs(60));
    let t = young.verify(&token).await.unwrap();
    assert_eq!(young.authorize(&t, &age), Ok(()));
    let t = old.verify(&token).await.unwrap();
    assert_eq!(old.authorize(&t, &age), Err(AuthError::RequirementNotMet));
}

fn past_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn explain_traces_each_step_with_the_values_it_saw() {
    let issuer = TestIssuer::start().await;
    let filter = filter_at(&issuer, None);
    let expired = format!("Bearer {}", issuer.mint().expires_in_secs(-600).sign());
    let parts = RequestParts::new().authorization(expired.as_bytes());
    let trace = filter.explain(&parts, &Requirement::Authenticated).await;
    let names: Vec<&str> = trace.steps().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "credential",
            "size",
            "structure",
            "issuer",
            "algorithm",
            "key",
            "signature",
            "typ",
            "time"
        ]
    );
    let time = trace.steps().last().unwrap();
    assert_eq!(time.outcome, Outcome::Fail);
    assert!(
        time.detail.starts_with("exp is past: now "),
        "{}",
        time.detail
    );
    assert_eq!(
        trace.decision(),
        Some(&Verdict::Refused(AuthError::Expired))
    );
    // The client-facing description never carries the context.
    assert_eq!(AuthError::Expired.description(), "the token has expired");

    let good = format!("Bearer {}", issuer.mint().scope("read").sign());
    let parts = RequestParts::new().authorization(good.as_bytes());
    let trace = filter
        .explain(&parts, &Requirement::all_of(["write"]))
        .await;
    let last = trace.steps().last().unwrap();
    assert_eq!((last.name, last.outcome), ("requirement", Outcome::Fail));
    assert_eq!(
        trace.decision(),
        Some(&Verdict::Refused(AuthError::InsufficientScope))
    );
}

#[tokio::test]
async fn claim_paths_nested_pointer_and_fail_closed() {
    let issuer = TestIssuer::start().await;
    let filter = filter_at(&issuer, None);
    let t = filter
        .verify(
            &issuer
                .mint()
                .claim(
                    "resource_access",
                    json!({"billing.ui": {"roles": ["viewer"]}}),
                )
                .claim("https://example.com/roles", json!("a b"))
                .claim("level", json!(2))
                .sign(),
        )
        .await
        .unwrap();
    let ok = |r: Requirement| filter.authorize(&t, &r).is_ok();
    assert!(ok(Requirement::claim(
        "/resource_access/billing.ui/roles",
        oauth_filter::ClaimTest::Contains(json!("viewer"))
    )));
    assert!(!ok(Requirement::claim_contains(
        "resource_access.billing.ui.roles",
        "viewer"
    )));
    assert!(ok(Requirement::claim_contains(
        "/https:~1~1example.com~1roles",
        "b"
    )));
    assert!(!ok(Requirement::claim_contains(
        "/https:~1~1example.com~1roles",
        "a b"
    )));
    assert!(ok(Requirement::claim_equals("level", 2.0)));
    assert!(!ok(Requirement::claim_equals("level", "2")));
    assert!(ok(Requirement::claim_present("level")));
    assert!(!ok(Requirement::claim_present("missing")));
    // A path that does not parse can never be met.
    assert!(!ok(Requirement::claim_present("a..b")));
    assert!(!ok(Requirement::claim_present("/bad~2escape")));
}

#[tokio::test]
async fn routes_405_public_and_default_through_decide() {
    let issuer = TestIssuer::start().await;
    let filter = filter_at(&issuer, None);
    let rules = PathRequirements::builder(["read"])
        .route(
            Route::prefix("/admin")
                .methods(["get", "POST"])
                .require(["admin"]),
        )
        .route(Route::exact("/health").public())
        .build()
        .unwrap();
    let decide = |method: &'static str, path: &'static str| {
        let (filter, rules) = (filter.clone(), rules.clone());
        async move {
            let parts = RequestParts::new().method(method).path(path);
            filter.decide(&parts, None, &rules).await
        }
    };
    match decide("DELETE", "/admin/x").await {
        Decision::Deny(r) => {
            assert_eq!(r.status(), 405);
            assert_eq!(r.allow(), Some("GET, HEAD, POST"));
            assert_eq!(r.www_authenticate(), None);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decide("GET", "/health").await,
        Decision::Anonymous
    ));
    match decide("GET", "/other").await {
        Decision::Deny(r) => assert_eq!(r.error(), &AuthError::MissingToken),
        other => panic!("{other:?}"),
    }
    match decide("GET", "/health/../admin").await {
        Decision::Deny(r) => assert_eq!(r.status(), 400),
        other => panic!("{other:?}"),
    }
    // Refused configurations name the route.
    let e = PathRequirements::builder(Requirement::Authenticated)
        .route(Route::prefix("/a").methods(["GET"]))
        .route(Route::prefix("/a/").methods(["GET", "PUT"]))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "routes[1]");
    let e = PathRequirements::not_found_builder()
        .route(Route::prefix("/a").methods(Vec::<String>::new()))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "routes[0].methods");
    let e = PathRequirements::not_found_builder()
        .exact("/a", Requirement::step_up(["a b"], None))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "routes[0].acr_values");
    let e = PathRequirements::not_found_builder()
        .exact("/a", Requirement::claim_present("a..b"))
        .build()
        .unwrap_err();
    assert_eq!(e.key(), "routes[0]");
    assert!(e.reason().contains("can never be met"), "{e}");
    let none = PathRequirements::not_found_builder().build().unwrap();
    assert_eq!(none.select("GET", "/x").unwrap_err(), AuthError::NoRoute);
}

/// `explain` is the same pipeline as `decide`: for every kind of token, the trace's verdict is
/// the decision a request gets.
#[tokio::test]
async fn explain_never_disagrees_with_decide() {
    let issuer = TestIssuer::start().await;
    let filter = filter_at(&issuer, None);
    let good = issuer.mint().scope("read").sign();
    let last = if good.ends_with('A') { "B" } else { "A" };
    let tokens = [
        Some(good.clone()),
        Some(issuer.mint().sign()),
        Some(issuer.mint().expires_in_secs(-600).sign()),
        Some(issuer.mint().audience("other").sign()),
        Some(issuer.mint().claim("cnf", json!({"jkt": "x"})).sign()),
        Some(issuer.mint().claim("nonce", "n").sign()),
        Some(format!("{}{last}", &good[..good.len() - 1])),
        Some(String::from("not-a-jwt")),
        Some(String::from("a b")),
        None,
    ];
    let requirement = Requirement::all_of(["read"]);
    for token in tokens {
        let header = token.as_ref().map(|t| format!("Bearer {t}"));
        let mut parts = RequestParts::new();
        if let Some(h) = &header {
            parts = parts.authorization(h.as_bytes());
        }
        // Twice: the second `decide` may answer from the verified-JWT cache; `explain` never does.
        for _ in 0..2 {
            let decided = match filter.decide(&parts, None, &requirement).await {
                Decision::Allow(_) => Verdict::Allowed,
                Decision::Anonymous => Verdict::Anonymous,
                Decision::Deny(r) => Verdict::Refused(r.error().clone()),
                other => panic!("{other:?}"),
            };
            let explained = filter.explain(&parts, &requirement).await;
            assert_eq!(explained.decision(), Some(&decided), "{header:?}");
        }
    }
}
