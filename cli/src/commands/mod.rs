//! The commands on the policy and the state, one file each: init, check, verify, approvals,
//! audit, test, claude.

mod approvals;
mod audit;
mod check;
mod claude;
mod init;
mod test;
mod verify;

pub use approvals::{approvals, ApprovalsCommand};
pub use audit::{audit, AuditCommand};
pub use check::{check, CheckArgs};
pub use claude::{claude, ClaudeArgs};
pub use init::{init, InitArgs};
pub use test::{test, TestArgs};
pub use verify::{default_agent, parse_kv, verify, VerifyArgs};

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
