//! `behalf webhooks`: endpoints in behalf.json, the durable outbox in the state database, and
//! delivery (Standard Webhooks v1: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Every audit record's event is queued in `webhook_outbox`, one row per endpoint that wants
//! it, in the transaction that appends the record (`store.rs`). Deliverers (`behalf serve`,
//! `mcp serve`, `mcp proxy`, `webhooks deliver`) claim due rows in a write transaction with a lease, POST
//! them, and record the outcome; several deliverers never claim the same row at once. The
//! `webhook-id` is derived from the record's chain hash, so it is the same on every attempt
//! and replay; the signature is made fresh per attempt, with the attempt's timestamp.
//!
//! The deliverer (claim, POST, retry) is `behalf_server::webhooks` (`server/src/webhooks.rs`),
//! shared with `behalf serve`; here it reads the project's policy and clock. `endpoints.rs`
//! edits the endpoints in behalf.json, `status.rs` lists them and the outbox, `replay.rs` queues
//! a record again.

use clap::{Args, Subcommand};

use crate::error::{exit, CliError, Result};
use crate::project::Project;
use crate::Globals;

mod endpoints;
mod replay;
mod status;

use behalf_server::webhooks::{Deliverer, Pass, Source};

/// The delivery code (`behalf_server::webhooks`) reading this project's policy and clock.
fn source(project: &Project) -> Source {
    let project = project.clone();
    Source {
        policy: Box::new(move || {
            project
                .load()
                .map(|l| l.policy.clone())
                .map_err(|e| e.message)
        }),
        now_ms: Box::new(|| {
            crate::project::now().unwrap_or_else(|_| behalf_server::webhooks::wall_ms())
        }),
    }
}

/// Delivery in the background of a long-running command (`mcp serve`, `mcp proxy`).
pub fn spawn_background(project: &Project) {
    behalf_server::webhooks::spawn_background(
        project.state_dir.join(crate::store::DB_FILE),
        source(project),
    );
}

const EVENTS_HELP: &str = "decision.allowed, decision.denied, decision.approval_required, \
approval.granted, approval.denied, or * for all";

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Add an endpoint (edits behalf.json in place; prints a new secret when its variable is unset)
    #[command(after_help = "Examples:
  behalf webhooks add slack --url https://hooks.example.com/behalf
  behalf webhooks add siem --url https://siem.example.com/in --event decision.denied \\
      --event approval.denied --secret-env SIEM_WEBHOOK_SECRET

The secret is never written to behalf.json: it is read from the environment variable named
by `secretEnv` (default BEHALF_WEBHOOK_SECRET_<ID>) when a message is signed.")]
    Add(AddArgs),
    /// List the endpoints, whether their secrets are set, and whether they are disabled
    #[command(after_help = "Examples:
  behalf webhooks list
  behalf webhooks list --json")]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint from behalf.json
    #[command(
        after_help = "Undelivered messages of a removed endpoint stay in the outbox (shown by \
`webhooks status`) unless --purge drops them.

Examples:
  behalf webhooks remove slack
  behalf webhooks remove siem --purge   # and drop its undelivered messages"
    )]
    Remove {
        /// The endpoint id
        id: String,
        /// Also drop its undelivered messages from the outbox
        #[arg(long)]
        purge: bool,
    },
    /// Rotate an endpoint's secret: both the old and the new secret sign until --finish
    #[command(after_help = "Examples (a rotation, step by step):
  behalf webhooks rotate slack                 # prints a new secret for the new variable
  export BEHALF_WEBHOOK_SECRET_SLACK_2=whsec_...   # deliverers now sign with both secrets
  ... the receiver switches to the new secret ...
  behalf webhooks rotate slack --finish        # only the new secret signs

During the window `secretEnv` names the new variable and `previousSecretEnv` the old one;
every message carries one signature per secret, space separated (Standard Webhooks).")]
    Rotate {
        /// The endpoint id
        id: String,
        /// The variable for the new secret [default: the current name with `_2` added, or removed]
        #[arg(long, value_name = "NAME", conflicts_with = "finish")]
        secret_env: Option<String>,
        /// End the rotation window: drop `previousSecretEnv`
        #[arg(long)]
        finish: bool,
    },
    /// Re-enable an endpoint disabled by a 410 Gone answer
    #[command(after_help = "Examples:
  behalf webhooks status     # shows which endpoints are disabled, and why
  behalf webhooks enable slack")]
    Enable {
        /// The endpoint id
        id: String,
    },
    /// Deliver queued messages (forever, or with --once until nothing is due)
    #[command(
        after_help = "`mcp serve` and `mcp proxy` deliver in the background as well
(BEHALF_WEBHOOK_DELIVERY=off turns that off). Several deliverers at once are safe: each
message is claimed by one of them at a time.

Tuning (environment): BEHALF_WEBHOOK_TIMEOUT_MS (10000, per request), BEHALF_WEBHOOK_BACKOFF_MS
(5000, first retry), BEHALF_WEBHOOK_BACKOFF_MAX_MS (7200000), BEHALF_WEBHOOK_MAX_ATTEMPTS (20),
BEHALF_WEBHOOK_POLL_MS (1000).

Examples:
  behalf webhooks deliver --once     # what is due now, then exit (cron, CI)
  behalf webhooks deliver            # keep delivering until stopped"
    )]
    Deliver {
        /// Deliver what is due now, then exit
        #[arg(long)]
        once: bool,
    },
    /// Show pending, failed and disabled deliveries
    #[command(after_help = "Examples:
  behalf webhooks status
  behalf webhooks status --json --limit 100")]
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// List at most this many undelivered messages
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send an event again, with the same webhook-id (a message id or an audit seq)
    #[command(after_help = "Examples:
  behalf webhooks replay msg_3f1c0e9a5b7d2c4e6f8a0b1c2d3e4f50
  behalf webhooks replay 42 --endpoint slack      # the event of audit record 42")]
    Replay {
        /// `msg_...` or an audit record's seq
        id: String,
        /// Only to this endpoint [default: every endpoint whose events match]
        #[arg(long, value_name = "ID")]
        endpoint: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The endpoint id
    id: String,
    /// Where events are POSTed (http or https)
    #[arg(long)]
    url: String,
    /// An event type to deliver (repeat, or comma-separate) [default: *]
    #[arg(long = "event", value_name = "TYPE", value_delimiter = ',', help = format!("An event type to deliver (repeat, or comma-separate): {EVENTS_HELP} [default: *]"))]
    events: Vec<String>,
    /// The environment variable holding the secret [default: BEHALF_WEBHOOK_SECRET_<ID>]
    #[arg(long, value_name = "NAME")]
    secret_env: Option<String>,
    /// A note for people reading the policy
    #[arg(long)]
    description: Option<String>,
}

pub fn run(g: &Globals, c: WebhooksCommand) -> Result<u8> {
    let project = g.project()?;
    match c {
        WebhooksCommand::Add(a) => endpoints::add(&project, a),
        WebhooksCommand::List { json } => status::list(&project, json),
        WebhooksCommand::Remove { id, purge } => endpoints::remove(&project, &id, purge),
        WebhooksCommand::Rotate {
            id,
            secret_env,
            finish,
        } => endpoints::rotate(&project, &id, secret_env, finish),
        WebhooksCommand::Enable { id } => endpoints::enable(&project, &id),
        WebhooksCommand::Deliver { once } => deliver(&project, once),
        WebhooksCommand::Status { json, limit } => status::status(&project, json, limit),
        WebhooksCommand::Replay { id, endpoint } => {
            replay::replay(&project, &id, endpoint.as_deref())
        }
    }
}

fn deliver(project: &Project, once: bool) -> Result<u8> {
    project.load()?;
    // The state directory and its database are made as for any command that opens them.
    drop(project.store()?);
    let mut d = Deliverer::new(
        &project.state_dir.join(crate::store::DB_FILE),
        source(project),
    )
    .map_err(|e| CliError::state(e.0))?;
    let poll = d.poll();
    if once {
        let mut pass = Pass::default();
        d.drain(&mut pass).map_err(|e| CliError::state(e.0))?;
        let mut line = format!(
            "delivered {}, retrying later {}, failed {}",
            pass.delivered, pass.retrying, pass.failed
        );
        if !pass.disabled.is_empty() {
            line.push_str(&format!("; disabled: {}", pass.disabled.join(", ")));
        }
        println!("{line}");
        return Ok(exit::OK);
    }
    eprintln!(
        "behalf: delivering webhooks for {} (Ctrl-C stops; undelivered messages stay queued)",
        project.display()
    );
    loop {
        let mut pass = Pass::default();
        if let Err(e) = d.drain(&mut pass) {
            eprintln!("behalf: webhooks: {e}");
        }
        if pass.delivered > 0 {
            eprintln!("behalf: webhooks: delivered {}", pass.delivered);
        }
        std::thread::sleep(poll);
    }
}
