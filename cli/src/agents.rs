//! `behalf agents key create|list|revoke`: the keys agents call `behalf serve` with. A key is
//! printed once, when it is made; the state database keeps only its SHA-256.

use behalf_store::{AgentKey, AgentKeys};
use clap::Subcommand;

use crate::error::{exit, CliError, Result};
use crate::project::now;
use crate::store::store_error;
use crate::Globals;

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// Create, list or revoke agent keys
    #[command(
        subcommand,
        after_help = "Examples:
  behalf agents key create agent_claude_code
  behalf agents key list
  behalf agents key revoke key_3fQm9ZxYp0aB"
    )]
    Key(KeyCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a key for AGENT and print it once (only its hash is stored)
    #[command(after_help = "Examples:
  behalf agents key create agent_claude_code
  export BEHALF_AGENT_KEY=$(behalf agents key create agent_claude_code --quiet)")]
    Create {
        /// The agent the key speaks for (a passport's `agent` in behalf.json)
        agent: String,
        /// Print only the key
        #[arg(long)]
        quiet: bool,
    },
    /// List keys (ids, agents, when made or revoked); never the keys themselves
    #[command(after_help = "Examples:
  behalf agents key list
  behalf agents key list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id: the server refuses it from the next request on
    #[command(after_help = "Examples:
  behalf agents key revoke key_3fQm9ZxYp0aB")]
    Revoke { key_id: String },
}

pub fn run(g: &Globals, c: AgentsCommand) -> Result<u8> {
    let AgentsCommand::Key(c) = c;
    let project = g.project()?;
    let mut store = project.store()?;
    let keys = store.backend();
    match c {
        KeyCommand::Create { agent, quiet } => {
            let loaded = project.load()?;
            if loaded.policy.passport_for(&agent).is_none() {
                return Err(CliError::usage(format!(
                    "no passport in {} is for agent `{agent}`",
                    project.display()
                ))
                .hint("name an agent of behalf.json (`behalf permissions list` shows them)"));
            }
            let new = behalf_server::auth::keys::generate().map_err(|e| {
                CliError::new(
                    exit::SOFTWARE,
                    format!("the operating system gave no random bytes: {e}"),
                )
            })?;
            let row = AgentKey {
                key_id: new.key_id.clone(),
                agent_id: agent.clone(),
                created_at: now()?,
                revoked_at: None,
            };
            keys.create_agent_key(&row, &new.hash)
                .map_err(store_error)?;
            if quiet {
                println!("{}", new.key);
            } else {
                println!("{}", new.key);
                eprintln!(
                    "key {} for {agent}: shown once, only its hash is kept; give it to the agent as BEHALF_AGENT_KEY",
                    new.key_id
                );
            }
            Ok(exit::OK)
        }
        KeyCommand::List { json } => {
            let all = keys.agent_keys().map_err(store_error)?;
            if json {
                let rows: Vec<serde_json::Value> = all.iter().map(key_value).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else if all.is_empty() {
                println!("no agent keys (make one with `behalf agents key create AGENT`)");
            } else {
                for k in &all {
                    let state = match k.revoked_at {
                        Some(at) => format!("revoked {}", behalf_core::time::format_rfc3339(at)),
                        None => "active".to_string(),
                    };
                    println!(
                        "{}  {}  created {}  {state}",
                        k.key_id,
                        k.agent_id,
                        behalf_core::time::format_rfc3339(k.created_at)
                    );
                }
            }
            Ok(exit::OK)
        }
        KeyCommand::Revoke { key_id } => {
            if keys
                .revoke_agent_key(&key_id, now()?)
                .map_err(store_error)?
            {
                println!("revoked {key_id}");
                Ok(exit::OK)
            } else {
                Err(CliError::failed(format!("no agent key `{key_id}`"))
                    .hint("`behalf agents key list` shows the ids"))
            }
        }
    }
}

fn key_value(k: &AgentKey) -> serde_json::Value {
    serde_json::json!({
        "keyId": k.key_id,
        "agentId": k.agent_id,
        "createdAt": behalf_core::time::format_rfc3339(k.created_at),
        "revokedAt": k.revoked_at.map(behalf_core::time::format_rfc3339),
    })
}
