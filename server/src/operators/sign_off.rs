//! An operator's approval or denial, before it is applied: in a dashboard session it must be
//! a passkey assertion over the committing challenge (`signing`), obtained from
//! `POST /v1/approvals/{id}/challenge`; by an operator API token it is taken as the token's
//! operator's. [`sign_off`] answers the audit record's `operator` field, or refuses.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use behalf_store::operators::OperatorStore;
use serde::Deserialize;
use serde_json::{json, Value};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential};

use crate::auth::{Operator, OperatorCaller, OperatorVia};
use crate::error::ApiError;
use crate::operators::ceremonies::Ceremony;
use crate::operators::passkeys::update_counter;
use crate::operators::signing::{assertion_value, commit, Commitment, Verdict};
use crate::operators::{forbidden, secrets};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ChallengeBody {
    decision: String,
    #[serde(default)]
    ttl: Option<String>,
}

/// The body of `POST /v1/approvals/{id}/approve` and `/deny`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    pub ttl: Option<Value>,
    #[serde(default)]
    pub signature: Option<SignatureBody>,
}

#[derive(Deserialize)]
pub struct SignatureBody {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

/// What a verified sign-off lets the server apply.
pub struct SignOff {
    /// The grant window to open (approvals): the one the signature committed to.
    pub ttl: Option<Value>,
    /// The audit record's `operator` field.
    pub operator: Value,
}

fn signature_invalid(message: &str) -> ApiError {
    forbidden(
        "signature_invalid",
        message,
        "ask for a new challenge (`POST /v1/approvals/{id}/challenge`) and sign it once",
    )
}

/// The audit record's `operator` for an act that is not signed (revoking a grant).
pub fn named(operator: &Operator) -> Value {
    match &operator.via {
        OperatorVia::Session => json!({
            "operatorId": operator.operator_id, "name": operator.name, "via": "session",
        }),
        OperatorVia::ApiToken { token_id } => json!({
            "operatorId": operator.operator_id, "name": operator.name, "via": "token",
            "tokenId": token_id,
        }),
    }
}

/// `POST /v1/approvals/{id}/challenge {decision, ttl?}`: the passkey options whose challenge
/// commits to this decision on this approval's request. Dashboard sessions only.
pub async fn challenge(
    State(state): State<AppState>,
    OperatorCaller(operator): OperatorCaller,
    Path(id): Path<String>,
    Json(body): Json<ChallengeBody>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(operator.via, OperatorVia::Session) {
        return Err(forbidden(
            "session_required",
            "only a passkey signs; an operator API token approves without a challenge",
            "POST the approval or denial directly with the token",
        ));
    }
    let verdict = Verdict::parse(&body.decision).ok_or_else(|| {
        ApiError::bad_request(
            format!("`{}` is not a decision", body.decision),
            "send `approve` or `deny`",
        )
    })?;
    let fingerprint = pending_fingerprint(&state, &id).await?;
    let commitment = Commitment {
        decision: verdict,
        approval_id: id,
        fingerprint,
        ttl: match verdict {
            Verdict::Approve => body.ttl.filter(|t| !t.is_empty()),
            Verdict::Deny => None,
        },
        nonce: secrets::fresh("")?,
    };
    if !commitment.is_plain() {
        return Err(ApiError::bad_request(
            "the grant window is not a duration",
            "write a positive duration like `30m`, `2h` or whole seconds",
        ));
    }
    let operator_id = operator.operator_id.clone();
    let passkeys = passkeys_of(&state, &operator_id).await?;
    let ops = state.operators();
    let (options, authentication) = ops
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| ApiError::internal(format!("cannot start a passkey signature: {e}")))?;
    let (options, authentication) =
        commit(options, authentication, &commitment.challenge()).map_err(ApiError::internal)?;
    let ceremony = secrets::fresh("cer_")?;
    let shown = commitment.to_value();
    let text = commitment.text();
    ops.ceremonies.start(
        ceremony.clone(),
        Ceremony::Approval {
            operator_id,
            commitment,
            state: authentication,
        },
        state.clock().now(),
    )?;
    Ok(Json(json!({
        "ceremony": ceremony,
        "challenge": shown,
        "text": text,
        "publicKey": options.get("publicKey"),
    })))
}

/// The fingerprint of approval `id`, if it is pending.
async fn pending_fingerprint(state: &AppState, id: &str) -> Result<String, ApiError> {
    let lookup = id.to_string();
    let approval = state
        .read(move |s| s.approval_for_signing(&lookup))
        .await?
        .ok_or_else(|| ApiError::not_found("approval", id))?;
    let now = state.clock().now();
    let pending = approval.get("status").and_then(Value::as_str) == Some("pending")
        && approval
            .get("expiresAt")
            .and_then(Value::as_str)
            .and_then(behalf_core::time::parse_rfc3339)
            .is_some_and(|end| now < end);
    if !pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "approval_not_pending",
            format!("approval `{id}` is not pending (decided or expired)"),
            "only a pending approval can be approved or denied",
        ));
    }
    approval
        .get("fingerprint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::internal(format!("approval `{id}` has no fingerprint")))
}

async fn passkeys_of(state: &AppState, operator_id: &str) -> Result<Vec<Passkey>, ApiError> {
    let id = operator_id.to_string();
    let rows = state.read(move |s| s.credentials_of(&id)).await?;
    let passkeys: Vec<Passkey> = rows
        .iter()
        .filter_map(|c| serde_json::from_value(c.passkey.clone()).ok())
        .collect();
    if passkeys.is_empty() {
        return Err(forbidden(
            "passkey_required",
            "this operator has no passkey to sign with",
            "enroll one with a link from `behalf operators invite NAME`",
        ));
    }
    Ok(passkeys)
}

/// Checks `operator`'s approval (`verdict`) of approval `id`: in a session, the signature over
/// the challenge this server issued for exactly this decision, once.
pub async fn sign_off(
    state: &AppState,
    operator: &Operator,
    id: &str,
    verdict: Verdict,
    body: DecisionBody,
) -> Result<SignOff, ApiError> {
    let token_id = match &operator.via {
        OperatorVia::ApiToken { token_id } => Some(token_id.clone()),
        OperatorVia::Session => None,
    };
    if let Some(token_id) = token_id {
        return Ok(SignOff {
            ttl: body.ttl,
            operator: json!({
                "operatorId": operator.operator_id,
                "name": operator.name,
                "via": "token",
                "tokenId": token_id,
            }),
        });
    }
    let Some(signature) = body.signature else {
        return Err(forbidden(
            "signature_required",
            "an operator's approval or denial in a session is signed with a passkey",
            "ask for a challenge (`POST /v1/approvals/{id}/challenge`) and send the assertion as `signature`",
        ));
    };
    let ops = state.operators();
    let Some(Ceremony::Approval {
        operator_id,
        commitment,
        state: authentication,
    }) = ops
        .ceremonies
        .take(&signature.ceremony, state.clock().now())?
    else {
        return Err(signature_invalid(
            "this signature's challenge was used already, expired, or never issued",
        ));
    };
    if operator_id != operator.operator_id {
        return Err(signature_invalid(
            "this challenge was issued to another operator",
        ));
    }
    if commitment.approval_id != id || commitment.decision != verdict {
        return Err(signature_invalid(&format!(
            "this signature is for {} `{}`, not for {} `{id}`",
            commitment.decision.as_str(),
            commitment.approval_id,
            verdict.as_str()
        )));
    }
    let asked = body
        .ttl
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_string);
    if body.ttl.is_some() && asked != commitment.ttl {
        return Err(signature_invalid(
            "the grant window differs from the one the signature covers",
        ));
    }
    if pending_fingerprint(state, id).await? != commitment.fingerprint {
        return Err(signature_invalid(
            "the approval's request changed since the challenge",
        ));
    }
    let result = ops
        .webauthn
        .finish_passkey_authentication(&signature.credential, &authentication)
        .map_err(|e| signature_invalid(&format!("the passkey signature does not verify: {e}")))?;
    update_counter(state, &operator.operator_id, &result).await?;
    let mut signed = assertion_value(&signature.credential);
    if let Value::Object(map) = &mut signed {
        map.insert("format".into(), json!("webauthn.v1"));
        map.insert("rpId".into(), json!(ops.rp_id));
        map.insert("origin".into(), json!(ops.origin_text));
        map.insert("challenge".into(), commitment.to_value());
    }
    Ok(SignOff {
        ttl: commitment.ttl.map(Value::String),
        operator: json!({
            "operatorId": operator.operator_id,
            "name": operator.name,
            "via": "passkey",
            "signature": signed,
        }),
    })
}
