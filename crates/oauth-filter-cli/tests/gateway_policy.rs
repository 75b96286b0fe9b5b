//! Policy beyond scopes in the gateway's TOML (issue 12): claims, clients, token age and
//! RFC 9470 step-up, through the real binary, a real upstream and real sockets; and the
//! renamed keys with their old spellings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, upstream};
use oauth_filter_testkit::TestIssuer;
use serde_json::json;
use std::sync::atomic::Ordering;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn claims_clients_age_and_step_up_from_toml() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let config = format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_token_bytes = 8192   # the 0.1 spelling, still accepted

[upstream]
url = "http://{up}"

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"

[[routes]]
prefix = "/admin"
methods = ["GET", "POST"]
scopes = ["read"]
claims = {{ "realm_access.roles" = {{ contains = "admin" }}, "tenant" = {{ equals = "acme" }} }}
acr_values = ["urn:mace:incommon:iap:silver"]
max_auth_age_secs = 300
client_ids = ["billing-ui"]

[[routes]]
prefix = "/fresh"
max_token_age_secs = 60

[[routes]]
prefix = "/"
public = true
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    );
    let gw = Gateway::start(&config, &[]).await;
    assert!(
        gw.logs().contains("max_token_bytes"),
        "no deprecation warning: {}",
        gw.logs()
    );
    let http = reqwest::Client::new();
    let full = || {
        issuer
            .mint()
            .scope("read")
            .claim("realm_access", json!({"roles": ["admin"]}))
            .claim("tenant", "acme")
            .claim("client_id", "billing-ui")
            .claim("acr", "urn:mace:incommon:iap:silver")
            .claim("auth_time", now() - 10)
    };
    let ask = |path: &str, token: String| {
        let req = http
            .get(gw.url(path))
            .header("authorization", format!("Bearer {token}"));
        async move { req.send().await.unwrap() }
    };
    let before = state.requests.load(Ordering::SeqCst);
    let ok = ask("/admin/x", full().sign()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(state.requests.load(Ordering::SeqCst), before + 1);

    // Every other failure is 403 with a fixed description, never echoing a value.
    for (why, token) in [
        (
            "role",
            full()
                .claim("realm_access", json!({"roles": ["user"]}))
                .sign(),
        ),
        ("tenant", full().claim("tenant", "evil-corp").sign()),
        ("client", full().claim("client_id", "mobile").sign()),
    ] {
        let resp = ask("/admin/x", token).await;
        assert_eq!(resp.status(), 403, "{why}");
        let www = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            www,
            r#"Bearer realm="api", error="insufficient_scope", error_description="the token does not grant the privileges the route requires""#,
            "{why}"
        );
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("evil-corp") && !body.contains("mobile"),
            "{body}"
        );
    }
    // A missing scope names the scope.
    let resp = ask("/admin/x", full().scope("profile").sign()).await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(r#"scope="read""#)
    );
    // Step-up: an old login or a weaker acr is 401 insufficient_user_authentication.
    for token in [
        full().claim("auth_time", now() - 3600).sign(),
        full().claim("acr", "urn:mace:incommon:iap:bronze").sign(),
    ] {
        let resp = ask("/admin/x", token).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a stronger or more recent user authentication is required", acr_values="urn:mace:incommon:iap:silver", max_age="300""#
        );
    }
    // Token age from iat.
    assert_eq!(ask("/fresh", issuer.mint().sign()).await.status(), 200);
    let old = issuer.mint().claim("iat", now() - 600).sign();
    assert_eq!(ask("/fresh", old).await.status(), 403);
    // The rejection is logged once, with its context (the step, `exp` and the clock); the
    // client's answer keeps its fixed description.
    let expired = ask("/fresh", issuer.mint().expires_in_secs(-600).sign()).await;
    assert_eq!(expired.status(), 401);
    assert!(!expired.text().await.unwrap().contains("exp is past"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let logs = gw.logs();
        if let Some(line) = logs
            .lines()
            .find(|l| l.contains("reason=\"expired\"") || l.contains("reason=expired"))
        {
            assert!(line.contains("time: exp is past: now "), "{line}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rejection log line: {logs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // 405 from the library's route model, with Allow.
    let resp = http.delete(gw.url("/admin/x")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
    assert_eq!(
        state.requests.load(Ordering::SeqCst),
        before + 2,
        "refused requests reached the upstream"
    );
}
