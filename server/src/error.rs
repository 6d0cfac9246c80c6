//! Errors of the HTTP API: `{code, message, hint}` with a stable `code` and its HTTP status.
//! The codes are listed in docs/server.md; a client branches on `code`, never on `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// 401: no credentials at all.
    pub fn credentials_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "credentials_required",
            "this endpoint needs an agent key or an operator",
            "send `Authorization: Bearer bhk_…` (create one with `behalf agents key create AGENT`)",
        )
    }

    /// 403: an agent key on an endpoint only a person may use.
    pub fn operator_only() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "an agent key cannot approve, deny or revoke",
            "a person signs in to the dashboard, or an operator API token is used",
        )
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} `{id}`"),
            format!("list them with GET /v1/{what}s"),
        )
    }

    pub fn bad_request(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }

    /// 503: the state or the policy cannot be used right now; nothing was decided.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            message,
            "see GET /readyz; nothing was decided or recorded",
        )
    }

    /// 503: a read of the state database failed.
    pub fn state_unreadable(e: &behalf_store::StoreError) -> ApiError {
        ApiError::unavailable(format!("the state database cannot be read: {e}"))
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            message,
            "this is a fault of the server; nothing was decided",
        )
    }

    /// An endpoint that this build does not serve yet.
    pub fn not_implemented(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            format!("{what} is not implemented yet"),
            "see docs/server.md for what this server serves",
        )
    }

    /// An error of the core (approving an unknown or decided approval, a bad ttl), with the
    /// status its code calls for.
    pub fn from_core(e: behalf_core::ApiError) -> ApiError {
        use behalf_core::error::ErrorCode;
        let status = match e.code {
            ErrorCode::ApprovalNotFound => StatusCode::NOT_FOUND,
            ErrorCode::BadDuration => StatusCode::BAD_REQUEST,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        };
        ApiError {
            status,
            code: e.code.as_str(),
            message: e.message,
            hint: e.hint,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}
