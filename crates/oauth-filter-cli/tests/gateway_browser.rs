//! What browsers and MCP clients need from the gateway, real processes on loopback: RFC 9728
//! metadata served by the gateway itself (`[resource_metadata]`) and named by every 401 and
//! 403; CORS (`[cors]`) with preflights answered before any token check and never forwarded,
//! and the challenge exposed on every answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, check_config, upstream};
use oauth_filter_testkit::TestIssuer;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const METADATA_URL: &str = "https://api.example/.well-known/oauth-protected-resource/mcp";

fn config(up: std::net::SocketAddr, issuer: &TestIssuer, more: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "http://{up}"
[[issuers]]
issuer = "{iss}"
audience = "https://api.example/mcp"
jwks_url = "{jwks}"
[[routes]]
prefix = "/mcp"
scopes = ["mcp:tools"]
[[routes]]
prefix = "/admin"
any_scopes = ["admin", "ops"]
{more}
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

const BROWSER: &str = r#"
[resource_metadata]
resource = "https://api.example/mcp"
resource_name = "Tools"
[cors]
allowed_origins = ["https://app.example"]
expose_headers = ["mcp-session-id"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn metadata_and_cors_for_browser_clients() {
    let issuer = TestIssuer::builder()
        .audience("https://api.example/mcp")
        .start()
        .await;
    let (up, state) = upstream().await;
    let reached = || state.requests.load(Ordering::SeqCst);
    let gw = Gateway::start(&config(up, &issuer, BROWSER), &[]).await;
    let http = reqwest::Client::new();

    let r = http
        .get(gw.url("/.well-known/oauth-protected-resource/mcp"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": "https://api.example/mcp",
            "authorization_servers": [issuer.issuer()],
            "scopes_supported": ["admin", "mcp:tools", "ops"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Tools",
        })
    );
    assert_eq!(reached(), 0, "the metadata is the gateway's own answer");

    // A 401 names the metadata and, for the browser, exposes the challenge.
    let r = http
        .post(gw.url("/mcp"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!(r#"Bearer realm="api", resource_metadata="{METADATA_URL}""#).as_str()
    );
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for h in ["www-authenticate", "dpop-nonce", "mcp-session-id"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    assert!(
        r.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("origin")),
        "{:?}",
        r.headers()
    );
    // 403 names the route's scopes and the metadata.
    let weak = issuer.mint().scope("other").sign();
    let r = http
        .get(gw.url("/admin/x"))
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"scope="admin ops""#), "{challenge}");
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{METADATA_URL}""#)),
        "{challenge}"
    );

    // Preflights: answered here without a token, never forwarded; other origins get no grant.
    let preflight = |origin: &str| {
        http.request(reqwest::Method::OPTIONS, gw.url("/mcp"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = preflight("https://app.example").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(
        reached(),
        0,
        "preflights and refusals never reach the upstream"
    );

    let ok = issuer.mint().scope("mcp:tools").sign();
    let r = http
        .post(gw.url("/mcp"))
        .header("origin", "https://app.example")
        .bearer_auth(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(reached(), 1);
}

#[test]
fn browser_settings_are_checked_and_named() {
    let run = |more: &str| {
        check_config(&format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\njwks_url = \"https://idp.example/jwks\"\n[[routes]]\nprefix = \"/\"\nscopes = [\"read\"]\n{more}"
        ))
    };
    let (ok, out, err) = run("[resource_metadata]\nresource = \"https://api.example\"\n");
    assert!(ok, "{err}");
    assert!(
        out.contains("RFC 9728 metadata: resource https://api.example, served at https://api.example/.well-known/oauth-protected-resource"),
        "{out}"
    );
    for (more, expected) in [
        (
            "[resource_metadata]\nresource = \"http://api.example\"\n",
            "resource_metadata.resource: must be an https URL",
        ),
        (
            "[resource_metadata]\nresource = \"https://api.example\"\nscopes_supported = [\"a b\"]\n",
            "resource_metadata.scopes_supported[0]: not an RFC 6749 scope-token",
        ),
        (
            "[resource_metadata]\nresource = \"https://api.example\"\nname = \"x\"\n",
            "resource_metadata.name: unknown field",
        ),
        (
            "[cors]\nallowed_origins = []\n",
            "cors.allowed_origins: empty",
        ),
        (
            "[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n",
            "cors.allow_credentials: not with allowed_origins = [\"*\"]",
        ),
        (
            "[cors]\nallowed_origins = [\"https://app.example/\"]\n",
            "cors.allowed_origins[0]: not an origin as browsers send it",
        ),
        (
            "[cors]\nallowed_origins = [\"https://app.example\"]\nallowed_headers = [\"*\"]\n",
            "cors.allowed_headers[0]: not a header name",
        ),
        (
            "[cors]\nallowed_origins = [\"https://app.example\"]\nmax_age_secs = 100000\n",
            "cors.max_age_secs: at most 86400",
        ),
    ] {
        let (ok, _, err) = run(more);
        assert!(!ok, "{more}");
        assert!(err.contains(expected), "{more}: {err}");
    }
}

/// The README's "Protecting an MCP server" configuration is valid as printed.
#[test]
fn the_readmes_mcp_configuration_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("### Protecting an MCP server")
        .nth(1)
        .expect("the README's MCP section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its configuration block");
    let (ok, stdout, stderr) = check_config(toml);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("RFC 9728 metadata: resource https://mcp.example.com/mcp"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MCP tool delete_repo: all of: repo:admin"),
        "{stdout}"
    );
}
