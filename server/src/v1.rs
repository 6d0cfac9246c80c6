//! The `/v1` HTTP API. Each handler names the caller it accepts (an extractor from `auth`),
//! makes one call into the state (the writer for steps, a reader for listings), and maps its
//! error; nothing here knows SQL.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use behalf_store::{Listings, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Caller, OperatorCaller, PresentedKey, Principal};
use crate::error::ApiError;
use crate::operators::sign_off::{sign_off, DecisionBody};
use crate::operators::signing::Verdict;
use crate::state::AppState;
use crate::writer::{Job, VerifyInput};

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

/// Rows a listing returns at most (and by default).
const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub after: Option<u64>,
    pub limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub after: Option<u64>,
}

fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            format!("`limit` is {n}"),
            format!("ask for 1 to {MAX_LIMIT} rows"),
        )),
    }
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /v1/verify`: the request in, the decision packet out — the same bytes every runtime
/// returns, with status 200 whatever the decision (read `allowed`). A body that is not a
/// request is decided `invalid_request` and recorded like any other. An unknown or revoked key,
/// or a request naming an agent other than the key's, is refused (401, 403) and decides
/// nothing; the writer checks the key (`writer::Writer::verify`).
async fn verify(key: PresentedKey, State(state): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let input = match std::str::from_utf8(&body) {
        Err(_) => VerifyInput::Unreadable("the request body is not UTF-8 text"),
        Ok(text) => match behalf_core::json::from_str(text) {
            Ok(value) => VerifyInput::Value(value),
            Err(_) => VerifyInput::Text(text.to_string()),
        },
    };
    let response = match state.writer().verify(key.hash, input, state.clock()).await {
        Ok(decision) => json_text(StatusCode::OK, decision.to_json()),
        Err(refused) => refused.into_response(),
    };
    state.metrics().verify_latency(started.elapsed());
    response
}

fn scope_of(caller: &Principal) -> Option<String> {
    caller.agent_scope().map(str::to_string)
}

fn scoped(agent: &Option<String>) -> Scope<'_> {
    match agent {
        Some(a) => Scope::Agent(a),
        None => Scope::All,
    }
}

/// `GET /v1/approvals`: pending approvals, oldest first (an agent key: its own).
async fn list_approvals(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit)?;
    let agent = scope_of(&caller);
    let now = state.clock().now();
    let rows = state
        .read(move |s| s.open_approvals(scoped(&agent), now, limit))
        .await?;
    Ok(Json(json!({ "approvals": rows })))
}

/// `GET /v1/approvals/{id}`: one approval in any status (an agent key: only its own; another
/// agent's is answered as unknown, so a key cannot learn which ids exist).
async fn get_approval(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock().now();
    let lookup = id.clone();
    let found = state.read(move |s| s.approval(&lookup, now)).await?;
    let visible = found.filter(|a| match caller.agent_scope() {
        None => true,
        Some(agent) => a.pointer("/request/agentId").and_then(Value::as_str) == Some(agent),
    });
    match visible {
        Some(a) => Ok(Json(json!({ "approval": a }))),
        None => Err(ApiError::not_found("approval", &id)),
    }
}

/// The body of approve and deny: `{ttl?, signature?}` (`operators::sign_off`); empty is `{}`.
fn decision_body(body: &Bytes) -> Result<DecisionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            format!("the body is not `{{\"ttl\": …, \"signature\": …}}`: {e}"),
            "send {\"ttl\": \"30m\"} with an operator API token, or the dashboard's signed body",
        )
    })
}

/// `POST /v1/approvals/{id}/approve` (`{ttl?, signature?}`): opens a grant. Operators only; in
/// a dashboard session, signed with a passkey over the approval's challenge.
async fn approve(
    OperatorCaller(by): OperatorCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = decision_body(&body)?;
    let signed = sign_off(&state, &by, &id, Verdict::Approve, body).await?;
    let ttl = signed.ttl;
    let signed = signed.operator;
    let grant = state
        .writer()
        .step(|reply| Job::Approve {
            id,
            ttl,
            by,
            signed,
            reply,
        })
        .await?;
    Ok(Json(json!({ "grant": grant })))
}

/// `POST /v1/approvals/{id}/deny` (`{signature?}`). Operators only; signed like approve.
async fn deny(
    OperatorCaller(by): OperatorCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = decision_body(&body)?;
    let signed = sign_off(&state, &by, &id, Verdict::Deny, body)
        .await?
        .operator;
    let approval = state
        .writer()
        .step(|reply| Job::Deny {
            id,
            by,
            signed,
            reply,
        })
        .await?;
    Ok(Json(json!({ "approval": approval })))
}

/// `GET /v1/grants`: live grants (an agent key: its own).
async fn list_grants(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit)?;
    let agent = scope_of(&caller);
    let now = state.clock().now();
    let rows = state
        .read(move |s| s.live_grants(scoped(&agent), now, limit))
        .await?;
    Ok(Json(json!({ "grants": rows })))
}

/// `DELETE /v1/grants/{id}`: ends a grant now (recorded as `grant.revoked`). Operators only.
async fn revoke_grant(
    OperatorCaller(by): OperatorCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let grant = state
        .writer()
        .step(|reply| Job::RevokeGrant { id, by, reply })
        .await?;
    Ok(Json(json!({ "grant": grant })))
}

/// `GET /v1/audit?after=SEQ&limit=N`: records after `seq`, in order (an agent key: its own).
/// `next` is the `after` of the following page.
async fn audit(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(q.limit)?;
    let after = q.after.unwrap_or(0);
    let agent = scope_of(&caller);
    let records = state
        .read(move |s| s.audit_after(scoped(&agent), after, limit))
        .await?;
    let next = records
        .last()
        .and_then(|r| r.get("seq"))
        .and_then(Value::as_u64)
        .unwrap_or(after);
    Ok(Json(json!({ "records": records, "next": next })))
}

/// `GET /v1/events`: server-sent events, one per audit record from now on (or after
/// `?after=SEQ` / `Last-Event-ID`), an agent key seeing its own.
async fn events(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "Last-Event-ID is not a record's seq",
                    "send the id of the last event received",
                )
            })
        })
        .transpose()?;
    let after = resume.or(q.after);
    Ok(crate::events::stream(state, scope_of(&caller), after)
        .await
        .into_response())
}
