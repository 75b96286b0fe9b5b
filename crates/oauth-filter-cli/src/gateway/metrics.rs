//! The gateway's Prometheus metrics, next to the filter's own (`oauth_filter_jwks_fetches_total`,
//! `oauth_filter_introspection_calls_total`, `oauth_filter_cache_lookups_total`).
//!
//! ```text
//! oauth_filter_gateway_requests_total{outcome="rejected",reason="expired"} 3
//! oauth_filter_gateway_request_duration_seconds_bucket{outcome="forwarded",le="0.005"} 120
//! ```
//!
//! Labels come from fixed sets (outcomes, the filter's reason codes, a few gateway reasons), so a
//! caller cannot grow the number of series.
//!
//! The series every request touches (the duration histogram of each outcome, and the counters of
//! forwarded, allowed and public requests) are registered once, at [`install`], and updated
//! through their handles: looking a labelled series up in the recorder on every request was
//! 3.3% of the gateway's CPU on a public route (`perf`, `scripts/bench-gateway.sh`). Rarer
//! outcomes are looked up when they happen.

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Counter: requests by outcome and reason.
pub(crate) const REQUESTS: &str = "oauth_filter_gateway_requests_total";
/// Histogram: time from request head to response head, by outcome.
pub(crate) const DURATION: &str = "oauth_filter_gateway_request_duration_seconds";

/// What became of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// Sent to the upstream, which answered.
    Forwarded,
    /// `authz`: the proxy was told to let the request through.
    Allowed,
    /// The filter said no (401, 403, 400, 503).
    Rejected,
    /// Refused before the filter: path not in normal form (400) or no route (404).
    Refused,
    /// The upstream failed (502) or was too slow (504).
    UpstreamError,
    /// Answered by the gateway itself: RFC 9728 metadata, CORS preflights.
    Local,
}

impl Outcome {
    const ALL: [Self; 6] = [
        Self::Forwarded,
        Self::Allowed,
        Self::Rejected,
        Self::Refused,
        Self::UpstreamError,
        Self::Local,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Allowed => "allowed",
            Self::Local => "local",
            Self::Rejected => "rejected",
            Self::Refused => "refused",
            Self::UpstreamError => "upstream_error",
        }
    }
}

/// The handles of the series every request updates (see the module docs).
struct Handles {
    /// By outcome, in the order of [`Outcome::ALL`] (which is the declaration order).
    durations: [Histogram; 6],
    forwarded_ok: Counter,
    allowed_ok: Counter,
    allowed_public: Counter,
}

static HANDLES: OnceLock<Handles> = OnceLock::new();

/// Installs the process-wide recorder and registers the series every request updates.
pub(crate) fn install() -> Result<PrometheusHandle, BuildError> {
    const BUCKETS: [f64; 14] = [
        0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        5.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)?
        .install_recorder()?;
    let _ = HANDLES.set(Handles {
        durations: Outcome::ALL.map(duration),
        forwarded_ok: requests(Outcome::Forwarded, "ok"),
        allowed_ok: requests(Outcome::Allowed, "ok"),
        allowed_public: requests(Outcome::Allowed, "public"),
    });
    Ok(handle)
}

fn requests(outcome: Outcome, reason: &'static str) -> Counter {
    metrics::counter!(REQUESTS, "outcome" => outcome.as_str(), "reason" => reason)
}

fn duration(outcome: Outcome) -> Histogram {
    metrics::histogram!(DURATION, "outcome" => outcome.as_str())
}

/// Counts a request and records its duration.
pub(crate) fn request(outcome: Outcome, reason: &'static str, elapsed: Duration) {
    let Some(h) = HANDLES.get() else {
        // No recorder installed (nothing would be kept anyway).
        requests(outcome, reason).increment(1);
        duration(outcome).record(elapsed.as_secs_f64());
        return;
    };
    match (outcome, reason) {
        (Outcome::Forwarded, "ok") => h.forwarded_ok.increment(1),
        (Outcome::Allowed, "ok") => h.allowed_ok.increment(1),
        (Outcome::Allowed, "public") => h.allowed_public.increment(1),
        _ => requests(outcome, reason).increment(1),
    }
    if let Some(d) = h.durations.get(outcome as usize) {
        d.record(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn every_outcome_is_at_its_own_place_in_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i, "{}", o.as_str());
        }
    }
}
