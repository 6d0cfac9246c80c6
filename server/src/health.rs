//! `/healthz` (the process answers), `/readyz` (the state database answers, and which policy
//! is in force — an edit that did not load is reported here), `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use behalf_core::time::format_rfc3339;
use behalf_store::Listings;
use serde_json::json;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// 200 when decisions can be made and recorded (the policy line says whether the file as it
/// is now is the policy in force); 503 when the state database cannot be read.
async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.read(|s| s.audit_head()).await;
    let policy = state.policy().status();
    let body = json!({
        "ready": database.is_ok(),
        "state": match &database {
            Ok(head) => json!({ "ok": true, "auditHead": head }),
            Err(e) => json!({ "ok": false, "problem": e.message }),
        },
        "policy": {
            "path": policy.path.display().to_string(),
            "loadedAt": format_rfc3339(policy.loaded_at),
            "passports": policy.passports,
            "current": policy.problem.is_none(),
            "problem": policy.problem,
        },
    });
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}
