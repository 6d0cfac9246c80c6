//! `behalf webhooks`: endpoints in behalf.json, the durable outbox in the state database, and
//! delivery (Standard Webhooks v1: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Every audit record's event is queued in `webhook_outbox`, one row per endpoint that wants
//! it, in the transaction that appends the record (`store.rs`). Deliverers (`mcp serve`,
//! `mcp proxy`, `webhooks deliver`) claim due rows in a write transaction with a lease, POST
//! them, and record the outcome; several deliverers never claim the same row at once. The
//! `webhook-id` is derived from the record's chain hash, so it is the same on every attempt
//! and replay; the signature is made fresh per attempt, with the attempt's timestamp.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use behalf_core::policy::WebhookEndpoint;
use clap::{Args, Subcommand};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::{json, Value};

use crate::error::{exit, CliError, Result};
use crate::ojson::OValue;
use crate::project::write_atomically;
use crate::project::{Loaded, Project};
use crate::store::Store;
use crate::Globals;

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
        WebhooksCommand::Add(a) => add(&project, a),
        WebhooksCommand::List { json } => list(&project, json),
        WebhooksCommand::Remove { id, purge } => remove(&project, &id, purge),
        WebhooksCommand::Rotate {
            id,
            secret_env,
            finish,
        } => rotate(&project, &id, secret_env, finish),
        WebhooksCommand::Enable { id } => enable(&project, &id),
        WebhooksCommand::Deliver { once } => deliver(&project, once),
        WebhooksCommand::Status { json, limit } => status(&project, json, limit),
        WebhooksCommand::Replay { id, endpoint } => replay(&project, &id, endpoint.as_deref()),
    }
}

// --- the outbox --------------------------------------------------------------------------------

/// Milliseconds since the epoch, from the system clock (scheduling and leases; never BEHALF_NOW).
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

struct Tuning {
    timeout: Duration,
    backoff_ms: i64,
    backoff_max_ms: i64,
    max_attempts: i64,
    poll: Duration,
    batch: usize,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default)
}

impl Tuning {
    fn from_env() -> Tuning {
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Tuning {
            timeout: Duration::from_millis(
                env_num("BEHALF_WEBHOOK_TIMEOUT_MS", 10_000).clamp(100, 120_000),
            ),
            backoff_ms: i(env_num("BEHALF_WEBHOOK_BACKOFF_MS", 5_000).max(10)),
            backoff_max_ms: i(env_num("BEHALF_WEBHOOK_BACKOFF_MAX_MS", 7_200_000).max(10)),
            max_attempts: i(env_num("BEHALF_WEBHOOK_MAX_ATTEMPTS", 20).max(1)),
            poll: Duration::from_millis(
                env_num("BEHALF_WEBHOOK_POLL_MS", 1_000).clamp(10, 3_600_000),
            ),
            batch: 25,
        }
    }

    /// Exponential backoff with jitter: base·2^(n−1), capped, times a random 50–100%.
    fn backoff(&self, attempts: i64) -> i64 {
        let shift = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .backoff_ms
            .saturating_mul(1i64 << shift)
            .min(self.backoff_max_ms);
        full / 2
            + i64::try_from(fastrand::u64(0..=u64::try_from(full / 2).unwrap_or(0))).unwrap_or(0)
    }
}

/// This machine and pid namespace (Linux), so a lease held by a process that is gone can be
/// taken over at once instead of after it expires. Empty where that cannot be known.
fn host_tag() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if boot.trim().is_empty() || ns.is_empty() {
        String::new()
    } else {
        format!("{}/{ns}", boot.trim())
    }
}

fn owner_gone(owner: &str, host: &str) -> bool {
    let mut parts = owner.split('|');
    let (Some(h), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    !host.is_empty()
        && h == host
        && pid.parse::<u32>().is_ok()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

struct Row {
    id: i64,
    msg_id: String,
    endpoint: String,
    body: String,
    attempts: i64,
}

enum Outcome {
    Delivered(u16),
    /// Not delivered; try again later. `down`: the endpoint itself is unreachable or
    /// overloaded, so its other messages wait too.
    Retry {
        code: Option<u16>,
        error: String,
        retry_after_ms: Option<i64>,
        down: bool,
    },
    /// 410 Gone: the endpoint is disabled.
    Gone,
    /// Not attempted (its endpoint failed earlier in the batch).
    Released,
}

/// What one delivery pass did.
#[derive(Default, Debug)]
pub struct Pass {
    pub delivered: u64,
    pub retrying: u64,
    pub failed: u64,
    pub disabled: Vec<String>,
}

pub struct Deliverer {
    project: Project,
    store: Store,
    owner: String,
    host: String,
    agent: ureq::Agent,
    tuning: Tuning,
    warned: HashSet<String>,
}

impl Deliverer {
    pub fn new(project: &Project) -> Result<Deliverer> {
        let tuning = Tuning::from_env();
        let host = host_tag();
        let config = ureq::Agent::config_builder()
            // SSRF guard: a receiver cannot send behalf elsewhere; a 3xx is a failed attempt.
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(tuning.timeout))
            .timeout_connect(Some(tuning.timeout.min(Duration::from_secs(5))))
            .user_agent(concat!("behalf-webhooks/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Deliverer {
            project: project.clone(),
            store: project.store()?,
            owner: format!("{host}|{}|{:016x}", std::process::id(), fastrand::u64(..)),
            host,
            agent: config.into(),
            tuning,
            warned: HashSet::new(),
        })
    }

    fn warn_once(&mut self, key: String, text: String) {
        if self.warned.insert(key) {
            eprintln!("behalf: webhooks: {text}");
        }
    }

    /// The endpoints that can be delivered to now, with their secrets (new first).
    fn endpoints(&mut self) -> Result<HashMap<String, (WebhookEndpoint, Vec<String>)>> {
        let loaded = self.project.load()?;
        let mut out = HashMap::new();
        for w in loaded.policy.webhooks.iter().cloned() {
            let secret = std::env::var(&w.secret_env).ok().filter(|s| !s.is_empty());
            let Some(secret) = secret else {
                self.warn_once(
                    format!("secret:{}", w.secret_env),
                    format!(
                        "endpoint `{}`: ${} is not set; its messages wait in the outbox",
                        w.id, w.secret_env
                    ),
                );
                continue;
            };
            let mut secrets = vec![secret];
            if let Some(prev) = &w.previous_secret_env {
                match std::env::var(prev).ok().filter(|s| !s.is_empty()) {
                    Some(s) => secrets.push(s),
                    None => self.warn_once(
                        format!("previous:{prev}"),
                        format!(
                            "endpoint `{}`: ${prev} (previousSecretEnv) is not set; signing with ${} only",
                            w.id, w.secret_env
                        ),
                    ),
                }
            }
            if secrets
                .iter()
                .any(|s| behalf_core::webhook::sign(s, "x", 0, b"").is_err())
            {
                self.warn_once(
                    format!("bad:{}", w.id),
                    format!(
                        "endpoint `{}`: a secret is not `whsec_` followed by base64; its messages wait in the outbox",
                        w.id
                    ),
                );
                continue;
            }
            out.insert(w.id.clone(), (w, secrets));
        }
        Ok(out)
    }

    /// Claims due rows of these endpoints for this process (one write transaction).
    fn claim(&mut self, ids: &[String]) -> Result<Vec<Row>> {
        let now = wall_ms();
        let per_row =
            i64::try_from(self.tuning.timeout.as_millis()).unwrap_or(i64::MAX / 4) + 1_000;
        let batch = self.tuning.batch;
        let (owner, host) = (self.owner.clone(), self.host.clone());
        let tx = self
            .store
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holders: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT lease_owner FROM webhook_outbox
                 WHERE status = 'pending' AND lease_until > ?1 AND lease_owner IS NOT NULL",
            )?;
            let rows = stmt.query_map(params![now], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for h in holders {
            if h != owner && owner_gone(&h, &host) {
                tx.execute(
                    "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                     WHERE lease_owner = ?1 AND status = 'pending'",
                    params![h],
                )?;
            }
        }
        let rows: Vec<Row> = {
            let mut stmt = tx.prepare(
                "SELECT o.id, o.msg_id, o.endpoint, o.body, o.attempts FROM webhook_outbox o
                 LEFT JOIN webhook_endpoint e ON e.id = o.endpoint
                 WHERE o.status = 'pending' AND o.next_at <= ?1
                   AND (o.lease_until IS NULL OR o.lease_until <= ?1)
                   AND o.endpoint IN (SELECT value FROM json_each(?2))
                   AND (e.id IS NULL OR (e.disabled_at IS NULL AND e.retry_at <= ?1))
                 ORDER BY o.next_at, o.id LIMIT ?3",
            )?;
            let q = stmt.query_map(
                params![
                    now,
                    Value::from(ids.to_vec()).to_string(),
                    i64::try_from(batch).unwrap_or(25)
                ],
                |r| {
                    Ok(Row {
                        id: r.get(0)?,
                        msg_id: r.get(1)?,
                        endpoint: r.get(2)?,
                        body: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                },
            )?;
            q.collect::<rusqlite::Result<_>>()?
        };
        let until = now + per_row * i64::try_from(rows.len()).unwrap_or(0) + 5_000;
        for r in &rows {
            tx.execute(
                "UPDATE webhook_outbox SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3",
                params![owner, until, r.id],
            )?;
        }
        tx.commit()?;
        Ok(rows)
    }

    fn post(&self, url: &str, secrets: &[String], row: &Row) -> Outcome {
        let ts = crate::project::now().unwrap_or_else(|_| wall_ms()) / 1000;
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let d = match behalf_core::webhook::delivery(&refs, &row.msg_id, ts, row.body.clone()) {
            Ok(d) => d,
            Err(e) => {
                return Outcome::Retry {
                    code: None,
                    error: e.message().into(),
                    retry_after_ms: None,
                    down: true,
                }
            }
        };
        let mut req = self.agent.post(url);
        for (k, v) in &d.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(d.body.as_bytes()) {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                match code {
                    200..=299 => Outcome::Delivered(code),
                    410 => Outcome::Gone,
                    300..=399 => Outcome::Retry {
                        code: Some(code),
                        error: format!(
                            "redirect to `{}` not followed (behalf follows no redirects)",
                            header("location").unwrap_or_default()
                        ),
                        retry_after_ms: None,
                        down: false,
                    },
                    _ => Outcome::Retry {
                        code: Some(code),
                        error: format!(
                            "HTTP {code}{}",
                            resp.status()
                                .canonical_reason()
                                .map(|r| format!(" {r}"))
                                .unwrap_or_default()
                        ),
                        retry_after_ms: header("retry-after").and_then(|v| retry_after(&v)),
                        down: code == 429 || code >= 500,
                    },
                }
            }
            Err(e) => Outcome::Retry {
                code: None,
                error: match e {
                    ureq::Error::Timeout(t) => format!("timed out ({t})"),
                    other => other.to_string(),
                },
                retry_after_ms: None,
                down: true,
            },
        }
    }

    /// One batch: claim, POST, record. Returns what happened and how many rows were claimed.
    pub fn batch(&mut self, pass: &mut Pass) -> Result<usize> {
        let endpoints = self.endpoints()?;
        if endpoints.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = endpoints.keys().cloned().collect();
        let rows = self.claim(&ids)?;
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut stopped: HashSet<String> = HashSet::new();
        for row in &rows {
            let outcome = match endpoints.get(&row.endpoint) {
                Some((w, secrets)) if !stopped.contains(&row.endpoint) => {
                    let o = self.post(&w.url, secrets, row);
                    if matches!(o, Outcome::Gone | Outcome::Retry { down: true, .. }) {
                        stopped.insert(row.endpoint.clone());
                    }
                    o
                }
                _ => Outcome::Released,
            };
            outcomes.push(outcome);
        }
        self.record(&rows, outcomes, &endpoints, pass)?;
        Ok(rows.len())
    }

    fn record(
        &mut self,
        rows: &[Row],
        outcomes: Vec<Outcome>,
        endpoints: &HashMap<String, (WebhookEndpoint, Vec<String>)>,
        pass: &mut Pass,
    ) -> Result<()> {
        let now = wall_ms();
        let mut logs = Vec::new();
        let tx = self
            .store
            .conn()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (row, outcome) in rows.iter().zip(outcomes) {
            let attempts = row.attempts + 1;
            match outcome {
                Outcome::Released => {
                    tx.execute(
                        "UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL
                         WHERE id = ?1 AND status = 'pending'",
                        params![row.id],
                    )?;
                }
                Outcome::Delivered(code) => {
                    tx.execute(
                        "UPDATE webhook_outbox SET status = 'delivered', attempts = ?2,
                         last_code = ?3, last_error = NULL, last_at = ?4, delivered_at = ?4,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![row.id, attempts, code, now],
                    )?;
                    set_retry_at(&tx, &row.endpoint, 0)?;
                    pass.delivered += 1;
                }
                Outcome::Gone => {
                    let url = endpoints
                        .get(&row.endpoint)
                        .map(|(w, _)| w.url.clone())
                        .unwrap_or_default();
                    tx.execute(
                        "UPDATE webhook_outbox SET attempts = ?2, last_code = 410,
                         last_error = '410 Gone: endpoint disabled', last_at = ?3,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![row.id, attempts, now],
                    )?;
                    tx.execute(
                        "INSERT INTO webhook_endpoint (id, disabled_at, disabled_reason)
                         VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET
                         disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason",
                        params![row.endpoint, now, format!("{url} answered 410 Gone")],
                    )?;
                    logs.push(format!(
                        "endpoint `{}` answered 410 Gone: disabled (`behalf webhooks enable {}` turns it back on)",
                        row.endpoint, row.endpoint
                    ));
                    pass.disabled.push(row.endpoint.clone());
                }
                Outcome::Retry {
                    code,
                    error,
                    retry_after_ms,
                    down,
                } => {
                    let mut delay = self.tuning.backoff(attempts);
                    if let Some(ra) = retry_after_ms {
                        delay = delay.max(ra);
                    }
                    let give_up = attempts >= self.tuning.max_attempts;
                    let next = now + delay;
                    tx.execute(
                        "UPDATE webhook_outbox SET status = ?2, attempts = ?3, next_at = ?4,
                         last_code = ?5, last_error = ?6, last_at = ?7,
                         lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                        params![
                            row.id,
                            if give_up { "failed" } else { "pending" },
                            attempts,
                            next,
                            code,
                            error,
                            now
                        ],
                    )?;
                    if down {
                        set_retry_at(&tx, &row.endpoint, next)?;
                    }
                    if give_up {
                        pass.failed += 1;
                        logs.push(format!(
                            "{} to `{}`: {error}; gave up after {attempts} attempts (`behalf webhooks replay {}` resends)",
                            row.msg_id, row.endpoint, row.msg_id
                        ));
                    } else {
                        pass.retrying += 1;
                        logs.push(format!(
                            "{} to `{}`: {error}; attempt {attempts}, next in {:.1}s",
                            row.msg_id,
                            row.endpoint,
                            delay as f64 / 1000.0
                        ));
                    }
                }
            }
        }
        tx.commit()?;
        for l in logs {
            eprintln!("behalf: webhooks: {l}");
        }
        Ok(())
    }

    /// Delivers until nothing is due (each row is attempted at most once per call).
    pub fn drain(&mut self, pass: &mut Pass) -> Result<()> {
        loop {
            let before = (
                pass.delivered + pass.retrying + pass.failed,
                pass.disabled.len(),
            );
            let claimed = self.batch(pass)?;
            let after = (
                pass.delivered + pass.retrying + pass.failed,
                pass.disabled.len(),
            );
            // Done when nothing was due, or only released rows (their endpoint backs off).
            if claimed == 0 || after == before {
                return Ok(());
            }
        }
    }
}

fn set_retry_at(tx: &Transaction<'_>, endpoint: &str, at: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO webhook_endpoint (id, retry_at) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET retry_at = excluded.retry_at",
        params![endpoint, at],
    )?;
    Ok(())
}

/// `Retry-After`: delay-seconds or an HTTP-date; capped at a day.
fn retry_after(value: &str) -> Option<i64> {
    let v = value.trim();
    let ms = if let Ok(secs) = v.parse::<i64>() {
        secs.max(0).saturating_mul(1000)
    } else {
        http_date(v)? - wall_ms()
    };
    Some(ms.clamp(0, 86_400_000))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → unix milliseconds.
fn http_date(v: &str) -> Option<i64> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == mon)? + 1;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        year.parse::<i64>().ok()?,
        month,
        day.parse::<i64>().ok()?,
        h,
        m,
        s
    );
    behalf_core::time::parse_rfc3339(&text)
}

/// Delivery in the background of a long-running command (`mcp serve`, `mcp proxy`).
pub fn spawn_background(project: &Project) {
    let off = std::env::var("BEHALF_WEBHOOK_DELIVERY")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "0" | "off" | "false" | "no"
            )
        })
        .unwrap_or(false);
    if off {
        return;
    }
    let project = project.clone();
    let poll = Tuning::from_env().poll;
    let spawned = std::thread::Builder::new()
        .name("behalf-webhooks".into())
        .spawn(move || {
            let mut deliverer: Option<Deliverer> = None;
            let mut last_error = String::new();
            loop {
                // The first pass comes one interval after the start (the command gets going
                // first); then one pass per interval.
                std::thread::sleep(poll);
                // No database work at all while the policy lists no endpoints.
                let wanted = project
                    .load()
                    .map(|l| !l.policy.webhooks.is_empty())
                    .unwrap_or(false);
                if wanted {
                    if deliverer.is_none() {
                        deliverer = Deliverer::new(&project).ok();
                    }
                    if let Some(d) = deliverer.as_mut() {
                        if let Err(e) = d.drain(&mut Pass::default()) {
                            let text = e.to_string();
                            if text != last_error {
                                eprintln!("behalf: webhooks: delivery paused: {text}");
                                last_error = text;
                            }
                        }
                    }
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("behalf: webhooks: cannot start background delivery: {e}");
    }
}

// --- commands ----------------------------------------------------------------------------------

fn deliver(project: &Project, once: bool) -> Result<u8> {
    project.load()?;
    let mut d = Deliverer::new(project)?;
    let poll = d.tuning.poll;
    if once {
        let mut pass = Pass::default();
        d.drain(&mut pass)?;
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

fn read_doc(project: &Project) -> Result<OValue> {
    let file = project.display();
    let text = project.read_text()?;
    OValue::parse(&text).map_err(|e| {
        CliError::config(format!("{file} is not valid JSON")).detail(format!(
            "{file}:{}:{}: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn save(project: &Project, doc: &OValue) -> Result<()> {
    let file = project.display();
    let text = doc.to_pretty();
    Loaded::from_text(&file, text.clone()).map_err(|mut e| {
        e.message = format!(
            "the edit would make {file} invalid; it was not changed: {}",
            e.message
        );
        e
    })?;
    write_atomically(&project.policy_path, &text)
}

fn hooks_mut(doc: &mut OValue) -> Result<&mut Vec<OValue>> {
    if doc.get("webhooks").is_none() {
        doc.set("webhooks", OValue::Array(Vec::new()));
    }
    doc.get_mut("webhooks")
        .and_then(OValue::as_array_mut)
        .ok_or_else(|| CliError::config("`webhooks` is not an array").hint("run `behalf check`"))
}

fn find_hook<'a>(doc: &'a mut OValue, id: &str) -> Result<&'a mut OValue> {
    hooks_mut(doc)?
        .iter_mut()
        .find(|w| w.get("id").and_then(OValue::as_str) == Some(id))
        .ok_or_else(|| {
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`")
        })
}

fn env_name_for(id: &str) -> String {
    let tail: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BEHALF_WEBHOOK_SECRET_{tail}")
}

fn print_secret_hint(name: &str) {
    if std::env::var(name).map(|v| v.is_empty()).unwrap_or(true) {
        match behalf_core::webhook::new_secret() {
            Some(secret) => {
                println!("a new secret for it (give the receiver the same one; behalf.json never holds it):");
                println!("  export {name}={secret}");
            }
            None => {
                println!("set ${name} to a `whsec_` secret (no random source to make one here)")
            }
        }
    } else {
        println!("${name} is set: messages are signed with it");
    }
}

fn add(project: &Project, a: AddArgs) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let exists = doc
        .get("webhooks")
        .and_then(OValue::as_array)
        .into_iter()
        .flatten()
        .any(|w| w.get("id").and_then(OValue::as_str) == Some(a.id.as_str()));
    if exists {
        return Err(
            CliError::usage(format!("a webhook endpoint `{}` already exists", a.id))
                .hint("pick another id, or `behalf webhooks remove` it first"),
        );
    }
    let secret_env = a.secret_env.unwrap_or_else(|| env_name_for(&a.id));
    let events: Vec<String> = if a.events.is_empty() {
        vec!["*".into()]
    } else {
        a.events
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let mut item = vec![
        ("id", OValue::str(a.id.clone())),
        ("url", OValue::str(a.url.clone())),
        (
            "events",
            OValue::Array(events.into_iter().map(OValue::str).collect()),
        ),
        ("secretEnv", OValue::str(secret_env.clone())),
    ];
    if let Some(d) = a.description {
        item.push(("description", OValue::str(d)));
    }
    hooks_mut(&mut doc)?.push(OValue::obj(item));
    save(project, &doc)?;
    println!(
        "added webhook endpoint {} → {} ({})",
        a.id,
        a.url,
        project.display()
    );
    print_secret_hint(&secret_env);
    Ok(exit::OK)
}

fn remove(project: &Project, id: &str, purge: bool) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let list = hooks_mut(&mut doc)?;
    let at = list
        .iter()
        .position(|w| w.get("id").and_then(OValue::as_str) == Some(id))
        .ok_or_else(|| {
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`")
        })?;
    list.remove(at);
    if list.is_empty() {
        if let OValue::Object(items) = &mut doc {
            items.retain(|(k, _)| k != "webhooks");
        }
    }
    save(project, &doc)?;
    let mut store = project.store()?;
    let conn = store.conn();
    let waiting: i64 = conn.query_row(
        "SELECT count(*) FROM webhook_outbox WHERE endpoint = ?1 AND status != 'delivered'",
        params![id],
        |r| r.get(0),
    )?;
    if purge {
        conn.execute(
            "DELETE FROM webhook_outbox WHERE endpoint = ?1 AND status != 'delivered'",
            params![id],
        )?;
        conn.execute("DELETE FROM webhook_endpoint WHERE id = ?1", params![id])?;
    }
    println!("removed webhook endpoint {id} ({})", project.display());
    if waiting > 0 {
        if purge {
            println!("dropped its {waiting} undelivered message(s)");
        } else {
            println!("its {waiting} undelivered message(s) stay queued; `--purge` drops them");
        }
    }
    Ok(exit::OK)
}

fn rotate(project: &Project, id: &str, secret_env: Option<String>, finish: bool) -> Result<u8> {
    let mut doc = read_doc(project)?;
    let hook = find_hook(&mut doc, id)?;
    let current = hook
        .get("secretEnv")
        .and_then(OValue::as_str)
        .unwrap_or("")
        .to_string();
    let previous = hook
        .get("previousSecretEnv")
        .and_then(OValue::as_str)
        .map(str::to_string);
    if finish {
        let Some(prev) = previous else {
            return Err(
                CliError::usage(format!("endpoint `{id}` has no rotation in progress"))
                    .hint(format!("start one with `behalf webhooks rotate {id}`")),
            );
        };
        if let OValue::Object(items) = hook {
            items.retain(|(k, _)| k != "previousSecretEnv");
        }
        save(project, &doc)?;
        println!("rotation of {id} finished: only ${current} signs now; ${prev} can be unset");
        return Ok(exit::OK);
    }
    if let Some(prev) = previous {
        return Err(CliError::usage(format!(
            "endpoint `{id}` is already rotating (${prev} → ${current})"
        ))
        .hint(format!(
            "finish it first: `behalf webhooks rotate {id} --finish`"
        )));
    }
    let next = secret_env.unwrap_or_else(|| match current.strip_suffix("_2") {
        Some(base) if !base.is_empty() => base.to_string(),
        _ => format!("{current}_2"),
    });
    if next == current {
        return Err(CliError::usage(format!(
            "the new secret needs its own variable, not ${current}"
        ))
        .hint("pass --secret-env NEW_NAME"));
    }
    hook.set("secretEnv", OValue::str(next.clone()));
    let mut items = match std::mem::replace(hook, OValue::Null) {
        OValue::Object(items) => items,
        other => {
            *hook = other;
            return Err(CliError::config(format!("webhook `{id}` is not an object")));
        }
    };
    let at = items
        .iter()
        .position(|(k, _)| k == "secretEnv")
        .map_or(items.len(), |i| i + 1);
    items.insert(
        at,
        ("previousSecretEnv".into(), OValue::str(current.clone())),
    );
    *hook = OValue::Object(items);
    save(project, &doc)?;
    println!(
        "rotating {id}: messages are signed with ${next} and ${current} until `behalf webhooks rotate {id} --finish`"
    );
    print_secret_hint(&next);
    Ok(exit::OK)
}

fn enable(project: &Project, id: &str) -> Result<u8> {
    let loaded = project.load()?;
    if !loaded.policy.webhooks.iter().any(|w| w.id == id) {
        return Err(
            CliError::usage(format!("no webhook endpoint `{id}` in the policy"))
                .hint("see `behalf webhooks list`"),
        );
    }
    let mut store = project.store()?;
    let n = store.conn().execute(
        "UPDATE webhook_endpoint SET disabled_at = NULL, disabled_reason = NULL, retry_at = 0
         WHERE id = ?1 AND disabled_at IS NOT NULL",
        params![id],
    )?;
    if n == 0 {
        println!("endpoint {id} is not disabled");
    } else {
        println!("endpoint {id} enabled; its queued messages are delivered next");
    }
    Ok(exit::OK)
}

struct EndpointState {
    disabled: Option<(i64, String)>,
    retry_at: i64,
}

fn endpoint_states(conn: &Connection) -> Result<HashMap<String, EndpointState>> {
    let mut out = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT id, disabled_at, disabled_reason, retry_at FROM webhook_endpoint")?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let id: String = r.get(0)?;
        let at: Option<i64> = r.get(1)?;
        let reason: Option<String> = r.get(2)?;
        out.insert(
            id,
            EndpointState {
                disabled: at.map(|a| (a, reason.unwrap_or_default())),
                retry_at: r.get(3)?,
            },
        );
    }
    Ok(out)
}

fn fmt_ms(ms: i64) -> String {
    behalf_core::time::format_rfc3339(ms)
}

fn list(project: &Project, json: bool) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let states = endpoint_states(store.conn())?;
    let mut out = Vec::new();
    for w in &loaded.policy.webhooks {
        let set = |n: &str| std::env::var(n).map(|v| !v.is_empty()).unwrap_or(false);
        let disabled = states.get(&w.id).and_then(|s| s.disabled.clone());
        out.push(json!({
            "id": w.id, "url": w.url, "events": w.events,
            "secretEnv": w.secret_env, "secretSet": set(&w.secret_env),
            "previousSecretEnv": w.previous_secret_env,
            "previousSecretSet": w.previous_secret_env.as_deref().map(set),
            "disabled": disabled.as_ref().map(|(at, why)| json!({"at": fmt_ms(*at), "reason": why})),
        }));
    }
    if json {
        println!("{}", Value::Array(out));
        return Ok(exit::OK);
    }
    if out.is_empty() {
        println!("no webhook endpoints (add one with `behalf webhooks add ID --url URL`)");
    }
    for w in &out {
        let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let events: Vec<String> = w
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        let mut secret = format!(
            "${} {}",
            s("secretEnv"),
            if w.get("secretSet") == Some(&Value::Bool(true)) {
                "set"
            } else {
                "NOT SET"
            }
        );
        if let Some(p) = w.get("previousSecretEnv").and_then(Value::as_str) {
            secret.push_str(&format!(
                ", rotating from ${p} {}",
                if w.get("previousSecretSet") == Some(&Value::Bool(true)) {
                    "set"
                } else {
                    "NOT SET"
                }
            ));
        }
        println!("{}  {}", s("id"), s("url"));
        println!("    events: {}; secret: {secret}", events.join(", "));
        if let Some(d) = w.get("disabled").filter(|d| !d.is_null()) {
            println!(
                "    DISABLED since {}: {}",
                d.get("at").and_then(Value::as_str).unwrap_or(""),
                d.get("reason").and_then(Value::as_str).unwrap_or("")
            );
        }
    }
    Ok(exit::OK)
}

fn status(project: &Project, json_out: bool, limit: u32) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let conn = store.conn();
    let states = endpoint_states(conn)?;
    let now = wall_ms();
    let in_policy: HashSet<String> = loaded
        .policy
        .webhooks
        .iter()
        .map(|w| w.id.clone())
        .collect();
    // Counts per endpoint and status.
    let mut counts: HashMap<String, HashMap<String, i64>> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT endpoint, status, count(*) FROM webhook_outbox GROUP BY endpoint, status",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            counts
                .entry(r.get(0)?)
                .or_default()
                .insert(r.get(1)?, r.get(2)?);
        }
    }
    let mut names: Vec<String> = loaded
        .policy
        .webhooks
        .iter()
        .map(|w| w.id.clone())
        .collect();
    let mut others: Vec<String> = counts
        .keys()
        .filter(|k| !in_policy.contains(*k))
        .cloned()
        .collect();
    others.sort();
    names.extend(others);
    let mut endpoints = Vec::new();
    for name in &names {
        let c = counts.get(name);
        let n = |s: &str| c.and_then(|m| m.get(s)).copied().unwrap_or(0);
        let st = states.get(name);
        let disabled = st.and_then(|s| s.disabled.clone());
        let url = loaded
            .policy
            .webhooks
            .iter()
            .find(|w| &w.id == name)
            .map(|w| w.url.clone());
        endpoints.push(json!({
            "id": name, "url": url, "inPolicy": in_policy.contains(name),
            "delivered": n("delivered"), "pending": n("pending"), "failed": n("failed"),
            "disabled": disabled.as_ref().map(|(at, why)| json!({"at": fmt_ms(*at), "reason": why})),
            "backingOffUntil": st.filter(|s| s.retry_at > now).map(|s| fmt_ms(s.retry_at)),
        }));
    }
    let mut deliveries = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT msg_id, endpoint, seq, event_type, status, attempts, next_at, last_code,
                    last_error, last_at, lease_until FROM webhook_outbox
             WHERE status != 'delivered' ORDER BY status = 'pending', id LIMIT ?1",
        )?;
        let mut q = stmt.query(params![limit])?;
        while let Some(r) = q.next()? {
            let endpoint: String = r.get(1)?;
            let status: String = r.get(4)?;
            let disabled = states.get(&endpoint).is_some_and(|s| s.disabled.is_some());
            let shown = if status == "pending" && disabled {
                "disabled".to_string()
            } else if status == "pending" && !in_policy.contains(&endpoint) {
                "orphaned".to_string()
            } else {
                status
            };
            let next_at: i64 = r.get(6)?;
            let last_at: Option<i64> = r.get(9)?;
            let lease: Option<i64> = r.get(10)?;
            deliveries.push(json!({
                "msgId": r.get::<_, String>(0)?, "endpoint": endpoint,
                "seq": r.get::<_, i64>(2)?, "type": r.get::<_, String>(3)?,
                "status": shown, "attempts": r.get::<_, i64>(5)?,
                "nextAttempt": (shown == "pending").then(|| fmt_ms(next_at)),
                "inFlight": lease.is_some_and(|l| l > now),
                "lastCode": r.get::<_, Option<i64>>(7)?,
                "lastError": r.get::<_, Option<String>>(8)?,
                "lastAttempt": last_at.map(fmt_ms),
            }));
        }
    }
    if json_out {
        println!(
            "{}",
            json!({"endpoints": endpoints, "deliveries": deliveries})
        );
        return Ok(exit::OK);
    }
    if endpoints.is_empty() {
        println!("no webhook endpoints and nothing queued");
        return Ok(exit::OK);
    }
    for e in &endpoints {
        let g = |k: &str| e.get(k).and_then(Value::as_i64).unwrap_or(0);
        let id = e.get("id").and_then(Value::as_str).unwrap_or("");
        let mut line = format!(
            "{id}: delivered {}, pending {}, failed {}",
            g("delivered"),
            g("pending"),
            g("failed")
        );
        if let Some(d) = e.get("disabled").filter(|d| !d.is_null()) {
            line.push_str(&format!(
                "; DISABLED: {} (`behalf webhooks enable {id}`)",
                d.get("reason").and_then(Value::as_str).unwrap_or("")
            ));
        } else if let Some(t) = e.get("backingOffUntil").and_then(Value::as_str) {
            line.push_str(&format!("; unreachable, next try {t}"));
        }
        if e.get("inPolicy") == Some(&Value::Bool(false)) {
            line.push_str("; not in behalf.json (removed)");
        }
        println!("{line}");
    }
    if !deliveries.is_empty() {
        println!();
        println!("undelivered:");
        for d in &deliveries {
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut line = format!(
                "  {}  {}  {}  seq {}  {}  attempts {}",
                s("msgId"),
                s("endpoint"),
                s("type"),
                d.get("seq").and_then(Value::as_i64).unwrap_or(0),
                s("status"),
                d.get("attempts").and_then(Value::as_i64).unwrap_or(0)
            );
            if let Some(n) = d.get("nextAttempt").and_then(Value::as_str) {
                line.push_str(&format!("  next {n}"));
            }
            if let Some(err) = d.get("lastError").and_then(Value::as_str) {
                line.push_str(&format!("  last: {err}"));
            }
            println!("{line}");
        }
    }
    Ok(exit::OK)
}

fn replay(project: &Project, id: &str, endpoint: Option<&str>) -> Result<u8> {
    let loaded = project.load()?;
    let mut store = project.store()?;
    let now = wall_ms();
    let tx = store
        .conn()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The audit record: by seq, or by the message id (derived from the record's hash).
    let found: Option<(i64, String, String)> = if let Ok(seq) = id.parse::<i64>() {
        tx.query_row(
            "SELECT seq, hash, record FROM audit WHERE seq = ?1",
            params![seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
    } else {
        let prefix = id.strip_prefix("msg_").unwrap_or(id);
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                CliError::usage(format!("`{id}` is neither a message id nor an audit seq"))
                    .hint("use the msg_... id from `behalf webhooks status`, or a seq from `behalf audit tail`"),
            );
        }
        tx.query_row(
            "SELECT seq, hash, record FROM audit WHERE substr(hash, 1, ?2) = ?1",
            params![
                prefix.to_ascii_lowercase(),
                i64::try_from(prefix.len()).unwrap_or(0)
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
    };
    let Some((seq, hash, text)) = found else {
        return Err(CliError::usage(format!("no audit record for `{id}`"))
            .hint("see `behalf webhooks status` or `behalf audit tail`"));
    };
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::state(format!("audit record {seq} is not valid JSON ({e})")))?;
    let event = record.get("event").and_then(Value::as_str).unwrap_or("");
    let event_type = match (event, record.get("decision").and_then(Value::as_str)) {
        ("decision", Some(d)) => format!("decision.{d}"),
        (e, _) => e.to_string(),
    };
    let msg_id = format!("msg_{}", hash.get(..32).unwrap_or(&hash));
    let body = json!({
        "type": event_type,
        "timestamp": record.get("time").cloned().unwrap_or(Value::Null),
        "data": record,
    })
    .to_string();
    let targets: Vec<&WebhookEndpoint> = match endpoint {
        Some(e) => {
            let w = loaded
                .policy
                .webhooks
                .iter()
                .find(|w| w.id == e)
                .ok_or_else(|| {
                    CliError::usage(format!("no webhook endpoint `{e}` in the policy"))
                        .hint("see `behalf webhooks list`")
                })?;
            vec![w]
        }
        None => loaded
            .policy
            .webhooks
            .iter()
            .filter(|w| w.wants(&event_type))
            .collect(),
    };
    if targets.is_empty() {
        return Err(CliError::usage(format!(
            "no endpoint in the policy wants {event_type} events"
        ))
        .hint("name one with --endpoint"));
    }
    for w in &targets {
        // An existing row keeps its body (exactly what was signed before); a missing one is
        // made from the record.
        tx.execute(
            "INSERT INTO webhook_outbox (msg_id, endpoint, seq, event_type, body, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (endpoint, msg_id) DO UPDATE SET status = 'pending', attempts = 0,
                 next_at = excluded.next_at, lease_owner = NULL, lease_until = NULL",
            params![msg_id, w.id, seq, event_type, body, now],
        )?;
    }
    let disabled: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT id FROM webhook_endpoint WHERE disabled_at IS NOT NULL")?;
        let q = stmt.query_map([], |r| r.get::<_, String>(0))?;
        q.collect::<rusqlite::Result<_>>()?
    };
    tx.commit()?;
    let names: Vec<&str> = targets.iter().map(|w| w.id.as_str()).collect();
    println!(
        "queued {msg_id} ({event_type}, audit seq {seq}) for {}; the next delivery sends it",
        names.join(", ")
    );
    for n in names.iter().filter(|n| disabled.iter().any(|d| d == *n)) {
        println!("note: endpoint {n} is disabled; `behalf webhooks enable {n}` first");
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("2"), Some(2_000));
        assert_eq!(retry_after("-5"), Some(0));
        assert_eq!(retry_after("999999999"), Some(86_400_000));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            behalf_core::time::parse_rfc3339("1994-11-06T08:49:37Z")
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let t = Tuning {
            timeout: Duration::from_secs(1),
            backoff_ms: 1_000,
            backoff_max_ms: 8_000,
            max_attempts: 5,
            poll: Duration::from_secs(1),
            batch: 1,
        };
        for _ in 0..100 {
            let a = t.backoff(1);
            assert!((500..=1_000).contains(&a), "{a}");
            let c = t.backoff(3);
            assert!((2_000..=4_000).contains(&c), "{c}");
            let z = t.backoff(40);
            assert!((4_000..=8_000).contains(&z), "{z}");
        }
    }

    #[test]
    fn a_lease_of_a_process_that_is_gone_is_recognised_only_on_this_host() {
        let host = host_tag();
        if host.is_empty() {
            return;
        }
        let me = format!("{host}|{}|1", std::process::id());
        assert!(!owner_gone(&me, &host));
        assert!(owner_gone(&format!("{host}|4194304999|1"), &host));
        assert!(!owner_gone("elsewhere|4194304999|1", &host));
    }
}
