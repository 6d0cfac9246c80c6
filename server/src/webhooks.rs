//! Webhook delivery from the state database's outbox: claim due rows under a lease, POST them
//! signed (Standard Webhooks, signatures from the core), record the outcome and schedule
//! retries. `behalf serve` runs it in the background; so do `behalf mcp serve|proxy`, and
//! `behalf webhooks deliver` runs it in the foreground (the CLI's code, moved here so that the
//! server and the CLI deliver with the same code). Its interface: [`Deliverer::new`],
//! [`Deliverer::drain`], [`spawn_background`], given a [`Source`] of endpoints and time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use behalf_core::policy::WebhookEndpoint;
use behalf_core::Policy;
use behalf_store::sqlite::SqliteStore;
use behalf_store::StoreError;
use rusqlite::{params, Transaction, TransactionBehavior};
use serde_json::Value;

/// Why a delivery pass stopped (the database could not be read or written, the policy did
/// not load); undelivered messages stay in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError(pub String);

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeliveryError {}

impl From<rusqlite::Error> for DeliveryError {
    fn from(e: rusqlite::Error) -> Self {
        DeliveryError(format!("state database error: {e}"))
    }
}

impl From<StoreError> for DeliveryError {
    fn from(e: StoreError) -> Self {
        DeliveryError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, DeliveryError>;

/// Where a deliverer finds its endpoints (the policy in force, read before each pass) and the
/// time its signatures carry (the caller's clock: `BEHALF_NOW` in tests).
pub struct Source {
    pub policy: Box<dyn FnMut() -> std::result::Result<Arc<Policy>, String> + Send>,
    pub now_ms: Box<dyn Fn() -> i64 + Send>,
}

/// How long a pass waits for another writer of the database (`BEHALF_BUSY_TIMEOUT_MS`).
fn busy() -> Duration {
    Duration::from_millis(env_num("BEHALF_BUSY_TIMEOUT_MS", 10_000))
}

/// Milliseconds since the epoch, from the system clock (scheduling and leases; never BEHALF_NOW).
pub fn wall_ms() -> i64 {
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
    source: Source,
    store: SqliteStore,
    owner: String,
    host: String,
    agent: ureq::Agent,
    tuning: Tuning,
    warned: HashSet<String>,
}

impl Deliverer {
    /// A deliverer on the state database at `db`.
    pub fn new(db: &Path, source: Source) -> Result<Deliverer> {
        Ok(Deliverer::with_store(
            SqliteStore::open(db, busy(), busy())?,
            source,
        ))
    }

    fn with_store(store: SqliteStore, source: Source) -> Deliverer {
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
        Deliverer {
            source,
            store,
            owner: format!("{host}|{}|{:016x}", std::process::id(), fastrand::u64(..)),
            host,
            agent: config.into(),
            tuning,
            warned: HashSet::new(),
        }
    }

    /// How long a deliverer waits between passes (BEHALF_WEBHOOK_POLL_MS).
    pub fn poll(&self) -> Duration {
        self.tuning.poll
    }

    fn warn_once(&mut self, key: String, text: String) {
        if self.warned.insert(key) {
            eprintln!("behalf: webhooks: {text}");
        }
    }

    /// The endpoints that can be delivered to now, with their secrets (new first).
    fn endpoints(&mut self) -> Result<HashMap<String, (WebhookEndpoint, Vec<String>)>> {
        let policy = (self.source.policy)().map_err(DeliveryError)?;
        let mut out = HashMap::new();
        for w in policy.webhooks.iter().cloned() {
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
        let ts = (self.source.now_ms)() / 1000;
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

/// Delivery in the background of a long-running process (`behalf serve`, `mcp serve`, `mcp
/// proxy`), on the state database at `db`; `BEHALF_WEBHOOK_DELIVERY=off` turns it off.
pub fn spawn_background(db: PathBuf, source: Source) {
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
    let poll = Tuning::from_env().poll;
    let spawned = std::thread::Builder::new()
        .name("behalf-webhooks".into())
        .spawn(move || {
            // The source waits here until a deliverer (which needs the database) takes it.
            let mut parked = Some(source);
            let mut deliverer: Option<Deliverer> = None;
            let mut last_error = String::new();
            loop {
                // The first pass comes one interval after the start (the process gets going
                // first); then one pass per interval.
                std::thread::sleep(poll);
                // No database work at all while the policy lists no endpoints.
                let source = match (deliverer.as_mut(), parked.as_mut()) {
                    (Some(d), _) => &mut d.source,
                    (None, Some(s)) => s,
                    (None, None) => return,
                };
                let wanted = (source.policy)()
                    .map(|p| !p.webhooks.is_empty())
                    .unwrap_or(false);
                if !wanted {
                    continue;
                }
                if deliverer.is_none() {
                    if let Ok(store) = SqliteStore::open(&db, busy(), busy()) {
                        deliverer = parked.take().map(|s| Deliverer::with_store(store, s));
                    }
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
        });
    if let Err(e) = spawned {
        eprintln!("behalf: webhooks: cannot start background delivery: {e}");
    }
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
