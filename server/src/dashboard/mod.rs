//! The approvals dashboard at `/dashboard`: static files embedded in the binary, a client of
//! the same `/v1` API agents and bots use (no private endpoints). Every page and file is sent
//! with a Content-Security-Policy that lets it load and connect to this origin only, so no
//! request leaves the server's origin and nothing an agent wrote can run as script.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const INDEX: &str = include_str!("../../dashboard/index.html");
const SCRIPT: &str = include_str!("../../dashboard/dashboard.js");
const STYLE: &str = include_str!("../../dashboard/dashboard.css");
/// The sandbox's own stylesheet: one visual language for both.
const SANDBOX_STYLE: &str = include_str!("../../../www/style.css");
const FAVICON: &str = include_str!("../../dashboard/favicon.svg");

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/{*rest}", get(page))
        .route(
            "/dashboard/assets/dashboard.js",
            get(|| file("text/javascript", SCRIPT)),
        )
        .route(
            "/dashboard/assets/dashboard.css",
            get(|| file("text/css", STYLE)),
        )
        .route(
            "/dashboard/assets/style.css",
            get(|| file("text/css", SANDBOX_STYLE)),
        )
        .route(
            "/dashboard/assets/favicon.svg",
            get(|| file("image/svg+xml", FAVICON)),
        )
}

/// Every dashboard path is the one page; its script shows the view the path names
/// (`/dashboard/approvals/apr_…`, `/dashboard/grants`, `/dashboard/enroll#…`).
async fn page() -> Response {
    file("text/html; charset=utf-8", INDEX).await
}

async fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}
