//! The `/v1` HTTP API. Each handler names the caller it accepts (an extractor from `auth`),
//! makes one call into the state, and maps its error; nothing here knows SQL.

use axum::extract::{Path, Query};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;

use crate::auth::{AgentCaller, Caller, OperatorCaller};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .route("/v1/grants", get(list_grants))
        .route("/v1/grants/{id}", delete(revoke_grant))
        .route("/v1/audit", get(audit))
        .route("/v1/events", get(events))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    pub after: Option<u64>,
    pub limit: Option<u64>,
}

async fn verify(_caller: AgentCaller) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("POST /v1/verify"))
}

async fn list_approvals(_caller: Caller) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("GET /v1/approvals"))
}

async fn get_approval(_caller: Caller, Path(_id): Path<String>) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("GET /v1/approvals/{id}"))
}

async fn approve(_operator: OperatorCaller, Path(_id): Path<String>) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("POST /v1/approvals/{id}/approve"))
}

async fn deny(_operator: OperatorCaller, Path(_id): Path<String>) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("POST /v1/approvals/{id}/deny"))
}

async fn list_grants(_caller: Caller) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("GET /v1/grants"))
}

async fn revoke_grant(_operator: OperatorCaller, Path(_id): Path<String>) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("DELETE /v1/grants/{id}"))
}

async fn audit(_caller: Caller, Query(_q): Query<AuditQuery>) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("GET /v1/audit"))
}

async fn events(_caller: Caller) -> Result<(), ApiError> {
    Err(ApiError::not_implemented("GET /v1/events"))
}
