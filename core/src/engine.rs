//! The stateful engine: compile a policy once, then verify many requests, keeping usage,
//! approvals, grants and the audit chain. Time is always an input.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use smol_str::SmolStr;

use crate::audit::{AuditLog, AuditParams, AuditRecord, DEFAULT_CAPACITY};
use crate::canonical;
use crate::decision::{Decision, Reason, TraceDetail, TraceResult, TraceStep};
use crate::error::ErrorCode;
use crate::error::{ApiError, BehalfError};
use crate::evaluate::{evaluate, Change, Outcome};
use crate::ids::IdSource;
use crate::number::Decimal;
use crate::policy::Effect;
use crate::policy::{Candidate, Policy, PolicyError};
use crate::request::{self, Rejection, Request};
use crate::state::{
    Approval, Changes, Fingerprint, Grant, HeldRequest, RowKeys, Rows, State, StateExport,
};
use crate::time::{parse_duration, Millis};

/// Receives every audit record once, chained, before it can leave memory.
pub type AuditSink = Box<dyn FnMut(&AuditRecord) + Send>;

#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How many recent audit records stay in memory (default 10,000).
    pub audit_capacity: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            audit_capacity: DEFAULT_CAPACITY,
        }
    }
}

/// What `export_state` returns and `restore` reads: `{version, state, audit}`.
#[derive(Clone, Debug, Serialize)]
pub struct EngineState {
    pub version: u32,
    pub state: StateExport,
    /// `{nextSeq, lastHash, records}`: the chain's window and where it continues.
    pub audit: Value,
}

/// One limited permission's budget and rate use now, as the engine counts it for its next
/// decision (buckets included, so conservative in the same way); `per` in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionUsage {
    pub permission: Arc<str>,
    pub passport_id: Arc<str>,
    pub budget: Option<BudgetUse>,
    pub rate: Option<RateUse>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetUse {
    #[serde(serialize_with = "crate::number::serialize_number")]
    pub amount: Decimal,
    pub per: Millis,
    #[serde(serialize_with = "crate::number::serialize_number")]
    pub spent: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateUse {
    pub count: u64,
    pub per: Millis,
    pub used: u64,
}

pub struct Engine {
    policy: Arc<Policy>,
    state: State,
    audit: AuditLog,
    ids: IdSource,
    scratch: Vec<Candidate>,
    sink: Option<AuditSink>,
    options: EngineOptions,
    /// One-shot engines open no approvals.
    stateless: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("passports", &self.policy.passports.len())
            .finish()
    }
}

/// The canonical hash of a normalized request: what makes two requests "the same".
pub fn fingerprint(r: &Request) -> Fingerprint {
    let mut text = String::with_capacity(128);
    text.push('[');
    canonical::write_string(&r.agent_id, &mut text);
    text.push(',');
    canonical::write_string(&r.action, &mut text);
    for field in [&r.vendor, &r.resource] {
        text.push(',');
        match field {
            Some(s) => canonical::write_string(s, &mut text),
            None => text.push_str("null"),
        }
    }
    text.push(',');
    canonical::write_map(&r.params, &mut text);
    text.push(']');
    Sha256::digest(text.as_bytes()).into()
}

/// A request read and checked, before any state is read: what a store needs to know which
/// rows the decision will touch.
#[derive(Clone, Debug)]
pub struct Prepared {
    read: Result<Request<'static>, Rejection>,
    keys: Option<RowKeys>,
}

impl Prepared {
    /// The rows the decision may read; `None` when it reads none (invalid request, unknown
    /// agent, or no candidate permission with limits or approvals).
    pub fn keys(&self) -> Option<&RowKeys> {
        self.keys.as_ref()
    }
}

impl Engine {
    pub fn new(policy: Policy, options: EngineOptions) -> Engine {
        Engine::from_shared(Arc::new(policy), options)
    }

    /// An engine on a policy compiled once and shared (no copy of it is made).
    pub fn from_shared(policy: Arc<Policy>, options: EngineOptions) -> Engine {
        Engine {
            policy,
            state: State::default(),
            audit: AuditLog::new(options.audit_capacity),
            ids: IdSource::default(),
            scratch: Vec::with_capacity(16),
            sink: None,
            options,
            stateless: false,
        }
    }

    pub fn from_value(policy: &Value, options: EngineOptions) -> Result<Engine, PolicyError> {
        Ok(Engine::new(Policy::from_value(policy)?, options))
    }

    pub fn from_json(policy: &str, options: EngineOptions) -> Result<Engine, PolicyError> {
        Ok(Engine::new(Policy::from_json_text(policy)?, options))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The compiled policy, shared.
    pub fn shared_policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    #[cfg(test)]
    pub(crate) fn state_for_tests(&self) -> &State {
        &self.state
    }

    /// After the process forked (a binding calls this in the child): the stream ids are drawn
    /// from, and its unread bytes, are dropped, and the next id is made from a new key read
    /// from the system, so the child makes no id its parent also makes.
    pub fn discard_random_bytes(&mut self) {
        self.ids.discard();
    }

    pub fn set_audit_sink(&mut self, sink: Option<AuditSink>) {
        self.sink = sink;
    }

    /// Verifies a request given as a JSON value.
    pub fn verify(&mut self, request: &Value, now: Millis) -> Decision {
        self.state.tick(now);
        match request::parse_naming(request, Some(&self.policy.names)) {
            Ok(r) => self.decide(r, now),
            Err(rejection) => self.reject(rejection, now),
        }
    }

    /// Verifies a request the caller hands over (no copy of its params is made).
    pub fn verify_value(&mut self, request: Value, now: Millis) -> Decision {
        self.state.tick(now);
        match request::parse_owned_naming(request, Some(&self.policy.names)) {
            Ok(r) => self.decide(r, now),
            Err(rejection) => self.reject(rejection, now),
        }
    }

    /// Verifies a request a binding read field by field: its own fields as text where they
    /// were strings (no JSON value is made of the request object), `params` handed over.
    /// The same checks and the same decision as `verify` on the equivalent object.
    pub fn verify_fields(
        &mut self,
        fields: &request::Fields<'_>,
        params: Option<Value>,
        now: Millis,
    ) -> Decision {
        self.state.tick(now);
        match request::parse_given_fields(fields, params, Some(&self.policy.names)) {
            Ok(r) => self.decide(r, now),
            Err(rejection) => self.reject(rejection, now),
        }
    }

    /// Reads and checks a request given as JSON text, and names the rows its decision reads.
    pub fn prepare_json(&mut self, request: &str) -> Prepared {
        let read = match crate::json::from_str(request) {
            Ok(v) => request::parse_owned_naming(v, Some(&self.policy.names)),
            Err(e) => Err(Rejection::bare(e.describe("the request"))),
        };
        self.prepared(read)
    }

    /// `prepare_json` for a request given as a JSON value.
    pub fn prepare(&mut self, request: &Value) -> Prepared {
        let read = request::parse_naming(request, Some(&self.policy.names));
        self.prepared(read.map(Request::into_owned))
    }

    /// An input that could not be read at all (not UTF-8): it will be `invalid_request`.
    pub fn prepare_rejection(&mut self, message: &str) -> Prepared {
        self.prepared(Err(Rejection::bare(message)))
    }

    fn prepared(&mut self, read: Result<Request<'static>, Rejection>) -> Prepared {
        let keys = read.as_ref().ok().and_then(|r| self.row_keys(r));
        Prepared { read, keys }
    }

    fn row_keys(&mut self, r: &Request) -> Option<RowKeys> {
        let (_, passport) = self.policy.passport_for(&r.agent_id)?;
        passport.index.candidates(
            &self.policy.names,
            &r.action,
            r.vendor.as_deref(),
            &mut self.scratch,
        );
        let mut usage = Vec::new();
        let mut approval = Vec::new();
        for candidate in &self.scratch {
            let Some(p) = passport.permissions.get(candidate.at()) else {
                continue;
            };
            let limits = p.limits.as_ref();
            if limits.is_some_and(|l| l.budget.is_some() || l.rate.is_some()) {
                usage.push(p.id.clone());
            }
            if p.effect == Effect::RequireApproval
                || limits.is_some_and(|l| l.over_limit_requires_approval)
            {
                approval.push(p.id.clone());
            }
        }
        if usage.is_empty() && approval.is_empty() {
            return None;
        }
        Some(RowKeys {
            passport: passport.id.clone(),
            usage,
            approval,
            fingerprint: fingerprint(r),
        })
    }

    /// Decides a prepared request against the state the engine holds (for a store: the rows
    /// it loaded for `prepared.keys()`).
    pub fn decide_prepared(&mut self, prepared: Prepared, now: Millis) -> Decision {
        self.state.tick(now);
        match prepared.read {
            Ok(r) => {
                let fp = prepared.keys.map(|k| k.fingerprint);
                self.decide_with(r, now, fp)
            }
            Err(rejection) => self.reject(rejection, now),
        }
    }

    /// Replaces the state with rows a store loaded; changes are recorded from here on.
    pub fn load_rows(&mut self, rows: Rows) {
        self.state = State::from_rows(rows);
    }

    /// The rows changed since `load_rows`, for the store to write in the same transaction.
    pub fn take_changes(&mut self) -> Changes {
        self.state.take_changes()
    }

    /// Removes and returns the audit records in memory, unchained: for a store that chains
    /// them to its own head (so each record is hashed once).
    pub fn take_unchained_audit(&mut self) -> Vec<AuditRecord> {
        self.audit.take_unchained()
    }

    /// Verifies a request given as JSON text; unreadable text, or an object that repeats a
    /// key, is `invalid_request`.
    pub fn verify_json(&mut self, request: &str, now: Millis) -> Decision {
        // The plain case, read without making a JSON value of the request object (the same
        // fields either way); anything else is read whole, for its usual messages.
        if let Some(mut read) = crate::json::request_fields(request) {
            let params = read.params.take();
            return self.verify_fields(&read.fields(), params, now);
        }
        match crate::json::from_str(request) {
            Ok(v) => self.verify_value(v, now),
            Err(e) => self.reject(Rejection::bare(e.describe("the request")), now),
        }
    }

    /// Records and returns an `invalid_request` decision for input a binding could not convert.
    pub fn reject(&mut self, rejection: Rejection, now: Millis) -> Decision {
        self.refuse(Reason::InvalidRequest, rejection, now)
    }

    /// Fails closed with `internal_error` (for bindings that caught a fault).
    pub fn internal_error(&mut self, message: &str, now: Millis) -> Decision {
        self.refuse(Reason::InternalError, Rejection::bare(message), now)
    }

    fn refuse(&mut self, reason: Reason, rejection: Rejection, now: Millis) -> Decision {
        let request_id = match rejection.request_id.as_deref() {
            Some(id) => Arc::from(id),
            None => match self.ids.make_shared("req_") {
                Ok(id) => id,
                Err(_) => self.fallback_id(),
            },
        };
        let decision = Decision {
            reason,
            request_id,
            agent_id: rejection.agent_id.map(SmolStr::from),
            action: rejection.action.map(Arc::from),
            vendor: rejection.vendor.map(Arc::from),
            resource: rejection.resource.map(Arc::from),
            passport_id: None,
            active_permissions: None,
            matched_permission: None,
            approval_id: None,
            grant_id: None,
            grant_expires_at: None,
            evaluated_at: now,
            trace: vec![TraceStep {
                step: "request",
                permission: None,
                result: if reason == Reason::InternalError {
                    TraceResult::Fault
                } else {
                    TraceResult::Invalid
                },
                detail: TraceDetail::Owned(rejection.message.clone()),
            }],
            problem: Some(rejection.message),
        };
        self.record(&decision, None, now);
        decision
    }

    fn fallback_id(&self) -> Arc<str> {
        Arc::from(format!("req_seq{:013}", self.audit.next_seq()))
    }

    fn decide(&mut self, r: Request<'_>, now: Millis) -> Decision {
        self.decide_with(r, now, None)
    }

    fn decide_with(&mut self, r: Request<'_>, now: Millis, known: Option<Fingerprint>) -> Decision {
        let outcome: Outcome = {
            let r = &r;
            evaluate(
                &self.policy,
                &self.state,
                r,
                now,
                &mut self.scratch,
                &mut || known.unwrap_or_else(|| fingerprint(r)),
            )
        };
        let passport = outcome.passport.and_then(|i| self.policy.passports.get(i));
        let permission = passport
            .zip(outcome.matched)
            .and_then(|(p, m)| p.permissions.get(m));
        let request_id = match &r.request_id {
            Some(id) => Arc::from(id.as_str()),
            None => match self.ids.make_shared("req_") {
                Ok(id) => id,
                Err(_) => self.fallback_id(),
            },
        };
        let mut reason = outcome.reason;
        let mut problem = None;
        let mut approval_id = outcome.approval_id;
        // Evaluation only read the state; its changes are applied here, in order.
        for change in &outcome.changes {
            match change {
                Change::Charge { permission, amount } => {
                    if let Some(p) = passport.and_then(|p| p.permissions.get(*permission)) {
                        self.state.charge(p, *amount, now);
                    }
                }
                Change::UseGrant { grant } => self.state.spend_grant(grant),
                Change::Hold => {}
            }
        }
        let hold = outcome.changes.contains(&Change::Hold);
        if hold && !self.stateless {
            if let (Some(passport), Some(p), Some(fp)) = (passport, permission, outcome.fingerprint)
            {
                let held = HeldRequest {
                    agent_id: r.agent_id.to_string(),
                    action: r.action.to_string(),
                    vendor: r.vendor.as_deref().map(str::to_string),
                    resource: r.resource.as_deref().map(str::to_string),
                    params: r.params.clone().into_owned(),
                };
                match self.state.hold(fp, passport, p, held, now, &mut self.ids) {
                    Ok(id) => approval_id = Some(id),
                    Err(e) => {
                        reason = Reason::InternalError;
                        problem = Some(e.message);
                    }
                }
            }
        }
        let (grant_id, grant_expires_at) = match outcome.grant {
            Some((id, end)) => (Some(id), Some(end)),
            None => (None, None),
        };
        let decision = Decision {
            reason,
            request_id,
            agent_id: Some(r.agent_id),
            action: Some(r.action),
            vendor: r.vendor,
            resource: r.resource,
            passport_id: passport.map(|p| p.id.clone()),
            active_permissions: passport.map(|p| {
                if p.is_active(now) {
                    p.active_permissions(now)
                } else {
                    0
                }
            }),
            matched_permission: permission.map(|p| p.id.clone()),
            approval_id,
            grant_id,
            grant_expires_at,
            evaluated_at: now,
            problem,
            trace: outcome.trace,
        };
        self.record(&decision, Some(r.params.into()), now);
        decision
    }

    fn record(&mut self, d: &Decision, params: Option<AuditParams>, now: Millis) {
        if self.stateless {
            return;
        }
        self.append(AuditRecord {
            seq: 0,
            time: now,
            event: "decision",
            request_id: Some(d.request_id.clone()),
            agent_id: d.agent_id.clone(),
            action: d.action.clone(),
            vendor: d.vendor.clone(),
            resource: d.resource.clone(),
            params,
            decision: Some(d.decision().as_str()),
            reason: Some(d.reason.as_str()),
            matched_permission: d.matched_permission.clone(),
            approval_id: d.approval_id.clone(),
            grant_id: d.grant_id.clone(),
            operator: None,
            prev_hash: String::new(),
            hash: String::new(),
        });
    }

    fn append(&mut self, record: AuditRecord) {
        self.audit.push(record);
        if self.audit.len() > self.options.audit_capacity {
            self.flush();
            self.audit.evict_overflow();
        }
    }

    /// Chains pending audit records and hands each new one to the sink.
    pub fn flush(&mut self) {
        let chained = self.audit.chain_pending();
        if let Some(sink) = self.sink.as_mut() {
            for record in self.audit.recent(chained) {
                sink(record);
            }
        }
    }

    /// Approves a pending approval, opening a grant. `ttl` overrides the permission's grantTtl.
    pub fn approve(
        &mut self,
        approval_id: &str,
        ttl: Option<&Value>,
        now: Millis,
    ) -> Result<Grant, ApiError> {
        let ttl = match ttl {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_duration(v).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadDuration,
                    format!("`{v}` is not a duration"),
                    "write a positive duration like `30m`, `2h` or whole seconds",
                )
            })?),
        };
        self.state.tick(now);
        let (approval, grant) =
            self.state
                .approve(&self.policy, approval_id, ttl, now, &mut self.ids)?;
        self.append(approval_record(
            "approval.granted",
            &approval,
            Some(&grant.id),
            now,
        ));
        Ok(grant)
    }

    /// Denies a pending approval: the same request is `approval_denied` until its pendingTtl.
    pub fn deny(&mut self, approval_id: &str, now: Millis) -> Result<Approval, ApiError> {
        self.state.tick(now);
        let approval = self.state.deny(approval_id, now)?;
        self.append(approval_record("approval.denied", &approval, None, now));
        Ok(approval)
    }

    /// Pending approvals, oldest first.
    pub fn pending_approvals(&self, now: Millis) -> Vec<Approval> {
        self.state.pending(now)
    }

    /// Active grants, oldest first.
    pub fn grants(&self, now: Millis) -> Vec<Grant> {
        self.state.active_grants(now)
    }

    /// Budget and rate use of every limited permission now, as the engine counts it for its
    /// next decision (buckets included, so conservative in the same way): `[{permission,
    /// passportId, budget: {amount, per, spent} | null, rate: {count, per, used} | null}]`,
    /// `per` in milliseconds, in file order.
    pub fn usage(&self, now: Millis) -> Vec<PermissionUsage> {
        let mut out = Vec::new();
        for passport in &self.policy.passports {
            for p in &passport.permissions {
                let Some(limits) = &p.limits else { continue };
                if limits.budget.is_none() && limits.rate.is_none() {
                    continue;
                }
                let usage = self.state.usage_of(&p.id);
                let spent = |per| usage.map_or((Decimal::ZERO, 0), |u| u.spent(now, per));
                out.push(PermissionUsage {
                    permission: p.id.clone(),
                    passport_id: passport.id.clone(),
                    budget: limits.budget.map(|(amount, per)| BudgetUse {
                        amount,
                        per,
                        spent: spent(per).0,
                    }),
                    rate: limits.rate.map(|(count, per)| RateUse {
                        count,
                        per,
                        used: spent(per).1,
                    }),
                });
            }
        }
        out
    }

    /// The in-memory window of the audit chain, oldest first.
    pub fn audit_log(&mut self) -> Vec<AuditRecord> {
        self.flush();
        self.audit.records()
    }

    pub fn audit_log_value(&mut self) -> Value {
        Value::Array(self.audit_log().iter().map(AuditRecord::to_value).collect())
    }

    /// Removes and returns every audit record in memory, chained (for durable sinks).
    pub fn take_audit_records(&mut self) -> Vec<AuditRecord> {
        self.flush();
        self.audit.take()
    }

    /// Everything `restore` needs: usage, approvals, grants and the audit window.
    pub fn export_state(&mut self) -> EngineState {
        self.flush();
        EngineState {
            version: 1,
            state: self.state.export(),
            audit: self.audit.export(),
        }
    }

    /// Restores state exported by `export_state` (of this or an earlier engine of the policy).
    pub fn restore(&mut self, state: &Value) -> Result<(), ApiError> {
        let bad = |why: String| {
            ApiError::new(
                ErrorCode::BadState,
                why,
                "pass the exact value exportState() returned",
            )
        };
        if state.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(bad("unsupported state version".into()));
        }
        let inner = state
            .get("state")
            .ok_or_else(|| bad("`state` is missing".into()))?;
        let audit = state
            .get("audit")
            .ok_or_else(|| bad("`audit` is missing".into()))?;
        let restored = State::restore(inner, &self.policy).map_err(bad)?;
        let log = AuditLog::restore(audit, self.options.audit_capacity).map_err(bad)?;
        self.state = restored;
        self.audit = log;
        Ok(())
    }
}

/// The audit record of a person's decision on an approval.
fn approval_record(
    event: &'static str,
    approval: &Approval,
    grant_id: Option<&str>,
    now: Millis,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: now,
        event,
        request_id: None,
        agent_id: Some(SmolStr::new(approval.request.agent_id.as_str())),
        action: Some(Arc::from(approval.request.action.as_str())),
        vendor: approval.request.vendor.as_deref().map(Arc::from),
        resource: approval.request.resource.as_deref().map(Arc::from),
        params: Some(approval.request.params.clone().into()),
        decision: None,
        reason: None,
        matched_permission: Some(approval.permission.clone()),
        approval_id: Some(approval.id.clone()),
        grant_id: grant_id.map(str::to_string),
        operator: None,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// The stateless one-shot verify: empty usage, no grants, no approval is opened.
pub fn verify_once(policy: &Value, request: &Value, now: Millis) -> Result<Decision, BehalfError> {
    let mut engine = Engine::from_value(policy, EngineOptions { audit_capacity: 1 })?;
    engine.stateless = true;
    Ok(engine.verify(request, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `verify_json` reads the plain case without a JSON value of the request object: every
    /// text gives the packet and the audit record that reading it whole gives.
    #[test]
    fn a_request_text_decides_as_its_value_does() {
        let policy = serde_json::json!({"version": 1, "passports": [{"id": "pp",
            "agent": "agent_a", "permissions": [
                {"id": "stage", "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}},
                {"id": "no_prod", "action": "deploy", "when": {"env": "production"}, "effect": "block"},
                {"id": "mail", "action": "send_email", "vendor": "gmail.com",
                 "when": {"to": {"glob": "*@example.com"}}},
                {"id": "buy", "action": "buy", "limits": {"maxAmount": 10}}]}]});
        let plain = [
            r#"{"agentId":"agent_a","action":"deploy","vendor":"vercel.com","params":{"env":"staging"}}"#,
            r#"{"agentId":"agent_a","action":"deploy","vendor":"vercel.com","params":{"env":"production"}}"#,
            r#"{"agentId":"agent_a","action":"Deploy","vendor":"Vercel.COM.","params":{"env":"staging"}}"#,
            r#"{"agentId":"agent_\u0061","action":"deplo\u0079","vendor":"vercel.com"}"#,
            r#"{"agentId":"agent_a","action":"deploy","requestId":"r-1"}"#,
            r#"{}"#,
            r#"{"agentId":"","action":"deploy"}"#,
            r#"{"agentId":"a\u0000b","action":"deploy"}"#,
            r#"{"agentId":"agent_a","action":"buy","params":{"amount":12.50}}"#,
            r#"{"agentId":"agent_a","action":"buy","params":{"amount":1e400}}"#,
            r#"{"agentId":"agent_a","action":"send_email","vendor":"gmail.com","params":{"to":"bob@example.com","cc":["x"],"n":{"a":1}}}"#,
            r#"{"agentId":"agent_a","action":"deploy","resource":"db/prod/../x"}"#,
            " \n{\"agentId\" : \"agent_a\" ,\"action\":\"deploy\", \"params\": {}}\t ",
            r#"{"agentId":"agent_a","action":"deploy","requestId":"bad id!"}"#,
        ];
        let other = [
            r#"{"agentId":"agent_a","agentId":"agent_b","action":"deploy"}"#,
            r#"{"agentId":"agent_a","action":"deploy","params":{"env":"staging","env":"production"}}"#,
            r#"{"agentId":"agent_a","action":"deploy","params":{"env":"staging"},"params":{}}"#,
            r#"{"agentId":"agent_a","action":"deploy","vendor":null}"#,
            r#"{"agentId":5,"action":"deploy"}"#,
            r#"{"agentId":"agent_a","action":"deploy","params":null}"#,
            r#"{"agentId":"agent_a","action":"deploy","params":[1]}"#,
            r#"{"agentId":"agent_a","action":"deploy","extra":1}"#,
            r#"{"agent\u0049d":"agent_a","action":"deploy"}"#,
            r#"[1,2]"#,
            r#""text""#,
            r#"12"#,
            r#"{"agentId":"agent_a","action":"deploy"} x"#,
            r#"{"agentId":"agent_a","action":"deploy",}"#,
            "not json",
        ];
        let now = 1_795_000_000_000;
        let strip = |mut v: Value, generated: bool| {
            if let Some(map) = v.as_object_mut() {
                if generated {
                    map.remove("requestId");
                }
                map.remove("hash");
                map.remove("prevHash");
            }
            v
        };
        for (text, fast) in plain
            .iter()
            .map(|t| (t, true))
            .chain(other.iter().map(|t| (t, false)))
        {
            assert_eq!(crate::json::request_fields(text).is_some(), fast, "{text}");
            let engine = || Engine::from_value(&policy, EngineOptions::default());
            let (Ok(mut by_text), Ok(mut by_value)) = (engine(), engine()) else {
                unreachable!("the policy is valid")
            };
            let a = by_text.verify_json(text, now);
            let b = match crate::json::from_str(text) {
                Ok(v) => by_value.verify_value(v, now),
                Err(e) => by_value.reject(Rejection::bare(e.describe("the request")), now),
            };
            let generated = !text.contains("requestId\":\"r-1");
            let packet = |d: &Decision| {
                strip(
                    serde_json::from_str(&d.to_json()).unwrap_or(Value::Null),
                    generated,
                )
            };
            assert_eq!(packet(&a), packet(&b), "{text}");
            let records = |e: &mut Engine| -> Vec<Value> {
                e.audit_log()
                    .iter()
                    .map(|r| strip(r.to_value(), generated))
                    .collect()
            };
            assert_eq!(records(&mut by_text), records(&mut by_value), "{text}");
        }
    }

    #[test]
    fn evaluation_reads_the_state_and_returns_what_the_decision_changes() {
        let policy = serde_json::json!({"version": 1, "passports": [{"id": "pp", "agent": "ag",
            "permissions": [
                {"id": "buy", "action": "buy", "limits": {"budget": {"amount": 5, "per": "1d"}}},
                {"id": "ship", "action": "ship", "effect": "require_approval"}]}]});
        let Ok(policy) = Policy::from_value(&policy) else {
            unreachable!("the policy is valid")
        };
        let state = State::default();
        let changes = |request: serde_json::Value| {
            let Ok(r) = request::parse(&request) else {
                unreachable!("the request is valid")
            };
            let out = evaluate(&policy, &state, &r, 0, &mut Vec::new(), &mut || [0; 32]);
            (out.reason, out.changes)
        };
        let buy = serde_json::json!({"agentId": "ag", "action": "buy", "params": {"amount": 2}});
        let (reason, got) = changes(buy);
        assert_eq!(reason, Reason::Allowed);
        assert!(matches!(
            got.as_slice(),
            [Change::Charge {
                permission: 0,
                amount: Some(_)
            }]
        ));
        let (reason, got) = changes(serde_json::json!({"agentId": "ag", "action": "ship"}));
        assert_eq!(
            (reason, got),
            (Reason::RequiresApproval, vec![Change::Hold])
        );
        let (reason, got) = changes(serde_json::json!({"agentId": "ag", "action": "fly"}));
        assert_eq!((reason, got), (Reason::NoPermission, vec![]));
    }

    #[test]
    fn an_internal_error_is_denied_and_audited_as_such() {
        let policy = serde_json::json!({"version": 1, "passports": []});
        let engine = Engine::from_value(&policy, EngineOptions::default());
        assert!(engine.is_ok());
        if let Ok(mut engine) = engine {
            let d = engine.internal_error("the binding trapped", 0);
            assert!(!d.allowed());
            assert_eq!(d.reason, Reason::InternalError);
            let log = engine.audit_log();
            assert_eq!(log.first().and_then(|r| r.reason), Some("internal_error"));
        }
    }

    #[test]
    fn a_lent_request_is_audited_as_a_handed_one_is() {
        let policy = serde_json::json!({"version": 1, "passports": [{"id": "pp", "agent": "ag",
            "permissions": [{"id": "buy", "action": "buy", "when": {"env": "prod"}}]}]});
        let request = serde_json::json!({"agentId": "ag", "action": "buy", "requestId": "r1",
            "params": {"env": "prod", "amount": 1.50, "to": "a\"b", "z": {"y": [1, null]}}});
        let (Ok(mut lent), Ok(mut handed)) = (
            Engine::from_value(&policy, EngineOptions::default()),
            Engine::from_value(&policy, EngineOptions::default()),
        ) else {
            unreachable!("the policy is valid")
        };
        for now in [0, 1] {
            assert_eq!(
                lent.verify(&request, now).to_json(),
                handed.verify_value(request.clone(), now).to_json()
            );
        }
        let (lent, handed) = (lent.audit_log(), handed.audit_log());
        // verify(&value) keeps the params' canonical text; verify_value keeps the map.
        assert!(matches!(
            lent.first().and_then(|r| r.params.as_ref()),
            Some(AuditParams::Canonical(_))
        ));
        assert!(matches!(
            handed.first().and_then(|r| r.params.as_ref()),
            Some(AuditParams::Map(_))
        ));
        assert_eq!(lent, handed);
        assert_eq!(lent.len(), 2);
        let params = |log: &[AuditRecord]| {
            log.first()
                .and_then(|r| r.params.as_ref())
                .map(|p| Value::Object(p.to_map().into_owned()))
        };
        assert_eq!(params(&lent), params(&handed));
        assert_eq!(
            lent.last().map(|r| r.hash.clone()),
            handed.last().map(|r| r.hash.clone())
        );
    }
}
