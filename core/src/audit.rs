//! The audit chain: every decision, approval and denial appends a record whose `hash` is the
//! hex SHA-256 of `prevHash` followed by the record's canonical JSON (without `hash`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use smol_str::SmolStr;

use crate::canonical;
use crate::time::Millis;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const DEFAULT_CAPACITY: usize = 10_000;

/// One audit record. `prev_hash` and `hash` are filled when the record is chained. It
/// serializes as the record's JSON, camelCase, in this field order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub time: Millis,
    pub event: &'static str,
    pub request_id: Option<Arc<str>>,
    pub agent_id: Option<SmolStr>,
    pub action: Option<Arc<str>>,
    pub vendor: Option<Arc<str>>,
    pub resource: Option<Arc<str>>,
    pub params: Option<AuditParams>,
    pub decision: Option<&'static str>,
    pub reason: Option<&'static str>,
    pub matched_permission: Option<Arc<str>>,
    pub approval_id: Option<String>,
    pub grant_id: Option<String>,
    /// Who signed an approval or denial, with the signature itself (`behalf serve`): present
    /// only when an operator decided, so every record without one hashes as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

/// A record's params. The map itself when the engine was handed the request; its canonical
/// JSON, written at decision time, when the request was only lent (`Engine::verify`): one
/// string instead of a deep copy of every key and value. Both read, write and compare as the
/// same params.
#[derive(Clone, Debug)]
pub enum AuditParams {
    Map(Map<String, Value>),
    Canonical(String),
}

impl AuditParams {
    /// The canonical JSON of a borrowed params object.
    pub fn canonical_of(params: &Map<String, Value>) -> AuditParams {
        let mut text = String::with_capacity(128);
        canonical::write_map(params, &mut text);
        AuditParams::Canonical(text)
    }

    /// Writes the params' canonical JSON.
    pub fn write_canonical(&self, out: &mut String) {
        match self {
            AuditParams::Map(map) => canonical::write_map(map, out),
            AuditParams::Canonical(text) => out.push_str(text),
        }
    }

    /// The params as a map (read back from the canonical text when that is what is kept;
    /// the engine wrote it, so it always reads).
    pub fn to_map(&self) -> Cow<'_, Map<String, Value>> {
        match self {
            AuditParams::Map(map) => Cow::Borrowed(map),
            AuditParams::Canonical(text) => match crate::json::from_str(text) {
                Ok(Value::Object(map)) => Cow::Owned(map),
                _ => Cow::Owned(Map::new()),
            },
        }
    }

    fn canonical_text(&self) -> Cow<'_, str> {
        match self {
            AuditParams::Map(map) => {
                let mut text = String::new();
                canonical::write_map(map, &mut text);
                Cow::Owned(text)
            }
            AuditParams::Canonical(text) => Cow::Borrowed(text),
        }
    }
}

impl From<Map<String, Value>> for AuditParams {
    fn from(map: Map<String, Value>) -> AuditParams {
        AuditParams::Map(map)
    }
}

impl From<Cow<'_, Map<String, Value>>> for AuditParams {
    /// Owned params are kept as they are; borrowed ones as their canonical JSON.
    fn from(params: Cow<'_, Map<String, Value>>) -> AuditParams {
        match params {
            Cow::Owned(map) => AuditParams::Map(map),
            Cow::Borrowed(map) => AuditParams::canonical_of(map),
        }
    }
}

impl PartialEq for AuditParams {
    fn eq(&self, other: &AuditParams) -> bool {
        match (self, other) {
            (AuditParams::Map(a), AuditParams::Map(b)) => a == b,
            _ => self.canonical_text() == other.canonical_text(),
        }
    }
}

impl Serialize for AuditParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl AuditRecord {
    /// The record as JSON, without `hash` (what is hashed).
    pub fn body_value(&self) -> Value {
        let mut v = self.to_value();
        if let Value::Object(map) = &mut v {
            map.remove("hash");
        }
        v
    }

    /// The record as JSON, with `hash`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The canonical JSON of `body_value()`, written directly (the hot path of chaining).
    pub fn write_canonical_body(&self, out: &mut String) {
        self.write_fields(None, true, out);
    }

    /// The canonical JSON of the whole record, `hash` included: what a binding hands to its
    /// `onDecision` sink. It reads back as `to_value()` does (a number may be spelled in its
    /// canonical form, `1.5` for `1.50`: the same value).
    pub fn write_canonical(&self, out: &mut String) {
        self.write_fields(Some(&self.hash), true, out);
    }

    /// The record's values as a JSON array, in the order of `write_canonical`'s keys, for a
    /// binding that builds the object itself (a parser then reads no key). A record with an
    /// `operator` has no values form: `false`, and nothing is written.
    pub fn write_values(&self, out: &mut String) -> bool {
        if self.operator.is_some() {
            return false;
        }
        self.write_fields(Some(&self.hash), false, out);
        true
    }

    /// The record as an object (`keyed`, canonical JSON) or as the array of its values.
    fn write_fields(&self, hash: Option<&str>, keyed: bool, out: &mut String) {
        let key = |out: &mut String, name: &str| {
            if keyed {
                out.push('"');
                out.push_str(name);
                out.push_str("\":");
            }
        };
        let text = |out: &mut String, name: &str, value: Option<&str>| {
            key(out, name);
            match value {
                Some(v) => canonical::write_string(v, out),
                None => out.push_str("null"),
            }
            out.push(',');
        };
        // Keys in sorted order, as canonical::write would put them.
        out.push(if keyed { '{' } else { '[' });
        text(out, "action", self.action.as_deref());
        text(out, "agentId", self.agent_id.as_deref());
        text(out, "approvalId", self.approval_id.as_deref());
        text(out, "decision", self.decision);
        text(out, "event", Some(self.event));
        text(out, "grantId", self.grant_id.as_deref());
        if let Some(hash) = hash {
            text(out, "hash", Some(hash));
        }
        text(out, "matchedPermission", self.matched_permission.as_deref());
        if let Some(operator) = &self.operator {
            key(out, "operator");
            canonical::write(operator, out);
            out.push(',');
        }
        key(out, "params");
        match &self.params {
            Some(params) => params.write_canonical(out),
            None => out.push_str("null"),
        }
        out.push(',');
        text(out, "prevHash", Some(&self.prev_hash));
        text(out, "reason", self.reason);
        text(out, "requestId", self.request_id.as_deref());
        text(out, "resource", self.resource.as_deref());
        key(out, "seq");
        use std::fmt::Write as _;
        let _ = write!(out, "{},", self.seq);
        key(out, "time");
        out.push('"');
        crate::time::write_rfc3339(self.time, out);
        out.push_str("\",");
        key(out, "vendor");
        match &self.vendor {
            Some(v) => canonical::write_string(v, out),
            None => out.push_str("null"),
        }
        out.push(if keyed { '}' } else { ']' });
    }

    /// Fills `prev_hash` and `hash`.
    pub fn chain_to(&mut self, prev_hash: &str, scratch: &mut String) {
        self.prev_hash.clear();
        self.prev_hash.push_str(prev_hash);
        scratch.clear();
        self.write_canonical_body(scratch);
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(scratch.as_bytes());
        self.hash = hex(&hasher.finalize());
    }

    /// The webhook event type of this record.
    pub fn event_type(&self) -> String {
        match (self.event, self.decision) {
            ("decision", Some(d)) => format!("decision.{d}"),
            (event, _) => event.to_string(),
        }
    }
}

/// Hex SHA-256 of `prev_hash` followed by the canonical JSON of `body` (a record without `hash`).
pub fn chain_hash(prev_hash: &str, body: &Value) -> String {
    let mut text = String::with_capacity(512);
    canonical::write(body, &mut text);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(text.as_bytes());
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    let digit = |n: u8| char::from(DIGITS.get(usize::from(n)).copied().unwrap_or(b'0'));
    for &b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out
}

/// The result of checking a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub ok: bool,
    pub records: usize,
    /// 0-based index of the first broken record.
    pub first_broken: Option<usize>,
    pub first_broken_seq: Option<u64>,
    pub problem: Option<String>,
}

/// What a verifier may know about a chain beyond its records: where it must start and the
/// hash its last record must have. With both, deleting the first or last record is caught.
#[derive(Clone, Debug, Default)]
pub struct Anchor {
    pub first_seq: Option<u64>,
    pub last_hash: Option<String>,
}

/// Verifies records (as JSON) in order. A window that starts after seq 1 is checked from its
/// first record's `prevHash`.
pub fn verify_chain(records: &[Value]) -> ChainReport {
    verify_chain_anchored(records, &Anchor::default())
}

/// `verify_chain`, also checking the first `seq` and the last `hash` against an anchor.
pub fn verify_chain_anchored(records: &[Value], anchor: &Anchor) -> ChainReport {
    let mut report = verify_links(records, anchor.first_seq);
    if report.ok {
        if let Some(want) = &anchor.last_hash {
            let last = records
                .last()
                .and_then(|r| r.get("hash"))
                .and_then(Value::as_str);
            if last != Some(want.as_str()) {
                report = ChainReport {
                    ok: false,
                    records: records.len(),
                    first_broken: Some(records.len().saturating_sub(1)),
                    first_broken_seq: records.last().and_then(|r| r.get("seq")).and_then(Value::as_u64),
                    problem: Some("the chain does not end at the expected head: records are missing at the end".into()),
                };
            }
        }
    }
    report
}

fn verify_links(records: &[Value], first_seq: Option<u64>) -> ChainReport {
    let mut expected_prev: Option<String> = None;
    let mut expected_seq: Option<u64> = first_seq;
    for (i, record) in records.iter().enumerate() {
        let broken = |problem: String| ChainReport {
            ok: false,
            records: records.len(),
            first_broken: Some(i),
            first_broken_seq: record.get("seq").and_then(Value::as_u64),
            problem: Some(problem),
        };
        let Value::Object(map) = record else {
            return broken("the record is not an object".into());
        };
        let Some(seq) = map.get("seq").and_then(Value::as_u64) else {
            return broken("the record has no `seq`".into());
        };
        let Some(prev) = map.get("prevHash").and_then(Value::as_str) else {
            return broken("the record has no `prevHash`".into());
        };
        let Some(hash) = map.get("hash").and_then(Value::as_str) else {
            return broken("the record has no `hash`".into());
        };
        match expected_seq {
            Some(want) if seq != want => {
                return broken(format!("`seq` is {seq}, expected {want}"));
            }
            None if seq == 1 && prev != GENESIS => {
                return broken("the first record's `prevHash` is not 64 zeros".into());
            }
            _ => {}
        }
        if let Some(want) = &expected_prev {
            if prev != want {
                return broken("`prevHash` does not match the previous record's `hash`".into());
            }
        }
        let mut body = map.clone();
        body.remove("hash");
        let computed = chain_hash(prev, &Value::Object(body));
        if computed != hash {
            return broken("`hash` does not match the record's content".into());
        }
        expected_prev = Some(hash.to_string());
        expected_seq = Some(seq + 1);
    }
    ChainReport {
        ok: true,
        records: records.len(),
        first_broken: None,
        first_broken_seq: None,
        problem: None,
    }
}

/// The in-memory log: a bounded window of recent records, chained lazily.
#[derive(Debug)]
pub struct AuditLog {
    records: VecDeque<AuditRecord>,
    /// How many records at the front are already chained.
    chained: usize,
    last_hash: String,
    next_seq: u64,
    capacity: usize,
}

impl AuditLog {
    pub fn new(capacity: usize) -> AuditLog {
        AuditLog {
            records: VecDeque::new(),
            chained: 0,
            last_hash: GENESIS.to_string(),
            next_seq: 1,
            capacity: capacity.max(1),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Appends a record; it is chained later (`chain_pending`), off the hot path.
    pub fn push(&mut self, mut record: AuditRecord) {
        record.seq = self.next_seq;
        self.next_seq += 1;
        if self.records.len() == self.records.capacity() {
            self.grow();
        }
        self.records.push_back(record);
    }

    /// Doubles the ring, but never past the window (`capacity + 1` records, the most it holds
    /// before an eviction). Left to itself, a `VecDeque` doubles to the next power of two: a
    /// 10,000-record window became a ring of 16,384 slots (5.2 MB), every slot written once
    /// per cycle. That is more pages than the TLB holds, and every ~13th decision waited on a
    /// page walk for its slot: the Rust W1 p99 (bench/HOT_PATH.md).
    fn grow(&mut self) {
        let window = self.capacity + 1;
        let len = self.records.len();
        let want = len.saturating_mul(2).max(8).min(window);
        self.records.reserve_exact(want.saturating_sub(len));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Drops the oldest chained records: down to capacity less a sixteenth, so that the
    /// chaining of evicted records is done in batches, not on every verify once full.
    pub fn evict_overflow(&mut self) {
        let keep = self.capacity - self.capacity / 16;
        while self.records.len() > keep && self.chained > 0 {
            self.records.pop_front();
            self.chained -= 1;
        }
    }

    /// Removes every chained record (after a durable sink took them).
    pub fn take(&mut self) -> Vec<AuditRecord> {
        self.chain_pending();
        self.chained = 0;
        self.records.drain(..).collect()
    }

    /// Removes every record, leaving those not yet chained unchained (a store chains them to
    /// its own head). The log's next `seq` restarts from 1: a store assigns its own.
    pub fn take_unchained(&mut self) -> Vec<AuditRecord> {
        self.chained = 0;
        self.next_seq = 1;
        self.last_hash = GENESIS.to_string();
        self.records.drain(..).collect()
    }

    /// Chains every record not yet chained; returns how many were chained now.
    pub fn chain_pending(&mut self) -> usize {
        let start = self.chained;
        let mut scratch = String::with_capacity(512);
        for record in self.records.iter_mut().skip(start) {
            record.chain_to(&self.last_hash, &mut scratch);
            self.last_hash.clone_from(&record.hash);
        }
        self.chained = self.records.len();
        self.chained - start
    }

    /// The last `count` records (those the last `chain_pending` chained).
    pub fn recent(&self, count: usize) -> impl Iterator<Item = &AuditRecord> {
        self.records
            .iter()
            .skip(self.records.len().saturating_sub(count))
    }

    pub fn records(&mut self) -> Vec<AuditRecord> {
        self.chain_pending();
        self.records.iter().cloned().collect()
    }

    pub fn export(&mut self) -> Value {
        self.chain_pending();
        json!({
            "nextSeq": self.next_seq,
            "lastHash": self.last_hash,
            "records": self.records.iter().map(AuditRecord::to_value).collect::<Vec<_>>(),
        })
    }

    /// Restores from `export()` output after checking the chain.
    pub fn restore(value: &Value, capacity: usize) -> Result<AuditLog, String> {
        let next_seq = value
            .get("nextSeq")
            .and_then(Value::as_u64)
            .ok_or("`audit.nextSeq` is missing")?;
        let last_hash = value
            .get("lastHash")
            .and_then(Value::as_str)
            .ok_or("`audit.lastHash` is missing")?;
        let list = value
            .get("records")
            .and_then(Value::as_array)
            .ok_or("`audit.records` is missing")?;
        let report = verify_chain(list);
        if !report.ok {
            return Err(format!(
                "the audit chain in the state is broken at record {}: {}",
                report.first_broken.unwrap_or(0),
                report.problem.unwrap_or_default()
            ));
        }
        let mut records = VecDeque::with_capacity(list.len());
        for v in list {
            records.push_back(
                record_from_value(v).ok_or("an audit record in the state is malformed")?,
            );
        }
        if let Some(last) = records.back() {
            if last.hash != last_hash || last.seq + 1 != next_seq {
                return Err("the audit chain's head does not match its last record".into());
            }
        }
        let mut log = AuditLog {
            chained: records.len(),
            records,
            last_hash: last_hash.to_string(),
            next_seq,
            capacity: capacity.max(1),
        };
        while log.records.len() > log.capacity {
            log.records.pop_front();
            log.chained -= 1;
        }
        Ok(log)
    }
}

fn static_str(v: Option<&str>, allowed: &[&'static str]) -> Option<&'static str> {
    let v = v?;
    allowed.iter().find(|a| **a == v).copied()
}

/// Reads a record back from JSON (state restore).
pub fn record_from_value(v: &Value) -> Option<AuditRecord> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let reasons: Vec<&'static str> = crate::decision::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    Some(AuditRecord {
        seq: v.get("seq")?.as_u64()?,
        time: crate::time::parse_rfc3339(v.get("time")?.as_str()?)?,
        event: static_str(
            v.get("event")?.as_str(),
            &["decision", "approval.granted", "approval.denied"],
        )?,
        request_id: s("requestId").map(|t| Arc::from(t.as_str())),
        agent_id: s("agentId").map(|t| SmolStr::new(t.as_str())),
        action: s("action").map(|t| Arc::from(t.as_str())),
        vendor: s("vendor").map(|t| Arc::from(t.as_str())),
        resource: s("resource").map(|t| Arc::from(t.as_str())),
        params: v
            .get("params")
            .and_then(Value::as_object)
            .cloned()
            .map(AuditParams::Map),
        decision: static_str(
            v.get("decision").and_then(Value::as_str),
            &["allowed", "denied", "approval_required"],
        ),
        reason: static_str(v.get("reason").and_then(Value::as_str), &reasons),
        matched_permission: s("matchedPermission").map(|p| Arc::from(p.as_str())),
        approval_id: s("approvalId"),
        grant_id: s("grantId"),
        operator: v.get("operator").filter(|o| o.is_object()).cloned(),
        prev_hash: s("prevHash")?,
        hash: s("hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_writer_matches_the_canonical_form_of_the_record() {
        let mut params = Map::new();
        params.insert("env".into(), json!("staging"));
        params.insert("amount".into(), json!(0.1));
        params.insert("nested".into(), json!({"b": [1.0, "x\"y"], "a": null}));
        let record = AuditRecord {
            seq: 42,
            time: 1_795_000_000_123,
            event: "decision",
            request_id: Some("req_1".into()),
            agent_id: Some("agent\u{1}".into()),
            action: Some("deploy".into()),
            vendor: None,
            resource: Some("db/prod".into()),
            params: Some(params.into()),
            decision: Some("allowed"),
            reason: Some("allowed"),
            matched_permission: Some(Arc::from("p")),
            approval_id: None,
            grant_id: Some("grt_1".into()),
            operator: None,
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let mut direct = String::new();
        record.write_canonical_body(&mut direct);
        assert_eq!(direct, canonical::to_string(&record.body_value()));
        let mut chained = record.clone();
        chained.chain_to(GENESIS, &mut String::new());
        assert_eq!(chained.hash, chain_hash(GENESIS, &record.body_value()));
        // With its hash: the canonical form of to_value(), what onDecision hands out.
        let mut whole = String::new();
        chained.write_canonical(&mut whole);
        assert_eq!(whole, canonical::to_string(&chained.to_value()));
        assert!(whole.contains(&format!(
            "\"grantId\":\"grt_1\",\"hash\":\"{}\"",
            chained.hash
        )));
        // The values form: the same values, in the canonical form's key order.
        let mut values = String::new();
        assert!(chained.write_values(&mut values));
        let values: Value = serde_json::from_str(&values).unwrap_or(Value::Null);
        let keyed: Value = serde_json::from_str(&whole).unwrap_or(Value::Null);
        let in_key_order: Vec<Value> = keyed
            .as_object()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        assert_eq!(in_key_order.len(), 16);
        assert_eq!(values, Value::Array(in_key_order));
    }

    #[test]
    fn an_operator_is_hashed_in_its_sorted_place_and_only_when_present() {
        let mut record = AuditRecord {
            seq: 7,
            time: 1_795_000_000_000,
            event: "approval.granted",
            request_id: None,
            agent_id: Some("agent_a".into()),
            action: Some("deploy".into()),
            vendor: Some("vercel.com".into()),
            resource: None,
            params: Some(Map::new().into()),
            decision: None,
            reason: None,
            matched_permission: Some(Arc::from("p")),
            approval_id: Some("apr_1".into()),
            grant_id: Some("grt_1".into()),
            operator: None,
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let mut without = String::new();
        record.write_canonical_body(&mut without);
        assert!(!without.contains("operator"));
        record.operator = Some(json!({"name": "alice", "assertion": {"signature": "c2ln"}}));
        let mut with = String::new();
        record.write_canonical_body(&mut with);
        assert_eq!(with, canonical::to_string(&record.body_value()));
        assert!(with.contains("\"matchedPermission\":\"p\",\"operator\":{"));
        let back = record_from_value(&record.to_value());
        assert_eq!(back.and_then(|r| r.operator), record.operator);
        // No values form: a binding hands such a record over in its canonical form.
        let mut values = String::new();
        assert!(!record.write_values(&mut values));
        assert!(values.is_empty());
    }

    #[test]
    fn the_ring_grows_to_the_window_and_no_further() {
        for capacity in [1, 7, 100, 1_000] {
            let mut log = AuditLog::new(capacity);
            let mut most = 0;
            for i in 0..capacity * 5 + 3 {
                log.push(AuditRecord {
                    seq: 0,
                    time: i64::try_from(i).unwrap_or(0),
                    event: "decision",
                    request_id: None,
                    agent_id: None,
                    action: None,
                    vendor: None,
                    resource: None,
                    params: None,
                    decision: Some("denied"),
                    reason: Some("invalid_request"),
                    matched_permission: None,
                    approval_id: None,
                    grant_id: None,
                    operator: None,
                    prev_hash: String::new(),
                    hash: String::new(),
                });
                most = most.max(log.len());
                // As the engine appends: past the window, chain and evict a batch.
                if log.len() > capacity {
                    log.chain_pending();
                    log.evict_overflow();
                }
            }
            assert_eq!(most, capacity + 1);
            assert!(
                log.records.capacity() <= (capacity + 1).max(8),
                "a window of {capacity} grew a ring of {}",
                log.records.capacity()
            );
        }
    }
}
