//! DPoP through the gateway (real processes on loopback): `[dpop]` in the file, a proof made
//! for the configured external URL is accepted once, the token and the proof never reach the
//! upstream, refusals never do, and `check-config` says what it turned on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{BIN, Gateway, check_config, scratch_dir, upstream};
use oauth_filter_testkit::{DpopClient, SigningAlg, TestIssuer};
use serde_json::Value;
use std::sync::atomic::Ordering;

/// Where clients reach the gateway (through a TLS-terminating proxy, say).
const BASE: &str = "https://api.example";

fn config(upstream: &str, issuer: &TestIssuer, dpop: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"

[dpop]
base_url = "{BASE}"
{dpop}

[[routes]]
prefix = "/orders"
scopes = ["orders:read"]
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_bound_tokens_through_the_gateway() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let reached = || state.requests.load(Ordering::SeqCst);
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, ""), &[]).await;
    let http = reqwest::Client::new();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = issuer
        .mint()
        .scope("orders:read")
        .subject("alice")
        .claim("cnf", client.cnf())
        .sign();
    let send = |proof: Option<String>, scheme: &str| {
        let mut req = http
            .get(gw.url("/orders/42"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        req.send()
    };
    let proof = client.proof("GET", &format!("{BASE}/orders/42"), &token);

    let ok = send(Some(proof.clone()), "DPoP").await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let h = &body["headers"];
    assert_eq!(h["x-auth-subject"], "alice");
    assert!(h.get("authorization").is_none(), "{h}");
    assert!(h.get("dpop").is_none(), "{h}");
    assert_eq!(reached(), 1);

    for (what, proof, scheme, reason) in [
        (
            "the same proof again",
            Some(proof),
            "DPoP",
            "the DPoP proof was already used",
        ),
        ("no proof", None, "DPoP", "a DPoP proof is required"),
        (
            "the bound token as a bearer token",
            None,
            "Bearer",
            "the token is bound to a key and cannot be used as a bearer token",
        ),
        (
            // The gateway's own address, as the Host header says: not the configured URL.
            "a proof for the Host header's URL",
            Some(client.proof("GET", &gw.url("/orders/42"), &token)),
            "DPoP",
            "the DPoP proof is for another URI",
        ),
    ] {
        let r = send(proof, scheme).await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(r#"DPoP algs="ES256 PS256 EdDSA""#),
            "{what}: {challenge}"
        );
        assert!(challenge.contains(reason), "{what}: {challenge}");
    }
    assert_eq!(reached(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_reports_dpop_and_names_bad_keys() {
    let issuer = TestIssuer::start().await;
    let dir = scratch_dir();
    let path = dir.join("gateway.toml");
    let run = |text: String| {
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(BIN)
            .arg("check-config")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let up = "http://127.0.0.1:3000";
    let (code, out, err) = run(config(up, &issuer, "accept_bearer = false"));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(
            "DPoP: proofs for https://api.example (ES256 PS256 EdDSA, up to 60 s old), each \
             accepted once (up to 100000 live), plain bearer tokens refused"
        ),
        "{out}"
    );
    for (extra, expected) in [
        (
            r#"algorithms = ["HS256"]"#,
            "dpop.algorithms[0]: `HS256` is not an asymmetric JOSE algorithm",
        ),
        ("algorithms = []", "dpop.algorithms: empty"),
        ("max_age_secs = 0", "dpop.max_age_secs: must be 1 to 3600"),
        ("leeway_secs = 301", "dpop.leeway_secs: at most 300"),
        (
            "replay_capacity = 0",
            "dpop.replay_capacity: must be at least 1",
        ),
        ("nonce = true", "dpop.nonce: unknown field"),
        (
            "nonce_window_secs = 30",
            "dpop.nonce_window_secs: needs dpop.nonce_secret",
        ),
        (
            r#"nonce_secret = "short""#,
            "dpop.nonce_secret: at least 32 bytes",
        ),
        (
            "[dpop.redis]\nurl = \"redis://127.0.0.1:1/\"\ntimeout_ms = 0",
            "dpop.redis.timeout_ms: must be positive",
        ),
        (
            "[dpop.redis]\nurl = \"redis://127.0.0.1:1/\"\nif_unavailable = \"accept\"",
            "dpop.redis.if_unavailable: unknown variant `accept`",
        ),
    ] {
        let (code, _, err) = run(config(up, &issuer, extra));
        assert_eq!(code, Some(2), "{extra}: {err}");
        assert!(err.contains(expected), "{extra}: {err}");
    }
    let redis = "[dpop.redis]\nurl = \"redis://127.0.0.1:1/\"\nif_unavailable = \"local\"";
    let (code, out, err) = run(config(up, &issuer, redis));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("and once per fleet through Redis"), "{out}");
    let (code, _, err) = run(config(up, &issuer, "").replace(BASE, "api.example"));
    assert_eq!(code, Some(2));
    assert!(err.contains("dpop.base_url: not an absolute URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_hands_out_and_requires_nonces() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let extra = "nonce_window_secs = 600";
    let secret = (
        "OAUTH_FILTER__DPOP__NONCE_SECRET",
        "0123456789abcdef0123456789abcdef",
    );
    let gw = Gateway::start(&config(&format!("http://{up}"), &issuer, extra), &[secret]).await;
    let http = reqwest::Client::new();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let token = issuer
        .mint()
        .scope("orders:read")
        .claim("cnf", client.cnf())
        .sign();
    let uri = format!("{BASE}/orders/1");
    let send = |proof: String| {
        http.get(gw.url("/orders/1"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    let first = send(client.proof("GET", &uri, &token)).await.unwrap();
    assert_eq!(first.status(), 401);
    let challenge = first.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(state.requests.load(Ordering::SeqCst), 0);
    let proof = client
        .proof_builder("GET", &uri, &token)
        .claim("nonce", nonce.as_str())
        .sign();
    let ok = send(proof).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(state.requests.load(Ordering::SeqCst), 1);
}

/// Per-route schemes (`schemes = [...]`) and the FAPI 2.0 profile (`profile = "fapi2"`).
#[tokio::test(flavor = "multi_thread")]
async fn routes_choose_their_schemes_and_the_fapi2_profile_requires_bound_tokens() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let routes = r#"
[[routes]]
prefix = "/legacy"
schemes = ["Bearer"]

[[routes]]
prefix = "/pay"
schemes = ["dpop"]
"#;
    let text = format!("{}{routes}", config(&format!("http://{up}"), &issuer, ""));
    let gw = Gateway::start(&text, &[]).await;
    let http = reqwest::Client::new();
    let client = DpopClient::generate(SigningAlg::ES256).unwrap();
    let bound = issuer
        .mint()
        .scope("orders:read")
        .claim("cnf", client.cnf())
        .sign();
    let plain = issuer.mint().scope("orders:read").sign();
    let dpop = |path: &str| {
        http.get(gw.url(path))
            .header("authorization", format!("DPoP {bound}"))
            .header(
                "dpop",
                client.proof("GET", &format!("{BASE}{path}"), &bound),
            )
            .send()
    };
    let bearer = |path: &str| http.get(gw.url(path)).bearer_auth(&plain).send();
    assert_eq!(bearer("/legacy").await.unwrap().status(), 200);
    let r = dpop("/legacy").await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_eq!(dpop("/pay").await.unwrap().status(), 200);
    let r = bearer("/pay").await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    assert!(
        challenge.contains("a DPoP-bound token is required"),
        "{challenge}"
    );
    // The file's default (both) elsewhere.
    assert_eq!(bearer("/orders/1").await.unwrap().status(), 200);
    assert_eq!(dpop("/orders/1").await.unwrap().status(), 200);

    // FAPI 2.0: unbound tokens are refused everywhere; check-config says what it turned on.
    let fapi = format!("profile = \"fapi2\"\n{text}");
    let gw = Gateway::start(&fapi, &[]).await;
    // A token FAPI 2.0 would take (ES256, RFC 9068 claims) but for its binding.
    let unbound = issuer
        .mint()
        .key(issuer.key_for(SigningAlg::ES256).unwrap())
        .scope("orders:read")
        .subject("alice")
        .claim("client_id", "app")
        .claim("iat", oauth_filter_testkit::now_secs())
        .sign();
    let r = http
        .get(gw.url("/orders/1"))
        .bearer_auth(&unbound)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("the token must be bound to a key"),
        "{challenge}"
    );
    let (ok, stdout, stderr) = check_config(&fapi);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("FAPI 2.0: sender-constrained tokens required (DPoP or a client certificate), signatures PS256/ES256/EdDSA only"),
        "{stdout}"
    );
    assert!(stdout.contains("(schemes: DPoP)"), "{stdout}");
    for (bad, expected) in [
        (
            format!("profile = \"fapi1\"\n{text}"),
            "profile: unknown profile `fapi1`",
        ),
        (
            text.replace("[\"Bearer\"]", "[\"Basic\"]"),
            "routes[1].schemes[0]: `Basic` is not a scheme",
        ),
        (
            format!(
                "[upstream]\nurl = \"http://{up}\"\n[[issuers]]\nissuer = \"{}\"\naudience = \"api\"\n[[routes]]\nprefix = \"/\"\nschemes = [\"DPoP\"]\n",
                issuer.issuer()
            ),
            "routes[0].schemes: DPoP needs the [dpop] section",
        ),
    ] {
        let (ok, _, err) = check_config(&bad);
        assert!(!ok, "{bad}");
        assert!(err.contains(expected), "{err}");
    }
}
