//! `oauth-filter inspect TOKEN --config FILE`: every check the gateway makes, with its result.
//!
//! ```text
//! $ oauth-filter inspect - --config gateway.toml --path /orders/1 < token.txt
//! [pass] size          812 bytes (cap 16384)
//! [pass] structure     compact JWS, JSON header and claims
//! [pass] issuer        http://127.0.0.1:9400 (issuers[0])
//! [pass] algorithm     RS256
//! [pass] key           kid rs256-3f2a… in the issuer's key set
//! [FAIL] signature     the token signature is invalid
//! [info] exp           in 59 min (leeway 60 s) (unverified)
//! verdict: REJECTED 401 bad_signature
//! ```
//!
//! The verdict is the filter's own: the token goes through the same `Authorization: Bearer`
//! extraction and [`oauth_filter::OAuthFilter::authenticate`] as in the gateway (JWKS and
//! introspection included), so `inspect` cannot disagree with it. Which steps ran is the
//! filter's own routing decision ([`oauth_filter::OAuthFilter::verification_path`]): a token sent
//! to introspection shows the introspection step only, never JWT steps that did not run. The
//! filter stops at the first failure; the steps before it passed, the steps after it were not
//! reached, and the claims are then also evaluated from the decoded token and marked
//! `unverified`. Exit status: 0 accepted, 1 rejected (for `--path`: that request), 2 bad
//! configuration. The token is printed decoded (it is the caller's own), never logged.

use crate::gateway::config::{self, Access, Config, IssuerSummary};
use oauth_filter::jose::base64url;
use oauth_filter::{
    AccessToken, AuthError, ExtractionPolicy, RequestParts, Scopes, VerificationPath,
};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The filter's steps, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Size,
    Credential,
    Structure,
    Issuer,
    Algorithm,
    Key,
    Signature,
    Claims,
    Introspection,
}

fn step_of(e: &AuthError) -> Step {
    match e {
        AuthError::TokenTooLarge => Step::Size,
        AuthError::MultipleAuthorizationHeaders
        | AuthError::MultipleTokens
        | AuthError::MalformedAuthorizationHeader
        | AuthError::MissingToken => Step::Credential,
        AuthError::MalformedToken | AuthError::EncryptedToken | AuthError::CriticalHeader => {
            Step::Structure
        }
        AuthError::UnknownIssuer
        | AuthError::MissingClaim("iss")
        | AuthError::InvalidClaim("iss") => Step::Issuer,
        AuthError::UnsupportedAlgorithm => Step::Algorithm,
        AuthError::UnknownKey | AuthError::AmbiguousKey | AuthError::KeysUnavailable => Step::Key,
        AuthError::BadSignature => Step::Signature,
        AuthError::InactiveToken | AuthError::IntrospectionUnavailable => Step::Introspection,
        _ => Step::Claims,
    }
}

fn line(mark: &str, name: &str, text: impl std::fmt::Display) {
    println!("[{mark}] {name:<13} {text}");
}

fn decode_part(part: Option<&str>) -> Option<Map<String, Value>> {
    let bytes = base64url::decode(part?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn relative(secs: f64) -> String {
    let (abs, past) = (secs.abs(), secs < 0.0);
    let text = if abs >= 120.0 {
        format!("{} min", (abs / 60.0).round())
    } else {
        format!("{} s", abs.round())
    };
    if past {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

pub(crate) async fn run(args: InspectArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let config = config::load(&args.config, std::env::vars())?;
    let mut token = args.token.clone();
    if token == "-" {
        token.clear();
        std::io::stdin().read_to_string(&mut token)?;
    }
    let token = token.trim();
    // Exactly what the gateway does with `Authorization: Bearer <token>`: extraction (size cap,
    // b64token), then verification.
    let header = format!("Bearer {token}");
    let parts = RequestParts::new().authorization(header.as_bytes());
    let policy = ExtractionPolicy {
        max_token_len: config.max_token_bytes,
        ..ExtractionPolicy::default()
    };
    let extracted = parts.bearer_token(&policy);
    let outcome = config
        .filter
        .authenticate(&parts)
        .await
        .and_then(|t| t.ok_or(AuthError::MissingToken));
    let path = config.filter.verification_path(token);
    let failed = match (&extracted, &outcome) {
        (Err(AuthError::TokenTooLarge), _) => Some(Step::Size),
        (Err(_), _) => Some(Step::Credential),
        // Whatever introspection refused (inactive, wrong token_type, audience...), it was the
        // introspection step.
        (Ok(_), Err(_)) if path == VerificationPath::Introspection => Some(Step::Introspection),
        (Ok(_), Err(e)) => Some(step_of(e)),
        (Ok(_), Ok(_)) => None,
    };
    let mark = |step: Step| match failed {
        None => "pass",
        Some(f) if step < f => "pass",
        Some(f) if step == f => "FAIL",
        Some(_) => "skip",
    };
    let why = |step: Step| match (&outcome, failed) {
        (Err(e), Some(f)) if f == step => format!(" — {e}"),
        (_, Some(f)) if step > f => String::from(" — not reached"),
        _ => String::new(),
    };

    let segments: Vec<&str> = token.split('.').collect();
    let header = decode_part(segments.first().copied());
    let claims = decode_part(segments.get(1).copied());
    if let Some(h) = &header {
        println!("header: {}", Value::Object(h.clone()));
    }
    if let Some(c) = &claims {
        println!("claims: {}", Value::Object(c.clone()));
    }
    let issuer = claims
        .as_ref()
        .and_then(|c| c.get("iss"))
        .and_then(Value::as_str)
        .and_then(|iss| config.issuers.iter().find(|i| i.issuer == iss));

    line(
        mark(Step::Size),
        "size",
        format!(
            "{} bytes (cap {}){}",
            token.len(),
            config.max_token_bytes,
            why(Step::Size)
        ),
    );
    line(
        mark(Step::Credential),
        "credential",
        format!("Bearer b64token (RFC 6750 §2.1){}", why(Step::Credential)),
    );
    if failed.is_some_and(|f| f <= Step::Credential) {
        // Nothing after extraction ran: no verification step is shown as passed.
    } else if path == VerificationPath::Introspection {
        line(
            mark(Step::Introspection),
            "introspection",
            match &outcome {
                Ok(_) => String::from("active"),
                Err(_) => why(Step::Introspection)
                    .trim_start_matches(" — ")
                    .to_owned(),
            },
        );
    } else {
        line(
            mark(Step::Structure),
            "structure",
            format!(
                "compact JWS, JSON header and claims{}",
                why(Step::Structure)
            ),
        );
        let iss = claims
            .as_ref()
            .and_then(|c| c.get("iss"))
            .map_or_else(|| String::from("(none)"), ToString::to_string);
        let named = issuer.map_or_else(String::new, |i| format!(" ({})", i.name));
        line(
            mark(Step::Issuer),
            "issuer",
            format!("{iss}{named}{}", why(Step::Issuer)),
        );
        let alg = header
            .as_ref()
            .and_then(|h| h.get("alg"))
            .map_or_else(|| String::from("(none)"), ToString::to_string);
        line(
            mark(Step::Algorithm),
            "algorithm",
            format!("{alg}{}", why(Step::Algorithm)),
        );
        let kid = header
            .as_ref()
            .and_then(|h| h.get("kid"))
            .map_or_else(|| String::from("(no kid)"), |k| format!("kid {k}"));
        line(mark(Step::Key), "key", format!("{kid}{}", why(Step::Key)));
        let signature = match (mark(Step::Signature), why(Step::Signature)) {
            ("pass", _) => String::from("verified"),
            (_, w) => w.trim_start_matches(" — ").to_owned(),
        };
        line(mark(Step::Signature), "signature", signature);
        if claims.is_some() {
            claim_lines(&config, issuer, claims.as_ref(), &outcome, failed);
        }
    }

    let verdict = match &outcome {
        Ok(_) => String::from("ACCEPTED (valid token)"),
        Err(e) => format!("REJECTED {} {}", e.status(), e.reason_code()),
    };
    println!("verdict: {verdict}");
    let mut exit = u8::from(outcome.is_err());

    // Routes: what each would decide for this token.
    let (scopes, verified) = match &outcome {
        Ok(t) => (t.scopes().clone(), true),
        Err(_) => (
            Scopes::from_space_separated(
                claims
                    .as_ref()
                    .and_then(|c| c.get("scope"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            false,
        ),
    };
    println!(
        "routes (scopes {}: {}):",
        if verified {
            "of the verified token"
        } else {
            "as decoded, unverified"
        },
        scopes.iter().collect::<Vec<_>>().join(" ")
    );
    for r in &config.routes {
        let decision = route_decision(r, &outcome, &scopes);
        println!("  {} {} {}: {decision}", r.name, r.path, r.methods_text());
    }
    if let Some(path) = &args.path {
        let decoded = match oauth_filter::path::check(path) {
            Ok(p) => p,
            Err(why) => {
                println!("request {} {path}: 400 ({why})", args.method);
                return Ok(1);
            }
        };
        let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("--method: `{}` is not an HTTP method", args.method))?;
        let decision = match crate::gateway::proxy::select_route(&config.routes, &decoded, &method)
        {
            crate::gateway::proxy::Selected::NoRoute => String::from("404 no route"),
            crate::gateway::proxy::Selected::WrongMethod(allow) => {
                format!("405 method not allowed (Allow: {allow})")
            }
            crate::gateway::proxy::Selected::Route(r) => {
                format!("{} → {}", r.name, route_decision(r, &outcome, &scopes))
            }
        };
        exit = u8::from(!decision.contains("allowed"));
        println!("request {method} {path}: {decision}");
    }
    Ok(exit)
}

fn route_decision(
    r: &config::Route,
    outcome: &Result<AccessToken, AuthError>,
    scopes: &Scopes,
) -> String {
    match (&r.access, outcome) {
        (Access::Public, _) => String::from("allowed (public)"),
        (Access::Protected(_), Err(e)) => format!("{} {}", e.status(), e.reason_code()),
        (Access::Protected(req), Ok(_)) if req.is_met_by(scopes) => {
            format!("allowed (needs {req})")
        }
        (Access::Protected(req), Ok(_)) => format!("403 insufficient_scope (needs {req})"),
    }
}

fn claim_lines(
    config: &Config,
    issuer: Option<&IssuerSummary>,
    claims: Option<&Map<String, Value>>,
    outcome: &Result<AccessToken, AuthError>,
    failed: Option<Step>,
) {
    let verified = outcome.is_ok() || failed == Some(Step::Claims);
    let core_failure = match outcome {
        Err(e) if failed == Some(Step::Claims) => Some(e),
        _ => None,
    };
    let suffix = if verified { "" } else { " (unverified)" };
    let leeway = config.leeway.as_secs_f64();
    let now = now();
    let get = |n: &str| claims.and_then(|c| c.get(n));
    let number = |n: &str| get(n).and_then(Value::as_f64);
    // Each claim: the filter's failure if it named this claim, else our reading of it.
    let show = |name: &str, ok: bool, text: String, fails_with: &[AuthError]| {
        let core_says = core_failure.is_some_and(|e| fails_with.contains(e));
        let mark = match (core_says, verified, ok) {
            (true, _, _) => "FAIL",
            (false, true, _) => "pass",
            (false, false, true) => "info",
            (false, false, false) => "warn",
        };
        line(mark, name, format!("{text}{suffix}"));
    };
    match number("exp") {
        Some(exp) => show(
            "exp",
            now < exp + leeway,
            format!("{} (leeway {} s)", relative(exp - now), leeway),
            &[
                AuthError::Expired,
                AuthError::MissingClaim("exp"),
                AuthError::InvalidClaim("exp"),
            ],
        ),
        None => show(
            "exp",
            false,
            String::from("missing or not a number"),
            &[
                AuthError::MissingClaim("exp"),
                AuthError::InvalidClaim("exp"),
            ],
        ),
    }
    if let Some(nbf) = number("nbf") {
        show(
            "nbf",
            nbf <= now + leeway,
            relative(nbf - now),
            &[AuthError::NotYetValid, AuthError::InvalidClaim("nbf")],
        );
    }
    if let Some(iat) = number("iat") {
        show(
            "iat",
            iat <= now + leeway,
            relative(iat - now),
            &[AuthError::IssuedInFuture, AuthError::InvalidClaim("iat")],
        );
    }
    let aud = get("aud").map_or_else(|| String::from("(none)"), ToString::to_string);
    let expected = issuer.map_or("?", |i| i.audience.as_str());
    let aud_ok = match get("aud") {
        Some(Value::String(a)) => a == expected,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
        _ => false,
    };
    show(
        "aud",
        aud_ok,
        format!("{aud} (expected {expected})"),
        &[AuthError::AudienceMismatch, AuthError::InvalidClaim("aud")],
    );
    if let Some(i) = issuer {
        let typ_rule = if i.strict_rfc9068 {
            "at+jwt required"
        } else {
            "JWT, at+jwt or none"
        };
        line(
            if core_failure == Some(&AuthError::WrongTokenType) {
                "FAIL"
            } else if verified {
                "pass"
            } else {
                "info"
            },
            "typ",
            format!("({typ_rule}){suffix}"),
        );
    }
    // A claim failure not shown above (a missing `sub`, say) gets its own line.
    let shown = |e: &AuthError| match e {
        AuthError::Expired
        | AuthError::NotYetValid
        | AuthError::IssuedInFuture
        | AuthError::AudienceMismatch
        | AuthError::WrongTokenType => true,
        AuthError::MissingClaim(c) | AuthError::InvalidClaim(c) => {
            ["exp", "nbf", "iat", "aud"].contains(c)
        }
        _ => false,
    };
    if let Some(e) = core_failure.filter(|e| !shown(e)) {
        line("FAIL", "claims", e);
    }
}
