//! behalf-server: `behalf serve`, the part of behalf a team shares — one decision API over one
//! state (approvals, grants, usage, the audit chain), agents identified by their keys, and
//! approvals made by people. How it works: docs/server.md.

pub mod auth;
pub mod clock;
pub mod dashboard;
pub mod error;
pub mod operators;
pub mod state;
pub mod v1;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use state::AppState;

/// How `behalf serve` was started.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// 127.0.0.1:7777 by default: reachable from this host only, unless told otherwise.
    pub listen: SocketAddr,
    pub policy: PathBuf,
    pub state: PathBuf,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The origin browsers open the dashboard at, and passkeys are bound to; by default
    /// `http(s)://localhost:PORT` (WebAuthn needs a host name, not an address).
    pub public_url: Option<String>,
}

impl ServeOptions {
    /// The dashboard's origin: `--public-url`, or localhost on the listening port.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{}", self.listen.port())
            }
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";

/// The whole HTTP surface: `/v1`, health, metrics, the dashboard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(v1::routes())
        .merge(operators::routes())
        .merge(dashboard::routes())
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|| async { ApiError::not_implemented("GET /readyz") }),
        )
        .route(
            "/metrics",
            get(|| async { ApiError::not_implemented("GET /metrics") }),
        )
        .with_state(state)
}

/// Serves until the process is stopped.
pub async fn serve(options: ServeOptions) -> Result<(), String> {
    let public_url = webauthn_rs::prelude::Url::parse(&options.public_url()).map_err(|e| {
        format!(
            "the public URL `{}` is not a URL: {e}",
            options.public_url()
        )
    })?;
    let state = AppState::new(
        options.state.clone(),
        operators::Operators::new(&public_url)?,
    );
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    // The client's address reaches handlers (sign-in attempts are counted per address).
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("the server stopped: {e}"))
}

/// Serves on a runtime of its own until the process is stopped (for the CLI, which has none).
pub fn run(options: ServeOptions) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?
        .block_on(serve(options))
}
