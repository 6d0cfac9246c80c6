//! A conflict retries the whole step: nothing of the failed attempt is kept (no second audit
//! record, no charge counted twice, no approval opened twice).

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use std::sync::Arc;

use behalf_core::audit::AuditRecord;
use behalf_core::policy::WebhookEndpoint;
use behalf_core::time::Millis;
use behalf_core::{Engine, EngineOptions, Policy, Reason};
use behalf_store::memory::{MemoryStore, MemoryTx};
use behalf_store::{verify_in, Changes, RowKeys, Rows, StateStore, StateTx, StoreError};
use serde_json::json;

/// The memory store, whose `apply` reports a conflict the first `fail` times.
struct Flaky {
    inner: MemoryStore,
    fail: usize,
    attempts: usize,
}

struct FlakyTx<'a, 'b> {
    inner: &'b mut MemoryTx<'a>,
    fail: &'b mut usize,
}

impl StateTx for FlakyTx<'_, '_> {
    fn rows_for(&mut self, p: &Policy, k: &RowKeys, now: Millis) -> Result<Rows, StoreError> {
        self.inner.rows_for(p, k, now)
    }
    fn rows_for_approval(&mut self, p: &Policy, id: &str, now: Millis) -> Result<Rows, StoreError> {
        self.inner.rows_for_approval(p, id, now)
    }
    fn grant(
        &mut self,
        p: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Option<behalf_core::state::Grant>, StoreError> {
        self.inner.grant(p, id, now)
    }
    fn all_rows(&mut self, p: &Policy, now: Millis) -> Result<Rows, StoreError> {
        self.inner.all_rows(p, now)
    }
    fn apply(&mut self, changes: &Changes) -> Result<(), StoreError> {
        self.inner.apply(changes)?;
        if *self.fail > 0 {
            *self.fail -= 1;
            return Err(StoreError::Conflict("serialization failure".into()));
        }
        Ok(())
    }
    fn append_audit(&mut self, r: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.append_audit(r)
    }
    fn enqueue_webhooks(
        &mut self,
        r: &[AuditRecord],
        e: &[WebhookEndpoint],
    ) -> Result<(), StoreError> {
        self.inner.enqueue_webhooks(r, e)
    }
    fn prune(&mut self, now: Millis) -> Result<(), StoreError> {
        self.inner.prune(now)
    }
}

impl Flaky {
    /// Retries on conflict, as a backend's `write` does.
    fn write<T>(
        &mut self,
        policy: &Policy,
        mut step: impl FnMut(&mut FlakyTx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        loop {
            self.attempts += 1;
            let fail = &mut self.fail;
            match self.inner.write(policy, |tx| {
                step(&mut FlakyTx {
                    inner: tx,
                    fail: &mut *fail,
                })
            }) {
                Err(StoreError::Conflict(_)) => continue,
                other => return other,
            }
        }
    }
}

#[test]
fn a_step_retried_after_a_conflict_leaves_one_record_and_one_charge() {
    let policy = Arc::new(
        Policy::from_value(
            &json!({"version": 1, "passports": [{"id": "pp", "agent": "ag",
            "permissions": [{"id": "buy", "action": "buy",
                "limits": {"budget": {"amount": 10, "per": "1d"}}}]}]}),
        )
        .unwrap(),
    );
    let mut engine = Engine::from_shared(policy.clone(), EngineOptions::default());
    let mut store = Flaky {
        inner: MemoryStore::default(),
        fail: 2,
        attempts: 0,
    };
    let buy = json!({"agentId": "ag", "action": "buy", "params": {"amount": 6}});
    let prepared = engine.prepare(&buy);
    let (d, records) = store
        .write(&policy, |tx| verify_in(tx, &mut engine, &prepared, 0))
        .unwrap();
    assert_eq!(d.reason, Reason::Allowed);
    assert_eq!(store.attempts, 3, "two conflicts, then the commit");
    assert_eq!(records.len(), 1);
    assert_eq!(
        store.inner.audit().len(),
        1,
        "one record, not one per attempt"
    );
    // The charge of the failed attempts was not kept: 6 more would exceed 10, 4 fits.
    let prepared = engine.prepare(&buy);
    let (d, _) = store
        .write(&policy, |tx| verify_in(tx, &mut engine, &prepared, 1))
        .unwrap();
    assert_eq!(d.reason, Reason::LimitExceeded);
    let four = engine.prepare(&json!({"agentId": "ag", "action": "buy", "params": {"amount": 4}}));
    let (d, _) = store
        .write(&policy, |tx| verify_in(tx, &mut engine, &four, 2))
        .unwrap();
    assert_eq!(d.reason, Reason::Allowed);
    assert_eq!(
        store
            .inner
            .audit()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}
