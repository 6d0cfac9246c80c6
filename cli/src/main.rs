//! `behalf`: the permission engine at the command line and at the MCP boundary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod agents;
mod commands;
mod error;
mod mcp;
mod ojson;
mod operators;
mod permissions;
mod project;
mod remote;
mod render;
mod serve;
mod store;
mod webhooks;

use error::{exit, CliError};
use project::Project;

const LONG_HELP: &str = concat!(
    "Examples:
  behalf init                       write a starter behalf.json
  behalf check                      validate it
  behalf verify --agent agent_claude_code --action deploy --vendor vercel.com --param env=production
  behalf approvals list
  behalf approvals approve apr_Def456uvwXyZ0123 --ttl 30m
  behalf mcp init && behalf claude  enforce at the MCP boundary

",
    "Exit codes:
  0   success; for `verify`: allowed
  1   `verify`: denied; other commands: the check failed (a test, the audit chain, an approval)
  2   `verify`: approval required
  64  usage error (bad arguments)
  65  bad input file (a test file, a map file)
  74  the state database (.behalf/state.db) cannot be read or written, or is corrupt
  75  the state database stayed locked by another process (BEHALF_BUSY_TIMEOUT_MS)
  78  behalf.json is missing or invalid

Environment:
  BEHALF_POLICY           the policy file (default: behalf.json here or in a parent)
  BEHALF_STATE_DIR        the state directory (default: .behalf/ beside behalf.json)
  BEHALF_STATE_URL        keep the state in PostgreSQL (postgres://user@host/db) instead
  BEHALF_AGENT            the default agent id for `verify` and `mcp`
  BEHALF_BUSY_TIMEOUT_MS  how long to wait for a lock held by another process (default 10000)
  BEHALF_URL              a `behalf serve` server that decides for `verify` and `mcp proxy`
  BEHALF_AGENT_KEY        the agent's key for that server (bhk_…)
  BEHALF_TIMEOUT_MS       how long to wait for that server before denying (default 2000)
  BEHALF_NOW              for testing only: pretend the time is this RFC 3339 instant"
);

#[derive(Parser, Debug)]
#[command(
    name = "behalf",
    version,
    about = "Permission checks before AI agents act: verify, approve, audit, and enforce at MCP.",
    long_about = "behalf decides whether an agent may run a tool: `allowed`, `denied` or \
`approval_required`, from the passports and permissions in behalf.json. State (approvals, \
grants, budgets, the hash-chained audit log) lives in .behalf/state.db, safe for several \
processes at once. Anything unexpected fails closed.",
    after_help = "Examples:
  behalf init                       write a starter behalf.json
  behalf check                      validate it
  behalf verify --agent agent_claude_code --action deploy --vendor vercel.com --param env=production
  behalf approvals list
  behalf approvals approve apr_Def456uvwXyZ0123 --ttl 30m
  behalf mcp init && behalf claude  enforce at the MCP boundary

Exit codes: 0 success / allowed, 1 denied or check failed, 2 approval required, 64 usage,
65 bad input file, 74 state database error, 75 database locked, 78 invalid behalf.json.
`behalf --help` (long form) lists them all with the environment variables.",
    after_long_help = LONG_HELP
)]
struct Cli {
    /// The policy file [default: behalf.json in this directory or a parent]
    #[arg(long, global = true, env = "BEHALF_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The state directory [default: .behalf/ beside the policy file]
    #[arg(long, global = true, env = "BEHALF_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a starter behalf.json (a coding agent that deploys to staging freely and needs
    /// approval for production)
    #[command(after_help = "Examples:
  behalf init
  behalf init --agent agent_cursor --force")]
    Init(commands::InitArgs),
    /// Validate behalf.json and list every problem with its line and JSON path
    #[command(after_help = "Examples:
  behalf check
  behalf check --policy deploy/behalf.json --json")]
    Check(commands::CheckArgs),
    /// Ask whether an agent may perform an action; prints the decision and its trace
    #[command(after_help = "Examples:
  behalf verify --agent agent_claude_code --action deploy --vendor vercel.com --param env=staging
  behalf verify --action purchase --vendor www.amazon.com --param amount=42.5 --json
  behalf verify --request '{\"agentId\":\"agent_claude_code\",\"action\":\"deploy\",\"vendor\":\"vercel.com\"}'
  cat requests.jsonl | behalf verify --stdin     # one JSON packet per line

Exit codes: 0 allowed, 1 denied, 2 approval required, 64 usage error, 74/75 state database
error, 78 invalid behalf.json. With --stdin the exit code is 0 unless an error stops the run.

BEHALF_NOW (RFC 3339) overrides the clock, for testing only.")]
    Verify(commands::VerifyArgs),
    /// Create, list or revoke permissions (edits behalf.json in place, keeping its order)
    #[command(
        subcommand,
        after_help = "Examples:
  behalf permissions list
  behalf permissions create agent_claude_code --action deploy --vendor vercel.com --when env=staging
  behalf permissions revoke deploy_staging"
    )]
    Permissions(permissions::PermissionsCommand),
    /// List, approve or deny held actions
    #[command(
        subcommand,
        after_help = "Examples:
  behalf approvals list
  behalf approvals approve apr_Def456uvwXyZ0123 --ttl 30m
  behalf approvals deny apr_Def456uvwXyZ0123"
    )]
    Approvals(commands::ApprovalsCommand),
    /// Read, verify or export the hash-chained audit log
    #[command(
        subcommand,
        after_help = "Examples:
  behalf audit tail -n 50
  behalf audit verify
  behalf audit export --format jsonl > audit.jsonl"
    )]
    Audit(commands::AuditCommand),
    /// Run policy test cases (the conformance format, or a simple `tests` list)
    #[command(after_help = "A simple test file:
  {
    \"policy\": \"behalf.json\",
    \"tests\": [
      { \"name\": \"staging deploys run\",
        \"request\": {\"agentId\": \"agent_claude_code\", \"action\": \"deploy\",
                    \"vendor\": \"vercel.com\", \"params\": {\"env\": \"staging\"}},
        \"expect\": \"allowed\" },
      { \"name\": \"production waits for a person\",
        \"request\": {\"agentId\": \"agent_claude_code\", \"action\": \"deploy\",
                    \"vendor\": \"vercel.com\", \"params\": {\"env\": \"production\"}},
        \"expect\": {\"decision\": \"approval_required\", \"reason\": \"requires_approval\"} }
    ]
  }
`policy` is a path relative to the test file, or an inline policy; without it the project's
behalf.json is used. Files with `cases` run as conformance vectors (tests/conformance/README.md).

Examples:
  behalf test policy.test.json
  behalf test tests/conformance/*.json")]
    Test(commands::TestArgs),
    /// MCP: a verify_action server, an enforcing proxy, and .mcp.json wiring
    #[command(
        subcommand,
        after_help = "Examples:
  behalf mcp init --server filesystem -- npx -y @modelcontextprotocol/server-filesystem .
  behalf mcp serve --agent agent_claude_code"
    )]
    Mcp(mcp::McpCommand),
    /// Signed webhooks: endpoints in behalf.json, delivery, status and replay
    #[command(
        subcommand,
        after_help = "Examples:
  behalf webhooks add slack --url https://hooks.example.com/behalf
  behalf webhooks deliver --once
  behalf webhooks status"
    )]
    Webhooks(webhooks::WebhooksCommand),
    /// Serve the team API: decisions, approvals, grants, audit and events over HTTP
    #[command(after_help = "Examples:
  behalf serve
  behalf serve --listen 127.0.0.1:7777 --state /var/lib/behalf/state.db
  behalf serve --listen 0.0.0.0:443 --tls-cert cert.pem --tls-key key.pem
  behalf serve --state postgres://behalf@db.internal/behalf   # several instances, one system

The policy is behalf.json (--policy), reloaded when it changes; an edit that does not load
keeps the last good policy and is reported on /readyz. How it works: docs/server.md.")]
    Serve(serve::ServeArgs),
    /// Agent keys for `behalf serve`: create (printed once), list, revoke
    #[command(
        subcommand,
        after_help = "Examples:
  behalf agents key create agent_claude_code
  behalf agents key list
  behalf agents key revoke key_3fQm9ZxYp0aB"
    )]
    Agents(agents::AgentsCommand),
    /// The people who approve in the dashboard: invite (a one-time passkey link), list, remove
    #[command(
        subcommand,
        after_help = "Examples:
  behalf operators invite alice
  behalf operators list
  behalf operators remove alice

How enrollment, sessions and signed approvals work: docs/operators.md."
    )]
    Operators(operators::OperatorsCommand),
    /// Write the behalf section of CLAUDE.md (how behalf answers, what to do on approval)
    #[command(after_help = "Examples:
  behalf claude
  behalf claude --file AGENTS.md")]
    Claude(commands::ClaudeArgs),
    /// The PostgreSQL state: schema status and upgrades, and moving a SQLite state into it
    #[command(after_help = "Examples:
  behalf migrate --from .behalf/state.db --to postgres://behalf@db.internal/behalf
  behalf migrate status --url postgres://behalf@db.internal/behalf
  BEHALF_STATE_URL=postgres://behalf@db.internal/behalf behalf migrate up

With BEHALF_STATE_URL set, every behalf command keeps its state in that database instead of
.behalf/state.db; migrations are applied when a behalf first opens it.")]
    Migrate(commands::MigrateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct Globals {
    pub policy: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

impl Globals {
    pub fn project(&self) -> Result<Project, CliError> {
        Project::locate(self.policy.as_deref(), self.state_dir.as_deref())
    }
}

/// A closed stdout (`behalf audit tail | head`) ends the process quietly with 141, the
/// shell's code for SIGPIPE, instead of a panic trace; anything already decided is recorded.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        exit::USAGE
                    } else {
                        exit::OK
                    }
                }
                _ => exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let globals = Globals {
        policy: cli.policy,
        state_dir: cli.state_dir,
    };
    let result = match cli.command {
        Command::Init(a) => commands::init(&globals, a),
        Command::Check(a) => commands::check(&globals, a),
        Command::Verify(a) => commands::verify(&globals, a),
        Command::Permissions(c) => permissions::run(&globals, c),
        Command::Approvals(c) => commands::approvals(&globals, c),
        Command::Audit(c) => commands::audit(&globals, c),
        Command::Test(a) => commands::test(&globals, a),
        Command::Mcp(c) => mcp::run(&globals, c),
        Command::Webhooks(c) => webhooks::run(&globals, c),
        Command::Claude(a) => commands::claude(&globals, a),
        Command::Migrate(a) => commands::migrate(&globals, a),
        Command::Serve(a) => serve::run(&globals, a),
        Command::Agents(c) => agents::run(&globals, c),
        Command::Operators(c) => operators::run(&globals, c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            e.print();
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use clap::CommandFactory;

    /// Every command path (`webhooks status`, ...) with its rendered `--help`.
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        out.push((path.to_string(), cmd.render_long_help().to_string()));
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            let sub = cmd.find_subcommand_mut(&name).unwrap();
            walk(sub, &format!("{path} {name}"), out);
        }
    }

    #[test]
    fn every_command_help_shows_examples() {
        let mut root = Cli::command();
        root.build();
        let mut all = Vec::new();
        walk(&mut root, "behalf", &mut all);
        assert!(all.len() > 30, "the walk found only {} commands", all.len());
        let missing: Vec<&str> = all
            .iter()
            .filter(|(_, help)| !help.contains("Examples"))
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
        for (path, help) in &all {
            // An example line names the command it is an example of.
            assert!(
                help.contains(&format!("  {path}")) || path == "behalf",
                "the examples of `{path}` do not show `{path}`"
            );
        }
    }
}
