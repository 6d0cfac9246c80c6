//! The engine's state: usage for limits, pending approvals, grants. Pruned as time passes so
//! memory stays flat however long the agent runs.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::ids::IdSource;
use crate::number::Decimal;
use crate::policy::{Permission, Policy, Scope};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

pub type Fingerprint = [u8; 32];

/// Whether a permission's limits hold for one more decision.
#[derive(Debug, PartialEq, Eq)]
pub enum LimitCheck {
    Holds,
    Fails(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
}

impl ApprovalStatus {
    fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "denied" => Some(ApprovalStatus::Denied),
            _ => None,
        }
    }
}

/// The request an approval is about (normalized).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldRequest {
    pub agent_id: String,
    pub action: String,
    pub vendor: Option<String>,
    pub resource: Option<String>,
    pub params: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub id: String,
    pub permission: Arc<str>,
    pub fingerprint: Fingerprint,
    pub status: ApprovalStatus,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub decided_at: Option<Millis>,
    pub grant_id: Option<String>,
    pub request: HeldRequest,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub id: String,
    pub approval_id: String,
    pub permission: Arc<str>,
    pub fingerprint: Fingerprint,
    pub scope: Scope,
    pub single_use: bool,
    pub used: bool,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub request: HeldRequest,
}

#[derive(Clone, Debug, Default)]
struct Usage {
    /// (time, amount) of allowed decisions, oldest first.
    entries: VecDeque<(Millis, Decimal)>,
}

impl Usage {
    fn prune(&mut self, now: Millis, window: Millis) {
        while self
            .entries
            .front()
            .is_some_and(|&(t, _)| t + window <= now)
        {
            self.entries.pop_front();
        }
    }

    fn in_window(&self, now: Millis, per: Millis) -> impl Iterator<Item = &(Millis, Decimal)> {
        let start = self.entries.partition_point(|&(t, _)| t + per <= now);
        self.entries.range(start..)
    }
}

/// How long an expired approval is remembered.
const FORGET_AFTER: Millis = 24 * 3600 * 1000;

/// Sweep expired entries every this many calls.
const SWEEP_EVERY: u32 = 1024;

#[derive(Clone, Debug, Default)]
pub struct State {
    approvals: HashMap<String, Approval>,
    /// The pending or denied approval of each (fingerprint, permission).
    open: HashMap<(Fingerprint, Arc<str>), String>,
    grants: HashMap<Arc<str>, Vec<Grant>>,
    usage: HashMap<Arc<str>, Usage>,
    calls: u32,
}

impl State {
    /// Called once per decision: prunes everything expired now and then.
    pub fn tick(&mut self, now: Millis, policy: &Policy) {
        self.calls = self.calls.wrapping_add(1);
        if self.calls % SWEEP_EVERY == 0 {
            self.sweep(now, policy);
        }
    }

    pub fn sweep(&mut self, now: Millis, policy: &Policy) {
        // Decided and expired approvals are kept a day longer, so that approving one late
        // says `approval_expired` rather than `approval_not_found`.
        self.approvals
            .retain(|_, a| now < a.expires_at.saturating_add(FORGET_AFTER));
        let approvals = &self.approvals;
        self.open
            .retain(|_, id| approvals.get(id).is_some_and(|a| now < a.expires_at));
        for list in self.grants.values_mut() {
            list.retain(|g| now < g.expires_at && !(g.single_use && g.used));
        }
        self.grants.retain(|_, list| !list.is_empty());
        self.usage.retain(|permission, usage| {
            let window = policy
                .permission(permission)
                .and_then(|(_, p)| p.limits.as_ref())
                .map_or(0, |l| l.window());
            usage.prune(now, window);
            !usage.entries.is_empty()
        });
    }

    // --- limits -------------------------------------------------------------------------

    pub fn check_limits(
        &mut self,
        p: &Permission,
        amount: Option<Decimal>,
        now: Millis,
    ) -> LimitCheck {
        let Some(limits) = &p.limits else {
            return LimitCheck::Holds;
        };
        if limits.needs_amount() && amount.is_none() {
            return LimitCheck::Fails("the request has no `amount` for this permission's limits");
        }
        let amount = amount.unwrap_or(Decimal::ZERO);
        if limits.max_amount.is_some_and(|max| amount > max) {
            return LimitCheck::Fails("`amount` is above maxAmount");
        }
        if limits.budget.is_none() && limits.rate.is_none() {
            return LimitCheck::Holds;
        }
        let usage = self.usage.entry(p.id.clone()).or_default();
        usage.prune(now, limits.window());
        if let Some((budget, per)) = limits.budget {
            let spent = usage
                .in_window(now, per)
                .try_fold(Decimal::ZERO, |sum, &(_, a)| sum.checked_add(a));
            match spent.and_then(|s| s.checked_add(amount)) {
                Some(total) if total <= budget => {}
                _ => return LimitCheck::Fails("the budget for this window is spent"),
            }
        }
        if let Some((count, per)) = limits.rate {
            if usage.in_window(now, per).count() as u64 >= count {
                return LimitCheck::Fails("the rate limit for this window is reached");
            }
        }
        LimitCheck::Holds
    }

    /// Records an allowed decision against a permission's budget and rate.
    pub fn charge(&mut self, p: &Permission, amount: Option<Decimal>, now: Millis) {
        let Some(limits) = &p.limits else { return };
        if limits.budget.is_none() && limits.rate.is_none() {
            return;
        }
        let usage = self.usage.entry(p.id.clone()).or_default();
        let at = usage.entries.partition_point(|&(t, _)| t <= now);
        usage
            .entries
            .insert(at, (now, amount.unwrap_or(Decimal::ZERO)));
    }

    // --- approvals ------------------------------------------------------------------------

    fn open_approval(
        &self,
        fp: &Fingerprint,
        permission: &Arc<str>,
        now: Millis,
    ) -> Option<&Approval> {
        let id = self.open.get(&(*fp, permission.clone()))?;
        self.approvals.get(id).filter(|a| now < a.expires_at)
    }

    /// The id of a denial of this request under `permission` that still stands.
    pub fn denial(&self, fp: &Fingerprint, permission: &Arc<str>, now: Millis) -> Option<String> {
        self.open_approval(fp, permission, now)
            .filter(|a| a.status == ApprovalStatus::Denied)
            .map(|a| a.id.clone())
    }

    /// The grant covering this request under `p`, spent if single-use: (id, expiresAt).
    pub fn use_grant(
        &mut self,
        fp: &Fingerprint,
        p: &Permission,
        now: Millis,
    ) -> Option<(String, Millis)> {
        let list = self.grants.get_mut(&p.id)?;
        let grant = list.iter_mut().find(|g| {
            now < g.expires_at
                && !(g.single_use && g.used)
                && (g.scope == Scope::Permission || g.fingerprint == *fp)
        })?;
        grant.used = true;
        Some((grant.id.clone(), grant.expires_at))
    }

    /// The pending approval for this request and permission, opened if there is none.
    pub fn hold(
        &mut self,
        fp: Fingerprint,
        p: &Permission,
        request: HeldRequest,
        now: Millis,
        ids: &mut IdSource,
    ) -> Result<String, ApiError> {
        if let Some(a) = self.open_approval(&fp, &p.id, now) {
            if a.status == ApprovalStatus::Pending {
                return Ok(a.id.clone());
            }
        }
        let id = ids.make("apr_").map_err(|_| ApiError::no_randomness())?;
        let approval = Approval {
            id: id.clone(),
            permission: p.id.clone(),
            fingerprint: fp,
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now.saturating_add(p.approval.pending_ttl),
            decided_at: None,
            grant_id: None,
            request,
        };
        self.open.insert((fp, p.id.clone()), id.clone());
        self.approvals.insert(id.clone(), approval);
        Ok(id)
    }

    fn decidable(&mut self, id: &str, now: Millis) -> Result<&mut Approval, ApiError> {
        let approval = self.approvals.get_mut(id).ok_or_else(|| {
            ApiError::new(
                "approval_not_found",
                format!("no approval `{id}`"),
                "list pending approvals to find the id",
            )
        })?;
        if now >= approval.expires_at {
            return Err(ApiError::new(
                "approval_expired",
                format!(
                    "approval `{id}` expired at {}",
                    format_rfc3339(approval.expires_at)
                ),
                "ask the agent to retry; a new approval will be opened",
            ));
        }
        if approval.status != ApprovalStatus::Pending {
            return Err(ApiError::new(
                "approval_already_decided",
                format!(
                    "approval `{id}` was already {}",
                    if approval.status == ApprovalStatus::Approved {
                        "approved"
                    } else {
                        "denied"
                    }
                ),
                "an approval is decided once",
            ));
        }
        Ok(approval)
    }

    /// Approves a pending approval: a grant from `now` for `ttl` or the permission's grantTtl.
    pub fn approve(
        &mut self,
        policy: &Policy,
        id: &str,
        ttl: Option<Millis>,
        now: Millis,
        ids: &mut IdSource,
    ) -> Result<(Approval, Grant), ApiError> {
        if ttl.is_some_and(|t| t <= 0) {
            return Err(ApiError::new(
                "bad_duration",
                "the grant ttl must be positive".into(),
                "write a duration like `30m`",
            ));
        }
        let permission_id = self.approvals.get(id).map(|a| a.permission.clone());
        let settings = permission_id
            .as_ref()
            .and_then(|p| policy.permission(p))
            .map(|(_, p)| p.approval.clone())
            .unwrap_or_default();
        let grant_id = ids.make("grt_").map_err(|_| ApiError::no_randomness())?;
        let approval = self.decidable(id, now)?;
        approval.status = ApprovalStatus::Approved;
        approval.decided_at = Some(now);
        approval.grant_id = Some(grant_id.clone());
        let approval = approval.clone();
        let grant = Grant {
            id: grant_id,
            approval_id: approval.id.clone(),
            permission: approval.permission.clone(),
            fingerprint: approval.fingerprint,
            scope: settings.scope,
            single_use: settings.single_use,
            used: false,
            created_at: now,
            expires_at: now.saturating_add(ttl.unwrap_or(settings.grant_ttl)),
            request: approval.request.clone(),
        };
        self.open
            .remove(&(approval.fingerprint, approval.permission.clone()));
        self.grants
            .entry(grant.permission.clone())
            .or_default()
            .push(grant.clone());
        Ok((approval, grant))
    }

    /// Denies a pending approval: the same request is `approval_denied` until it expires.
    pub fn deny(&mut self, id: &str, now: Millis) -> Result<Approval, ApiError> {
        let approval = self.decidable(id, now)?;
        approval.status = ApprovalStatus::Denied;
        approval.decided_at = Some(now);
        Ok(approval.clone())
    }

    pub fn pending(&self, now: Millis) -> Vec<Approval> {
        let mut list: Vec<Approval> = self
            .approvals
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending && now < a.expires_at)
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    pub fn active_grants(&self, now: Millis) -> Vec<Grant> {
        let mut list: Vec<Grant> = self
            .grants
            .values()
            .flatten()
            .filter(|g| now < g.expires_at && !(g.single_use && g.used))
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    // --- export and restore ------------------------------------------------------------------

    pub fn export(&self) -> Value {
        let mut approvals: Vec<&Approval> = self.approvals.values().collect();
        approvals.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut grants: Vec<&Grant> = self.grants.values().flatten().collect();
        grants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut usage: Vec<(&Arc<str>, &Usage)> = self.usage.iter().collect();
        usage.sort_by(|a, b| a.0.cmp(b.0));
        json!({
            "approvals": approvals.iter().map(|a| approval_value(a)).collect::<Vec<_>>(),
            "grants": grants.iter().map(|g| grant_value(g)).collect::<Vec<_>>(),
            "usage": usage.iter().map(|(p, u)| json!({
                "permission": &***p,
                "entries": u.entries.iter().map(|(t, a)| json!([format_rfc3339(*t), a.to_string()])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn restore(value: &Value, policy: &Policy) -> Result<State, String> {
        let mut state = State::default();
        let list = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("`{key}` is missing"))
        };
        let known = |v: &Value| {
            v.get("permission")
                .and_then(Value::as_str)
                .is_some_and(|p| policy.permission(p).is_some())
        };
        // Entries of permissions the policy no longer has are dropped: they can match nothing.
        for (i, a) in list("approvals")?
            .iter()
            .enumerate()
            .filter(|(_, v)| known(v))
        {
            let a =
                approval_from(a, policy).ok_or_else(|| format!("approvals[{i}] is malformed"))?;
            if a.status != ApprovalStatus::Approved {
                state
                    .open
                    .insert((a.fingerprint, a.permission.clone()), a.id.clone());
            }
            state.approvals.insert(a.id.clone(), a);
        }
        for (i, g) in list("grants")?.iter().enumerate().filter(|(_, v)| known(v)) {
            let g = grant_from(g, policy).ok_or_else(|| format!("grants[{i}] is malformed"))?;
            state
                .grants
                .entry(g.permission.clone())
                .or_default()
                .push(g);
        }
        for (i, u) in list("usage")?.iter().enumerate() {
            let bad = || format!("usage[{i}] is malformed");
            let permission = u
                .get("permission")
                .and_then(Value::as_str)
                .ok_or_else(bad)?;
            let Some((_, p)) = policy.permission(permission) else {
                continue;
            };
            let mut usage = Usage::default();
            for e in u.get("entries").and_then(Value::as_array).ok_or_else(bad)? {
                let t = e
                    .get(0)
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339)
                    .ok_or_else(bad)?;
                let a = e
                    .get(1)
                    .and_then(Value::as_str)
                    .and_then(|s| Decimal::parse(s).ok())
                    .ok_or_else(bad)?;
                usage.entries.push_back((t, a));
            }
            usage.entries.make_contiguous().sort_by_key(|&(t, _)| t);
            state.usage.insert(p.id.clone(), usage);
        }
        Ok(state)
    }
}

pub fn held_value(r: &HeldRequest) -> Value {
    json!({
        "agentId": r.agent_id,
        "action": r.action,
        "vendor": r.vendor,
        "resource": r.resource,
        "params": r.params,
    })
}

fn held_from(v: &Value) -> Option<HeldRequest> {
    Some(HeldRequest {
        agent_id: v.get("agentId")?.as_str()?.to_string(),
        action: v.get("action")?.as_str()?.to_string(),
        vendor: v.get("vendor").and_then(Value::as_str).map(str::to_string),
        resource: v
            .get("resource")
            .and_then(Value::as_str)
            .map(str::to_string),
        params: v
            .get("params")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

fn fingerprint_from(v: Option<&Value>) -> Option<Fingerprint> {
    let text = v?.as_str()?;
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn time_from(v: Option<&Value>) -> Option<Millis> {
    parse_rfc3339(v?.as_str()?)
}

pub fn approval_value(a: &Approval) -> Value {
    json!({
        "approvalId": a.id,
        "permission": &*a.permission,
        "fingerprint": crate::audit::hex(&a.fingerprint),
        "status": a.status,
        "createdAt": format_rfc3339(a.created_at),
        "expiresAt": format_rfc3339(a.expires_at),
        "decidedAt": a.decided_at.map(format_rfc3339),
        "grantId": a.grant_id,
        "request": held_value(&a.request),
    })
}

fn approval_from(v: &Value, policy: &Policy) -> Option<Approval> {
    let (_, p) = policy.permission(v.get("permission")?.as_str()?)?;
    Some(Approval {
        id: v.get("approvalId")?.as_str()?.to_string(),
        permission: p.id.clone(),
        fingerprint: fingerprint_from(v.get("fingerprint"))?,
        status: ApprovalStatus::parse(v.get("status")?.as_str()?)?,
        created_at: time_from(v.get("createdAt"))?,
        expires_at: time_from(v.get("expiresAt"))?,
        decided_at: time_from(v.get("decidedAt")),
        grant_id: v.get("grantId").and_then(Value::as_str).map(str::to_string),
        request: held_from(v.get("request")?)?,
    })
}

pub fn grant_value(g: &Grant) -> Value {
    json!({
        "grantId": g.id,
        "approvalId": g.approval_id,
        "permission": &*g.permission,
        "fingerprint": crate::audit::hex(&g.fingerprint),
        "scope": if g.scope == Scope::Permission { "permission" } else { "request" },
        "singleUse": g.single_use,
        "used": g.used,
        "createdAt": format_rfc3339(g.created_at),
        "expiresAt": format_rfc3339(g.expires_at),
        "request": held_value(&g.request),
    })
}

fn grant_from(v: &Value, policy: &Policy) -> Option<Grant> {
    let (_, p) = policy.permission(v.get("permission")?.as_str()?)?;
    Some(Grant {
        id: v.get("grantId")?.as_str()?.to_string(),
        approval_id: v.get("approvalId")?.as_str()?.to_string(),
        permission: p.id.clone(),
        fingerprint: fingerprint_from(v.get("fingerprint"))?,
        scope: if v.get("scope")?.as_str()? == "permission" {
            Scope::Permission
        } else {
            Scope::Request
        },
        single_use: v.get("singleUse")?.as_bool()?,
        used: v.get("used")?.as_bool()?,
        created_at: time_from(v.get("createdAt"))?,
        expires_at: time_from(v.get("expiresAt"))?,
        request: held_from(v.get("request")?)?,
    })
}
