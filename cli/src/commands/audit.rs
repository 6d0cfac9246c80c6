//! `behalf audit tail|verify|export`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::error::{exit, CliError, Result};
use crate::{render, Globals};

use super::plural;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// One JSON record per line
    Jsonl,
    /// One JSON array
    Json,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Show the latest audit records
    #[command(after_help = "Examples:
  behalf audit tail
  behalf audit tail -n 100 --json
  behalf audit tail --follow")]
    Tail {
        /// How many records
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        /// Print records as JSON lines
        #[arg(long)]
        json: bool,
        /// Keep printing new records as they are appended
        #[arg(short, long)]
        follow: bool,
    },
    /// Re-check the whole chain (seq, prevHash links, hashes) and every operator's signature;
    /// names the first bad record
    #[command(
        after_help = "Exit 0 when the chain is intact, 1 when it is broken. An approval or
denial made in `behalf serve`'s dashboard carries the operator's passkey signature over a
challenge that commits to the approval id and the request: it is checked against the
operator's stored public key (docs/operators.md).

Examples:
  behalf audit verify
  behalf audit verify --json"
    )]
    Verify {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Export every record
    #[command(after_help = "Examples:
  behalf audit export --format jsonl > audit.jsonl
  behalf audit export --format json --out audit.json")]
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn audit(g: &Globals, c: AuditCommand) -> Result<u8> {
    let project = g.project()?;
    let mut store = project.store()?;
    match c {
        AuditCommand::Tail {
            lines,
            json,
            follow,
        } => {
            let mut last = None;
            loop {
                let rows =
                    store.audit_tail(if last.is_some() { u64::MAX >> 1 } else { lines }, last)?;
                for (seq, r) in &rows {
                    if json {
                        println!("{r}");
                    } else {
                        println!("{}", render::audit_line(r));
                    }
                    last = Some(*seq);
                }
                std::io::stdout().flush()?;
                if !follow {
                    break;
                }
                last = last.or(Some(0));
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Ok(exit::OK)
        }
        AuditCommand::Verify { json } => {
            let check = store.verify_audit()?;
            if json {
                let broken = check.broken.as_ref();
                println!(
                    "{}",
                    json!({
                        "ok": broken.is_none(),
                        "records": check.records,
                        "firstBrokenSeq": broken.map(|b| b.0),
                        "firstBrokenIndex": broken.map(|b| b.1),
                        "problem": broken.map(|b| b.2.clone()),
                        "head": check.head.as_ref().map(|h| json!({"seq": h.0, "hash": h.1})),
                        "unchained": check.unchained,
                        "signedByOperators": check.signed,
                        "byOperatorTokens": check.by_token,
                    })
                );
            } else if let Some((seq, index, why)) = &check.broken {
                println!("audit chain BROKEN at record seq {seq} (index {index}): {why}");
                println!("records before it verify; this record and everything after it cannot be trusted");
            } else {
                match &check.head {
                    Some((seq, hash)) => println!(
                        "audit chain ok: {} record{}, head seq {seq} hash {}",
                        check.records,
                        plural(usize::try_from(check.records).unwrap_or(0)),
                        hash.get(..16).unwrap_or(hash)
                    ),
                    None => println!("audit chain ok: no records yet"),
                }
                if check.unchained > 0 {
                    println!(
                        "{} record{} committed and not chained yet (a running behalf chains {} in a moment)",
                        check.unchained,
                        plural(usize::try_from(check.unchained).unwrap_or(0)),
                        if check.unchained == 1 { "it" } else { "them" }
                    );
                }
                if check.signed + check.by_token > 0 {
                    println!(
                        "operators: {} signature{} verified with their passkeys, {} by operator API token{}",
                        check.signed,
                        plural(usize::try_from(check.signed).unwrap_or(0)),
                        check.by_token,
                        plural(usize::try_from(check.by_token).unwrap_or(0)),
                    );
                }
            }
            Ok(if check.broken.is_some() {
                exit::DENIED
            } else {
                exit::OK
            })
        }
        AuditCommand::Export { format, out } => {
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| {
                        CliError::usage(format!("cannot write {}: {e}", path.display()))
                    })?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut first = true;
            if matches!(format, ExportFormat::Json) {
                write!(sink, "[")?;
            }
            store.audit_each(|_, text| {
                match format {
                    ExportFormat::Jsonl => writeln!(sink, "{text}")?,
                    ExportFormat::Json => {
                        if !first {
                            write!(sink, ",")?;
                        }
                        write!(sink, "\n{text}")?;
                    }
                }
                first = false;
                Ok(())
            })?;
            if matches!(format, ExportFormat::Json) {
                writeln!(sink, "\n]")?;
            }
            sink.flush()?;
            Ok(exit::OK)
        }
    }
}
