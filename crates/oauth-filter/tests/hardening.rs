//! Regression tests for the findings of the outside security review (hardening round 2). Each
//! test failed on the code the review read (commit 4eb35d5) and names the finding it covers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{filter_for, introspection_for, jwt_issuer};
use oauth_filter::{
    Algorithm, AuthError, Introspection, JwksPolicy, JwtIssuer, OAuthFilter, PathRequirements,
    Requirement, TokenKind,
};
use oauth_filter_testkit::{SigningAlg, TestIssuer, TokenBuilder};
use serde_json::json;
use std::time::Duration;

fn hybrid(issuer: &TestIssuer) -> OAuthFilter {
    OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(issuer))
        .introspection(introspection_for(issuer))
        .build()
        .unwrap()
}

/// Finding 2: a trusted issuer's JWT that strict parsing refuses is refused *locally*, with its
/// own reason, and never sent to introspection.
#[tokio::test]
async fn hybrid_mode_never_introspects_a_trusted_issuers_jwt() {
    let issuer = TestIssuer::start().await;
    let f = hybrid(&issuer);
    // A token whose payload needs padding: with a payload length that is a multiple of 4,
    // "padded payload" would be the good token itself (the random `jti` varies its length; a
    // CI run once drew such a token and saw it accepted).
    let good = (0..64)
        .map(|_| issuer.mint().scope("read").sign())
        .find(|t| t.split('.').nth(1).is_some_and(|p| p.len() % 4 != 0))
        .expect("64 payloads whose length is a multiple of 4");
    let [h, p, s] = <[&str; 3]>::try_from(good.split('.').collect::<Vec<_>>()).unwrap();
    let pad = |seg: &str| format!("{seg}{}", "=".repeat((4 - seg.len() % 4) % 4));
    let std_alphabet = |seg: &str| seg.replace('-', "+").replace('_', "/");
    let iss = issuer.issuer().to_owned();
    let claims = |extra: &str| {
        format!(
            r#"{{"iss":"{iss}","aud":"api","sub":"u","exp":{}{extra}}}"#,
            oauth_filter_testkit::now_secs() + 300
        )
    };
    let mut cases: Vec<(&str, String, AuthError)> = vec![
        (
            "padded signature",
            format!("{h}.{p}.{}", pad(s)),
            AuthError::MalformedToken,
        ),
        (
            "padded payload",
            format!("{h}.{}.{s}", pad(p)),
            AuthError::MalformedToken,
        ),
        (
            "header in the standard alphabet, padded",
            format!("{}.{p}.{s}", pad(&std_alphabet(h))),
            AuthError::MalformedToken,
        ),
        (
            "alg none",
            issuer.mint().header("alg", "none").sign_with(|_| vec![1]),
            AuthError::UnsupportedAlgorithm,
        ),
        (
            "unknown crit",
            issuer
                .mint()
                .header("crit", json!(["exp-ext"]))
                .header("exp-ext", 1)
                .sign(),
            AuthError::CriticalHeader,
        ),
        (
            "duplicate claim",
            issuer
                .mint()
                .raw_payload(claims(r#","sub":"admin""#).into_bytes())
                .sign(),
            AuthError::MalformedToken,
        ),
        (
            "duplicate iss, the last one foreign",
            issuer
                .mint()
                .raw_payload(claims(r#","iss":"https://elsewhere.example""#).into_bytes())
                .sign(),
            AuthError::MalformedToken,
        ),
        (
            "duplicate header member",
            issuer
                .mint()
                .raw_header(br#"{"alg":"RS256","alg":"RS256"}"#.to_vec())
                .sign(),
            AuthError::MalformedToken,
        ),
    ];
    // `+` or `/` in the signature: mint until the base64url signature has a `-` or `_` to swap.
    let swapped = (0..64)
        .map(|_| issuer.mint().scope("read").sign())
        .find_map(|t| {
            let (input, sig) = t.rsplit_once('.').unwrap();
            (sig.contains('-') || sig.contains('_'))
                .then(|| format!("{input}.{}", std_alphabet(sig)))
        })
        .expect("64 signatures without '-' or '_'");
    cases.push((
        "'+' or '/' in the signature",
        swapped,
        AuthError::MalformedToken,
    ));
    for (what, token, reason) in cases {
        // A case that leaves the token as it was tests nothing.
        assert_ne!(token, good, "{what}: the case did not change the token");
        assert_eq!(f.verify(&token).await.unwrap_err(), reason, "{what}");
    }
    assert_eq!(
        issuer.introspection_requests(),
        0,
        "a trusted issuer's token reached introspection"
    );
    // What still goes there: opaque tokens and JWS naming an issuer not verified locally.
    let other = TestIssuer::start().await;
    let opaque = issuer.opaque().scope("read").issue();
    assert_eq!(
        f.verify(&opaque).await.unwrap().kind(),
        TokenKind::Introspected
    );
    assert_eq!(
        f.verify(&other.mint().sign()).await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert_eq!(issuer.introspection_requests(), 2);
}

/// Finding 14 (last item): an issuer allow-list for what hybrid mode sends to introspection.
#[tokio::test]
async fn hybrid_mode_can_keep_third_party_jwts_from_the_authorization_server() {
    let issuer = TestIssuer::start().await;
    let partner = TestIssuer::start().await;
    let stranger = TestIssuer::start().await;
    let f = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .introspection(introspection_for(&issuer).introspect_jwt_issuers([partner.issuer()]))
        .build()
        .unwrap();
    assert_eq!(
        f.verify(&stranger.mint().sign()).await.unwrap_err(),
        AuthError::UnknownIssuer
    );
    assert_eq!(issuer.introspection_requests(), 0);
    // A listed issuer's JWS and an opaque token are introspected.
    assert_eq!(
        f.verify(&partner.mint().sign()).await.unwrap_err(),
        AuthError::InactiveToken
    );
    assert!(f.verify(&issuer.opaque().issue()).await.is_ok());
    assert_eq!(issuer.introspection_requests(), 2);
}

/// Finding 3: key-bound tokens are not bearer tokens (RFC 9449 §7.1, RFC 8705 §3).
#[tokio::test]
async fn sender_constrained_tokens_are_refused_as_bearer() {
    let issuer = TestIssuer::start().await;
    let f = filter_for(&issuer);
    // Without a request there is no proof: no DPoP proof, no client certificate.
    for (cnf, refusal) in [
        (
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            AuthError::SenderConstrainedToken,
        ),
        (
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            AuthError::CertificateMissing,
        ),
        (
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2", "jkt": "x"}),
            AuthError::SenderConstrainedToken,
        ),
    ] {
        let token = issuer.mint().scope("read").claim("cnf", cnf.clone()).sign();
        assert_eq!(f.verify(&token).await.unwrap_err(), refusal, "{cnf}");
        let rejection = f.reject(refusal, None);
        assert_eq!(
            (rejection.status(), rejection.error().error_code()),
            (401, Some("invalid_token"))
        );
    }
    let opted_out = OAuthFilter::builder()
        .jwt_issuer(
            jwt_issuer(&issuer)
                .dangerous()
                .accept_sender_constrained_as_bearer(true),
        )
        .build()
        .unwrap();
    let bound = issuer.mint().claim("cnf", json!({"jkt": "x"})).sign();
    assert!(opted_out.verify(&bound).await.is_ok());

    // Introspection: `cnf`, or `token_type` DPoP (any case).
    let f = OAuthFilter::builder()
        .introspection(introspection_for(&issuer))
        .build()
        .unwrap();
    let bound = [
        issuer.opaque().member("cnf", json!({"jkt": "x"})).issue(),
        issuer.opaque().member("token_type", "DPoP").issue(),
        issuer.opaque().member("token_type", "dpop").issue(),
    ];
    for t in &bound {
        assert_eq!(
            f.verify(t).await.unwrap_err(),
            AuthError::SenderConstrainedToken
        );
    }
    let opted_out = OAuthFilter::builder()
        .introspection(
            introspection_for(&issuer)
                .dangerous()
                .accept_sender_constrained_as_bearer(true),
        )
        .build()
        .unwrap();
    for t in &bound {
        assert!(opted_out.verify(t).await.is_ok());
    }
}

/// Finding 9: an ID token is not an access token, in every mode.
#[tokio::test]
async fn id_tokens_are_refused_even_outside_strict_mode() {
    let issuer = TestIssuer::start().await;
    let f = filter_for(&issuer);
    for (claim, value) in [
        ("nonce", json!("n-0S6_WzA2Mj")),
        ("at_hash", json!("77QmUPtjPfzWtF2AnpK9RQ")),
        ("c_hash", json!("LDktKdoQak3Pk0cnXxCltA")),
    ] {
        let token = issuer.mint().claim(claim, value).sign();
        assert_eq!(
            f.verify(&token).await.unwrap_err(),
            AuthError::WrongTokenType,
            "{claim}"
        );
    }
}

/// Finding 10: only access tokens pass introspection, and `aud` can be required.
#[tokio::test]
async fn introspection_token_type_and_required_audience() {
    let issuer = TestIssuer::start().await;
    let f = OAuthFilter::builder()
        .introspection(introspection_for(&issuer))
        .build()
        .unwrap();
    for refused in ["refresh_token", "N_A", "id_token", "urn:x:other", ""] {
        let t = issuer.opaque().member("token_type", refused).issue();
        assert_eq!(
            f.verify(&t).await.unwrap_err(),
            AuthError::WrongTokenType,
            "{refused:?}"
        );
    }
    for accepted in ["Bearer", "bearer", "access_token"] {
        let t = issuer.opaque().member("token_type", accepted).issue();
        assert!(f.verify(&t).await.is_ok(), "{accepted}");
    }
    let no_aud = issuer.opaque().without_member("aud").issue();
    assert!(
        f.verify(&no_aud).await.is_ok(),
        "aud is optional by default"
    );
    let strict = OAuthFilter::builder()
        .introspection(introspection_for(&issuer).require_audience(true))
        .build()
        .unwrap();
    assert_eq!(
        strict.verify(&no_aud).await.unwrap_err(),
        AuthError::AudienceMismatch
    );
    assert!(strict.verify(&issuer.opaque().issue()).await.is_ok());
    let err = OAuthFilter::builder()
        .introspection(
            Introspection::new(issuer.introspection_url(), "a", "b").require_audience(true),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.key(), "introspection.require_audience");
}

/// Finding 11: dates in [2^63, 2^64) seconds panicked in `expires_at()`; dates after the year
/// 9999 are now refused during validation, on both paths.
#[tokio::test]
async fn dates_after_year_9999_are_refused_and_nothing_panics() {
    let issuer = TestIssuer::start().await;
    let f = filter_for(&issuer);
    let two_pow_63 = 9_223_372_036_854_775_808u64;
    for (claim, value) in [
        ("exp", json!(two_pow_63)),
        ("exp", json!(u64::MAX)),
        ("exp", json!(253_402_300_800u64)),
        ("iat", json!(-1e300)),
        ("nbf", json!(1e19)),
    ] {
        let token = issuer.mint().claim(claim, value.clone()).sign();
        assert_eq!(
            f.verify(&token).await.unwrap_err(),
            AuthError::InvalidClaim(claim),
            "{claim}={value}"
        );
    }
    let year_9999 = issuer.mint().claim("exp", 253_402_300_799u64).sign();
    let t = f.verify(&year_9999).await.unwrap();
    assert!(t.expires_at().is_some());
    assert!(t.issued_at().is_some());

    let f = OAuthFilter::builder()
        .introspection(introspection_for(&issuer))
        .build()
        .unwrap();
    let huge = issuer.opaque().member("exp", two_pow_63).issue();
    assert_eq!(
        f.verify(&huge).await.unwrap_err(),
        AuthError::IntrospectionUnavailable,
        "a date no AS can mean is a malformed answer"
    );
    let huge_iat = issuer.opaque().member("iat", two_pow_63).issue();
    assert_eq!(
        f.verify(&huge_iat).await.unwrap_err(),
        AuthError::IntrospectionUnavailable
    );
}

/// Finding 12: an RSA JWK without `alg` verifies one algorithm, not all six.
#[tokio::test]
async fn an_alg_less_rsa_key_is_bound_to_one_algorithm() {
    let issuer = TestIssuer::start().await;
    let rsa = issuer.key_for(SigningAlg::RS256).unwrap();
    let mut jwk = rsa.public_jwk().clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let jwks = json!({"keys": [jwk]}).to_string();
    // The same key material signs a PS256 token (the testkit key is an RSA key pair).
    let ps_key = std::sync::Arc::new(
        oauth_filter_testkit::SigningKey::from_pkcs8(
            SigningAlg::PS256,
            rsa.kid(),
            &rsa.pkcs8_der().unwrap(),
        )
        .unwrap(),
    );
    let mint = |key| TokenBuilder::for_issuer(issuer.issuer(), "api", key);
    let rs256 = mint(rsa.clone()).sign();
    let ps256 = mint(ps_key).sign();
    // Azure-style: no alg in the JWKS, default allow-list: RS256 works, PS256 does not.
    let azure = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(&jwks),
        )
        .build()
        .unwrap();
    assert!(azure.verify(&rs256).await.is_ok());
    assert_eq!(
        azure.verify(&ps256).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // The allow-list's order decides: PS256 first binds the key to PS256.
    let ps_first = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(issuer.issuer())
                .audience("api")
                .jwks_json(&jwks)
                .algorithms([Algorithm::PS256, Algorithm::RS256]),
        )
        .build()
        .unwrap();
    assert!(ps_first.verify(&ps256).await.is_ok());
    assert_eq!(
        ps_first.verify(&rs256).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

/// Finding 13: library prefixes match whole segments of the normalised path; paths not in
/// normal form are refused before any handler runs.
#[tokio::test]
async fn per_path_rules_match_segments_of_the_normal_form() {
    use axum::routing::get;
    let issuer = TestIssuer::start().await;
    let filter = filter_for(&issuer);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let rules = PathRequirements::builder(["admin"])
        .prefix("/public", Requirement::Authenticated)
        .build()
        .unwrap();
    let app = axum::Router::new()
        .fallback(get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "ran" }
        }))
        .layer(filter.require_per_path(rules));
    let addr = common::serve(app).await;
    let http = reqwest::Client::new();
    let reader = format!("Bearer {}", issuer.mint().scope("read").sign());
    let status = |path: &'static str| {
        let (http, reader) = (http.clone(), reader.clone());
        async move {
            http.get(format!("http://{addr}{path}"))
                .header("authorization", reader)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/public").await, 200);
    assert_eq!(status("/public/docs").await, 200);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Not under /public: the admin default applies.
    assert_eq!(status("/public-admin/users").await, 403);
    assert_eq!(status("/publicity").await, 403);
    // Ambiguous spellings are refused outright. Sent raw: an HTTP client would resolve them.
    for path in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public//x",
        "/public%2fx",
    ] {
        let answer = raw_get(addr, path, &reader).await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{path}: {answer}");
        let www = answer
            .lines()
            .find_map(|l| l.strip_prefix("www-authenticate: "))
            .unwrap_or_else(|| panic!("{path}: no challenge in {answer}"));
        assert_eq!(
            www,
            r#"Bearer realm="api", error="invalid_request", error_description="the request path is not in normal form""#,
            "{path}"
        );
    }
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a handler ran for a refused request"
    );
}

/// Finding 14: inverted max-age bounds are a configuration error, not a panic in every refresh.
#[test]
fn inverted_jwks_max_age_bounds_are_refused_at_build() {
    let err = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new("https://idp.example")
                .audience("api")
                .jwks_url("https://idp.example/jwks")
                .jwks_policy(
                    JwksPolicy::default()
                        .max_age_bounds(Duration::from_secs(600), Duration::from_secs(60)),
                ),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.key(), "issuers[0].jwks_policy.max_age_bounds");
}

/// Finding 14: a JWKS with no usable key is a failed fetch; the last good keys keep serving.
#[tokio::test]
async fn a_jwks_without_usable_keys_keeps_the_last_good_set() {
    let issuer = TestIssuer::start().await;
    // Never fresh, no backoff: every verification fetches the key set again.
    let f = OAuthFilter::builder()
        .jwt_issuer(
            jwt_issuer(&issuer).jwks_policy(
                JwksPolicy::default()
                    .max_age_bounds(Duration::ZERO, Duration::ZERO)
                    .failure_backoff(Duration::ZERO)
                    .cooldown(Duration::ZERO),
            ),
        )
        .verified_token_cache(0)
        .build()
        .unwrap();
    let token = issuer.mint().sign();
    assert!(f.verify(&token).await.is_ok());
    let fetches = issuer.jwks_requests();
    for key in issuer.keys() {
        issuer.remove_key(key.kid());
    }
    assert!(
        f.verify(&token).await.is_ok(),
        "the empty set replaced the good one"
    );
    assert!(issuer.jwks_requests() > fetches, "no refetch happened");
}

/// One HTTP/1.1 GET with the path exactly as given; the whole answer as text.
async fn raw_get(addr: std::net::SocketAddr, path: &str, authorization: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
