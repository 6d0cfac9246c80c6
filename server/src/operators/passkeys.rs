//! Enrollment (a one-time link registers a passkey) and sign-in (a passkey opens a session).
//! Every step checks the request's Origin, and sign-in and enrollment attempts are rate
//! limited per client address and name before anything is looked up.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use behalf_core::time::format_rfc3339;
use behalf_store::operators::{CredentialRow, EnrollmentRefusal, OperatorStore};
use serde::Deserialize;
use serde_json::{json, Value};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid};

use crate::auth::OperatorCaller;
use crate::error::ApiError;
use crate::operators::ceremonies::Ceremony;
use crate::operators::{secrets, sessions};
use crate::state::AppState;

pub const ENROLL_PREFIX: &str = "bhe_";

/// The client's address for rate limiting (`unknown` when the server was not given it).
fn address(connect: Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    connect.map_or_else(|| "unknown".into(), |c| c.0 .0.ip().to_string())
}

fn refused(refusal: EnrollmentRefusal) -> ApiError {
    let (code, message) = match refusal {
        EnrollmentRefusal::Unknown => ("enrollment_unknown", "this enrollment link is not known"),
        EnrollmentRefusal::Expired => ("enrollment_expired", "this enrollment link has expired"),
        EnrollmentRefusal::Used => ("enrollment_used", "this enrollment link was used already"),
        EnrollmentRefusal::OperatorRemoved => (
            "enrollment_unknown",
            "the operator of this enrollment link was removed",
        ),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        code,
        message,
        "ask for a new link: `behalf operators invite NAME` on the server's host (links last 15 minutes and work once)",
    )
}

fn ceremony_gone() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ceremony_unknown",
        "this passkey ceremony is not under way (finished already, expired, or never started)",
        "start again",
    )
}

fn passkey_refused(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "passkey_invalid",
        format!("the passkey's answer does not verify: {e}"),
        "try again with the passkey this server registered",
    )
}

fn json_of<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("cannot write JSON: {e}")))
}

#[derive(Deserialize)]
pub struct EnrollStart {
    token: String,
}

/// `POST /v1/operators/enroll/start {token}`: the options for `navigator.credentials.create`.
pub async fn enroll_start(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<EnrollStart>,
) -> Result<Json<Value>, ApiError> {
    let ops = state.operators();
    sessions::same_origin(&headers, ops)?;
    let now = state.clock().now();
    ops.limiter.attempt(&address(connect), "enroll", now)?;
    if !secrets::well_formed(&body.token, ENROLL_PREFIX) {
        return Err(refused(EnrollmentRefusal::Unknown));
    }
    let token_hash = secrets::hash(&body.token);
    let lookup = token_hash.clone();
    let operator_id = state
        .read(move |s| s.enrollment(&lookup, now))
        .await?
        .map_err(refused)?;
    let lookup = operator_id.clone();
    let operator = state
        .read(move |s| s.operator(&lookup))
        .await?
        .ok_or_else(|| refused(EnrollmentRefusal::Unknown))?;
    let lookup = operator_id.clone();
    let existing = state.read(move |s| s.credentials_of(&lookup)).await?;
    let exclude = existing
        .iter()
        .filter_map(|c| serde_json::from_value::<Passkey>(c.passkey.clone()).ok())
        .map(|p| p.cred_id().clone())
        .collect::<Vec<_>>();
    let (options, registration) = ops
        .webauthn
        .start_passkey_registration(
            Uuid::new_v4(),
            &operator.name,
            &operator.name,
            Some(exclude),
        )
        .map_err(|e| ApiError::internal(format!("cannot start a passkey registration: {e}")))?;
    let ceremony = secrets::fresh("cer_")?;
    ops.ceremonies.start(
        ceremony.clone(),
        Ceremony::Enroll {
            token_hash,
            operator_id,
            state: registration,
        },
        now,
    )?;
    Ok(Json(json!({
        "ceremony": ceremony,
        "operator": {"operatorId": operator.id, "name": operator.name},
        "publicKey": json_of(&options)?.get("publicKey"),
    })))
}

#[derive(Deserialize)]
pub struct EnrollFinish {
    token: String,
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /v1/operators/enroll/finish {token, ceremony, credential}`: stores the passkey, uses
/// the link up, and opens a session.
pub async fn enroll_finish(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<EnrollFinish>,
) -> Result<Response, ApiError> {
    let ops = state.operators();
    sessions::same_origin(&headers, ops)?;
    let now = state.clock().now();
    ops.limiter.attempt(&address(connect), "enroll", now)?;
    let Some(Ceremony::Enroll {
        token_hash,
        operator_id,
        state: registration,
    }) = ops.ceremonies.take(&body.ceremony, now)?
    else {
        return Err(ceremony_gone());
    };
    if !secrets::same(&secrets::hash(&body.token), &token_hash) {
        return Err(ceremony_gone());
    }
    let passkey = ops
        .webauthn
        .finish_passkey_registration(&body.credential, &registration)
        .map_err(passkey_refused)?;
    let row = CredentialRow {
        credential_id: credential_id(&passkey)?,
        operator_id: operator_id.clone(),
        passkey: json_of(&passkey)?,
        created_at: now,
    };
    let lookup = row.credential_id.clone();
    if state.read(move |s| s.credential(&lookup)).await?.is_some() {
        return Err(passkey_refused("this passkey is registered already"));
    }
    state
        .read(move |s| s.complete_enrollment(&token_hash, &row, now))
        .await?
        .map_err(refused)?;
    let lookup = operator_id.clone();
    let name = state
        .read(move |s| s.operator(&lookup))
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    sessions::open(&state, operator_id, name).await
}

/// The base64url credential id, as the browser and the audit record write it.
pub fn credential_id(passkey: &Passkey) -> Result<String, ApiError> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()))
}

#[derive(Deserialize)]
pub struct SignInStart {
    name: String,
}

/// `POST /v1/operators/sign-in/start {name}`: the options for `navigator.credentials.get`.
/// An unknown name gets the same refusal as a name without passkeys.
pub async fn sign_in_start(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<SignInStart>,
) -> Result<Json<Value>, ApiError> {
    let ops = state.operators();
    sessions::same_origin(&headers, ops)?;
    let now = state.clock().now();
    ops.limiter.attempt(&address(connect), &body.name, now)?;
    let name = body.name.clone();
    let operator = state.read(move |s| s.operator_named(&name)).await?;
    let passkeys = match &operator {
        Some(o) => {
            let id = o.id.clone();
            state.read(move |s| s.credentials_of(&id)).await?
        }
        None => Vec::new(),
    };
    let passkeys: Vec<Passkey> = passkeys
        .iter()
        .filter_map(|c| serde_json::from_value(c.passkey.clone()).ok())
        .collect();
    let (Some(operator), false) = (operator, passkeys.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sign_in_refused",
            format!("`{}` cannot sign in with a passkey here", body.name),
            "check the name, or ask for an enrollment link (`behalf operators invite NAME`)",
        ));
    };
    let (options, authentication) = ops
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| ApiError::internal(format!("cannot start a passkey sign-in: {e}")))?;
    let ceremony = secrets::fresh("cer_")?;
    ops.ceremonies.start(
        ceremony.clone(),
        Ceremony::SignIn {
            operator_id: operator.id,
            state: authentication,
        },
        now,
    )?;
    Ok(Json(json!({
        "ceremony": ceremony,
        "publicKey": json_of(&options)?.get("publicKey"),
    })))
}

#[derive(Deserialize)]
pub struct SignInFinish {
    ceremony: String,
    credential: PublicKeyCredential,
}

/// `POST /v1/operators/sign-in/finish {ceremony, credential}`: verifies the assertion and
/// opens a session.
pub async fn sign_in_finish(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(body): Json<SignInFinish>,
) -> Result<Response, ApiError> {
    let ops = state.operators();
    sessions::same_origin(&headers, ops)?;
    let now = state.clock().now();
    ops.limiter.attempt(&address(connect), "sign-in", now)?;
    let Some(Ceremony::SignIn {
        operator_id,
        state: authentication,
    }) = ops.ceremonies.take(&body.ceremony, now)?
    else {
        return Err(ceremony_gone());
    };
    let result = ops
        .webauthn
        .finish_passkey_authentication(&body.credential, &authentication)
        .map_err(passkey_refused)?;
    update_counter(&state, &operator_id, &result).await?;
    let lookup = operator_id.clone();
    let name = state
        .read(move |s| s.operator(&lookup))
        .await?
        .filter(|o| o.removed_at.is_none())
        .map(|o| o.name)
        .ok_or_else(|| passkey_refused("the operator was removed"))?;
    sessions::open(&state, operator_id, name).await
}

/// Stores the credential's new signature counter (and backup state) after an assertion.
pub async fn update_counter(
    state: &AppState,
    operator_id: &str,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), ApiError> {
    let id = operator_id.to_string();
    let stored = state.read(move |s| s.credentials_of(&id)).await?;
    for row in stored {
        let Ok(mut passkey) = serde_json::from_value::<Passkey>(row.passkey.clone()) else {
            continue;
        };
        if passkey.update_credential(result) == Some(true) {
            let value = json_of(&passkey)?;
            let id = row.credential_id.clone();
            state
                .read(move |s| s.update_credential(&id, &value))
                .await?;
        }
    }
    Ok(())
}

/// `GET /v1/operators`: every operator, with the number of passkeys each has (operators only).
pub async fn list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
) -> Result<Json<Value>, ApiError> {
    let rows = state.read(|s| s.operators()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for o in rows {
        let id = o.id.clone();
        let passkeys = state.read(move |s| s.credentials_of(&id)).await?.len();
        out.push(json!({
            "operatorId": o.id,
            "name": o.name,
            "createdAt": format_rfc3339(o.created_at),
            "removedAt": o.removed_at.map(format_rfc3339),
            "passkeys": passkeys,
        }));
    }
    Ok(Json(Value::Array(out)))
}
