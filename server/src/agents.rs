//! `GET /v1/agents` (operators only): each passport's agent in the policy in force, with its
//! keys (ids and dates, never a key), for the dashboard's Agents view.

use axum::extract::State;
use axum::Json;
use behalf_core::time::format_rfc3339;
use behalf_store::AgentKeys;
use serde_json::{json, Value};

use crate::auth::OperatorCaller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
) -> Result<Json<Value>, ApiError> {
    let policy = state.policy().current();
    let keys = state.read(|s| s.agent_keys()).await?;
    let agents: Vec<Value> = policy
        .passports
        .iter()
        .map(|p| {
            let own: Vec<Value> = keys
                .iter()
                .filter(|k| k.agent_id == p.agent)
                .map(|k| {
                    json!({
                        "keyId": k.key_id,
                        "createdAt": format_rfc3339(k.created_at),
                        "revokedAt": k.revoked_at.map(format_rfc3339),
                    })
                })
                .collect();
            json!({
                "agentId": p.agent,
                "passportId": &*p.id,
                "revoked": p.revoked,
                "expiresAt": p.expires_at.map(format_rfc3339),
                "permissions": p.permissions.iter().map(|x| &*x.id).collect::<Vec<_>>(),
                "keys": own,
            })
        })
        .collect();
    Ok(Json(json!({ "agents": agents })))
}
