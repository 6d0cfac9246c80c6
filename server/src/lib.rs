//! behalf-server: `behalf serve`, the part of behalf a team shares — one decision API over one
//! state (approvals, grants, usage, the audit chain), agents identified by their keys, and
//! approvals made by people. How it works: docs/server.md.

pub mod agents;
pub mod auth;
pub mod clock;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod health;
pub mod metrics;
pub mod operators;
pub mod policy;
pub mod state;
pub mod v1;
pub mod webhooks;
pub mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The system clock, or a fixed instant (`BEHALF_NOW`, for tests).
    pub clock: clock::Clock,
    /// How a group commit reaches the disk (`--sync`).
    pub sync: Sync,
}

/// SQLite's `synchronous` for the decision writer. `Full` (the default) fsyncs every group
/// commit: a decision answered survives a power loss. `Normal` (WAL) leaves the fsync to
/// checkpoints: a decision answered survives the server being killed, not the machine losing
/// power — the latency of a commit without waiting on the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sync {
    #[default]
    Full,
    Normal,
}

impl ServeOptions {
    /// The dashboard's origin: `--public-url`, or localhost on the port listened on.
    pub fn public_url(&self, port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{port}")
            }
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";

/// The whole HTTP surface: `/v1`, health and metrics, the dashboard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(v1::routes())
        .merge(operators::routes())
        .merge(health::routes())
        .merge(dashboard::routes())
        .with_state(state)
}

/// Reloads the policy when its file changes, for as long as the server runs.
async fn watch_policy(state: AppState) {
    loop {
        tokio::time::sleep(policy::RELOAD_EVERY).await;
        let watch = state.clone();
        let now = state.clock().now();
        let before = state.policy().status().problem;
        let changed = tokio::task::spawn_blocking(move || watch.policy().reload(now))
            .await
            .unwrap_or(false);
        let after = state.policy().status().problem;
        if changed {
            state.metrics().reloaded(true);
            eprintln!("behalf serve: policy reloaded");
        } else if after.is_some() && after != before {
            state.metrics().reloaded(false);
            if let Some(problem) = after {
                eprintln!("behalf serve: {problem}");
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Serves on `options.listen` until SIGINT or SIGTERM. Prints `listening on URL` once it
/// accepts connections (with the port chosen when `listen` asks for port 0).
pub async fn serve(options: ServeOptions) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    serve_on(listener, options, shutdown_signal()).await
}

/// Serves on a bound listener until `stop` completes.
pub async fn serve_on(
    listener: std::net::TcpListener,
    options: ServeOptions,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let public_url = options.public_url(bound.port());
    let origin = webauthn_rs::prelude::Url::parse(&public_url)
        .map_err(|e| format!("the public URL `{public_url}` is not a URL: {e}"))?;
    let operators = operators::Operators::new(&origin)?;
    // Opening may block (PostgreSQL's client connects and migrates synchronously): not on
    // the runtime's own thread.
    let state = tokio::task::block_in_place(|| {
        AppState::open(
            options.state.clone(),
            options.policy.clone(),
            options.clock,
            options.sync,
            operators,
        )
    })?;
    tokio::spawn(watch_policy(state.clone()));
    tokio::spawn(events::tail(state.clone()));
    let watch = state.shared_policy();
    let clock = *state.clock();
    webhooks::spawn_background(
        options.state.clone(),
        webhooks::Source {
            policy: Box::new(move || Ok(watch.current())),
            now_ms: Box::new(move || clock.now()),
        },
    );
    // The client's address reaches handlers (sign-in attempts are counted per address).
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => {
            // One process-wide provider: ring (rustls has no default without aws-lc).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| {
                    format!(
                        "cannot use the certificate {} and key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                stop.await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            println!("behalf serve: listening on https://{bound}");
            axum_server::from_tcp_rustls(listener, config)
                .map_err(|e| format!("cannot serve on {bound}: {e}"))?
                .handle(handle)
                .serve(app)
                .await
                .map_err(|e| format!("the server stopped: {e}"))
        }
        (None, None) => {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| format!("cannot listen on {bound}: {e}"))?;
            println!("behalf serve: listening on http://{bound}");
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .map_err(|e| format!("the server stopped: {e}"))
        }
        _ => Err("--tls-cert and --tls-key go together".into()),
    }
}

/// Serves on a runtime of its own until the process is stopped (for the CLI, which has none).
pub fn run(options: ServeOptions) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?
        .block_on(serve(options))
}
