//! `behalf operators invite|list|remove`: the people who approve in `behalf serve`'s
//! dashboard. An invitation prints a one-time enrollment link (15 minutes; the state database
//! keeps only its hash) that registers a passkey. Run on the server's host, against its state.

use behalf_server::operators::invite::{invite, InviteError};
use behalf_store::operators::OperatorStore;
use clap::Subcommand;

use crate::error::{exit, CliError, Result};
use crate::project::now;
use crate::store::store_error;
use crate::Globals;

#[derive(Subcommand, Debug)]
pub enum OperatorsCommand {
    /// Print a one-time link (15 minutes) that enrolls NAME's passkey; a name that exists gets
    /// a link for another passkey
    #[command(after_help = "Examples:
  behalf operators invite alice
  behalf operators invite alice --url https://behalf.example.com

Open the link in the browser that holds (or will make) the passkey. It works once.")]
    Invite {
        /// The operator's name, as the dashboard and the audit log show it
        name: String,
        /// The URL the dashboard is served at (`behalf serve --public-url`)
        #[arg(long, value_name = "URL", default_value = "http://localhost:7777")]
        url: String,
    },
    /// List operators (names, passkeys, when added or removed)
    #[command(after_help = "Examples:
  behalf operators list
  behalf operators list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator: its sessions and API tokens end at once; its public keys stay so
    /// that `behalf audit verify` still checks what it signed
    #[command(after_help = "Examples:
  behalf operators remove alice")]
    Remove { name: String },
}

pub fn run(g: &Globals, c: OperatorsCommand) -> Result<u8> {
    let project = g.project()?;
    let mut store = project.store()?;
    let rows = store.backend();
    match c {
        OperatorsCommand::Invite { name, url } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CliError::usage(format!("`{url}` is not an http(s) URL"))
                    .hint("give the dashboard's URL, like http://localhost:7777"));
            }
            let invitation = invite(rows, &name, &url, now()?).map_err(|e| match e {
                InviteError::Name(m) => CliError::usage(m),
                InviteError::Random(m) => CliError::new(exit::SOFTWARE, m),
                InviteError::Store(e) => store_error(e),
            })?;
            println!("{}", invitation.link);
            eprintln!(
                "{} {}: open the link within 15 minutes (until {}) to enroll a passkey; it works once",
                if invitation.new { "invited" } else { "another passkey for" },
                invitation.operator.name,
                behalf_core::time::format_rfc3339(invitation.expires_at)
            );
            Ok(exit::OK)
        }
        OperatorsCommand::List { json } => {
            let all = rows.operators().map_err(store_error)?;
            let mut out = Vec::with_capacity(all.len());
            for o in &all {
                let passkeys = rows.credentials_of(&o.id).map_err(store_error)?.len();
                out.push((o, passkeys));
            }
            if json {
                let list: Vec<serde_json::Value> = out
                    .iter()
                    .map(|(o, passkeys)| {
                        serde_json::json!({
                            "operatorId": o.id,
                            "name": o.name,
                            "passkeys": passkeys,
                            "createdAt": behalf_core::time::format_rfc3339(o.created_at),
                            "removedAt": o.removed_at.map(behalf_core::time::format_rfc3339),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if out.is_empty() {
                println!("no operators (invite one with `behalf operators invite NAME`)");
            } else {
                for (o, passkeys) in &out {
                    let state = match o.removed_at {
                        Some(at) => format!("removed {}", behalf_core::time::format_rfc3339(at)),
                        None if *passkeys == 0 => "not enrolled yet".to_string(),
                        None => format!(
                            "{passkeys} passkey{}",
                            if *passkeys == 1 { "" } else { "s" }
                        ),
                    };
                    println!(
                        "{}  {}  added {}  {state}",
                        o.id,
                        o.name,
                        behalf_core::time::format_rfc3339(o.created_at)
                    );
                }
            }
            Ok(exit::OK)
        }
        OperatorsCommand::Remove { name } => {
            let Some(operator) = rows.operator_named(&name).map_err(store_error)? else {
                return Err(CliError::failed(format!("no operator named `{name}`"))
                    .hint("`behalf operators list` shows them"));
            };
            rows.remove_operator(&operator.id, now()?)
                .map_err(store_error)?;
            println!("removed {name}: its sessions and API tokens have ended");
            Ok(exit::OK)
        }
    }
}
