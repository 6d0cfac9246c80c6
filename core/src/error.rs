//! Errors as data: a stable `code`, a lowercase `message` naming the input, and a `hint`.

use serde::Serialize;
use serde_json::{json, Value};

use crate::policy::PolicyError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub hint: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: String, hint: &str) -> ApiError {
        ApiError {
            code,
            message,
            hint: hint.to_string(),
        }
    }

    pub fn no_randomness() -> ApiError {
        ApiError::new(
            "internal_error",
            "the operating system gave no random bytes for an id".into(),
            "this is a fault of the host; nothing was approved",
        )
    }

    pub fn to_value(&self) -> Value {
        json!({ "code": self.code, "message": self.message, "hint": self.hint })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}); {}", self.message, self.code, self.hint)
    }
}

impl std::error::Error for ApiError {}

/// Any error a binding may raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BehalfError {
    Policy(PolicyError),
    Api(ApiError),
}

impl BehalfError {
    pub fn code(&self) -> &'static str {
        match self {
            BehalfError::Policy(_) => "invalid_policy",
            BehalfError::Api(e) => e.code,
        }
    }

    /// `{code, message, hint, problems?}`.
    pub fn to_value(&self) -> Value {
        match self {
            BehalfError::Policy(p) => json!({
                "code": "invalid_policy",
                "message": p.to_string(),
                "hint": "fix every problem listed; the policy was not loaded",
                "problems": p.problems,
            }),
            BehalfError::Api(e) => e.to_value(),
        }
    }
}

impl std::fmt::Display for BehalfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BehalfError::Policy(p) => p.fmt(f),
            BehalfError::Api(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BehalfError {}

impl From<PolicyError> for BehalfError {
    fn from(e: PolicyError) -> Self {
        BehalfError::Policy(e)
    }
}

impl From<ApiError> for BehalfError {
    fn from(e: ApiError) -> Self {
        BehalfError::Api(e)
    }
}
