//! `behalf approvals list|approve|deny`: pending approvals and grants, decided by a person.

use behalf_core::policy::Scope;
use behalf_core::state::HeldRequest;
use behalf_core::time::format_rfc3339;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::error::{exit, CliError, Result};
use crate::project::{self};
use crate::Globals;

use super::plural;

#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List pending approvals (and, with --grants, active grants)
    #[command(after_help = "Examples:
  behalf approvals list
  behalf approvals list --grants --json")]
    List {
        /// Also list active grants
        #[arg(long)]
        grants: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Approve a held action: opens a grant for the permission's grantTtl (or --ttl)
    #[command(after_help = "Examples:
  behalf approvals approve apr_Def456uvwXyZ0123
  behalf approvals approve apr_Def456uvwXyZ0123 --ttl 10m")]
    Approve {
        /// The approval id (apr_…)
        id: String,
        /// How long the grant lasts: 30m, 2h, 1d, or seconds [default: the permission's grantTtl]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// Print the grant as JSON
        #[arg(long)]
        json: bool,
    },
    /// Deny a held action: the same request is denied until the approval's pendingTtl ends
    #[command(after_help = "Examples:
  behalf approvals deny apr_Def456uvwXyZ0123")]
    Deny {
        /// The approval id (apr_…)
        id: String,
        /// Print the approval as JSON
        #[arg(long)]
        json: bool,
    },
}

fn held_summary(r: &HeldRequest) -> String {
    let mut s = format!("{} {}", r.agent_id, r.action);
    if let Some(v) = &r.vendor {
        s.push_str(&format!(" on {v}"));
    }
    if let Some(res) = &r.resource {
        s.push_str(&format!(" [{res}]"));
    }
    if !r.params.is_empty() {
        let text = Value::Object(r.params.clone()).to_string();
        let text = if text.len() > 120 {
            format!("{}…", text.chars().take(120).collect::<String>())
        } else {
            text
        };
        s.push(' ');
        s.push_str(&text);
    }
    s
}

pub fn approvals(g: &Globals, c: ApprovalsCommand) -> Result<u8> {
    let project = g.project()?;
    let loaded = project.load()?;
    let now = project::now()?;
    let mut store = project.store()?;
    match c {
        ApprovalsCommand::List { grants, json } => {
            let (pending, active) = store.read(&loaded.policy, now, |e| {
                (e.pending_approvals(now), e.grants(now))
            })?;
            if json {
                let out = if grants {
                    json!({"pending": pending, "grants": active})
                } else {
                    json!({"pending": pending})
                };
                println!("{out}");
                return Ok(exit::OK);
            }
            if pending.is_empty() {
                println!("no pending approvals");
            }
            for a in &pending {
                println!(
                    "{}  {}  {}  (since {}, until {})",
                    a.id,
                    a.permission,
                    held_summary(&a.request),
                    format_rfc3339(a.created_at),
                    format_rfc3339(a.expires_at)
                );
                println!(
                    "    approve: behalf approvals approve {}    deny: behalf approvals deny {}",
                    a.id, a.id
                );
            }
            if grants {
                println!("\n{} active grant{}", active.len(), plural(active.len()));
                for gr in &active {
                    let scope = match gr.scope {
                        Scope::Request => "request",
                        Scope::Permission => "permission",
                    };
                    println!(
                        "{}  {}  {}  scope {scope}  until {}",
                        gr.id,
                        gr.permission,
                        held_summary(&gr.request),
                        format_rfc3339(gr.expires_at)
                    );
                }
            }
            Ok(exit::OK)
        }
        ApprovalsCommand::Approve { id, ttl, json } => {
            let ttl_value = ttl.map(|t| match t.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(t),
            });
            let result = store.approve(&loaded.policy, now, &id, ttl_value.as_ref())?;
            match result {
                Ok(grant) => {
                    if json {
                        println!("{}", json!(grant));
                    } else {
                        println!("approved {id}");
                        println!(
                            "grant    {} for {} ({})",
                            grant.id,
                            grant.permission,
                            held_summary(&grant.request)
                        );
                        println!("until    {}", format_rfc3339(grant.expires_at));
                        println!("the agent may now retry the same request");
                    }
                    Ok(exit::OK)
                }
                Err(e) => Err(api_error(e)),
            }
        }
        ApprovalsCommand::Deny { id, json } => {
            let result = store.deny(&loaded.policy, now, &id)?;
            match result {
                Ok(approval) => {
                    if json {
                        println!("{}", json!(approval));
                    } else {
                        let until = format_rfc3339(approval.expires_at);
                        println!("denied {id}: the same request is denied until {until}");
                    }
                    Ok(exit::OK)
                }
                Err(e) => Err(api_error(e)),
            }
        }
    }
}

fn api_error(e: behalf_core::ApiError) -> CliError {
    let code = if e.code == behalf_core::ErrorCode::BadDuration {
        exit::USAGE
    } else {
        exit::DENIED
    };
    let mut err = CliError::new(code, format!("{} ({})", e.message, e.code));
    if !e.hint.is_empty() {
        err = err.hint(e.hint);
    }
    err
}
