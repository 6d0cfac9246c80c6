//! The approvals dashboard at `/dashboard`: a client of the same `/v1` API agents and bots
//! use. This is the seam the operator half of the server fills; for now a page that says so.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/{*rest}", get(page))
}

async fn page() -> Html<&'static str> {
    Html(
        "<!doctype html><meta charset=utf-8><title>behalf</title>\
         <p>The approvals dashboard is not built yet. On the server's host: \
         <code>behalf approvals list</code> and <code>behalf approvals approve apr_…</code>.</p>",
    )
}
