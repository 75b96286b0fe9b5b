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
fn check_config_says_which_engine_serves_http1_and_why() {
    let (code, out, err) = run("check-config", GOOD, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("HTTP/1.1: the gateway's own engine"), "{out}");
    for (change, why) in [
        (
            GOOD.replace(
                "[upstream]",
                "[server]\nhttp1_fast_path = false\n[upstream]",
            ),
            "HTTP/1.1: hyper (server.http1_fast_path = false)",
        ),
        (
            GOOD.replace("http://127.0.0.1:3000", "https://127.0.0.1:3000"),
            "HTTP/1.1: hyper (the upstream is https)",
        ),
        (
            GOOD.replace("[upstream]", "[upstream]\nprotocol = \"h2c\""),
            "HTTP/1.1: hyper (the upstream speaks h2c)",
        ),
        (
            format!("{GOOD}\n[cors]\nallowed_origins = [\"https://app.example\"]\n"),
            "HTTP/1.1: hyper ([cors] is configured)",
        ),
    ] {
        let (code, out, err) = run("check-config", &change, &[]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(why), "{why}: {out}");
    }
    let (code, _, err) = run(
        "check-config",
        &GOOD.replace(
            "[upstream]",
            "[server]\nhttp1_fast_path = \"yes\"\n[upstream]",
        ),
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("http1_fast_path"), "{err}");
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
    assert!(out.contains("5 route(s)"), "{out}");
}

#[test]
fn mistakes_name_the_key_and_exit_2() {
    type Env = &'static [(&'static str, &'static str)];
    let cases: Vec<(&str, String, Env, &str)> = vec![
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
        (
            "plain http: the hint names nothing the file lacks",
            GOOD.replace("https://idp.example", "http://idp.example"),
            &[],
            "configuration error: issuers[0].issuer: plain http is only allowed for loopback hosts; \
             use https",
        ),
        (
            "missing client secret: points to the environment",
            format!(
                "{GOOD}\n[introspection]\nendpoint = \"https://idp.example/introspect\"\nclient_id = \"api\"\n"
            ),
            &[],
            "configuration error: introspection.client_secret: missing (set it in the file or, \
             better, in the environment as OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET)",
        ),
        (
            "a type error inside an array keeps its index",
            GOOD.to_owned(),
            &[("OAUTH_FILTER__ISSUERS__0__STRICT_RFC9068", "yes")],
            "configuration error: issuers[0].strict_rfc9068: invalid type",
        ),
        (
            "a type error in an array defined by the environment alone",
            GOOD.replace(
                "[[issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\n",
                "",
            ),
            &[
                ("OAUTH_FILTER__ISSUERS__0__ISSUER", "https://idp.example"),
                ("OAUTH_FILTER__ISSUERS__0__AUDIENCE", "api"),
                ("OAUTH_FILTER__ISSUERS__1__ISSUER", "https://other.example"),
                ("OAUTH_FILTER__ISSUERS__1__AUDIENCE", "api"),
                ("OAUTH_FILTER__ISSUERS__1__STRICT_RFC9068", "7"),
            ],
            "configuration error: issuers[1].strict_rfc9068: invalid type",
        ),
        (
            "core limits under the file's names",
            format!("leeway_secs = 301\n{GOOD}"),
            &[],
            "configuration error: leeway_secs: must be at most 300 seconds",
        ),
        (
            "revocation window under the file's name",
            format!(
                "{GOOD}\n[introspection]\nendpoint = \"https://idp.example/introspect\"\nclient_id = \"api\"\nclient_secret = \"s\"\nmax_cache_ttl_secs = 4000\n"
            ),
            &[],
            "configuration error: introspection.max_cache_ttl_secs: must be at most 3600 seconds",
        ),
        (
            "require_audience without an audience",
            format!(
                "{GOOD}\n[introspection]\nendpoint = \"https://idp.example/introspect\"\nclient_id = \"api\"\nclient_secret = \"s\"\nrequire_audience = true\n"
            ),
            &[],
            "configuration error: introspection.require_audience: needs an audience to require (introspection.audience)",
        ),
        (
            "server limits",
            format!("{GOOD}\n[server]\nidle_timeout_secs = 0\n"),
            &[],
            "configuration error: server.idle_timeout_secs: must be between 1 and 86400 seconds",
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
fn issuers_can_come_from_the_environment_alone() {
    let text = GOOD.replace(
        "[[issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\n",
        "",
    );
    let (code, out, err) = run(
        "check-config",
        &text,
        &[
            ("OAUTH_FILTER__ISSUERS__0__ISSUER", "https://idp.example"),
            ("OAUTH_FILTER__ISSUERS__0__AUDIENCE", "api"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("configuration OK"), "{out}");
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
