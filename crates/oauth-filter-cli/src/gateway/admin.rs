//! The admin listener: `/healthz`, `/readyz` and `/metrics`, never on the proxied port.
//!
//! ```text
//! GET /healthz  200 "ok" while the process runs
//! GET /readyz   200 when every issuer's keys are loaded and introspection answers, else 503;
//!               503 as soon as shutdown starts, so load balancers stop sending
//! GET /metrics  Prometheus text format
//! ```

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use oauth_filter::{OAuthFilter, ReadinessCheck};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a readiness result is reused: probes must not hammer the authorization server.
const READINESS_TTL: Duration = Duration::from_secs(2);

pub(crate) struct Admin {
    pub(crate) filter: OAuthFilter,
    pub(crate) metrics: PrometheusHandle,
    pub(crate) draining: Arc<AtomicBool>,
    last: Mutex<Option<(Instant, Vec<ReadinessCheck>)>>,
}

impl Admin {
    pub(crate) fn new(
        filter: OAuthFilter,
        metrics: PrometheusHandle,
        draining: Arc<AtomicBool>,
    ) -> Self {
        Self {
            filter,
            metrics,
            draining,
            last: Mutex::new(None),
        }
    }

    async fn readiness(&self) -> Vec<ReadinessCheck> {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = last.as_ref() {
            if at.elapsed() < READINESS_TTL {
                return checks.clone();
            }
        }
        let checks = self.filter.readiness().await;
        *last = Some((Instant::now(), checks.clone()));
        checks
    }
}

pub(crate) fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(admin)
}

async fn readyz(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    if admin.draining.load(Ordering::Relaxed) {
        let body = serde_json::json!({"ready": false, "checks": [{"component": "gateway", "ready": false, "detail": "shutting down"}]});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let checks = admin.readiness().await;
    let ready = checks.iter().all(|c| c.ready);
    let body = serde_json::json!({
        "ready": ready,
        "checks": checks.iter().map(|c| serde_json::json!({
            "component": c.component, "ready": c.ready, "detail": c.detail,
        })).collect::<Vec<_>>(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn metrics(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    admin.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        admin.metrics.render(),
    )
}
