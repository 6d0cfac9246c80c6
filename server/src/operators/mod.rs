//! Operators: the people who approve. They enroll a passkey through a one-time link
//! (`behalf operators invite NAME`), sign in with it to a cookie session, and sign each
//! approval or denial with it (see `signing`). A chat bot relaying approvals uses an operator
//! API token (`bho_…`) that a signed-in operator made. How it works: docs/operators.md.

pub mod audit_check;
pub mod ceremonies;
pub mod invite;
pub mod passkeys;
pub mod rate_limit;
pub mod secrets;
pub mod sessions;
pub mod sign_off;
pub mod signing;
pub mod tokens;

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use behalf_store::operators::OperatorStore;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::auth::{Operator, OperatorVia};
use crate::error::ApiError;
use crate::state::AppState;

pub const OPERATOR_REQUIRED: &str = "operator_required";

/// What the operator half of the server keeps in memory: the relying party, the ceremonies
/// under way, the sign-in counters.
pub struct Operators {
    pub origin: Url,
    /// `http://localhost:7777`, as a browser sends it in `Origin`.
    pub origin_text: String,
    pub rp_id: String,
    pub webauthn: Webauthn,
    /// Cookies get `Secure` when the server speaks TLS.
    pub secure_cookies: bool,
    pub ceremonies: ceremonies::Ceremonies,
    pub limiter: rate_limit::SignInLimiter,
}

impl Operators {
    /// The relying party is the host of `origin`: a browser must open the dashboard at exactly
    /// this origin (`http://localhost:PORT` for a server on 127.0.0.1: WebAuthn needs a name,
    /// not an address, and treats localhost as a secure context).
    pub fn new(origin: &Url) -> Result<Operators, String> {
        let rp_id = origin
            .host_str()
            .ok_or_else(|| format!("the public URL `{origin}` has no host"))?
            .to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, origin)
            .and_then(|b| b.rp_name("behalf").build())
            .map_err(|e| format!("passkeys cannot be set up for `{origin}`: {e}"))?;
        Ok(Operators {
            origin_text: origin.origin().ascii_serialization(),
            origin: origin.clone(),
            rp_id,
            webauthn,
            secure_cookies: origin.scheme() == "https",
            ceremonies: ceremonies::Ceremonies::default(),
            limiter: rate_limit::SignInLimiter::default(),
        })
    }
}

/// The operator's routes; the dashboard calls these and the `/v1` approvals routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/operators", get(passkeys::list))
        .route("/v1/operators/me", get(sessions::me))
        .route("/v1/operators/enroll/start", post(passkeys::enroll_start))
        .route("/v1/operators/enroll/finish", post(passkeys::enroll_finish))
        .route("/v1/operators/sign-in/start", post(passkeys::sign_in_start))
        .route(
            "/v1/operators/sign-in/finish",
            post(passkeys::sign_in_finish),
        )
        .route("/v1/operators/sign-out", post(sessions::sign_out))
        .route(
            "/v1/operators/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route("/v1/operators/tokens/{id}", delete(tokens::revoke))
        .route("/v1/approvals/{id}/challenge", post(sign_off::challenge))
        .route("/v1/agents", get(crate::agents::list))
        .route("/v1/audit/verify", get(audit_check::verify))
}

/// The operator this request was made by: an operator API token (`Authorization: Bearer
/// bho_…`) or a session cookie. A request with a cookie that changes state must also come
/// from the server's own origin and carry the session's CSRF token.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Operator, ApiError> {
    if let Some(token) = sessions::bearer(parts)? {
        return tokens::authenticate(token, state).await;
    }
    let session = sessions::session_of(&parts.method, &parts.headers, state).await?;
    let operator_id = session.operator_id.clone();
    let row = state
        .read(move |s| s.operator(&operator_id))
        .await?
        .filter(|o| o.removed_at.is_none())
        .ok_or_else(required)?;
    Ok(Operator {
        operator_id: row.id,
        name: row.name,
        via: OperatorVia::Session,
    })
}

pub fn required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        OPERATOR_REQUIRED,
        "only a signed-in operator can do this",
        "sign in to the dashboard with your passkey, or send an operator API token (`Authorization: Bearer bho_…`)",
    )
}

pub fn forbidden(code: &'static str, message: &str, hint: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message, hint)
}
