//! Which schemes a route takes (`Bearer`, `DPoP`, both), sender-constrained tokens required,
//! and the FAPI 2.0 profile: through the tower layer over real HTTP on loopback, each refusal
//! with its reason and challenge.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::routing::get;
use common::{jwt_issuer, serve};
use http::Response;
use oauth_filter::{
    AccessToken, AuthError, Dpop, JwtIssuer, OAuthFilter, PathRequirements, Rejection, Requirement,
    Route, TokenSchemes,
};
use oauth_filter_testkit::{DpopClient, MtlsClient, SigningAlg, TestIssuer};
use std::net::SocketAddr;

const BASE: &str = "https://api.example";
const ALGS: &str = r#"DPoP algs="ES256 PS256 EdDSA""#;

fn responder(r: &Rejection) -> Response<axum::body::Body> {
    let mut b = Response::builder().status(r.status());
    for (name, value) in r.challenge_headers() {
        b = b.header(name, value);
    }
    b.body(axum::body::Body::from(r.error().reason_code()))
        .unwrap()
}

/// `/legacy` takes Bearer only, `/pay` DPoP only, `/both` both, `/default` what the filter
/// takes; `/layer` is a `require` layer taking DPoP only.
async fn app(filter: &OAuthFilter) -> SocketAddr {
    let rules = PathRequirements::not_found_builder()
        .route(Route::prefix("/legacy").schemes(TokenSchemes::Bearer))
        .route(Route::prefix("/pay").schemes(TokenSchemes::Dpop))
        .route(Route::prefix("/both").schemes(TokenSchemes::Both))
        .route(Route::prefix("/default"))
        .build()
        .unwrap();
    let hello = |t: AccessToken| async move { format!("hello {}", t.subject().unwrap_or("?")) };
    let per_path = Router::new()
        .route("/legacy", get(hello))
        .route("/pay", get(hello))
        .route("/both", get(hello))
        .route("/default", get(hello))
        .layer(filter.require_per_path(rules).with_responder(responder));
    let layer = Router::new().route(
        "/layer",
        get(hello).route_layer(
            filter
                .require(Requirement::Authenticated)
                .schemes(TokenSchemes::Dpop)
                .with_responder(responder),
        ),
    );
    serve(per_path.merge(layer)).await
}

struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
}

impl Client {
    /// Status, body (the reason of a refusal) and challenge.
    async fn get(&self, path: &str, headers: &[(&str, String)]) -> (u16, String, String) {
        let mut req = self.http.get(format!("http://{}{path}", self.addr));
        for (n, v) in headers {
            req = req.header(*n, v);
        }
        let r = req.send().await.unwrap();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), r.text().await.unwrap(), challenge)
    }
}

fn dpop(client: &DpopClient, path: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("DPoP {token}")),
        ("dpop", client.proof("GET", &format!("{BASE}{path}"), token)),
    ]
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

#[tokio::test]
async fn each_route_takes_its_schemes() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE))
        .build()
        .unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        addr: app(&filter).await,
    };
    let key = DpopClient::generate(SigningAlg::ES256).unwrap();
    let bound = issuer
        .mint()
        .subject("alice")
        .claim("cnf", key.cnf())
        .sign();
    let plain = issuer.mint().subject("bob").sign();
    let cert = MtlsClient::generate("c").unwrap();
    let cert_bound = issuer.mint().claim("cnf", cert.cnf()).sign();

    // Bearer only: a DPoP request has no credentials here, and DPoP is not offered.
    let (status, body, challenge) = c.get("/legacy", &dpop(&key, "/legacy", &bound)).await;
    assert_eq!((status, body.as_str()), (401, "missing_token"));
    assert_eq!(challenge, r#"Bearer realm="api""#);
    assert_eq!(c.get("/legacy", &bearer(&plain)).await.1, "hello bob");
    let (_, _, challenge) = c.get("/legacy", &[]).await;
    assert_eq!(challenge, r#"Bearer realm="api""#);

    // DPoP only: every Bearer request is refused, certificate-bound tokens too; only DPoP is
    // offered.
    for token in [&plain, &cert_bound] {
        let (status, body, challenge) = c.get("/pay", &bearer(token)).await;
        assert_eq!((status, body.as_str()), (401, "dpop_required"));
        assert!(challenge.starts_with(ALGS), "{challenge}");
        assert!(!challenge.contains("Bearer"), "{challenge}");
    }
    assert_eq!(
        c.get("/pay", &dpop(&key, "/pay", &bound)).await.1,
        "hello alice"
    );
    let (_, _, challenge) = c.get("/pay", &[]).await;
    assert_eq!(challenge, ALGS);
    let (status, body, _) = c.get("/layer", &bearer(&plain)).await;
    assert_eq!((status, body.as_str()), (401, "dpop_required"));
    assert_eq!(
        c.get("/layer", &dpop(&key, "/layer", &bound)).await.1,
        "hello alice"
    );

    // Both, and the filter's default (both: DPoP configured, bearer tokens accepted).
    for path in ["/both", "/default"] {
        assert_eq!(c.get(path, &bearer(&plain)).await.0, 200, "{path}");
        assert_eq!(
            c.get(path, &dpop(&key, path, &bound)).await.0,
            200,
            "{path}"
        );
        let (_, _, challenge) = c.get(path, &[]).await;
        assert_eq!(
            challenge,
            format!(r#"Bearer realm="api", {ALGS}"#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_route_can_take_bearer_tokens_where_the_filter_takes_only_dpop() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE).accept_bearer(false))
        .build()
        .unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        addr: app(&filter).await,
    };
    let plain = issuer.mint().subject("bob").sign();
    assert_eq!(c.get("/default", &bearer(&plain)).await.1, "dpop_required");
    assert_eq!(c.get("/both", &bearer(&plain)).await.1, "hello bob");
    assert_eq!(c.get("/legacy", &bearer(&plain)).await.1, "hello bob");
}

#[tokio::test]
async fn without_dpop_configured_a_dpop_only_route_lets_nothing_through() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .build()
        .unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        addr: app(&filter).await,
    };
    let plain = issuer.mint().sign();
    assert_eq!(c.get("/pay", &bearer(&plain)).await.0, 401);
    assert_eq!(c.get("/default", &bearer(&plain)).await.0, 200);
}

#[tokio::test]
async fn sender_constrained_tokens_can_be_required() {
    let issuer = TestIssuer::start().await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE))
        .require_sender_constrained(true)
        .build()
        .unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        addr: app(&filter).await,
    };
    let key = DpopClient::generate(SigningAlg::ES256).unwrap();
    let bound = issuer.mint().claim("cnf", key.cnf()).sign();
    let plain = issuer.mint().sign();
    let (status, body, challenge) = c.get("/default", &bearer(&plain)).await;
    assert_eq!((status, body.as_str()), (401, "sender_constraint_required"));
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(
        c.get("/default", &dpop(&key, "/default", &bound)).await.0,
        200
    );
    // A certificate-bound token is sender-constrained: refused here only for the missing
    // certificate (the TLS tests pass it with one).
    let cert = MtlsClient::generate("c").unwrap();
    let cert_bound = issuer.mint().claim("cnf", cert.cnf()).sign();
    assert_eq!(
        c.get("/default", &bearer(&cert_bound)).await.1,
        "mtls_certificate_missing"
    );
}

#[tokio::test]
async fn the_fapi2_profile_in_one_switch() {
    let issuer = TestIssuer::builder()
        .algorithms(&[SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256])
        .start()
        .await;
    let filter = OAuthFilter::builder()
        .jwt_issuer(jwt_issuer(&issuer))
        .dpop(Dpop::new(BASE))
        .fapi2()
        .build()
        .unwrap();
    let profile = filter.describe_profile().unwrap();
    assert!(
        profile.contains("sender-constrained tokens required")
            && profile.contains("PS256/ES256/EdDSA")
            && profile.contains("RFC 9068 strict"),
        "{profile}"
    );
    let key = DpopClient::generate(SigningAlg::ES256).unwrap();
    let strict = |alg: SigningAlg| {
        issuer
            .mint()
            .key(issuer.key_for(alg).unwrap())
            .subject("alice")
            .claim("client_id", "app")
            .claim("iat", oauth_filter_testkit::now_secs())
            .claim("cnf", key.cnf())
    };
    let check = |token: String| {
        let f = filter.clone();
        let proof = key.proof("GET", &format!("{BASE}/orders"), &token);
        async move {
            let parts_auth = format!("DPoP {token}");
            let parts = oauth_filter::RequestParts::new()
                .authorization(parts_auth.as_bytes())
                .dpop(proof.as_bytes())
                .method("GET")
                .path("/orders");
            f.check(&parts, &Requirement::Authenticated)
                .await
                .map(|_| ())
        }
    };
    assert_eq!(check(strict(SigningAlg::PS256).sign()).await, Ok(()));
    assert_eq!(check(strict(SigningAlg::ES256).sign()).await, Ok(()));
    // RS256 is not a FAPI 2.0 algorithm: the default list narrowed.
    assert_eq!(
        check(strict(SigningAlg::RS256).sign()).await,
        Err(AuthError::UnsupportedAlgorithm)
    );
    // RFC 9068 strict mode: `typ` at+jwt, `client_id` required.
    assert_eq!(
        check(strict(SigningAlg::ES256).header("typ", "JWT").sign()).await,
        Err(AuthError::WrongTokenType)
    );
    assert_eq!(
        check(strict(SigningAlg::ES256).without_claim("client_id").sign()).await,
        Err(AuthError::MissingClaim("client_id"))
    );
    // Unbound tokens, whatever the scheme.
    let unbound = strict(SigningAlg::ES256).without_claim("cnf").sign();
    assert_eq!(
        filter.verify(&unbound).await.unwrap_err(),
        AuthError::SenderConstraintRequired
    );
}

#[test]
fn the_fapi2_profile_refuses_what_contradicts_it() {
    let base = || {
        JwtIssuer::new("https://idp.example")
            .audience("api")
            .jwks_url("https://idp.example/jwks")
    };
    let err = |b: oauth_filter::OAuthFilterBuilder| b.fapi2().build().unwrap_err();
    let e =
        err(OAuthFilter::builder().jwt_issuer(base().algorithms([oauth_filter::Algorithm::RS256])));
    assert_eq!(e.key(), "issuers[0].algorithms");
    assert!(e.reason().contains("FAPI 2.0"), "{e}");
    let e = err(
        OAuthFilter::builder().jwt_issuer(base().dangerous().hmac_secret(
            oauth_filter::Algorithm::HS256,
            None,
            vec![7u8; 32],
        )),
    );
    assert_eq!(e.key(), "issuers[0].hmac_secret");
    let e = err(OAuthFilter::builder()
        .jwt_issuer(base().dangerous().accept_sender_constrained_as_bearer(true)));
    assert_eq!(e.key(), "issuers[0].accept_sender_constrained_as_bearer");
    let e = err(OAuthFilter::builder()
        .jwt_issuer(base())
        .dangerous()
        .allow_query_token(true));
    assert_eq!(e.key(), "allow_query_token");
    let policy = oauth_filter::DpopPolicy::new(&[oauth_filter::Algorithm::ES384], 60, 5).unwrap();
    let e = err(OAuthFilter::builder()
        .jwt_issuer(base())
        .dpop(Dpop::new(BASE).policy(policy)));
    assert_eq!(e.key(), "dpop.algorithms");
    // An explicit list within FAPI 2.0 is kept.
    let kept = OAuthFilter::builder()
        .jwt_issuer(base().algorithms([oauth_filter::Algorithm::PS256]))
        .fapi2()
        .build();
    assert!(kept.is_ok(), "{kept:?}");
}
