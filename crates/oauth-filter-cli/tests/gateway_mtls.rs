//! Certificate-bound tokens (RFC 8705) through the gateway, real processes on loopback: its
//! TLS listener (`[server.tls]`) with optional, required and CA-checked client certificates;
//! the RFC 9440 `Client-Cert` header honoured from a trusted proxy and stripped from everyone
//! else; certificate reload on SIGHUP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Gateway, check_config, metric, scratch_dir, upstream};
use oauth_filter_testkit::{MtlsClient, TestCa, TestIssuer};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A `localhost` server certificate and key, PEM, and the certificate for clients to trust.
struct ServerCert {
    cert_pem: String,
    key_pem: String,
    trust: reqwest::Certificate,
}

fn server_cert() -> ServerCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    ServerCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        trust: reqwest::Certificate::from_der(cert.der()).unwrap(),
    }
}

/// Writes the server certificate and key into `dir`; returns the `[server.tls]` lines.
fn tls_files(dir: &Path, cert: &ServerCert) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&c, &cert.cert_pem).unwrap();
    std::fs::write(&k, &cert.key_pem).unwrap();
    (c, k)
}

fn config(upstream: SocketAddr, issuer: &TestIssuer, server: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[upstream]
url = "http://{upstream}"

[[issuers]]
issuer = "{iss}"
audience = "api"
jwks_url = "{jwks}"

[[routes]]
prefix = "/orders"
scopes = ["orders:read"]

{server}
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    )
}

fn https_client(
    trust: &reqwest::Certificate,
    gw: SocketAddr,
    id: Option<&MtlsClient>,
) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([trust.clone()])
        .resolve("localhost", gw);
    if let Some(id) = id {
        b = b.identity(reqwest::Identity::from_pem(id.identity_pem().as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// Status, the upstream's echo (for 200) or the error body, and the challenge.
async fn get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut req = client.get(url).bearer_auth(token);
    for (n, v) in extra {
        req = req.header(*n, *v);
    }
    let r = req.send().await.unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null), challenge)
}

fn rejected(metrics: &str, reason: &str) -> f64 {
    metric(
        metrics,
        &format!("oauth_filter_gateway_requests_total{{outcome=\"rejected\",reason=\"{reason}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_bound_tokens_over_the_gateways_tls() {
    let issuer = TestIssuer::start().await;
    let (up, state) = upstream().await;
    let dir = scratch_dir();
    let server = server_cert();
    let (c, k) = tls_files(&dir, &server);
    let gw = Gateway::start(
        &config(
            up,
            &issuer,
            &format!(
                "[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_certificates = \"optional\"\n"
            ),
        ),
        &[],
    )
    .await;
    let url = format!("https://localhost:{}/orders/1", gw.addr.port());
    let alice = MtlsClient::generate("alice").unwrap();
    let mallory = MtlsClient::generate("mallory").unwrap();
    let token = issuer
        .mint()
        .scope("orders:read")
        .subject("alice")
        .claim("cnf", alice.cnf())
        .sign();
    let as_alice = https_client(&server.trust, gw.addr, Some(&alice));
    let as_mallory = https_client(&server.trust, gw.addr, Some(&mallory));
    let anonymous = https_client(&server.trust, gw.addr, None);

    let (status, echo, _) = get(&as_alice, &url, &token, &[]).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["headers"]["x-auth-subject"], "alice");
    assert!(echo["headers"].get("client-cert").is_none(), "{echo}");
    // The client spoke TLS to the gateway: the upstream must not be told `http`.
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    let reached = state.requests.load(Ordering::SeqCst);

    let (status, _, challenge) = get(&as_mallory, &url, &token, &[]).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let (status, _, _) = get(&anonymous, &url, &token, &[]).await;
    assert_eq!(status, 401);
    // A client cannot claim a certificate in a header: it is not a trusted proxy.
    let forged = alice.client_cert_header();
    let (status, _, _) = get(&anonymous, &url, &token, &[("client-cert", &forged)]).await;
    assert_eq!(status, 401);
    assert_eq!(
        state.requests.load(Ordering::SeqCst),
        reached,
        "refusals never reach the upstream"
    );
    let m = gw.metrics().await;
    assert_eq!(rejected(&m, "mtls_certificate_mismatch"), 1.0, "{m}");
    assert_eq!(rejected(&m, "mtls_certificate_missing"), 2.0, "{m}");

    // Plain bearer tokens work over TLS, with or without a certificate; a forged header is
    // removed before the upstream sees it.
    let plain = issuer.mint().scope("orders:read").subject("bob").sign();
    let (status, echo, _) = get(
        &anonymous,
        &url,
        &plain,
        &[("client-cert", &forged), ("client_cert", &forged)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(echo["headers"].get("client-cert").is_none(), "{echo}");
    assert!(echo["headers"].get("client_cert").is_none(), "{echo}");
    assert_eq!(get(&as_mallory, &url, &plain, &[]).await.0, 200);
    // HTTP/2 by ALPN.
    let r = as_alice.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
}

#[tokio::test(flavor = "multi_thread")]
async fn required_and_ca_checked_client_certificates() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let dir = scratch_dir();
    let server = server_cert();
    let (c, k) = tls_files(&dir, &server);
    let ca = TestCa::generate("clients").unwrap();
    let ca_file = dir.join("clients-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let gw = Gateway::start(
        &config(
            up,
            &issuer,
            &format!(
                "[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_certificates = \"required\"\nclient_ca_file = {ca_file:?}\n"
            ),
        ),
        &[],
    )
    .await;
    let url = format!("https://localhost:{}/orders/1", gw.addr.port());
    let alice = ca.issue("alice").unwrap();
    let bob = ca.issue("bob").unwrap();
    let token = issuer
        .mint()
        .scope("orders:read")
        .claim("cnf", alice.cnf())
        .sign();
    assert_eq!(
        get(
            &https_client(&server.trust, gw.addr, Some(&alice)),
            &url,
            &token,
            &[]
        )
        .await
        .0,
        200
    );
    // Another certificate of the CA connects; the token is not bound to it.
    assert_eq!(
        get(
            &https_client(&server.trust, gw.addr, Some(&bob)),
            &url,
            &token,
            &[]
        )
        .await
        .0,
        401
    );
    // No certificate, or a self-signed one: the handshake fails.
    for id in [None, Some(MtlsClient::generate("alice").unwrap())] {
        let r = https_client(&server.trust, gw.addr, id.as_ref())
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await;
        assert!(r.is_err(), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_cert_headers_count_only_from_trusted_proxies() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let alice = MtlsClient::generate("alice").unwrap();
    let token = issuer
        .mint()
        .scope("orders:read")
        .subject("alice")
        .claim("cnf", alice.cnf())
        .sign();
    let http = reqwest::Client::new();
    let header = alice.client_cert_header();
    let other = MtlsClient::generate("mallory")
        .unwrap()
        .client_cert_header();

    // Loopback is the trusted proxy here.
    let trusted = Gateway::start(
        &config(
            up,
            &issuer,
            "[server]\nclient_cert_header_from = [\"127.0.0.0/8\", \"::1\"]\n",
        ),
        &[],
    )
    .await;
    let url = trusted.url("/orders/1");
    let (status, echo, _) = get(&http, &url, &token, &[("client-cert", &header)]).await;
    assert_eq!(status, 200, "{echo}");
    // The proxy's header goes on to the upstream; a near-name never does.
    assert_eq!(echo["headers"]["client-cert"], header.as_str());
    let (status, echo, _) = get(
        &http,
        &url,
        &token,
        &[("client-cert", &header), ("client_cert", &other)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(echo["headers"].get("client_cert").is_none(), "{echo}");
    for bad in [other.as_str(), ":not base64:", "MIIB"] {
        assert_eq!(
            get(&http, &url, &token, &[("client-cert", bad)]).await.0,
            401,
            "{bad}"
        );
    }
    assert_eq!(get(&http, &url, &token, &[]).await.0, 401);
    let twice = http
        .get(&url)
        .bearer_auth(&token)
        .header("client-cert", &header)
        .header("client-cert", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);

    // Loopback is not among the trusted proxies: the header is ignored and stripped.
    let untrusted = Gateway::start(
        &config(
            up,
            &issuer,
            "[server]\nclient_cert_header_from = [\"10.0.0.0/8\"]\n",
        ),
        &[],
    )
    .await;
    let url = untrusted.url("/orders/1");
    assert_eq!(
        get(&http, &url, &token, &[("client-cert", &header)])
            .await
            .0,
        401
    );
    let plain = issuer.mint().scope("orders:read").sign();
    let (status, echo, _) = get(&http, &url, &plain, &[("client-cert", &header)]).await;
    assert_eq!(status, 200);
    assert!(echo["headers"].get("client-cert").is_none(), "{echo}");
}

/// The certificate the gateway presents now, by a handshake that trusts `cert`.
async fn serves(cert: &ServerCert, gw: SocketAddr) -> bool {
    https_client(&cert.trust, gw, None)
        .get(format!("https://localhost:{}/orders", gw.port()))
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_a_bad_file_keeps_the_old_one() {
    let issuer = TestIssuer::start().await;
    let (up, _state) = upstream().await;
    let dir = scratch_dir();
    let first = server_cert();
    let (c, k) = tls_files(&dir, &first);
    let gw = Gateway::start(
        &config(
            up,
            &issuer,
            &format!("[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\n"),
        ),
        &[],
    )
    .await;
    assert!(serves(&first, gw.addr).await);
    let hup = || {
        let pid = gw.child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    };

    let second = server_cert();
    tls_files(&dir, &second);
    hup();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !serves(&second, gw.addr).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reloaded: {}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!serves(&first, gw.addr).await);

    std::fs::write(&k, "not a key").unwrap();
    hup();
    while !gw.logs().contains("TLS reload failed") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reload error: {}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        serves(&second, gw.addr).await,
        "the previous certificate stays"
    );
}

#[test]
fn tls_settings_are_checked_and_named() {
    let dir = scratch_dir();
    let cert = server_cert();
    let (c, k) = tls_files(&dir, &cert);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "garbage").unwrap();
    let other_key = dir.join("other-key.pem");
    std::fs::write(
        &other_key,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let base = |server: &str| {
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[issuers]]\nissuer = \"http://127.0.0.1:2\"\naudience = \"api\"\n[[routes]]\nprefix = \"/\"\n{server}"
        )
    };
    for (server, key, why) in [
        (
            format!("[server.tls]\ncert_file = {garbage:?}\nkey_file = {k:?}\n"),
            "server.tls.cert_file",
            "holds no certificate",
        ),
        (
            format!("[server.tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = {k:?}\n"),
            "server.tls.cert_file",
            "cannot read",
        ),
        (
            format!("[server.tls]\ncert_file = {c:?}\nkey_file = {garbage:?}\n"),
            "server.tls.key_file",
            "not a PEM private key",
        ),
        (
            format!("[server.tls]\ncert_file = {c:?}\nkey_file = {other_key:?}\n"),
            "server.tls.key_file",
            "does not go with",
        ),
        (
            format!("[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_ca_file = {c:?}\n"),
            "server.tls.client_ca_file",
            "client_certificates is \"none\"",
        ),
        (
            format!(
                "[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_certificates = \"optional\"\nclient_ca_file = {garbage:?}\n"
            ),
            "server.tls.client_ca_file",
            "holds no certificate",
        ),
        (
            format!(
                "[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_certificates = \"maybe\"\n"
            ),
            "server.tls.client_certificates",
            "unknown variant",
        ),
        (
            "[server]\nclient_cert_header_from = [\"10.0.0.0/33\"]\n".to_owned(),
            "server.client_cert_header_from[0]",
            "not an IP address",
        ),
    ] {
        let (ok, _, err) = check_config(&base(&server));
        assert!(!ok, "{server}");
        assert!(
            err.contains(&format!("{key}: ")) && err.contains(why),
            "{server}: {err}"
        );
    }
    let (ok, text, err) = check_config(&base(&format!(
        "[server]\nclient_cert_header_from = [\"10.1.2.3\"]\n[server.tls]\ncert_file = {c:?}\nkey_file = {k:?}\nclient_certificates = \"optional\"\n"
    )));
    assert!(ok, "{err}");
    assert!(
        text.contains("TLS: certificate")
            && text.contains("client certificates optional, any certificate"),
        "{text}"
    );
    assert!(
        text.contains("Client-Cert (RFC 9440) honoured from: 10.1.2.3/32"),
        "{text}"
    );
}
