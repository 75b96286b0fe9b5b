//! `OAuthFilter::decide_now`: the synchronous answer for hosts without an async runtime (the
//! Python extension). It answers only what needs no I/O, and then exactly as `decide` does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use oauth_filter::{
    Clock, Decision, JwtIssuer, OAuthFilter, PathRequirements, RequestParts, Requirement, Route,
};
use oauth_filter_testkit::TestIssuer;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A clock the test moves.
#[derive(Debug)]
struct Movable(Mutex<SystemTime>);
impl Clock for Movable {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn answer(d: &Decision) -> (u16, Option<String>) {
    match d {
        Decision::Allow(t) => (200, t.subject().map(str::to_owned)),
        Decision::Anonymous => (204, None),
        Decision::Deny(r) => (r.status(), r.www_authenticate()),
        _ => panic!("a new decision"),
    }
}

#[tokio::test]
async fn only_what_needs_no_io_is_answered_and_then_as_decide_answers() {
    let issuer = TestIssuer::start().await;
    let clock = Arc::new(Movable(Mutex::new(SystemTime::now())));
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_url(issuer.jwks_url()),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let read = Requirement::all_of(["read"]);
    let token = issuer.mint().scope("read").expires_in_secs(60).sign();
    let header = format!("Bearer {token}");
    let parts = RequestParts::new().authorization(header.as_bytes());

    // A token never seen, and no keys yet: that needs a fetch.
    assert!(filter.decide_now(&parts, &read).is_none());
    assert_eq!(issuer.jwks_requests(), 0, "decide_now fetched nothing");
    let full = filter.decide(&parts, None, &read).await;
    assert_eq!(answer(&full).0, 200);
    // Now it is in the cache: the same answer, without the runtime (this is a plain call).
    let now = filter.decide_now(&parts, &read).expect("a cache hit");
    assert_eq!(answer(&now), answer(&full));
    // The requirement is still checked on a hit.
    let write = Requirement::all_of(["write"]);
    let (now, full) = (
        filter.decide_now(&parts, &write).unwrap(),
        filter.decide(&parts, None, &write).await,
    );
    assert_eq!(answer(&now).0, 403);
    assert_eq!(answer(&now), answer(&full));

    // With the keys in hand, a new JWT is verified without I/O too, with decide's answers.
    let others = [
        issuer.mint().scope("read").sign(),
        issuer.mint().scope("write").sign(),
        issuer.mint().scope("read").expires_in_secs(-600).sign(),
        issuer.mint().scope("read").audience("another").sign(),
        issuer.mint().scope("read").header("typ", "dpop+jwt").sign(),
        issuer.mint().scope("read").sign_with(|_| vec![1; 256]),
        issuer.mint().header("alg", "HS256").sign_hmac(b"guess"),
    ];
    for (n, token) in others.iter().enumerate() {
        let header = format!("Bearer {token}");
        let p = RequestParts::new().authorization(header.as_bytes());
        let now = filter.decide_now(&p, &read).expect("answered without I/O");
        assert_eq!(answer(&now).0, if n == 0 { 200 } else { answer(&now).0 });
        assert_eq!(
            answer(&now),
            answer(&filter.decide(&p, None, &read).await),
            "token {n}"
        );
    }
    assert_eq!(issuer.jwks_requests(), 1, "no fetch since the first");
    // An unknown kid may be a rotation: that is for decide, which may fetch the keys again.
    let unknown = format!("Bearer {}", issuer.mint().header("kid", "rotated").sign());
    let p = RequestParts::new().authorization(unknown.as_bytes());
    assert!(filter.decide_now(&p, &read).is_none());

    // What is refused before verification is answered, as decide answers it.
    let huge = format!("Bearer {}", "a".repeat(20_000));
    for p in [
        RequestParts::new(),
        RequestParts::new().authorization(b"Basic dTpw"),
        RequestParts::new().authorization(b"Bearer a b"),
        RequestParts::new().authorization(huge.as_bytes()),
    ] {
        let now = filter.decide_now(&p, &read).expect("answered without I/O");
        assert_eq!(answer(&now), answer(&filter.decide(&p, None, &read).await));
        assert_ne!(answer(&now).0, 200);
    }
    // Routes: a path no route takes, a public route, a method not allowed.
    let rules = PathRequirements::not_found_builder()
        .route(Route::prefix("/open").public())
        .route(Route::prefix("/api").methods(["GET"]).require(read.clone()))
        .build()
        .unwrap();
    for (method, path, status) in [
        ("GET", "/nowhere", 404),
        ("GET", "/open/x", 204),
        ("POST", "/api/x", 405),
        ("GET", "/api/x", 200),
    ] {
        let p = RequestParts::new()
            .authorization(header.as_bytes())
            .method(method)
            .path(path);
        let now = filter.decide_now(&p, &rules).unwrap();
        assert_eq!(answer(&now).0, status, "{method} {path}");
        assert_eq!(answer(&now), answer(&filter.decide(&p, None, &rules).await));
    }

    // A cached token past its exp is refused from the cache, with decide's answer.
    *clock.0.lock().unwrap() += Duration::from_secs(3600);
    let now = filter
        .decide_now(&parts, &read)
        .expect("refused from the cache");
    assert_eq!(answer(&now).0, 401);
    assert!(answer(&now).1.unwrap().contains("invalid_token"));
    assert_eq!(
        answer(&now),
        answer(&filter.decide(&parts, None, &read).await)
    );
}

#[tokio::test]
async fn introspection_is_always_for_decide_and_the_cache_is_optional() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_url(issuer.jwks_url()),
        )
        .introspection(oauth_filter::Introspection::new(
            issuer.introspection_url(),
            oauth_filter_testkit::INTROSPECTION_CLIENT_ID,
            oauth_filter_testkit::INTROSPECTION_CLIENT_SECRET,
        ))
        .verified_token_cache(0)
        .build()
        .unwrap();
    let read = Requirement::all_of(["read"]);
    let jwt = format!("Bearer {}", issuer.mint().scope("read").sign());
    let jwt = RequestParts::new().authorization(jwt.as_bytes());
    assert_eq!(answer(&filter.decide(&jwt, None, &read).await).0, 200);
    // No cache: the JWT is verified again, still without I/O.
    assert_eq!(answer(&filter.decide_now(&jwt, &read).unwrap()).0, 200);
    // An opaque token needs the introspection endpoint, every time (its cache is async).
    let opaque = format!("Bearer {}", issuer.opaque().scope("read").issue());
    let opaque = RequestParts::new().authorization(opaque.as_bytes());
    assert!(filter.decide_now(&opaque, &read).is_none());
    assert_eq!(answer(&filter.decide(&opaque, None, &read).await).0, 200);
    assert!(filter.decide_now(&opaque, &read).is_none());
    assert_eq!(issuer.introspection_requests(), 1);
}
