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
    let mut issuer = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("READY issuer=") {
            issuer = Some(i.to_owned());
            break;
        }
    }
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
    assert!(report.contains("[FAIL] exp"), "{report}");
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
    assert!(
        report.contains("[skip] signature     not reached"),
        "{report}"
    );

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
