//! Interop with a real authorization server: `oidc-provider` 8 (npm), started on loopback by this
//! test from `interop/oidc-provider` (install it with `npm ci --prefix interop/oidc-provider`;
//! `scripts/test.sh` does). Tokens come from its token endpoint (client credentials with resource
//! indicators), keys through discovery, requests through a protected axum app over real HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use axum::Router;
use axum::routing::get;
use common::serve;
use oauth_filter::{AccessToken, Introspection, JwtIssuer, OAuthFilter, TokenKind};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Provider {
    issuer: String,
    _child: Child,
}

async fn start_provider() -> Provider {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc-provider");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "oidc-provider is not installed: run `npm ci --prefix interop/oidc-provider` (scripts/test.sh does)"
    );
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(issuer) = line.strip_prefix("READY ") {
                return issuer.to_owned();
            }
        }
        panic!("oidc-provider exited before it was ready");
    })
    .await
    .expect("oidc-provider did not start in 30 s");
    Provider {
        issuer: ready,
        _child: child,
    }
}

async fn token(http: &reqwest::Client, issuer: &str, resource: &str, scope: &str) -> String {
    let resp: Value = http
        .post(format!("{issuer}/token"))
        .basic_auth("interop-client", Some("interop-client-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {resp}"))
        .to_owned()
}

#[tokio::test]
async fn real_authorization_server_tokens() {
    let provider = start_provider().await;
    let http = reqwest::Client::new();
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(&provider.issuer)
                .audience("https://api.example/rs256")
                .audience("https://api.example/es256")
                .audience("https://api.example/eddsa")
                .strict_rfc9068(true),
        )
        .build()
        .unwrap();
    let app = Router::new().route(
        "/hello_world",
        get(|t: AccessToken| async move {
            format!(
                "{} {} {}",
                t.client_id().unwrap_or("-"),
                t.subject().unwrap_or("-"),
                t.scopes()
            )
        })
        .route_layer(filter.require(["read"])),
    );
    let addr = serve(app).await;
    let call = |tok: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/hello_world"))
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, www, r.text().await.unwrap())
        }
    };

    for (resource, alg) in [("rs256", "RS256"), ("es256", "ES256"), ("eddsa", "EdDSA")] {
        let resource = format!("https://api.example/{resource}");
        let t = token(&http, &provider.issuer, &resource, "read").await;
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                t.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "at+jwt");
        let (status, _, body) = call(t).await;
        assert_eq!(status, 200, "{alg}: {body}");
        assert_eq!(body, "interop-client interop-client read");

        // The right token without the route's scope.
        let t = token(&http, &provider.issuer, &resource, "write").await;
        let (status, www, _) = call(t).await;
        assert_eq!(status, 403, "{alg}");
        assert!(www.unwrap().contains(r#"error="insufficient_scope""#));
    }

    // A token for another audience.
    let t = token(&http, &provider.issuer, "https://api.example/other", "read").await;
    let (status, www, _) = call(t).await;
    assert_eq!(status, 401);
    assert!(www.unwrap().contains(r#"error="invalid_token""#));

    // An opaque token is not a JWT this filter can verify.
    let t = token(
        &http,
        &provider.issuer,
        "https://api.example/opaque",
        "read",
    )
    .await;
    assert_eq!(call(t).await.0, 401);

    // A filter configured for the wrong issuer string (trailing slash) never trusts these keys.
    let wrong = OAuthFilter::with_discovery(
        &format!("{}/", provider.issuer),
        "https://api.example/rs256",
    )
    .unwrap();
    let t = token(&http, &provider.issuer, "https://api.example/rs256", "read").await;
    // Refused as an unknown issuer, locally: not any error (a 503 from a failed discovery of the
    // wrong URL would also be an error, and would hide a bug).
    assert_eq!(
        wrong.verify(&t).await.unwrap_err(),
        oauth_filter::AuthError::UnknownIssuer
    );
}

async fn revoke(http: &reqwest::Client, issuer: &str, token: &str) {
    let status = http
        .post(format!("{issuer}/token/revocation"))
        .basic_auth("interop-client", Some("interop-client-secret"))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn real_authorization_server_opaque_tokens() {
    let provider = start_provider().await;
    let http = reqwest::Client::new();
    // Endpoint by discovery; the API's own client credentials; a 1 s revocation window.
    let filter = OAuthFilter::builder()
        .introspection(
            Introspection::discover(
                &provider.issuer,
                "resource-server",
                "resource-server-secret",
            )
            .audience("https://api.example/opaque")
            .audience("https://api.example/opaque-short")
            .max_cache_ttl(std::time::Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let app =
        Router::new().route(
            "/hello_world",
            get(|t: AccessToken| async move {
                format!("{} {}", t.client_id().unwrap_or("-"), t.scopes())
            })
            .route_layer(filter.require(["read"])),
        );
    let addr = serve(app).await;
    let call = |tok: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/hello_world"))
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let opaque = "https://api.example/opaque";

    let good = token(&http, &provider.issuer, opaque, "read").await;
    assert_eq!(good.split('.').count(), 1, "an opaque token");
    assert_eq!(
        call(good.clone()).await,
        (200, String::from("interop-client read"))
    );
    assert_eq!(
        call(token(&http, &provider.issuer, opaque, "write").await)
            .await
            .0,
        403
    );
    assert_eq!(
        call(String::from("not-a-token-the-server-issued")).await.0,
        401
    );

    // Revoked before first use.
    let t = token(&http, &provider.issuer, opaque, "read").await;
    revoke(&http, &provider.issuer, &t).await;
    assert_eq!(call(t).await.0, 401);

    // Revoked after use: 401 once the revocation window has passed.
    revoke(&http, &provider.issuer, &good).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(call(good).await.0, 401);

    // Expired (a 2 s token).
    let short = token(
        &http,
        &provider.issuer,
        "https://api.example/opaque-short",
        "read",
    )
    .await;
    assert_eq!(call(short.clone()).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(call(short).await.0, 401);
}

#[tokio::test]
async fn real_authorization_server_hybrid_mode() {
    let provider = start_provider().await;
    let http = reqwest::Client::new();
    let filter = OAuthFilter::builder()
        .jwt_issuer(
            JwtIssuer::new(&provider.issuer)
                .audience("https://api.example/rs256")
                .strict_rfc9068(true),
        )
        .introspection(
            Introspection::discover(
                &provider.issuer,
                "resource-server",
                "resource-server-secret",
            )
            .audience("https://api.example/opaque"),
        )
        .build()
        .unwrap();
    let jwt = token(&http, &provider.issuer, "https://api.example/rs256", "read").await;
    assert_eq!(filter.verify(&jwt).await.unwrap().kind(), TokenKind::Jwt);
    let opaque = token(
        &http,
        &provider.issuer,
        "https://api.example/opaque",
        "read",
    )
    .await;
    let t = filter.verify(&opaque).await.unwrap();
    assert_eq!(t.kind(), TokenKind::Introspected);
    assert_eq!(t.client_id(), Some("interop-client"));
}

/// A DPoP-bound token (RFC 9449 §5) from the real token endpoint: a proof made for the token
/// request, the answer's `token_type` `DPoP` and the token's `cnf.jkt`, then requests to a
/// protected app with fresh proofs (200), a replayed one (401) and the Bearer scheme (401).
#[tokio::test]
async fn dpop_bound_tokens_from_the_real_authorization_server() {
    use oauth_filter::Dpop;
    use oauth_filter_testkit::{DpopClient, SigningAlg};
    let provider = start_provider().await;
    let http = reqwest::Client::new();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token_url = format!("{}/token", provider.issuer);
    // A proof for the token request has no `ath` (there is no access token yet).
    let proof = client
        .proof_builder("POST", &token_url, "")
        .without_claim("ath")
        .sign();
    let answer: Value = http
        .post(&token_url)
        .basic_auth("interop-client", Some("interop-client-secret"))
        .header("dpop", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", "https://api.example/dpop"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();

    let filter = OAuthFilter::builder()
        .jwt_issuer(JwtIssuer::new(&provider.issuer).audience("https://api.example/dpop"))
        .dpop(Dpop::new("https://api.example"))
        .build()
        .unwrap();
    let app = Router::new().route(
        "/orders",
        get(|t: AccessToken| async move { t.client_id().unwrap_or("-").to_owned() })
            .route_layer(filter.require(["read"])),
    );
    let addr = serve(app).await;
    let call = |scheme: &str, proof: Option<String>| {
        let mut req = http
            .get(format!("http://{addr}/orders"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        async move {
            let r = req.send().await.unwrap();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (r.status().as_u16(), www, r.text().await.unwrap())
        }
    };
    let uri = "https://api.example/orders";
    let fresh = client.proof("GET", uri, &token);
    let (status, _, body) = call("DPoP", Some(fresh.clone())).await;
    assert_eq!((status, body.as_str()), (200, "interop-client"));
    let (status, _, _) = call("DPoP", Some(client.proof("GET", uri, &token))).await;
    assert_eq!(status, 200);
    let (status, www, _) = call("DPoP", Some(fresh)).await;
    assert_eq!(status, 401);
    assert!(www.contains("the DPoP proof was already used"), "{www}");
    let (status, www, _) = call("Bearer", None).await;
    assert_eq!(status, 401);
    assert!(www.contains(r#"error="invalid_token""#), "{www}");
    // Another key's proof, for the right request: not the token's key.
    let thief = DpopClient::generate(SigningAlg::ES256).unwrap();
    let (status, www, _) = call("DPoP", Some(thief.proof("GET", uri, &token))).await;
    assert_eq!(status, 401);
    assert!(
        www.contains("the DPoP proof's key is not the token's"),
        "{www}"
    );
}
