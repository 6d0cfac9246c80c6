//! Who is calling. Every handler names the caller it accepts as an extractor, so none can
//! forget to authenticate: [`Caller`] (an agent key or an operator), [`PresentedKey`] (an agent
//! key only, looked up by the decision writer), [`OperatorCaller`] (a person only; an agent
//! key gets 403).

pub mod keys;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::operators;
use crate::state::AppState;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An agent, by its key: decides only for `agent_id`, reads only its own state.
    Agent { agent_id: String, key_id: String },
    /// A person (or a bot acting for one, by an operator API token).
    Operator(Operator),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub operator_id: String,
    pub name: String,
    pub via: OperatorVia,
}

/// How an operator proved who they are (named in the audit record of what they do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorVia {
    /// A dashboard session opened with a passkey.
    Session,
    /// An operator API token (a chat bot relaying approvals), by its id.
    ApiToken { token_id: String },
}

impl Principal {
    /// The agent whose state this caller may read; `None` for an operator (reads all).
    pub fn agent_scope(&self) -> Option<&str> {
        match self {
            Principal::Agent { agent_id, .. } => Some(agent_id),
            Principal::Operator(_) => None,
        }
    }
}

/// The bearer token of the request, if it carries one.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| keys::malformed())?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(keys::malformed()),
    }
}

/// Any authenticated caller: an agent key (`Bearer bhk_…`) or an operator.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) if token.starts_with(keys::PREFIX) => {
                let (agent_id, key_id) = state.agent_for_key(token).await?;
                Ok(Caller(Principal::Agent { agent_id, key_id }))
            }
            _ => match operators::authenticate(parts, state).await {
                Ok(op) => Ok(Caller(Principal::Operator(op))),
                Err(e) if e.code == operators::OPERATOR_REQUIRED && bearer(parts)?.is_none() => {
                    Err(ApiError::credentials_required())
                }
                Err(e) => Err(e),
            },
        }
    }
}

/// A well-formed agent key, and nothing else (`POST /v1/verify`), by its hash. It is not yet
/// looked up: the decision writer does that once per batch, on its own connection, just before
/// the batch is decided (`writer::Writer::verify`), so a verify costs no read of its own.
pub struct PresentedKey {
    pub hash: String,
}

impl FromRequestParts<AppState> for PresentedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) if keys::well_formed(token) => Ok(PresentedKey {
                hash: keys::hash(token),
            }),
            Some(_) => Err(keys::malformed()),
            None => Err(keys::required()),
        }
    }
}

/// A person: approve, deny, revoke. An agent key here is refused with 403 before anything
/// else is looked at.
pub struct OperatorCaller(pub Operator);

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts)?.is_some_and(|t| t.starts_with(keys::PREFIX)) {
            return Err(ApiError::operator_only());
        }
        operators::authenticate(parts, state)
            .await
            .map(OperatorCaller)
    }
}
