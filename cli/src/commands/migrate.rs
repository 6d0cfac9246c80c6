//! `behalf migrate`: the PostgreSQL state's schema (status, up), and moving a project's SQLite
//! state into PostgreSQL.

use std::path::PathBuf;

use behalf_store::migrate::sqlite_to_postgres;
use behalf_store::postgres::redact;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::error::{exit, CliError, Result};
use crate::store::{state_url, store_error, Store, STATE_URL_ENV};
use crate::Globals;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    command: Option<MigrateCommand>,
    /// The SQLite state to move (a project's .behalf/state.db)
    #[arg(long, value_name = "FILE", requires = "to")]
    from: Option<PathBuf>,
    /// The PostgreSQL database to move it into; it must hold no state yet
    #[arg(long, value_name = "URL", requires = "from")]
    to: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MigrateCommand {
    /// List the schema migrations and whether the database has each
    #[command(after_help = "Examples:
  behalf migrate status --url postgres://behalf@db.internal/behalf
  BEHALF_STATE_URL=postgres://behalf@db.internal/behalf behalf migrate status --json")]
    Status {
        /// The PostgreSQL database [default: BEHALF_STATE_URL]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Apply the migrations the database does not have yet (every behalf also does this when
    /// it opens the database, under an advisory lock)
    #[command(after_help = "Examples:
  behalf migrate up --url postgres://behalf@db.internal/behalf
  BEHALF_STATE_URL=postgres://behalf@db.internal/behalf behalf migrate up")]
    Up {
        /// The PostgreSQL database [default: BEHALF_STATE_URL]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

fn url_or_env(url: Option<String>) -> Result<String> {
    url.or_else(state_url).ok_or_else(|| {
        CliError::usage("no PostgreSQL database named").hint(format!(
            "pass --url postgres://user@host/db, or set {STATE_URL_ENV}"
        ))
    })
}

pub fn migrate(g: &Globals, a: MigrateArgs) -> Result<u8> {
    match (a.command, a.from, a.to) {
        (Some(MigrateCommand::Status { url, json }), _, _) => status(&url_or_env(url)?, json),
        (Some(MigrateCommand::Up { url }), _, _) => {
            let url = url_or_env(url)?;
            // Opening applies what is missing; say what that was.
            let mut store = Store::open_postgres(&url)?;
            let pg = store
                .postgres()
                .ok_or_else(|| CliError::state("not a PostgreSQL store"))?;
            let status = pg.migration_status().map_err(store_error)?;
            let latest = status.iter().map(|m| m.version).max().unwrap_or(0);
            println!("{}: schema up to date (migration {latest})", redact(&url));
            Ok(exit::OK)
        }
        (None, Some(from), Some(to)) => move_state(g, &from, &to),
        _ => Err(CliError::usage("say what to migrate").hint(
            "behalf migrate status | behalf migrate up | behalf migrate --from .behalf/state.db --to postgres://…",
        )),
    }
}

fn status(url: &str, json: bool) -> Result<u8> {
    let mut store = Store::open_postgres(url)?;
    let pg = store
        .postgres()
        .ok_or_else(|| CliError::state("not a PostgreSQL store"))?;
    let status = pg.migration_status().map_err(store_error)?;
    if json {
        let list: Vec<_> = status
            .iter()
            .map(|m| json!({"version": m.version, "name": m.name, "applied": m.applied}))
            .collect();
        println!("{}", json!({ "database": redact(url), "migrations": list }));
    } else {
        println!("{}", redact(url));
        for m in &status {
            let mark = if m.applied { "applied" } else { "pending" };
            println!("  {:>4}  {mark:<8} {}", m.version, m.name);
        }
    }
    Ok(exit::OK)
}

fn move_state(g: &Globals, from: &std::path::Path, to: &str) -> Result<u8> {
    // A schema-1 file needs the policy to become rows; a newer file does not use it.
    let project = g.project()?;
    let loaded = project.load()?;
    let mut store = Store::open_postgres(to)?;
    let pg = store
        .postgres()
        .ok_or_else(|| CliError::state("not a PostgreSQL store"))?;
    let report = sqlite_to_postgres(from, &loaded.policy, pg, &mut |table, done, total| {
        eprintln!("  {table}: {done} of {total}");
    })
    .map_err(|e| {
        let mut e = store_error(e);
        e.message = format!("moving {} to {}: {}", from.display(), redact(to), e.message);
        e
    })?;
    println!("moved {} into {}:", from.display(), redact(to));
    for (table, n) in &report.tables {
        println!("  {table:<17} {n} row{}", if *n == 1 { "" } else { "s" });
    }
    let check = store.verify_audit()?;
    match &check.broken {
        None => println!(
            "audit chain ok on PostgreSQL: {} record{}",
            check.records,
            if check.records == 1 { "" } else { "s" }
        ),
        Some((seq, _, why)) => {
            return Err(CliError::failed(format!(
                "the moved audit chain does not verify at seq {seq}: {why}"
            ))
            .hint(
                "the SQLite file's own chain is broken there too: run `behalf audit verify` on it",
            ));
        }
    }
    println!(
        "next: export {STATE_URL_ENV}={} for this project's behalf commands",
        redact(to)
    );
    Ok(exit::OK)
}
