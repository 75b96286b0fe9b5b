//! Runs `oauth-filter demo` as a user would and follows its printed curl commands.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{BIN, Killed};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn demo_prints_commands_that_work() {
    let mut child = Command::new(BIN)
        .args(["demo", "--port", "0", "--issuer-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Killed(child);
    let mut curls = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("curl ") {
            curls.push(line.clone());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert_eq!(curls.len(), 3, "{curls:?}");
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for curl in &curls {
        let url = curl.split_whitespace().last().unwrap();
        let mut req = http.get(url);
        if let Some(start) = curl.find("Bearer ") {
            let token = curl[start + 7..].split('\'').next().unwrap();
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 200 {
            let body = resp.text().await.unwrap();
            assert!(
                body.contains("Hello World!") && body.contains("demo-user"),
                "{body}"
            );
        }
    }
    assert_eq!(statuses, [200, 403, 401]);
}
