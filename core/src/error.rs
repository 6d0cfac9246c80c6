//! Errors as data: a stable `code`, a lowercase `message` naming the input, and a `hint`.

use serde::Serialize;
use serde_json::{json, Value};

use crate::policy::PolicyError;

/// Every error code any surface emits (core, CLI, bindings, their wrappers): one closed set,
/// so a code is never a typo and a new one is added here first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// the policy text is not JSON
    InvalidJson,
    /// an object repeats a key
    DuplicateKey,
    /// a value cannot be JSON (a binding's conversion)
    NotJson,
    /// the policy's `version` is not 1
    BadVersion,
    /// a field the format does not have
    UnknownField,
    /// a required field is absent
    MissingField,
    /// a field of the wrong JSON type
    WrongType,
    /// an id that is not `[A-Za-z0-9_.:-]`, or too long
    BadId,
    /// a time that is not RFC 3339
    BadTime,
    /// a duration that is not `<integer><unit>` or whole seconds
    BadDuration,
    /// a number out of range or with too many fractional digits
    BadNumber,
    /// an action, vendor or resource pattern that does not normalize
    BadPattern,
    /// a `when` matcher the format does not have, or a bad operand
    BadMatcher,
    /// an `effect` other than allow, block, require_approval
    BadEffect,
    /// a value outside its closed set (`scope`, `overLimit`...)
    BadValue,
    /// `notBefore` is not before `expiresAt`
    BadWindow,
    /// an array that must not be empty
    EmptyArray,
    /// an id used twice in one file
    DuplicateId,
    /// an agent with two passports
    DuplicateAgent,
    /// `limits` on a permission that is not allow
    LimitsNotAllowed,
    /// `approval` on a permission that is not require_approval
    ApprovalNotAllowed,
    /// a webhook endpoint that does not validate
    BadWebhook,
    /// the policy does not load (the problems list why)
    InvalidPolicy,
    /// no approval has this id
    ApprovalNotFound,
    /// the approval's pendingTtl ended
    ApprovalExpired,
    /// the approval was approved or denied before
    ApprovalAlreadyDecided,
    /// exported state that does not restore
    BadState,
    /// audit records that are not a list of records
    BadAuditLog,
    /// a value that is not exactly a record the engine wrote
    BadAuditRecord,
    /// a webhook secret that is not `whsec_` and base64
    BadSecret,
    /// a webhook timestamp that is not unix seconds
    BadTimestamp,
    /// a webhook message more than 5 minutes old
    TimestampTooOld,
    /// a webhook message more than 5 minutes ahead
    TimestampTooNew,
    /// no webhook signature holds
    NoMatchingSignature,
    /// a webhook header is absent
    MissingHeader,
    /// a webhook body that is not text or bytes
    BadBody,
    /// an engine option of the wrong kind
    BadOption,
    /// the web build used before `init()`
    NotInitialized,
    /// the Python class default of `ApprovalError`
    ApprovalError,
    /// the Python class default of `NotAllowed`
    NotAllowed,
    /// the Python class default of `WebhookError`
    WebhookError,
    /// the engine failed; nothing was allowed
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 42] = [
        ErrorCode::InvalidJson,
        ErrorCode::DuplicateKey,
        ErrorCode::NotJson,
        ErrorCode::BadVersion,
        ErrorCode::UnknownField,
        ErrorCode::MissingField,
        ErrorCode::WrongType,
        ErrorCode::BadId,
        ErrorCode::BadTime,
        ErrorCode::BadDuration,
        ErrorCode::BadNumber,
        ErrorCode::BadPattern,
        ErrorCode::BadMatcher,
        ErrorCode::BadEffect,
        ErrorCode::BadValue,
        ErrorCode::BadWindow,
        ErrorCode::EmptyArray,
        ErrorCode::DuplicateId,
        ErrorCode::DuplicateAgent,
        ErrorCode::LimitsNotAllowed,
        ErrorCode::ApprovalNotAllowed,
        ErrorCode::BadWebhook,
        ErrorCode::InvalidPolicy,
        ErrorCode::ApprovalNotFound,
        ErrorCode::ApprovalExpired,
        ErrorCode::ApprovalAlreadyDecided,
        ErrorCode::BadState,
        ErrorCode::BadAuditLog,
        ErrorCode::BadAuditRecord,
        ErrorCode::BadSecret,
        ErrorCode::BadTimestamp,
        ErrorCode::TimestampTooOld,
        ErrorCode::TimestampTooNew,
        ErrorCode::NoMatchingSignature,
        ErrorCode::MissingHeader,
        ErrorCode::BadBody,
        ErrorCode::BadOption,
        ErrorCode::NotInitialized,
        ErrorCode::ApprovalError,
        ErrorCode::NotAllowed,
        ErrorCode::WebhookError,
        ErrorCode::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::DuplicateKey => "duplicate_key",
            ErrorCode::NotJson => "not_json",
            ErrorCode::BadVersion => "bad_version",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::BadId => "bad_id",
            ErrorCode::BadTime => "bad_time",
            ErrorCode::BadDuration => "bad_duration",
            ErrorCode::BadNumber => "bad_number",
            ErrorCode::BadPattern => "bad_pattern",
            ErrorCode::BadMatcher => "bad_matcher",
            ErrorCode::BadEffect => "bad_effect",
            ErrorCode::BadValue => "bad_value",
            ErrorCode::BadWindow => "bad_window",
            ErrorCode::EmptyArray => "empty_array",
            ErrorCode::DuplicateId => "duplicate_id",
            ErrorCode::DuplicateAgent => "duplicate_agent",
            ErrorCode::LimitsNotAllowed => "limits_not_allowed",
            ErrorCode::ApprovalNotAllowed => "approval_not_allowed",
            ErrorCode::BadWebhook => "bad_webhook",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::ApprovalNotFound => "approval_not_found",
            ErrorCode::ApprovalExpired => "approval_expired",
            ErrorCode::ApprovalAlreadyDecided => "approval_already_decided",
            ErrorCode::BadState => "bad_state",
            ErrorCode::BadAuditLog => "bad_audit_log",
            ErrorCode::BadAuditRecord => "bad_audit_record",
            ErrorCode::BadSecret => "bad_secret",
            ErrorCode::BadTimestamp => "bad_timestamp",
            ErrorCode::TimestampTooOld => "timestamp_too_old",
            ErrorCode::TimestampTooNew => "timestamp_too_new",
            ErrorCode::NoMatchingSignature => "no_matching_signature",
            ErrorCode::MissingHeader => "missing_header",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadOption => "bad_option",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::ApprovalError => "approval_error",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::WebhookError => "webhook_error",
            ErrorCode::InternalError => "internal_error",
        }
    }

    /// The code of a text, if it is one.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub hint: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: String, hint: &str) -> ApiError {
        ApiError {
            code,
            message,
            hint: hint.to_string(),
        }
    }

    pub fn no_randomness() -> ApiError {
        ApiError::new(
            ErrorCode::InternalError,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            BehalfError::Policy(_) => ErrorCode::InvalidPolicy,
            BehalfError::Api(e) => e.code,
        }
    }

    /// `{code, message, hint, problems?}`.
    pub fn to_value(&self) -> Value {
        match self {
            BehalfError::Policy(p) => json!({
                "code": ErrorCode::InvalidPolicy,
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
