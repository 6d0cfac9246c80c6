//! `behalf claude`: the CLAUDE.md section that tells Claude Code to go through behalf.

use std::path::PathBuf;

use clap::Args;

use crate::error::{exit, CliError, Result};
use crate::Globals;

#[derive(Args, Debug)]
pub struct ClaudeArgs {
    /// The agent context file to write the section into
    #[arg(long, default_value = "CLAUDE.md", value_name = "FILE")]
    file: PathBuf,
}

const SECTION_START: &str = "<!-- behalf:start -->";
const SECTION_END: &str = "<!-- behalf:end -->";

pub fn claude_section() -> String {
    format!(
        "{SECTION_START}
## Permissions (behalf)

Your tools reach their MCP servers through `behalf mcp proxy`, which checks every tool call
against this project's `behalf.json` before it runs. Each call has one of three outcomes:

- **Allowed**: the tool runs and you get its normal result.
- **Denied** (the result says \"DENIED by behalf policy\"): the action was not executed and must
  not be retried or worked around (no other tool, no shell command to the same effect). Tell
  the user what was denied and the request id.
- **Approval required** (the result starts with
  \"APPROVAL REQUIRED — do not execute this action.\"): stop. Do not execute the action by any other means. Tell the user the approval id
  and the command that approves it (`behalf approvals approve apr_…`), then wait. When the user
  says it is approved, retry the identical call once.

For actions that do not go through an MCP tool (a deploy from the shell, a purchase, an email),
call the `verify_action` tool of the `behalf` MCP server first, with `action`, `vendor`,
`resource` and `params`, and run the action only when the answer has `\"allowed\": true`. Use
`approval_status` with an approval id to see whether a person has decided.
{SECTION_END}
"
    )
}

pub fn claude(_g: &Globals, a: ClaudeArgs) -> Result<u8> {
    let section = claude_section();
    let existing = match std::fs::read_to_string(&a.file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {e}",
                a.file.display()
            )))
        }
    };
    let (text, verb) = match existing {
        None => (format!("# Agent notes\n\n{section}"), "wrote"),
        Some(t) => match (t.find(SECTION_START), t.find(SECTION_END)) {
            (Some(s), Some(e)) if e > s => {
                let end = e + SECTION_END.len();
                let rest = t.get(end..).unwrap_or("").trim_start_matches('\n');
                let head = t.get(..s).unwrap_or("");
                (format!("{head}{section}{rest}"), "updated")
            }
            _ => {
                let sep = if t.ends_with("\n\n") || t.is_empty() {
                    ""
                } else if t.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                (format!("{t}{sep}{section}"), "appended to")
            }
        },
    };
    std::fs::write(&a.file, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", a.file.display())))?;
    println!(
        "{verb} {}: the behalf section (how behalf answers, what to do on approval required)",
        a.file.display()
    );
    Ok(exit::OK)
}
