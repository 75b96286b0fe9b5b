//! `oauth-filter inspect TOKEN --config FILE`: every check the gateway makes, with its result.
//!
//! ```text
//! $ oauth-filter inspect - --config gateway.toml --path /orders/1 < token.txt
//! claims (unverified): {"aud":"api","exp":1764633600,"iss":"http://127.0.0.1:9400",...}
//! [pass] credential    a Bearer token
//! [pass] size          812 bytes (cap 16384)
//! [pass] structure     compact JWS, JSON header and claims, alg RS256
//! [pass] issuer        http://127.0.0.1:9400: a trusted JWT issuer, verified locally
//! [pass] algorithm     RS256
//! [FAIL] signature     the token's signature is invalid
//! verdict: REJECTED 401 bad_signature
//! ```
//!
//! Every line is the filter's own trace ([`oauth_filter::OAuthFilter::explain`]): the token goes
//! through the same `Authorization: Bearer` extraction and verifier as in the gateway (JWKS and
//! introspection included), with recording on, so `inspect` cannot disagree with it and shows
//! only steps that ran. The decoded header and claims are printed first, marked `unverified`
//! unless the token was accepted. Exit status: 0 accepted, 1 rejected (for `--path`: that
//! request), 2 bad configuration. The token is printed decoded (it is the caller's own), never
//! logged.

use crate::gateway::config;
use base64::Engine;
use oauth_filter::{Protection, RequestParts, Requirement, Trace, Verdict};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

/// Options of `inspect`.
#[derive(clap::Args)]
pub(crate) struct InspectArgs {
    /// The token, or `-` to read it from stdin (keeps it out of shell history).
    token: String,
    /// The gateway configuration whose checks to apply.
    #[arg(long, env = "OAUTH_FILTER_CONFIG")]
    config: PathBuf,
    /// Also decide a request for this path (exit status then follows that decision).
    #[arg(long)]
    path: Option<String>,
    /// The method of that request.
    #[arg(long, default_value = "GET")]
    method: String,
}

/// A segment decoded as JSON, if it is one.
fn decode_part(part: Option<&str>) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part?)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn print_trace(trace: &Trace) {
    for step in trace.steps() {
        println!("[{}] {:<13} {}", step.outcome, step.name, step.detail);
    }
}

fn verdict_text(trace: &Trace) -> (bool, String) {
    match trace.decision() {
        Some(Verdict::Allowed) => (true, String::from("ACCEPTED (valid token)")),
        Some(Verdict::Anonymous) => (true, String::from("ACCEPTED (no token needed)")),
        Some(Verdict::Refused(e)) => (
            false,
            format!("REJECTED {} {}", e.status(), e.reason_code()),
        ),
        _ => (false, String::from("REJECTED (no decision)")),
    }
}

pub(crate) async fn run(args: InspectArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let config = config::load(&args.config, std::env::vars(), None)?;
    let mut token = args.token.clone();
    if token == "-" {
        token.clear();
        std::io::stdin().read_to_string(&mut token)?;
    }
    let token = token.trim();
    // Exactly what the gateway sees: `Authorization: Bearer <token>`.
    let header = format!("Bearer {token}");
    let parts = RequestParts::new().authorization(header.as_bytes());
    let trace = config
        .filter
        .explain(&parts, &Requirement::Authenticated)
        .await;
    let (accepted, verdict) = verdict_text(&trace);
    let mark = if accepted { "" } else { " (unverified)" };
    let mut segments = token.split('.');
    if let Some(h) = decode_part(segments.next()) {
        println!("header{mark}: {h}");
    }
    if let Some(c) = decode_part(segments.next()) {
        println!("claims{mark}: {c}");
    }
    print_trace(&trace);
    println!("verdict: {verdict}");
    let mut exit = u8::from(!accepted);

    println!("routes (most specific first):");
    for (name, path, methods, access) in config.routes.describe() {
        println!("  {name}: {path} {methods}: {access}");
    }
    if let Some(line) = crate::gateway::describe_metadata(&config.filter) {
        println!("{line}");
    }
    if let Some(path) = &args.path {
        let method = args.method.to_ascii_uppercase();
        let parts = parts.clone().method(&method).path(path);
        let trace = config
            .filter
            .explain(&parts, Protection::Routes(&config.routes))
            .await;
        let route = config.routes.select(&method, path).ok();
        let name = route.map_or("no route", |r| r.name());
        let text = match trace.decision() {
            Some(Verdict::Allowed | Verdict::Anonymous) => String::from("allowed"),
            Some(Verdict::Refused(e)) => {
                let needs = route
                    .and_then(|r| r.requirement())
                    .map_or_else(String::new, |r| format!(" (needs {r})"));
                format!("{} {}{needs}", e.status(), e.reason_code())
            }
            _ => String::from("no decision"),
        };
        println!("request {method} {path}: {name} → {text}");
        exit = u8::from(!matches!(
            trace.decision(),
            Some(Verdict::Allowed | Verdict::Anonymous)
        ));
    }
    Ok(exit)
}
