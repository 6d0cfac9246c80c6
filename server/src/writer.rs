//! The decision writer: one thread that owns the database's write connection (SQLite has one
//! writer) and the engine. Handlers queue steps; the writer takes every verify queued at that
//! moment (up to [`MAX_BATCH`]) and runs them in one transaction — group commit: one fsync for
//! the lot instead of one each — then answers each, only after the commit. A batch that fails
//! for any reason other than a busy database is run again one request at a time, so one bad
//! row denies only its own request. The async runtime never waits on SQLite.
//!
//! The writer also checks each verify's agent key: once per key per batch, on its own
//! connection, just before the batch is decided. A revocation committed before a batch is seen
//! by it, and a verify costs no read of its own (no hop to a blocking thread, no second
//! connection).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use behalf_core::audit::AuditRecord;
use behalf_core::ids::IdSource;
use behalf_core::request::is_valid_request_id;
use behalf_core::time::Millis;
use behalf_core::{Decision, Engine, EngineOptions, Policy, Prepared};
use behalf_store::any::AnyStore;
use behalf_store::{AgentKeys, StateStore, StoreError};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::auth::keys::{self, KnownKeys};
use crate::auth::Operator;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::policy::PolicyWatch;

/// Verifies taken into one transaction at most.
pub const MAX_BATCH: usize = 256;
/// Denials answered while the state database was unreachable, kept to be recorded once it is
/// back, at most (beyond, a denial says it was not recorded).
const MAX_SPOOL: usize = 100_000;
/// Steps waiting for the writer at most; beyond, a request is answered at once (denied).
const QUEUE: usize = 8192;

/// A request to verify, as the handler got it.
pub enum VerifyInput {
    Value(Value),
    /// Text that is not JSON (or repeats a key): recorded as `invalid_request`.
    Text(String),
    /// A body that is not UTF-8: recorded as `invalid_request`.
    Unreadable(&'static str),
}

pub enum Job {
    Verify {
        /// The SHA-256 of the agent key the request came with (well-formed, not yet looked up).
        key_hash: String,
        input: VerifyInput,
        reply: oneshot::Sender<Result<Decision, ApiError>>,
    },
    Approve {
        id: String,
        ttl: Option<Value>,
        by: Operator,
        /// The audit record's `operator`: who approved, and their passkey signature.
        signed: Value,
        reply: oneshot::Sender<Result<Value, ApiError>>,
    },
    Deny {
        id: String,
        by: Operator,
        /// The audit record's `operator`: who denied, and their passkey signature.
        signed: Value,
        reply: oneshot::Sender<Result<Value, ApiError>>,
    },
    RevokeGrant {
        id: String,
        by: Operator,
        reply: oneshot::Sender<Result<Value, ApiError>>,
    },
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `store`.
    pub fn start(
        store: AnyStore,
        policy: Arc<PolicyWatch>,
        clock: Clock,
        metrics: Arc<Metrics>,
        committed: Arc<Notify>,
        known_keys: Arc<KnownKeys>,
    ) -> Result<Writer, String> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let mut thread = WriterThread {
            store,
            policy,
            clock,
            metrics,
            committed,
            engine: None,
            batch_policy: None,
            ids: IdSource::default(),
            spool: Vec::new(),
            known_keys,
            batch_keys: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("behalf-writer".into())
            .spawn(move || thread.run(jobs))
            .map_err(|e| format!("cannot start the decision writer: {e}"))?;
        Ok(Writer { queue })
    }

    /// Verifies one request durably, for the agent key whose hash is `key_hash`. Refused
    /// (nothing decided or recorded) when the key is unknown or revoked, when the request
    /// names another agent, or when the key cannot be checked and was never seen valid. Never
    /// fails otherwise: a fault is a denied `internal_error` packet (not recorded, as its
    /// message says).
    pub async fn verify(
        &self,
        key_hash: String,
        input: VerifyInput,
        clock: &Clock,
    ) -> Result<Decision, ApiError> {
        let (reply, answer) = oneshot::channel();
        let fallback_id = request_id_of(&input);
        let job = Job::Verify {
            key_hash,
            input,
            reply,
        };
        if let Err(e) = self.queue.try_send(job) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => {
                    "the server is overloaded (the decision queue is full); not recorded"
                }
                mpsc::error::TrySendError::Closed(_) => {
                    "the decision writer has stopped; not recorded"
                }
            };
            return Ok(fault(why, fallback_id, clock.now()));
        }
        match answer.await {
            Ok(answer) => answer,
            Err(_) => Ok(fault(
                "the decision writer stopped before answering; not recorded",
                fallback_id,
                clock.now(),
            )),
        }
    }

    /// Queues an approve, deny or revoke and waits for its answer.
    pub async fn step(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Value, ApiError>>) -> Job,
    ) -> Result<Value, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(make(reply))
            .await
            .map_err(|_| ApiError::unavailable("the decision writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("the decision writer stopped before answering"))?
    }
}

fn request_id_of(input: &VerifyInput) -> Option<String> {
    match input {
        VerifyInput::Value(v) => v
            .get("requestId")
            .and_then(Value::as_str)
            .filter(|id| is_valid_request_id(id))
            .map(str::to_string),
        _ => None,
    }
}

/// A denied `internal_error` packet for a request nothing was recorded for.
pub fn fault(why: &str, request_id: Option<String>, now: Millis) -> Decision {
    let id = request_id.unwrap_or_else(|| {
        IdSource::default()
            .make("req_")
            .unwrap_or_else(|_| format!("req_unrecorded{now}"))
    });
    Decision::fault(why.to_string(), id, now)
}

struct WriterThread {
    store: AnyStore,
    policy: Arc<PolicyWatch>,
    clock: Clock,
    metrics: Arc<Metrics>,
    committed: Arc<Notify>,
    /// The engine of the policy in force, made again when the policy changes.
    engine: Option<Engine>,
    /// The policy the queued batch was prepared with: a batch is decided on one policy.
    batch_policy: Option<Arc<Policy>>,
    ids: IdSource,
    /// Denials answered while the state database was unreachable, to record once it is back.
    spool: Vec<AuditRecord>,
    /// Keys seen valid, for an outage (shared with the other endpoints' lookups).
    known_keys: Arc<KnownKeys>,
    /// The keys looked up for the batch being gathered (key hash → agent); emptied with it.
    batch_keys: HashMap<String, Result<String, ApiError>>,
}

struct Pending {
    prepared: Prepared,
    request_id: Option<String>,
    /// What the request names (agentId, action, vendor, resource, when they are strings),
    /// for the record of a denial the database could not take at the time.
    names: serde_json::Map<String, Value>,
    reply: oneshot::Sender<Result<Decision, ApiError>>,
}

/// The request's names, as far as they are short strings.
fn names_of(input: &VerifyInput) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    if let VerifyInput::Value(v) = input {
        for key in ["agentId", "action", "vendor", "resource"] {
            if let Some(text) = v
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| t.len() <= 512)
            {
                out.insert(key.into(), Value::String(text.into()));
            }
        }
    }
    out
}

/// The audit record of a denial made while the state database was unreachable.
fn outage_record(
    decision: &Decision,
    names: &serde_json::Map<String, Value>,
) -> Option<AuditRecord> {
    let mut v = serde_json::json!({
        "seq": 0, "time": behalf_core::time::format_rfc3339(decision.evaluated_at),
        "event": "decision", "requestId": decision.request_id,
        "decision": "denied", "reason": "internal_error", "prevHash": "", "hash": "",
    });
    if let Value::Object(map) = &mut v {
        map.extend(names.clone());
    }
    behalf_core::audit::record_from_value(&v)
}

fn engine_for<'e>(slot: &'e mut Option<Engine>, policy: &Arc<Policy>) -> &'e mut Engine {
    if !slot
        .as_ref()
        .is_some_and(|e| Arc::ptr_eq(e.shared_policy(), policy))
    {
        *slot = None;
    }
    slot.get_or_insert_with(|| Engine::from_shared(policy.clone(), EngineOptions::default()))
}

fn outage_message(e: &StoreError) -> String {
    format!("{e}; denied, and recorded by this instance once the state database is back")
}

/// A typed answer of the core (a grant, an approval) as the JSON the API returns.
fn as_json<T: serde::Serialize>(out: Result<T, behalf_core::ApiError>) -> Result<Value, ApiError> {
    let value = out.map_err(ApiError::from_core)?;
    serde_json::to_value(value)
        .map_err(|e| ApiError::internal(format!("an answer could not be written as JSON: {e}")))
}

fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::Conflict(m) => format!("the state database stayed busy ({m}); not recorded"),
        StoreError::Corrupt(m) | StoreError::Fault(m) => format!("{m}; not recorded"),
    }
}

impl WriterThread {
    fn run(&mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = jobs.blocking_recv() {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Verify {
                        key_hash,
                        input,
                        reply,
                    } => {
                        if let Err(refused) = self.check_key(&key_hash, &input) {
                            let _ = reply.send(Err(refused));
                        } else {
                            self.gather(input, reply, &mut batch);
                        }
                    }
                    other => {
                        // Steps keep their order: the verifies queued before go first.
                        self.verify_batch(&mut batch);
                        self.other(other);
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = jobs.try_recv().ok();
                }
            }
            self.verify_batch(&mut batch);
        }
    }

    /// The agent key's check, once per key per batch: unknown, revoked, or speaking for an
    /// agent other than the one the request names is refused.
    fn check_key(&mut self, key_hash: &str, input: &VerifyInput) -> Result<(), ApiError> {
        let agent = match self.batch_keys.get(key_hash) {
            Some(known) => known.clone(),
            None => {
                let found = self
                    .store
                    .agent_key_by_hash(key_hash)
                    .map_err(|e| ApiError::state_unreadable(&e));
                let agent = self
                    .known_keys
                    .resolve(key_hash, found)
                    .map(|(agent, _key_id)| agent);
                self.batch_keys.insert(key_hash.to_string(), agent.clone());
                agent
            }
        }?;
        match input {
            VerifyInput::Value(v) => match v.get("agentId").and_then(Value::as_str) {
                Some(named) if named != agent => Err(keys::agent_mismatch(&agent, named)),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Prepares a verify (on the policy in force) into the batch being gathered.
    fn gather(
        &mut self,
        input: VerifyInput,
        reply: oneshot::Sender<Result<Decision, ApiError>>,
        batch: &mut Vec<Pending>,
    ) {
        let policy = self.policy.current();
        if self
            .batch_policy
            .as_ref()
            .is_some_and(|p| !Arc::ptr_eq(p, &policy))
        {
            // Reloaded: what was prepared on the old policy is decided on it.
            self.verify_batch(batch);
        }
        self.batch_policy = Some(policy.clone());
        let engine = engine_for(&mut self.engine, &policy);
        let request_id = request_id_of(&input);
        let names = names_of(&input);
        let prepared = match &input {
            VerifyInput::Value(v) => engine.prepare(v),
            VerifyInput::Text(t) => engine.prepare_json(t),
            VerifyInput::Unreadable(why) => engine.prepare_rejection(why),
        };
        batch.push(Pending {
            prepared,
            request_id,
            names,
            reply,
        });
    }

    fn verify_batch(&mut self, batch: &mut Vec<Pending>) {
        // The next batch looks its keys up again (a key revoked meanwhile is refused).
        self.batch_keys.clear();
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        // The policy the requests were prepared with (their row keys name its permissions).
        let policy = self
            .batch_policy
            .clone()
            .unwrap_or_else(|| self.policy.current());
        let now = self.clock.now();
        match self.commit(&policy, batch.as_slice(), now) {
            Ok(decisions) => {
                self.metrics.batch(decisions.len(), started.elapsed());
                for (p, d) in batch.drain(..).zip(decisions) {
                    self.metrics.decision(&d);
                    let _ = p.reply.send(Ok(d));
                }
                self.committed.notify_one();
            }
            Err(e) if batch.len() > 1 && !matches!(e, StoreError::Conflict(_)) => {
                for p in batch.drain(..) {
                    let mut one = vec![p];
                    self.verify_batch(&mut one);
                }
            }
            Err(e) => {
                // Unreachable (not busy, not damaged): the denial is kept and recorded with the
                // first step that commits once the database is back.
                let outage = matches!(&e, StoreError::Fault(m) if m.contains("unreachable"));
                for p in batch.drain(..) {
                    self.metrics.fault();
                    let id = p.request_id.clone().or_else(|| self.ids.make("req_").ok());
                    let kept = outage && self.spool.len() < MAX_SPOOL;
                    let why = if kept {
                        outage_message(&e)
                    } else {
                        store_message(&e)
                    };
                    let d = fault(&why, id, now);
                    if kept {
                        if let Some(record) = outage_record(&d, &p.names) {
                            self.spool.push(record);
                        }
                    }
                    let _ = p.reply.send(Ok(d));
                }
            }
        }
    }

    /// Decides every request of the batch in one transaction, and commits it.
    fn commit(
        &mut self,
        policy: &Arc<Policy>,
        batch: &[Pending],
        now: Millis,
    ) -> Result<Vec<Decision>, StoreError> {
        let engine = engine_for(&mut self.engine, policy);
        let prepared: Vec<&Prepared> = batch.iter().map(|p| &p.prepared).collect();
        let spool = &mut self.spool;
        self.store
            .write(policy, |tx| {
                if !spool.is_empty() {
                    // Denials answered during an outage, recorded first (in the order answered).
                    tx.append_audit(spool.clone())?;
                }
                behalf_store::verify_batch_in(tx, engine, &prepared, now)
            })
            .inspect(|_| spool.clear())
    }

    fn other(&mut self, job: Job) {
        let policy = self.policy.current();
        let now = self.clock.now();
        let engine = engine_for(&mut self.engine, &policy);
        let (reply, result) = match job {
            Job::Verify { .. } => return,
            // The operator and their signature are named in the record (`operators::sign_off`).
            Job::Approve {
                id,
                ttl,
                by: _,
                signed,
                reply,
            } => {
                let r = self.store.write(&policy, |tx| {
                    behalf_store::approve_by_in(tx, engine, &id, ttl.as_ref(), Some(&signed), now)
                });
                (reply, r.map(|(out, _)| as_json(out)))
            }
            Job::Deny {
                id,
                by: _,
                signed,
                reply,
            } => {
                let r = self.store.write(&policy, |tx| {
                    behalf_store::deny_by_in(tx, engine, &id, Some(&signed), now)
                });
                (reply, r.map(|(out, _)| as_json(out)))
            }
            Job::RevokeGrant { id, by, reply } => {
                let by = crate::operators::sign_off::named(&by);
                let r = self.store.write(&policy, |tx| {
                    behalf_store::revoke_grant_in(tx, &policy, &id, Some(&by), now)
                });
                let r = r.map(|found| match found {
                    Some((grant, _)) => as_json(Ok(grant)),
                    None => Err(ApiError::not_found("grant", &id)),
                });
                (reply, r)
            }
        };
        let answer = match result {
            Ok(out) => {
                self.committed.notify_one();
                out
            }
            Err(e) => Err(ApiError::unavailable(store_message(&e))),
        };
        let _ = reply.send(answer);
    }
}
