//! Operations endpoints: `/healthz` (liveness), `/readyz` (readiness: the database answers
//! within a timeout) and `/metrics` (Prometheus text format, from the registry in
//! `crate::metrics`), and the middleware that counts every HTTP request. The gauges of open
//! sessions and SMS outbox messages are read from the shared database at scrape time, so every
//! instance reports the same total.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::http::HttpState;
use crate::settings::{Secret, env_var};
use crate::state::AppState;

/// Operations settings (`[ops]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Bearer token `/metrics` requires (`REALNAME_METRICS_TOKEN`). Unset: `/metrics` is open,
    /// which is fine when the listen address is not reachable from outside or a proxy blocks
    /// the path; the figures hold no personal data, only counts.
    pub metrics_token: Option<Secret>,
    /// How long `/readyz` waits for the database's `SELECT 1`, milliseconds.
    pub readiness_timeout_ms: u64,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self { metrics_token: None, readiness_timeout_ms: 2000 }
    }
}

impl OpsConfig {
    /// Overlays `REALNAME_METRICS_TOKEN` and `REALNAME_READINESS_TIMEOUT_MS`.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), crate::settings::ConfigError> {
        crate::settings::apply_env(
            self,
            &[
                env_var!("REALNAME_METRICS_TOKEN", |c, v| c.metrics_token = Some(v.secret())),
                env_var!("REALNAME_READINESS_TIMEOUT_MS", |c, v| c.readiness_timeout_ms = v.parse()?),
            ],
            get,
        )
    }
}

/// Middleware: counts every request by method, matched route template (never the concrete
/// path, which carries session ids) and status class.
pub async fn track_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let response = next.run(req).await;
    state.metrics.request(&method, &route, response.status());
    response
}

/// The operations routes: `/healthz`, `/readyz`, `/metrics`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `GET /readyz`: 200 `{"status":"ready"}` when the database answers `SELECT 1` within
/// `ops.readiness_timeout_ms`; otherwise 503 `{code:"not_ready", message}`. The face engine
/// is loaded before the server accepts connections, so a running server always has it.
async fn readyz(State(state): State<AppState>) -> Response {
    let timeout = Duration::from_millis(state.config.ops.readiness_timeout_ms);
    let cause = match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => {
            let body =
                serde_json::json!({ "status": "ready", "database": state.store.engine(), "face_engine": "loaded" });
            return ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", timeout.as_millis()),
    };
    tracing::warn!(%cause, "not ready: the database does not answer");
    let body = serde_json::json!({ "code": "not_ready", "message": "The database does not answer; this instance cannot serve requests." });
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format; needs `Authorization: Bearer <ops.metrics_token>`
/// when that is set.
async fn metrics(
    State(state): State<AppState>,
    client: crate::http::security::ClientAddr,
    headers: HeaderMap,
) -> Response {
    if let Some(expected) = &state.config.ops.metrics_token {
        let given = crate::crypto::bearer_token(&headers).unwrap_or("");
        // Counted against the admin limit before comparing (guessing the token is limited).
        if let Err(e) = crate::http::security::check_counted(
            &state,
            &client,
            given,
            expected.expose(),
            "The metrics token is missing or wrong.",
        )
        .await
        {
            return e.into_response();
        }
    }
    let now = state.now();
    let open = state.store.count_open_sessions(now).await.ok();
    let outbox = state.store.count_sms_outbox().await.ok();
    let body = state.metrics.render(&[
        (
            "realname_active_sessions",
            "Face sessions not yet passed, failed, expired or cancelled (all instances).",
            open,
        ),
        ("realname_sms_outbox_messages", "Messages in the local SMS outbox (all instances).", outbox),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}
