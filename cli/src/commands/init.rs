//! `behalf init`: the starter behalf.json.

use std::path::PathBuf;

use clap::Args;

use crate::error::{exit, CliError, Result};
use crate::project::{self, write_atomically, Loaded};
use crate::Globals;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The agent id of the starter passport
    #[arg(long, default_value = "agent_claude_code")]
    agent: String,
    /// Overwrite an existing behalf.json
    #[arg(long)]
    force: bool,
}

pub fn starter_policy(agent: &str) -> String {
    let short = agent.trim_start_matches("agent_");
    // The seed's names: agent_claude_code carries passport_claude.
    let passport = format!("passport_{}", short.strip_suffix("_code").unwrap_or(short));
    let text = format!(
        r#"{{
  "version": 1,
  "passports": [
    {{
      "id": "{passport}",
      "agent": "{agent}",
      "description": "A coding agent: deploys to staging freely, production only after a person approves.",
      "permissions": [
        {{
          "id": "deploy_staging",
          "action": "deploy",
          "vendor": "vercel.com",
          "when": {{ "env": "staging" }}
        }},
        {{
          "id": "deploy_production",
          "action": "deploy",
          "vendor": "vercel.com",
          "when": {{ "env": "production" }},
          "effect": "require_approval",
          "approval": {{ "grantTtl": "30m" }}
        }},
        {{
          "id": "no_prod_db",
          "action": "*",
          "resource": "db/prod/**",
          "effect": "block"
        }}
      ]
    }}
  ]
}}
"#
    );
    text
}

pub fn init(g: &Globals, a: InitArgs) -> Result<u8> {
    let path = g
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(project::POLICY_FILE));
    if path.exists() && !a.force {
        return Err(
            CliError::usage(format!("{} already exists", path.display()))
                .hint("pass --force to overwrite it, or edit it with `behalf permissions create`"),
        );
    }
    let text = starter_policy(&a.agent);
    Loaded::from_text(&path.display().to_string(), text.clone())?;
    write_atomically(&path, &text)?;
    println!(
        "wrote {}: passport for {} with 3 permissions",
        path.display(),
        a.agent
    );
    println!("  deploy_staging     allow             deploy on vercel.com when env=staging");
    println!("  deploy_production  require_approval  deploy on vercel.com when env=production");
    println!("  no_prod_db         block             anything on db/prod/**");
    println!("\nnext: behalf verify --agent {} --action deploy --vendor vercel.com --param env=production", a.agent);
    println!("      behalf mcp init && behalf claude   (enforce at the MCP boundary)");
    Ok(exit::OK)
}
