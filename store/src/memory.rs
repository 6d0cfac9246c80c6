//! The in-memory reference backend: the same interface, answered by scanning plain maps.
//! It is what the shared backend suite (`tests/backends.rs`) checks every backend against;
//! a transaction works on a copy that replaces the store only when the step succeeds.
//! (The bindings keep their state in the core's own `State`, indexed for flat cost.)

use std::collections::BTreeMap;
use std::sync::Arc;

use behalf_core::audit::{AuditRecord, GENESIS};
use behalf_core::policy::{Policy, Scope, WebhookEndpoint};
use behalf_core::state::{
    Approval, ApprovalStatus, Changes, Grant, PendingCounts, RowKeys, Rows, Usage, FORGET_AFTER,
};
use behalf_core::time::Millis;

use crate::{AgentKey, AgentKeys, StateStore, StateTx, StoreError};

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    approvals: BTreeMap<String, Approval>,
    grants: BTreeMap<String, Grant>,
    usage: BTreeMap<Arc<str>, Usage>,
    audit: Vec<AuditRecord>,
    /// (endpoint, message id, event type) of every queued webhook event.
    outbox: Vec<(String, String, String)>,
    /// (hash, key) of every agent key, in the order they were made.
    agent_keys: Vec<(String, AgentKey)>,
}

impl MemoryStore {
    pub fn audit(&self) -> &[AuditRecord] {
        &self.audit
    }

    pub fn outbox(&self) -> &[(String, String, String)] {
        &self.outbox
    }

    pub fn approval_rows(&self) -> usize {
        self.approvals.len()
    }

    pub fn grant_rows(&self) -> usize {
        self.grants.len()
    }
}

pub struct MemoryTx<'a> {
    data: &'a mut MemoryStore,
}

impl StateStore for MemoryStore {
    type Tx<'a> = MemoryTx<'a>;

    fn write<T, F>(&mut self, _policy: &Policy, mut step: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut MemoryTx<'_>) -> Result<T, StoreError>,
    {
        let mut copy = self.clone();
        let out = step(&mut MemoryTx { data: &mut copy })?;
        *self = copy;
        Ok(out)
    }
}

impl AgentKeys for MemoryStore {
    fn create_agent_key(&mut self, key: &AgentKey, hash: &str) -> Result<(), StoreError> {
        if self
            .agent_keys
            .iter()
            .any(|(h, k)| h == hash || k.key_id == key.key_id)
        {
            return Err(StoreError::Fault("this agent key is already stored".into()));
        }
        self.agent_keys.push((hash.to_string(), key.clone()));
        Ok(())
    }

    fn agent_keys(&mut self) -> Result<Vec<AgentKey>, StoreError> {
        Ok(self.agent_keys.iter().map(|(_, k)| k.clone()).collect())
    }

    fn revoke_agent_key(&mut self, key_id: &str, now: Millis) -> Result<bool, StoreError> {
        let mut found = false;
        for (_, k) in self
            .agent_keys
            .iter_mut()
            .filter(|(_, k)| k.key_id == key_id)
        {
            k.revoked_at = k.revoked_at.or(Some(now));
            found = true;
        }
        Ok(found)
    }

    fn agent_key_by_hash(&mut self, hash: &str) -> Result<Option<AgentKey>, StoreError> {
        Ok(self
            .agent_keys
            .iter()
            .find(|(h, _)| h == hash)
            .map(|(_, k)| k.clone()))
    }
}

fn known(policy: &Policy, permission: &str) -> bool {
    policy.permission(permission).is_some()
}

fn pending(data: &MemoryStore, now: Millis, of: impl Fn(&Approval) -> bool) -> usize {
    data.approvals
        .values()
        .filter(|a| a.status == ApprovalStatus::Pending && a.expires_at > now && of(a))
        .count()
}

impl StateTx for MemoryTx<'_> {
    fn rows_for(
        &mut self,
        policy: &Policy,
        keys: &RowKeys,
        now: Millis,
    ) -> Result<Rows, StoreError> {
        let mut rows = Rows::default();
        for p in &keys.usage {
            if let Some(u) = self.data.usage.get(p) {
                rows.usage.push((p.clone(), u.clone()));
            }
        }
        let mut approvals: Vec<Approval> = self
            .data
            .approvals
            .values()
            .filter(|a| {
                a.fingerprint == keys.fingerprint
                    && keys.approval.contains(&a.permission)
                    && a.status != ApprovalStatus::Approved
                    && a.expires_at > now
                    && known(policy, &a.permission)
            })
            .cloned()
            .collect();
        approvals.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        rows.approvals = approvals;
        let mut grants: Vec<Grant> = self
            .data
            .grants
            .values()
            .filter(|g| {
                keys.approval.contains(&g.permission)
                    && g.expires_at > now
                    && (g.scope == Scope::Permission || g.fingerprint == keys.fingerprint)
            })
            .cloned()
            .collect();
        grants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        rows.grants = grants;
        if !keys.approval.is_empty() {
            rows.pending = Some(PendingCounts {
                by_passport: vec![(
                    keys.passport.clone(),
                    pending(self.data, now, |a| a.passport == keys.passport),
                )],
                by_permission: keys
                    .approval
                    .iter()
                    .map(|p| (p.clone(), pending(self.data, now, |a| a.permission == *p)))
                    .collect(),
            });
        }
        Ok(rows)
    }

    fn rows_for_approval(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Rows, StoreError> {
        let found = self
            .data
            .approvals
            .get(id)
            .filter(|a| now < a.expires_at.saturating_add(FORGET_AFTER))
            .filter(|a| known(policy, &a.permission))
            .cloned();
        let pending = match &found {
            Some(a) => PendingCounts {
                by_passport: vec![(
                    a.passport.clone(),
                    pending(self.data, now, |x| x.passport == a.passport),
                )],
                by_permission: vec![(
                    a.permission.clone(),
                    pending(self.data, now, |x| x.permission == a.permission),
                )],
            },
            None => PendingCounts::default(),
        };
        Ok(Rows {
            approvals: found.into_iter().collect(),
            pending: Some(pending),
            ..Rows::default()
        })
    }

    fn grant(
        &mut self,
        policy: &Policy,
        id: &str,
        now: Millis,
    ) -> Result<Option<Grant>, StoreError> {
        Ok(self
            .data
            .grants
            .get(id)
            .filter(|g| now < g.expires_at && known(policy, &g.permission))
            .cloned())
    }

    fn all_rows(&mut self, policy: &Policy, now: Millis) -> Result<Rows, StoreError> {
        Ok(Rows {
            approvals: self
                .data
                .approvals
                .values()
                .filter(|a| now < a.expires_at.saturating_add(FORGET_AFTER))
                .filter(|a| known(policy, &a.permission))
                .cloned()
                .collect(),
            grants: self
                .data
                .grants
                .values()
                .filter(|g| now < g.expires_at && known(policy, &g.permission))
                .cloned()
                .collect(),
            usage: self
                .data
                .usage
                .iter()
                .filter(|(p, _)| known(policy, p))
                .map(|(p, u)| (p.clone(), u.clone()))
                .collect(),
            pending: None,
        })
    }

    fn apply(&mut self, changes: &Changes) -> Result<(), StoreError> {
        for a in &changes.approvals {
            self.data.approvals.insert(a.id.clone(), a.clone());
        }
        for g in &changes.grants {
            self.data.grants.insert(g.id.clone(), g.clone());
        }
        for id in &changes.grants_removed {
            self.data.grants.remove(id);
        }
        for (p, u) in &changes.usage {
            self.data.usage.insert(p.clone(), u.clone());
        }
        Ok(())
    }

    fn append_audit(&mut self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, StoreError> {
        let mut prev = self
            .data
            .audit
            .last()
            .map_or_else(|| GENESIS.to_string(), |r| r.hash.clone());
        let mut seq = self.data.audit.last().map_or(0, |r| r.seq);
        let mut scratch = String::new();
        let mut out = Vec::with_capacity(records.len());
        for mut r in records {
            seq += 1;
            r.seq = seq;
            r.chain_to(&prev, &mut scratch);
            prev.clone_from(&r.hash);
            self.data.audit.push(r.clone());
            out.push(r);
        }
        Ok(out)
    }

    fn enqueue_webhooks(
        &mut self,
        records: &[AuditRecord],
        endpoints: &[WebhookEndpoint],
    ) -> Result<(), StoreError> {
        for r in records {
            let event_type = r.event_type();
            let id = behalf_core::webhook::message_id(r);
            for w in endpoints.iter().filter(|w| w.wants(&event_type)) {
                let entry = (w.id.clone(), id.clone(), event_type.clone());
                if !self.data.outbox.contains(&entry) {
                    self.data.outbox.push(entry);
                }
            }
        }
        Ok(())
    }

    fn prune(&mut self, now: Millis) -> Result<(), StoreError> {
        self.data
            .approvals
            .retain(|_, a| now < a.expires_at.saturating_add(FORGET_AFTER));
        self.data.grants.retain(|_, g| now < g.expires_at);
        Ok(())
    }
}
