//! Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure under TLS),
//! stored only as its hash, for twelve hours. A request with the cookie that changes state
//! must come from the server's own origin (`Origin`) and carry the session's CSRF token
//! (`X-CSRF-Token`), which the dashboard gets from sign-in and `GET /v1/operators/me`.

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use behalf_core::time::Millis;
use behalf_store::operators::{OperatorStore, SessionRow};
use cookie::{Cookie, SameSite};
use serde_json::json;

use crate::error::ApiError;
use crate::operators::{forbidden, required, secrets, Operators};
use crate::state::AppState;

pub const COOKIE_NAME: &str = "behalf_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_PREFIX: &str = "bhs_";
const LIFETIME_MS: Millis = 12 * 60 * 60_000;

/// The bearer token of a request, if it has an Authorization header.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| malformed_authorization())?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(malformed_authorization()),
    }
}

fn malformed_authorization() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "credentials_malformed",
        "the Authorization header is not `Bearer <token>`",
        "send `Authorization: Bearer bho_…` (an operator API token)",
    )
}

/// The session cookie's value, if the request has one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| Cookie::split_parse(text.to_string()))
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_string())
}

/// The live session of the request; for a method that changes state, also its Origin and CSRF
/// token, checked before anything is done.
pub async fn session_of(
    method: &Method,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<SessionRow, ApiError> {
    let Some(id) = cookie_value(headers) else {
        return Err(required());
    };
    if !secrets::well_formed(&id, SESSION_PREFIX) {
        return Err(session_ended());
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        same_origin(headers, state.operators())?;
    }
    let hash = secrets::hash(&id);
    let now = state.clock().now();
    let session = state
        .read(move |s| s.session(&hash, now))
        .await?
        .ok_or_else(session_ended)?;
    if changes_state {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !secrets::same(sent, &session.csrf_token) {
            return Err(forbidden(
                "csrf_token_invalid",
                "the request's CSRF token is missing or not this session's",
                "send the `csrfToken` from sign-in or `GET /v1/operators/me` as `X-CSRF-Token`",
            ));
        }
    }
    Ok(session)
}

/// Refuses a request whose `Origin` is not the server's own (a page on another site posting
/// to it). A request with no `Origin` at all is refused too: browsers send one on every POST.
pub fn same_origin(headers: &HeaderMap, operators: &Operators) -> Result<(), ApiError> {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    if origin == Some(operators.origin_text.as_str()) {
        return Ok(());
    }
    Err(forbidden(
        "origin_mismatch",
        &format!(
            "this request comes from {}, not from the server's own origin {}",
            origin.map_or("no origin".to_string(), |o| format!("`{o}`")),
            operators.origin_text
        ),
        "use the dashboard at the server's public URL (`behalf serve --public-url`)",
    ))
}

fn session_ended() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        super::OPERATOR_REQUIRED,
        "the session has ended or was never opened",
        "sign in again with your passkey",
    )
}

/// Opens a session for `operator_id`: stores its hash and answers with the cookie and the
/// CSRF token.
pub async fn open(
    state: &AppState,
    operator_id: String,
    name: String,
) -> Result<Response, ApiError> {
    let id = secrets::fresh(SESSION_PREFIX)?;
    let csrf = secrets::fresh("")?;
    let now = state.clock().now();
    let row = SessionRow {
        operator_id: operator_id.clone(),
        csrf_token: csrf.clone(),
        expires_at: now + LIFETIME_MS,
    };
    let hash = secrets::hash(&id);
    state.read(move |s| s.add_session(&hash, &row)).await?;
    let cookie = Cookie::build((COOKIE_NAME, id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.operators().secure_cookies)
        .path("/")
        .max_age(cookie::time::Duration::milliseconds(LIFETIME_MS))
        .build();
    let mut response = Json(json!({
        "operator": {"operatorId": operator_id, "name": name},
        "csrfToken": csrf,
    }))
    .into_response();
    let header = HeaderValue::from_str(&cookie.to_string())
        .map_err(|_| ApiError::internal("the session cookie is not a header value"))?;
    response.headers_mut().insert(SET_COOKIE, header);
    Ok(response)
}

/// `GET /v1/operators/me`: who is signed in, and the session's CSRF token.
pub async fn me(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = session_of(&method, &headers, &state).await?;
    let operator_id = session.operator_id.clone();
    let row = state
        .read(move |s| s.operator(&operator_id))
        .await?
        .ok_or_else(session_ended)?;
    Ok(Json(json!({
        "operator": {"operatorId": row.id, "name": row.name},
        "csrfToken": session.csrf_token,
    }))
    .into_response())
}

/// `POST /v1/operators/sign-out`: ends the session (Origin and CSRF checked like any change).
pub async fn sign_out(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    session_of(&method, &headers, &state).await?;
    if let Some(id) = cookie_value(&headers) {
        let hash = secrets::hash(&id);
        state.read(move |s| s.end_session(&hash)).await?;
    }
    let gone = Cookie::build((COOKIE_NAME, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.operators().secure_cookies)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    let mut response = Json(json!({"signedOut": true})).into_response();
    if let Ok(header) = HeaderValue::from_str(&gone.to_string()) {
        response.headers_mut().insert(SET_COOKIE, header);
    }
    Ok(response)
}
