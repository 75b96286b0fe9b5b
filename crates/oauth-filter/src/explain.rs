//! `explain`: the verifier's own trace of a request, step by step, as it runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_filter::{OAuthFilter, RequestParts, Requirement};
//! let filter = OAuthFilter::with_jwks("https://idp.example/jwks", "https://idp.example", "api")?;
//! let parts = RequestParts::new().authorization(b"Bearer eyJ...");
//! let trace = filter.explain(&parts, &Requirement::all_of(["read"])).await;
//! for step in trace.steps() {
//!     println!("[{}] {:<12} {}", step.outcome, step.name, step.detail);
//! }
//! println!("{:?}", trace.decision());
//! # Ok(()) }
//! ```
//!
//! [`crate::OAuthFilter::explain`] runs the same code as every request (extraction, size,
//! structure, routing, signature, claims, binding, requirement), with recording switched on;
//! there is no second decoder that could drift from the verifier. The trace names claim values
//! and the clock: it is for the operator, never for a client, and it is never logged.

use crate::error::AuthError;
use std::fmt;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The step's check held.
    Pass,
    /// The step's check failed: the request is refused here.
    Fail,
    /// A fact, not a check (the route taken, a refresh).
    Info,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::Info => "info",
        })
    }
}

/// One step of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// What was checked (`size`, `structure`, `route`, `issuer`, `algorithm`, `key`,
    /// `signature`, `time`, `aud`, `binding`, `requirement`, …).
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// What the verifier saw, values included.
    pub detail: String,
}

/// What a request would get.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Let through (with the token's subject, if any).
    Allowed,
    /// Let through without a token (optional authentication, or a public route).
    Anonymous,
    /// Refused with this error.
    Refused(AuthError),
}

/// A recorder the pipeline writes to. Off (the normal case) it costs a branch per step; the
/// closures that format details run only when it is on.
#[derive(Debug, Default)]
pub struct Trace {
    steps: Option<Vec<Step>>,
    verdict: Option<Verdict>,
    /// Records only failures (for the context of a logged rejection).
    failures_only: bool,
}

impl Trace {
    /// A trace that records nothing (every ordinary request).
    pub(crate) fn off() -> Self {
        Self::default()
    }

    /// A trace that records every step.
    pub(crate) fn on() -> Self {
        Self {
            steps: Some(Vec::new()),
            verdict: None,
            failures_only: false,
        }
    }

    /// A trace that records only the step that refuses, if any: the context of a rejection for
    /// the log line (`exp` and the clock for an expired token). Nothing is formatted on the
    /// path of a request that passes.
    pub(crate) fn failures() -> Self {
        Self {
            steps: Some(Vec::new()),
            verdict: None,
            failures_only: true,
        }
    }

    /// The refusing step's context, at most `max` bytes (cut at a character boundary).
    pub(crate) fn failure_context(&self, max: usize) -> Option<String> {
        let step = self
            .steps()
            .iter()
            .rev()
            .find(|s| s.outcome == Outcome::Fail)?;
        let mut text = format!("{}: {}", step.name, step.detail);
        if text.len() > max {
            let mut end = max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        Some(text)
    }

    fn push(&mut self, name: &'static str, outcome: Outcome, detail: impl FnOnce() -> String) {
        if self.failures_only && outcome != Outcome::Fail {
            return;
        }
        if let Some(steps) = &mut self.steps {
            steps.push(Step {
                name,
                outcome,
                detail: detail(),
            });
        }
    }

    /// Records a check that held.
    pub(crate) fn pass(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        self.push(name, Outcome::Pass, detail);
    }

    /// Records a check that failed.
    pub(crate) fn fail(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        self.push(name, Outcome::Fail, detail);
    }

    /// Records a fact.
    pub(crate) fn note(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        self.push(name, Outcome::Info, detail);
    }

    /// Whether every step is recorded (`explain`): the verified-JWT cache is then skipped.
    pub(crate) fn is_on(&self) -> bool {
        self.steps.is_some() && !self.failures_only
    }

    pub(crate) fn finish(&mut self, verdict: Verdict) {
        if let (Verdict::Refused(e), Some(steps)) = (&verdict, &self.steps) {
            // A failure the step that refused did not describe gets one line of its own.
            if !steps.iter().any(|s| s.outcome == Outcome::Fail) {
                let e = e.clone();
                self.fail("verdict", || {
                    format!("{} ({})", e.description(), e.reason_code())
                });
            }
        }
        self.verdict = Some(verdict);
    }

    /// The steps, in the order they ran.
    pub fn steps(&self) -> &[Step] {
        self.steps.as_deref().unwrap_or_default()
    }

    /// The decision, as a request would get it.
    pub fn decision(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }
}
