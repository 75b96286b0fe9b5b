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

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
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

/// Installs the process-wide recorder.
pub(crate) fn install() -> Result<PrometheusHandle, BuildError> {
    const BUCKETS: [f64; 14] = [
        0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        5.0,
    ];
    PrometheusBuilder::new()
        .set_buckets(&BUCKETS)?
        .install_recorder()
}

pub(crate) fn request(outcome: Outcome, reason: &'static str, elapsed: Duration) {
    let o = outcome.as_str();
    metrics::counter!(REQUESTS, "outcome" => o, "reason" => reason).increment(1);
    metrics::histogram!(DURATION, "outcome" => o).record(elapsed.as_secs_f64());
}
