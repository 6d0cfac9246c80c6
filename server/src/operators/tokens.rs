//! Operator API tokens (`bho_…`): made by a signed-in operator for a chat bot that relays
//! approvals. A token approves and denies as its operator (the audit record names both), is
//! shown once and stored as its hash, and is never an agent key: the agent-key check refuses
//! it, and this one refuses agent keys.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Json;
use behalf_core::time::format_rfc3339;
use behalf_store::operators::{OperatorStore, TokenRow};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{keys, Operator, OperatorCaller, OperatorVia};
use crate::error::ApiError;
use crate::operators::{forbidden, secrets, sessions};
use crate::state::AppState;

fn token_refused(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "operator_token_invalid",
        message,
        "a signed-in operator makes tokens in the dashboard (Operators → API tokens)",
    )
}

/// The operator a bearer token speaks for. Only `bho_…` tokens; an agent key is refused.
pub async fn authenticate(token: &str, state: &AppState) -> Result<Operator, ApiError> {
    if token.starts_with(keys::PREFIX) {
        return Err(ApiError::operator_only());
    }
    if !secrets::well_formed(token, secrets::TOKEN_PREFIX) {
        return Err(token_refused(
            "the bearer token is not an operator API token",
        ));
    }
    let hash = secrets::hash(token);
    let row = state
        .read(move |s| s.token(&hash))
        .await?
        .ok_or_else(|| token_refused("this operator API token is unknown or revoked"))?;
    let operator_id = row.operator_id.clone();
    let operator = state
        .read(move |s| s.operator(&operator_id))
        .await?
        .filter(|o| o.removed_at.is_none())
        .ok_or_else(|| token_refused("the operator of this token was removed"))?;
    Ok(Operator {
        operator_id: operator.id,
        name: operator.name,
        via: OperatorVia::ApiToken { token_id: row.id },
    })
}

fn token_value(t: &TokenRow) -> Value {
    json!({
        "tokenId": t.id,
        "operatorId": t.operator_id,
        "label": t.label,
        "createdAt": format_rfc3339(t.created_at),
        "revokedAt": t.revoked_at.map(format_rfc3339),
    })
}

/// Tokens are made and revoked in a passkey session only: a token cannot mint tokens.
fn session_only(operator: &Operator) -> Result<(), ApiError> {
    match operator.via {
        OperatorVia::Session => Ok(()),
        OperatorVia::ApiToken { .. } => Err(forbidden(
            "session_required",
            "operator API tokens are managed in a signed-in dashboard session only",
            "sign in to the dashboard with your passkey",
        )),
    }
}

/// `GET /v1/operators/tokens`.
pub async fn list(
    State(state): State<AppState>,
    OperatorCaller(_operator): OperatorCaller,
) -> Result<Json<Value>, ApiError> {
    let rows = state.read(|s| s.tokens()).await?;
    Ok(Json(Value::Array(rows.iter().map(token_value).collect())))
}

#[derive(Deserialize)]
pub struct NewToken {
    label: String,
}

/// `POST /v1/operators/tokens {label}`: the token, shown this once.
pub async fn create(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    OperatorCaller(operator): OperatorCaller,
    Json(body): Json<NewToken>,
) -> Result<Json<Value>, ApiError> {
    session_only(&operator)?;
    // The extractor checked Origin and CSRF already; checked again so the rule lives here too.
    sessions::session_of(&method, &headers, &state).await?;
    let label = body.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a token's label is 1 to 64 characters without control characters",
            "name what will use it, like `slack-bot`",
        ));
    }
    let token = secrets::fresh(secrets::TOKEN_PREFIX)?;
    let row = TokenRow {
        id: secrets::fresh_id("tok_")?,
        operator_id: operator.operator_id.clone(),
        label,
        created_at: state.clock().now(),
        revoked_at: None,
    };
    let hash = secrets::hash(&token);
    let stored = row.clone();
    state.read(move |s| s.add_token(&hash, &stored)).await?;
    let mut out = token_value(&row);
    if let Value::Object(map) = &mut out {
        map.insert("token".into(), Value::String(token));
    }
    Ok(Json(out))
}

/// `DELETE /v1/operators/tokens/{id}`.
pub async fn revoke(
    State(state): State<AppState>,
    OperatorCaller(operator): OperatorCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session_only(&operator)?;
    let now = state.clock().now();
    let lookup = id.clone();
    if state.read(move |s| s.revoke_token(&lookup, now)).await? {
        Ok(Json(json!({"tokenId": id, "revoked": true})))
    } else {
        Err(ApiError::not_found("operator API token", &id))
    }
}
