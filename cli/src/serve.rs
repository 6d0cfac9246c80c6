//! `behalf serve`: the team server (crate behalf-server) on this project's policy and state.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::error::{exit, CliError, Result};
use crate::store::DB_FILE;
use crate::Globals;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on; 127.0.0.1 serves this host only
    #[arg(long, value_name = "ADDR:PORT", default_value = behalf_server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The state: a SQLite file, or a PostgreSQL database (postgres://user@host/db) that
    /// several instances share [default: BEHALF_STATE_URL, else state.db in the state
    /// directory beside behalf.json]
    #[arg(long, value_name = "FILE|URL")]
    state: Option<PathBuf>,
    /// A PEM certificate chain: serve HTTPS (with --tls-key)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The URL people open the dashboard at; passkeys are bound to its host
    /// [default: http(s)://localhost:PORT]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// full: every group commit is fsynced (a decision answered survives a power loss);
    /// normal: the WAL is fsynced at checkpoints (it survives the server being killed)
    #[arg(long, value_name = "MODE", default_value = "full", value_parser = ["full", "normal"])]
    sync: String,
}

pub fn run(g: &Globals, a: ServeArgs) -> Result<u8> {
    let project = g.project()?;
    // The policy must load at start; later edits that do not load keep the last good one.
    project.load()?;
    let state = match a
        .state
        .or_else(|| crate::store::state_url().map(PathBuf::from))
    {
        Some(location) => location,
        None => {
            std::fs::create_dir_all(&project.state_dir).map_err(|e| {
                CliError::state(format!(
                    "cannot create the state directory {}: {e}",
                    project.state_dir.display()
                ))
            })?;
            project.state_dir.join(DB_FILE)
        }
    };
    let options = behalf_server::ServeOptions {
        listen: a.listen,
        policy: project.policy_path.clone(),
        state,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        public_url: a.public_url,
        clock: behalf_server::clock::Clock::from_env().map_err(CliError::usage)?,
        sync: if a.sync == "normal" {
            behalf_server::Sync::Normal
        } else {
            behalf_server::Sync::Full
        },
    };
    behalf_server::run(options).map_err(|e| CliError::new(exit::SOFTWARE, e))?;
    Ok(exit::OK)
}
