//! Configuration mistakes through the binary: `check-config` and `gateway` both refuse with exit
//! status 2 and a message naming the key and the reason; a good file passes `check-config`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{BIN, scratch_dir};
use std::process::Command;

const GOOD: &str = r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "http://127.0.0.1:3000"
[[issuers]]
issuer = "https://idp.example"
audience = "api"
[[routes]]
path = "/health"
public = true
[[routes]]
prefix = "/"
scopes = ["read"]
"#;

/// Runs a subcommand on this file text; returns (exit code, stdout, stderr).
fn run(sub: &str, text: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let path = scratch_dir().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(sub).arg("--config").arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_file_passes_check_config() {
    let (code, out, err) = run("check-config", GOOD, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("configuration OK"), "{out}");
    assert!(out.contains("2 route(s)"), "{out}");
}

#[test]
fn the_documented_example_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.example.toml"))
            .unwrap();
    let (code, out, err) = run(
        "check-config",
        &text,
        &[("OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET", "from-env")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 route(s)"), "{out}");
}

#[test]
fn mistakes_name_the_key_and_exit_2() {
    type Env = &'static [(&'static str, &'static str)];
    let cases: [(&str, String, Env, &str); 7] = [
        (
            "missing upstream",
            GOOD.replace("[upstream]\nurl = \"http://127.0.0.1:3000\"\n", ""),
            &[],
            "configuration error: upstream: missing",
        ),
        (
            "bad URL",
            GOOD.replace("http://127.0.0.1:3000", "127.0.0.1:3000"),
            &[],
            "configuration error: upstream.url: not a valid absolute URL",
        ),
        (
            "unknown key",
            GOOD.replace(
                "audience = \"api\"",
                "audience = \"api\"\naudiance = \"api\"",
            ),
            &[],
            "configuration error: issuers[0].audiance: unknown field `audiance`",
        ),
        (
            "contradictory routes",
            format!("{GOOD}\n[[routes]]\npath = \"/health\"\nscopes = [\"admin\"]\n"),
            &[],
            "configuration error: routes[2]: contradictory: matches the same path and methods as routes[0]",
        ),
        (
            "public with scopes",
            GOOD.replace("public = true", "public = true\nscopes = [\"x\"]"),
            &[],
            "configuration error: routes[0]: contradictory: a public route cannot require scopes",
        ),
        (
            "bad environment override",
            GOOD.to_owned(),
            &[("OAUTH_FILTER__UPSTREAM__URL", "ftp://files")],
            "configuration error: upstream.url: scheme `ftp` is not supported",
        ),
        (
            "no issuer",
            GOOD.replace(
                "[[issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\n",
                "",
            ),
            &[],
            "configuration error: issuers: at least one trusted issuer or an introspection endpoint is required",
        ),
    ];
    for (name, text, env, expected) in cases {
        for sub in ["check-config", "gateway"] {
            let (code, _, err) = run(sub, &text, env);
            assert_eq!(code, 2, "{name} / {sub}: {err}");
            assert!(err.contains(expected), "{name} / {sub}: {err}");
        }
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["check-config", "--config", "/nonexistent/gateway.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read /nonexistent/gateway.toml"),
        "{err}"
    );
}
