//! `dev-issuer`, `mint` and `inspect` as a developer uses them: separate processes, a state file,
//! the printed token, and `inspect`'s exit status and report.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{BIN, Killed, scratch_dir};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts `dev-issuer`; returns the process and its issuer URL.
fn dev_issuer(state: &Path, port: u16) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args(["dev-issuer", "--port", &port.to_string(), "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut issuer = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("READY issuer=") {
            issuer = Some(i.to_owned());
            break;
        }
    }
    // Keep reading what it prints after READY: a closed pipe must not be what stops it.
    std::thread::spawn(move || lines.for_each(drop));
    (guard, issuer.expect("dev-issuer printed no READY line"))
}

fn mint(state: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("mint")
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs `inspect` with the token on stdin; returns (exit code, report).
fn inspect(config: &Path, token: &str, extra: &[&str]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(["inspect", "-", "--config"])
        .arg(config)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), token.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

#[test]
fn mint_tokens_that_the_gateway_checks_accept_and_inspect_explains_rejections() {
    let dir = scratch_dir();
    let state = dir.join("dev-issuer.json");
    let (issuer_process, issuer) = dev_issuer(&state, 0);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the state file holds a private key");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[issuers]]\nissuer = \"{issuer}\"\naudience = \"api\"\n\
             [[routes]]\npath = \"/public\"\npublic = true\n[[routes]]\nprefix = \"/orders\"\nscopes = [\"orders:read\"]\n"
        ),
    )
    .unwrap();

    let good = mint(
        &state,
        &[
            "--scope",
            "orders:read",
            "--sub",
            "alice",
            "--claim",
            "tier=\"gold\"",
        ],
    );
    let (code, report) = inspect(&config, &good, &["--path", "/orders/1"]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("[pass] signature     verified"), "{report}");
    assert!(report.contains("\"tier\":\"gold\""), "{report}");
    assert!(
        report.contains("request GET /orders/1: routes[1] → allowed"),
        "{report}"
    );

    // Scopes in `scp` (an array, as Azure and Okta send them) are the filter's scopes, so
    // inspect's decision is the gateway's (the old inspect read only `scope`).
    let scp = mint(&state, &["--claim", r#"scp=["orders:read"]"#]);
    let (code, report) = inspect(&config, &scp, &["--path", "/orders/1"]);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("request GET /orders/1: routes[1] → allowed"),
        "{report}"
    );

    // Valid token, missing scope for the request: exit 1, 403 named.
    let other = mint(&state, &["--scope", "profile"]);
    let (code, report) = inspect(&config, &other, &["--path", "/orders/1"]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("verdict: ACCEPTED"), "{report}");
    assert!(
        report.contains("403 insufficient_scope (needs all of: orders:read)"),
        "{report}"
    );
    // ... but fine for the public route.
    let (code, _) = inspect(&config, &other, &["--path", "/public"]);
    assert_eq!(code, 0);

    // Expired: the exp step fails, the steps before it passed.
    let expired = mint(&state, &["--lifetime", "-600"]);
    let (code, report) = inspect(&config, &expired, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("[pass] signature"), "{report}");
    assert!(
        report.contains("[FAIL] time          exp is past"),
        "{report}"
    );
    assert!(report.contains("verdict: REJECTED 401 expired"), "{report}");

    // Wrong audience.
    let (code, report) = inspect(&config, &mint(&state, &["--audience", "other"]), &[]);
    assert_eq!(code, 1);
    assert!(report.contains("[FAIL] aud"), "{report}");

    // Tampered signature: fails there; the claims are shown as unverified.
    let at = good.rfind('.').unwrap() + 5;
    let mut forged = good.clone();
    let swap = if &good[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, swap);
    let (code, report) = inspect(&config, &forged, &[]);
    assert_eq!(code, 1);
    assert!(report.contains("[FAIL] signature"), "{report}");
    assert!(report.contains("(unverified)"), "{report}");

    // Not a JWT: structure fails, later steps not reached.
    let (code, report) = inspect(&config, "not-a-token", &[]);
    assert_eq!(code, 1);
    assert!(report.contains("[FAIL] structure"), "{report}");
    // Only steps that ran are shown.
    assert!(!report.contains("signature"), "{report}");

    // The key survives a restart: the same token still verifies against the new process.
    let port: u16 = issuer.rsplit(':').next().unwrap().parse().unwrap();
    drop(issuer_process);
    let (_again, issuer2) = dev_issuer(&state, port);
    assert_eq!(issuer2, issuer);
    let (code, report) = inspect(&config, &good, &[]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn mint_without_a_dev_issuer_says_what_to_do() {
    let out = Command::new(BIN)
        .args(["mint", "--state"])
        .arg(scratch_dir().join("none.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("start `oauth-filter dev-issuer` first"),
        "{err}"
    );
}

/// The flake's root cause: a parent that reads READY and closes the pipe made the dev-issuer
/// panic on `EPIPE` (with stderr discarded, silently). It must keep serving with no reader.
#[test]
fn dev_issuer_survives_a_closed_stdout() {
    let state = scratch_dir().join("dev-issuer.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args(["dev-issuer", "--port", &port.to_string(), "--state"])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // nobody will ever read what it prints
    let guard = Killed(child);
    // The state file is written just before the banner: wait for it, then for an answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !state.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "dev-issuer never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let answer = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /jwks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dev-issuer is not serving"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Ctrl-C: a dev-issuer that lived through its banner exits 0; one that died writing it
    // (status 101, "failed printing to stdout") or had not got there cannot.
    let mut guard = guard;
    let pid = guard.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = guard.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "dev-issuer did not survive a closed stdout: {status}"
    );
}

/// `inspect` never disagrees with the gateway, and never marks a step that did not run as
/// passed: odd credentials fail the same extraction the gateway applies, and in hybrid mode a
/// token sent to introspection shows only that step.
#[tokio::test(flavor = "multi_thread")]
async fn inspect_agrees_with_the_gateway_in_hybrid_mode() {
    let dir = scratch_dir();
    let state = dir.join("dev-issuer.json");
    let (_issuer_process, issuer) = dev_issuer(&state, 0);
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"http://127.0.0.1:1\"\n\
             [[issuers]]\nissuer = \"{issuer}\"\naudience = \"api\"\n\
             [introspection]\nendpoint = \"{issuer}/introspect\"\nclient_id = \"{id}\"\n\
             client_secret = {secret:?}\n\
             [[routes]]\nprefix = \"/\"\nscopes = [\"read\"]\n",
            id = oauth_filter_testkit::INTROSPECTION_CLIENT_ID,
            secret = oauth_filter_testkit::INTROSPECTION_CLIENT_SECRET,
        ),
    )
    .unwrap();
    let gateway = common::Gateway::start(&std::fs::read_to_string(&config).unwrap(), &[]).await;
    let foreign_none = format!(
        "{}.{}.",
        oauth_filter_testkit::b64url(br#"{"alg":"none"}"#),
        oauth_filter_testkit::b64url(br#"{"iss":"https://elsewhere.example","sub":"x"}"#)
    );
    let good = mint(&state, &["--scope", "read"]);
    let cases: [(&str, &str, &str); 5] = [
        (
            "h. p.s",
            "[FAIL] credential",
            "REJECTED 401 malformed_token",
        ),
        (
            "h==.p.s",
            "[FAIL] credential",
            "REJECTED 401 malformed_token",
        ),
        (
            "opaque-token-nobody-issued",
            "[FAIL] introspection",
            "REJECTED 401 inactive_token",
        ),
        (
            &foreign_none,
            "[FAIL] introspection",
            "REJECTED 401 inactive_token",
        ),
        (&good, "[pass] signature     verified", "ACCEPTED"),
    ];
    for (token, step, verdict) in cases {
        let (code, report) = inspect(&config, token, &[]);
        assert!(report.contains(step), "{token}: {report}");
        assert!(
            report.contains(&format!("verdict: {verdict}")),
            "{token}: {report}"
        );
        assert_eq!(code, i32::from(verdict != "ACCEPTED"), "{token}: {report}");
        if step.contains("introspection") || step.contains("credential") {
            for never in ["[pass] structure", "[pass] algorithm", "[pass] signature"] {
                assert!(
                    !report.contains(never),
                    "{token}: a step that did not run passed: {report}"
                );
            }
        }
        // The gateway's answer to the same Authorization header.
        let request = format!(
            "GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        let status = common::raw_status(gateway.addr, &request).await;
        let expected = if verdict == "ACCEPTED" { 502 } else { 401 };
        assert_eq!(
            status, expected,
            "{token}: the gateway disagrees with inspect"
        );
    }
}
