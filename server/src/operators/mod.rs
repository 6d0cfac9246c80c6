//! Operators: the people who approve. This is the seam the operator half of the server fills
//! (passkeys with webauthn-rs, enrollment links, cookie sessions with CSRF and Origin checks,
//! operator API tokens). Until then no request is an operator, so approve, deny and revoke
//! are refused with 401 `operator_required` (an agent key there gets 403 before this runs).

use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::auth::Operator;
use crate::error::ApiError;
use crate::state::AppState;

pub const OPERATOR_REQUIRED: &str = "operator_required";

/// The operator this request was made by (a session cookie, an operator API token).
pub async fn authenticate(_parts: &Parts, _state: &AppState) -> Result<Operator, ApiError> {
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        OPERATOR_REQUIRED,
        "only a signed-in operator can do this",
        "sign in to the dashboard with your passkey; on the server's host, `behalf approvals approve` works on its state file",
    ))
}
