//! The engine's state: usage for limits, pending approvals, grants. Bounded, and pruned as
//! time passes through expiry-ordered indexes, so memory stays flat however long the agent
//! runs and no decision scans the whole state.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::ids::IdSource;
use crate::number::Decimal;
use crate::policy::{Passport, Permission, Policy, Scope};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

pub type Fingerprint = [u8; 32];

/// Most time buckets a permission's usage keeps (DESIGN: "at most 64 per window").
pub const MAX_BUCKETS: usize = 64;

/// Most pending approvals a passport holds at once; `approval.maxPending` may lower it per
/// permission.
pub const MAX_PENDING_PER_PASSPORT: usize = 1_000;

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

/// Serializers for the typed rows: times as RFC 3339, fingerprints as hex, shared strings.
mod ser {
    use std::sync::Arc;

    use serde::Serializer;

    use crate::policy::Scope;
    use crate::time::{format_rfc3339, Millis};

    pub fn time<S: Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(*t))
    }

    pub fn opt_time<S: Serializer>(t: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&format_rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn hex<S: Serializer>(fp: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::audit::hex(fp))
    }

    pub fn shared<S: Serializer>(text: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(text)
    }

    pub fn scope<S: Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match scope {
            Scope::Permission => "permission",
            Scope::Request => "request",
        })
    }
}

/// The request an approval is about (normalized).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldRequest {
    pub agent_id: String,
    pub action: String,
    pub vendor: Option<String>,
    pub resource: Option<String>,
    pub params: Map<String, Value>,
}

/// An approval, serialized as `pendingApprovals()` and the exported state show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    #[serde(rename = "approvalId")]
    pub id: String,
    #[serde(serialize_with = "ser::shared")]
    pub permission: Arc<str>,
    /// The passport of `permission` (not exported: the policy says it).
    #[serde(skip)]
    pub passport: Arc<str>,
    #[serde(serialize_with = "ser::hex")]
    pub fingerprint: Fingerprint,
    pub status: ApprovalStatus,
    #[serde(serialize_with = "ser::time")]
    pub created_at: Millis,
    #[serde(serialize_with = "ser::time")]
    pub expires_at: Millis,
    #[serde(serialize_with = "ser::opt_time")]
    pub decided_at: Option<Millis>,
    pub grant_id: Option<String>,
    pub request: HeldRequest,
}

/// A grant, serialized as `grants()` and the exported state show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    #[serde(rename = "grantId")]
    pub id: String,
    pub approval_id: String,
    #[serde(serialize_with = "ser::shared")]
    pub permission: Arc<str>,
    #[serde(serialize_with = "ser::hex")]
    pub fingerprint: Fingerprint,
    #[serde(serialize_with = "ser::scope")]
    pub scope: Scope,
    pub single_use: bool,
    pub used: bool,
    #[serde(serialize_with = "ser::time")]
    pub created_at: Millis,
    #[serde(serialize_with = "ser::time")]
    pub expires_at: Millis,
    pub request: HeldRequest,
}

/// The charges of one time bucket: bucket number `index` = time / width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageBucket {
    pub index: i64,
    /// The latest charge in the bucket: the whole bucket counts until this time + per, so no
    /// charge in it is released before its own exact window ends.
    pub last_at: Millis,
    pub amount: Decimal,
    pub count: u64,
}

/// The width of a permission's usage buckets: a 63rd of its longest window, rounded up, so
/// the buckets a window can touch are at most 64.
pub fn bucket_width(window: Millis) -> Millis {
    (window.max(1) + 62) / 63
}

/// A permission's usage: at most [`MAX_BUCKETS`] buckets, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    buckets: VecDeque<UsageBucket>,
}

impl Usage {
    pub fn buckets(&self) -> impl Iterator<Item = &UsageBucket> {
        self.buckets.iter()
    }

    /// Drops buckets whose every charge has left the window.
    fn prune(&mut self, now: Millis, window: Millis) {
        while self
            .buckets
            .front()
            .is_some_and(|b| b.last_at.saturating_add(window) <= now)
        {
            self.buckets.pop_front();
        }
    }

    /// The buckets that still count in a window of `per` (`last_at` never decreases along
    /// the list, so this is a binary search).
    fn in_window(&self, now: Millis, per: Millis) -> impl Iterator<Item = &UsageBucket> {
        let start = self
            .buckets
            .partition_point(|b| b.last_at.saturating_add(per) <= now);
        self.buckets.range(start..)
    }

    /// Sum of amounts and number of charges that count now in a window of `per`.
    pub fn spent(&self, now: Millis, per: Millis) -> (Decimal, u64) {
        self.in_window(now, per)
            .fold((Decimal::ZERO, 0), |(sum, n), b| {
                (sum.saturating_add(b.amount), n.saturating_add(b.count))
            })
    }

    /// Adds `count` charges of `amount` in total at `at`.
    fn add(&mut self, at: Millis, amount: Decimal, count: u64, window: Millis) {
        let index = at.div_euclid(bucket_width(window));
        match self.buckets.back_mut() {
            // A charge at or before the newest bucket joins it: it counts at least as long.
            Some(last) if last.index >= index => {
                last.amount = last.amount.saturating_add(amount);
                last.count = last.count.saturating_add(count);
                last.last_at = last.last_at.max(at);
            }
            _ => self.buckets.push_back(UsageBucket {
                index,
                last_at: at,
                amount,
                count,
            }),
        }
        // Only reachable when time moved backwards or the policy's window shrank: merging
        // the two oldest keeps every charge counted, for as long as the later of them.
        while self.buckets.len() > MAX_BUCKETS {
            if let (Some(a), Some(b)) = (self.buckets.pop_front(), self.buckets.front_mut()) {
                b.amount = b.amount.saturating_add(a.amount);
                b.count = b.count.saturating_add(a.count);
                b.last_at = b.last_at.max(a.last_at);
            }
        }
    }
}

/// Whether a request held for approval may open a new approval.
#[derive(Debug, PartialEq, Eq)]
pub enum Room {
    /// A pending approval for this request and permission exists: it is reused.
    Reuse(String),
    /// A new approval may be opened.
    Open,
    /// The passport or the permission holds as many pending approvals as it may.
    Full(&'static str),
}

/// How long an expired approval is remembered.
pub const FORGET_AFTER: Millis = 24 * 3600 * 1000;

/// What a decision may read, so that a store loads only those rows: the passport's
/// permissions that could match the request, and the request's fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowKeys {
    pub passport: Arc<str>,
    /// Candidate permissions with a budget or a rate: their usage rows.
    pub usage: Vec<Arc<str>>,
    /// Candidate permissions that can hold a request for approval: their open approvals and
    /// live grants for `fingerprint`, their permission-scoped grants, their pending counts.
    pub approval: Vec<Arc<str>>,
    pub fingerprint: Fingerprint,
}

/// The state rows a store loaded for one step.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub approvals: Vec<Approval>,
    pub grants: Vec<Grant>,
    pub usage: Vec<(Arc<str>, Usage)>,
    /// The store's counts of pending, unexpired approvals per passport and per permission.
    /// `None`: count the loaded approvals instead (when every row was loaded).
    pub pending: Option<PendingCounts>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingCounts {
    pub by_passport: Vec<(Arc<str>, usize)>,
    pub by_permission: Vec<(Arc<str>, usize)>,
}

/// What one step changed, row by row: what a store writes back in the same transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Approvals opened or decided (the whole row).
    pub approvals: Vec<Approval>,
    /// Grants opened or used (the whole row).
    pub grants: Vec<Grant>,
    /// Spent single-use grants: their rows go.
    pub grants_removed: Vec<String>,
    /// The whole usage row (at most 64 buckets) of each permission charged.
    pub usage: Vec<(Arc<str>, Usage)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.approvals.is_empty()
            && self.grants.is_empty()
            && self.grants_removed.is_empty()
            && self.usage.is_empty()
    }
}

/// The keys changed since the state was loaded from rows.
#[derive(Clone, Debug, Default)]
struct Journal {
    approvals: Vec<String>,
    grants: Vec<String>,
    usage: Vec<Arc<str>>,
}

#[derive(Clone, Debug, Default)]
pub struct State {
    approvals: HashMap<String, Approval>,
    /// The pending or denied approval of each (fingerprint, permission).
    open: HashMap<(Fingerprint, Arc<str>), String>,
    /// (expiresAt, id) of every remembered approval: it stops being open at expiresAt.
    expiring: BTreeSet<(Millis, String)>,
    /// (forgetAt, id) of approvals past their expiresAt, forgotten at forgetAt.
    forgetting: BTreeSet<(Millis, String)>,
    pending_by_passport: HashMap<Arc<str>, usize>,
    pending_by_permission: HashMap<Arc<str>, usize>,
    grants: HashMap<String, Grant>,
    /// Live request-scoped grants by (fingerprint, permission), oldest first.
    grants_by_request: HashMap<(Fingerprint, Arc<str>), Vec<String>>,
    /// Live permission-scoped grants by permission, oldest first.
    grants_by_permission: HashMap<Arc<str>, Vec<String>>,
    /// (expiresAt, id) of every live grant.
    grant_expiry: BTreeSet<(Millis, String)>,
    usage: HashMap<Arc<str>, Usage>,
    /// Only for state loaded from rows: what changed, for the store to write back.
    journal: Option<Journal>,
}

fn decrement(counts: &mut HashMap<Arc<str>, usize>, key: &Arc<str>) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl State {
    /// A state holding the rows a store loaded, recording what changes from here on.
    pub fn from_rows(rows: Rows) -> State {
        let mut state = State::default();
        for a in rows.approvals {
            state.insert_approval(a);
        }
        for g in rows.grants {
            state.insert_grant(g);
        }
        state.usage.extend(rows.usage);
        if let Some(counts) = rows.pending {
            state.pending_by_passport = counts.by_passport.into_iter().collect();
            state.pending_by_permission = counts.by_permission.into_iter().collect();
        }
        state.journal = Some(Journal::default());
        state
    }

    /// The rows changed since `from_rows`, once (empty for a state not loaded from rows).
    pub fn take_changes(&mut self) -> Changes {
        let Some(journal) = self.journal.as_mut().map(std::mem::take) else {
            return Changes::default();
        };
        let mut out = Changes::default();
        let mut seen = std::collections::HashSet::new();
        for id in journal.approvals {
            if seen.insert(id.clone()) {
                if let Some(a) = self.approvals.get(&id) {
                    out.approvals.push(a.clone());
                }
            }
        }
        for id in journal.grants {
            if seen.insert(id.clone()) {
                match self.grants.get(&id) {
                    Some(g) => out.grants.push(g.clone()),
                    None => out.grants_removed.push(id),
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in journal.usage {
            if seen.insert(p.clone()) {
                if let Some(u) = self.usage.get(&p) {
                    out.usage.push((p, u.clone()));
                }
            }
        }
        out
    }

    fn touched(&mut self, what: impl FnOnce(&mut Journal)) {
        if let Some(j) = self.journal.as_mut() {
            what(j);
        }
    }

    /// Called once per decision and per approval: forgets what expired by `now`. Each
    /// expired entry is visited once, in expiry order; nothing else is looked at.
    pub fn tick(&mut self, now: Millis) {
        while let Some((at, id)) = self.expiring.first().cloned() {
            if now < at {
                break;
            }
            self.expiring.pop_first();
            self.close(&id);
            self.forgetting
                .insert((at.saturating_add(FORGET_AFTER), id));
        }
        while let Some((at, id)) = self.forgetting.first().cloned() {
            if now < at {
                break;
            }
            self.forgetting.pop_first();
            // Decided and expired approvals were kept a day longer, so that approving one
            // late says `approval_expired` rather than `approval_not_found`.
            self.approvals.remove(&id);
        }
        while let Some((at, id)) = self.grant_expiry.first().cloned() {
            if now < at {
                break;
            }
            self.grant_expiry.pop_first();
            self.drop_grant(&id);
        }
    }

    /// An approval stops being open: it no longer counts as pending or denied.
    /// Idempotent: only the approval the open index points to is counted, once.
    fn close(&mut self, id: &str) {
        let Some(a) = self.approvals.get(id) else {
            return;
        };
        let key = (a.fingerprint, a.permission.clone());
        if self.open.get(&key).is_some_and(|open| open == id) {
            self.open.remove(&key);
            if a.status == ApprovalStatus::Pending {
                decrement(&mut self.pending_by_passport, &a.passport);
                decrement(&mut self.pending_by_permission, &a.permission);
            }
        }
    }

    fn drop_grant(&mut self, id: &str) {
        let Some(g) = self.grants.remove(id) else {
            return;
        };
        self.unindex_grant(&g);
    }

    fn unindex_grant(&mut self, g: &Grant) {
        let key = (g.fingerprint, g.permission.clone());
        if let Some(list) = self.grants_by_request.get_mut(&key) {
            list.retain(|x| *x != g.id);
            if list.is_empty() {
                self.grants_by_request.remove(&key);
            }
        }
        if let Some(list) = self.grants_by_permission.get_mut(&g.permission) {
            list.retain(|x| *x != g.id);
            if list.is_empty() {
                self.grants_by_permission.remove(&g.permission);
            }
        }
    }

    fn insert_grant(&mut self, g: Grant) {
        if !(g.single_use && g.used) {
            match g.scope {
                Scope::Permission => self
                    .grants_by_permission
                    .entry(g.permission.clone())
                    .or_default()
                    .push(g.id.clone()),
                Scope::Request => self
                    .grants_by_request
                    .entry((g.fingerprint, g.permission.clone()))
                    .or_default()
                    .push(g.id.clone()),
            }
        }
        self.grant_expiry.insert((g.expires_at, g.id.clone()));
        self.grants.insert(g.id.clone(), g);
    }

    fn insert_approval(&mut self, a: Approval) {
        if a.status != ApprovalStatus::Approved {
            let key = (a.fingerprint, a.permission.clone());
            // A newer approval of the same request replaces the older one as the open one.
            if let Some(old) = self.open.get(&key).cloned() {
                self.close(&old);
            }
            self.open.insert(key, a.id.clone());
        }
        if a.status == ApprovalStatus::Pending {
            *self
                .pending_by_passport
                .entry(a.passport.clone())
                .or_default() += 1;
            *self
                .pending_by_permission
                .entry(a.permission.clone())
                .or_default() += 1;
        }
        self.expiring.insert((a.expires_at, a.id.clone()));
        self.approvals.insert(a.id.clone(), a);
    }

    // --- limits -------------------------------------------------------------------------

    pub fn check_limits(&self, p: &Permission, amount: Option<Decimal>, now: Millis) -> LimitCheck {
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
        let Some(usage) = self.usage.get(&p.id) else {
            // Nothing charged: a budget holds if this one amount fits, a rate always.
            return match limits.budget {
                Some((budget, _)) if amount > budget => {
                    LimitCheck::Fails("the budget for this window is spent")
                }
                _ => LimitCheck::Holds,
            };
        };
        if let Some((budget, per)) = limits.budget {
            let (spent, _) = usage.spent(now, per);
            match spent.checked_add(amount) {
                Some(total) if total <= budget => {}
                _ => return LimitCheck::Fails("the budget for this window is spent"),
            }
        }
        if let Some((count, per)) = limits.rate {
            if usage.spent(now, per).1 >= count {
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
        self.touched(|j| j.usage.push(p.id.clone()));
        let usage = self.usage.entry(p.id.clone()).or_default();
        usage.prune(now, limits.window());
        usage.add(now, amount.unwrap_or(Decimal::ZERO), 1, limits.window());
    }

    /// A permission's usage, if anything was charged to it.
    pub fn usage_of(&self, permission: &str) -> Option<&Usage> {
        self.usage.get(permission)
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

    /// The grant covering this request under `p`: (id, expiresAt). Reads only.
    pub fn covering_grant(
        &self,
        fp: &Fingerprint,
        p: &Permission,
        now: Millis,
    ) -> Option<(String, Millis)> {
        let live = |ids: Option<&Vec<String>>| {
            ids.into_iter()
                .flatten()
                .filter_map(|id| self.grants.get(id))
                .find(|g| now < g.expires_at && !(g.single_use && g.used))
        };
        let by_request = live(self.grants_by_request.get(&(*fp, p.id.clone())));
        let by_permission = live(self.grants_by_permission.get(&p.id));
        // The oldest grant that covers the request, as when they were one list.
        let grant = match (by_request, by_permission) {
            (Some(a), Some(b)) if (b.created_at, &b.id) < (a.created_at, &a.id) => b,
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => return None,
        };
        Some((grant.id.clone(), grant.expires_at))
    }

    /// Marks a grant used; a single-use grant is spent and leaves the state at once.
    pub fn spend_grant(&mut self, id: &str) {
        let Some(g) = self.grants.get_mut(id) else {
            return;
        };
        g.used = true;
        let (end, single_use) = (g.expires_at, g.single_use);
        self.touched(|j| j.grants.push(id.to_string()));
        if single_use {
            self.drop_grant(id);
            self.grant_expiry.remove(&(end, id.to_string()));
        }
    }

    /// Whether a request held under `p` reuses its pending approval, may open one, or finds
    /// the passport's or the permission's pending approvals at their cap.
    pub fn room(&self, fp: &Fingerprint, passport: &Passport, p: &Permission, now: Millis) -> Room {
        if let Some(a) = self.open_approval(fp, &p.id, now) {
            if a.status == ApprovalStatus::Pending {
                return Room::Reuse(a.id.clone());
            }
        }
        let count = |m: &HashMap<Arc<str>, usize>, k: &Arc<str>| m.get(k).copied().unwrap_or(0);
        if count(&self.pending_by_passport, &passport.id) >= MAX_PENDING_PER_PASSPORT {
            return Room::Full("the passport already has 1000 pending approvals");
        }
        if count(&self.pending_by_permission, &p.id) >= p.approval.max_pending {
            return Room::Full(
                "the permission already has `approval.maxPending` pending approvals",
            );
        }
        Room::Open
    }

    /// The pending approval for this request and permission, opened if there is none.
    pub fn hold(
        &mut self,
        fp: Fingerprint,
        passport: &Passport,
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
        self.touched(|j| j.approvals.push(id.clone()));
        self.insert_approval(Approval {
            id: id.clone(),
            permission: p.id.clone(),
            passport: passport.id.clone(),
            fingerprint: fp,
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now.saturating_add(p.approval.pending_ttl),
            decided_at: None,
            grant_id: None,
            request,
        });
        Ok(id)
    }

    fn decidable(&mut self, id: &str, now: Millis) -> Result<&mut Approval, ApiError> {
        let approval = self.approvals.get_mut(id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ApprovalNotFound,
                format!("no approval `{id}`"),
                "list pending approvals to find the id",
            )
        })?;
        if now >= approval.expires_at {
            return Err(ApiError::new(
                ErrorCode::ApprovalExpired,
                format!(
                    "approval `{id}` expired at {}",
                    format_rfc3339(approval.expires_at)
                ),
                "ask the agent to retry; a new approval will be opened",
            ));
        }
        if approval.status != ApprovalStatus::Pending {
            return Err(ApiError::new(
                ErrorCode::ApprovalAlreadyDecided,
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
                ErrorCode::BadDuration,
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
        self.decidable(id, now)?;
        // It leaves the pending count and the open index while it is still `pending`.
        self.close(id);
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
        self.insert_grant(grant.clone());
        self.touched(|j| {
            j.approvals.push(approval.id.clone());
            j.grants.push(grant.id.clone());
        });
        Ok((approval, grant))
    }

    /// Denies a pending approval: the same request is `approval_denied` until it expires.
    pub fn deny(&mut self, id: &str, now: Millis) -> Result<Approval, ApiError> {
        let approval = self.decidable(id, now)?;
        approval.status = ApprovalStatus::Denied;
        approval.decided_at = Some(now);
        let approval = approval.clone();
        decrement(&mut self.pending_by_passport, &approval.passport);
        decrement(&mut self.pending_by_permission, &approval.permission);
        self.touched(|j| j.approvals.push(approval.id.clone()));
        Ok(approval)
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
            .filter(|g| now < g.expires_at && !(g.single_use && g.used))
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    // --- export and restore ------------------------------------------------------------------

    pub fn export(&self) -> StateExport {
        let mut approvals: Vec<Approval> = self.approvals.values().cloned().collect();
        approvals.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut grants: Vec<Grant> = self.grants.values().cloned().collect();
        grants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut usage: Vec<UsageExport> = self
            .usage
            .iter()
            .map(|(p, u)| UsageExport::of(p, u))
            .collect();
        usage.sort_by(|a, b| a.permission.cmp(&b.permission));
        StateExport {
            approvals,
            grants,
            usage,
        }
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
        let mut approvals = Vec::new();
        for (i, a) in list("approvals")?
            .iter()
            .enumerate()
            .filter(|(_, v)| known(v))
        {
            approvals.push(
                approval_from(a, policy).ok_or_else(|| format!("approvals[{i}] is malformed"))?,
            );
        }
        approvals.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for a in approvals {
            state.insert_approval(a);
        }
        let mut grants = Vec::new();
        for (i, g) in list("grants")?.iter().enumerate().filter(|(_, v)| known(v)) {
            grants.push(grant_from(g, policy).ok_or_else(|| format!("grants[{i}] is malformed"))?);
        }
        grants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for g in grants {
            state.insert_grant(g);
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
            let usage = usage_from(u, p).ok_or_else(bad)?;
            state.usage.insert(p.id.clone(), usage);
        }
        Ok(state)
    }
}

/// The exported state: approvals and grants oldest first, usage by permission.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateExport {
    pub approvals: Vec<Approval>,
    pub grants: Vec<Grant>,
    pub usage: Vec<UsageExport>,
}

/// `{permission, entries: [[lastAt, amount, count], ...]}`: one entry per bucket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsageExport {
    pub permission: Arc<str>,
    pub entries: Vec<(String, String, u64)>,
}

impl UsageExport {
    pub fn of(permission: &Arc<str>, u: &Usage) -> UsageExport {
        UsageExport {
            permission: permission.clone(),
            entries: u
                .buckets
                .iter()
                .map(|b| (format_rfc3339(b.last_at), b.amount.to_string(), b.count))
                .collect(),
        }
    }
}

/// One permission's usage row as JSON (the SQLite store's `usage` rows).
pub fn usage_value(permission: &Arc<str>, u: &Usage) -> Value {
    serde_json::to_value(UsageExport::of(permission, u)).unwrap_or(Value::Null)
}

/// Reads `usage_value` back, into `p`'s buckets. An entry of two elements `[time, amount]`
/// (what releases before buckets exported: one entry per charge) is one charge.
pub fn usage_from(u: &Value, p: &Permission) -> Option<Usage> {
    let window = p.limits.as_ref().map_or(0, |l| l.window());
    let mut entries = Vec::new();
    for e in u.get("entries")?.as_array()? {
        let t = e.get(0).and_then(Value::as_str).and_then(parse_rfc3339)?;
        let a = e
            .get(1)
            .and_then(Value::as_str)
            .and_then(|s| Decimal::parse(s).ok())?;
        let n = match e.get(2) {
            None => 1,
            Some(n) => n.as_u64()?,
        };
        entries.push((t, a, n));
    }
    entries.sort_by_key(|&(t, _, _)| t);
    let mut usage = Usage::default();
    for (t, a, n) in entries {
        usage.add(t, a, n, window);
    }
    Some(usage)
}

pub fn held_value(r: &HeldRequest) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
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
    serde_json::to_value(a).unwrap_or(Value::Null)
}

pub fn approval_from(v: &Value, policy: &Policy) -> Option<Approval> {
    let (passport, p) = policy.permission(v.get("permission")?.as_str()?)?;
    Some(Approval {
        id: v.get("approvalId")?.as_str()?.to_string(),
        permission: p.id.clone(),
        passport: passport.id.clone(),
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
    serde_json::to_value(g).unwrap_or(Value::Null)
}

pub fn grant_from(v: &Value, policy: &Policy) -> Option<Grant> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Reason;
    use crate::engine::{Engine, EngineOptions};
    use serde_json::json;

    fn engine(permissions: Value) -> Engine {
        let policy = json!({"version": 1, "passports": [{"id": "pp", "agent": "ag",
            "permissions": permissions}]});
        let made = Engine::from_value(&policy, EngineOptions::default());
        assert!(made.is_ok());
        made.unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_passport_holds_at_most_1000_pending_approvals_across_its_permissions() {
        let mut e = engine(json!([
            {"id": "a", "action": "a", "effect": "require_approval"},
            {"id": "b", "action": "b", "effect": "require_approval"}]));
        for n in 0..MAX_PENDING_PER_PASSPORT {
            let action = if n % 2 == 0 { "a" } else { "b" };
            let d = e.verify(
                &json!({"agentId": "ag", "action": action, "params": {"n": n}}),
                0,
            );
            assert_eq!(d.reason, Reason::RequiresApproval);
        }
        let d = e.verify(
            &json!({"agentId": "ag", "action": "b", "params": {"n": -1}}),
            0,
        );
        assert_eq!(d.reason, Reason::ApprovalLimitReached);
        assert_eq!(d.approval_id, None);
        // An approval expiring (24h) frees its place without any sweep of the whole state.
        let d = e.verify(
            &json!({"agentId": "ag", "action": "b", "params": {"n": -1}}),
            24 * 3600 * 1000,
        );
        assert_eq!(d.reason, Reason::RequiresApproval);
    }

    #[test]
    fn usage_keeps_at_most_64_buckets_however_many_charges() {
        let mut e = engine(json!([{"id": "r", "action": "r",
            "limits": {"rate": {"count": 1000000, "per": "1h"}}}]));
        let mut now = 0;
        for _ in 0..20_000 {
            now += 1_000;
            let d = e.verify(&json!({"agentId": "ag", "action": "r"}), now);
            assert_eq!(d.reason, Reason::Allowed);
        }
        let buckets = e
            .state_for_tests()
            .usage_of("r")
            .map_or(0, |u| u.buckets().count());
        assert!(buckets <= MAX_BUCKETS, "{buckets} buckets");
        let (_, count) = e
            .state_for_tests()
            .usage_of("r")
            .map_or((Decimal::ZERO, 0), |u| u.spent(now, 3_600_000));
        // Conservative: at least the exact count of the last hour (3600), at most a bucket more.
        assert!((3_600..=3_600 + 58).contains(&count), "{count}");
    }

    #[test]
    fn typed_approvals_and_grants_serialize_to_the_json_they_always_had() {
        let request = HeldRequest {
            agent_id: "ag".into(),
            action: "deploy".into(),
            vendor: Some("vercel.com".into()),
            resource: None,
            params: json!({"env": "production", "n": 1.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let held = json!({"agentId": "ag", "action": "deploy", "vendor": "vercel.com",
            "resource": null, "params": {"env": "production", "n": 1.5}});
        let fp = [0xab; 32];
        let a = Approval {
            id: "apr_1".into(),
            permission: Arc::from("p"),
            passport: Arc::from("pp"),
            fingerprint: fp,
            status: ApprovalStatus::Denied,
            created_at: 1_795_690_800_000,
            expires_at: 1_795_777_200_000,
            decided_at: Some(1_795_690_860_123),
            grant_id: None,
            request: request.clone(),
        };
        // What the hand-built JSON of earlier releases was, key for key.
        let before = json!({"approvalId": "apr_1", "permission": "p",
            "fingerprint": crate::audit::hex(&fp), "status": "denied",
            "createdAt": "2026-11-26T11:00:00.000Z", "expiresAt": "2026-11-27T11:00:00.000Z",
            "decidedAt": "2026-11-26T11:01:00.123Z", "grantId": null, "request": held});
        assert_eq!(approval_value(&a), before);
        assert_eq!(
            crate::canonical::to_string(&approval_value(&a)),
            crate::canonical::to_string(&before)
        );
        let g = Grant {
            id: "grt_1".into(),
            approval_id: "apr_1".into(),
            permission: Arc::from("p"),
            fingerprint: fp,
            scope: Scope::Permission,
            single_use: true,
            used: false,
            created_at: 1_795_690_800_000,
            expires_at: 1_795_692_600_000,
            request,
        };
        let before = json!({"grantId": "grt_1", "approvalId": "apr_1", "permission": "p",
            "fingerprint": crate::audit::hex(&fp), "scope": "permission", "singleUse": true,
            "used": false, "createdAt": "2026-11-26T11:00:00.000Z",
            "expiresAt": "2026-11-26T11:30:00.000Z", "request": held});
        assert_eq!(grant_value(&g), before);
    }

    #[test]
    fn usage_reports_what_the_next_decision_counts() {
        let mut e = engine(json!([{"id": "b", "action": "buy",
            "limits": {"budget": {"amount": 100, "per": "1h"}, "rate": {"count": 5, "per": 60}}}]));
        for amount in [json!(30), json!(12.5)] {
            let d = e.verify(
                &json!({"agentId": "ag", "action": "buy", "params": {"amount": amount}}),
                0,
            );
            assert_eq!(d.reason, Reason::Allowed);
        }
        assert_eq!(
            serde_json::to_value(e.usage(1)).ok(),
            Some(json!([{"permission": "b", "passportId": "pp",
                "budget": {"amount": 100, "per": 3_600_000, "spent": 42.5},
                "rate": {"count": 5, "per": 60_000, "used": 2}}]))
        );
        let later = serde_json::to_value(e.usage(60_000)).unwrap_or_default();
        assert_eq!(
            later.pointer("/0/rate/used"),
            Some(&json!(0)),
            "the rate window passed"
        );
        assert_eq!(
            later.pointer("/0/budget/spent"),
            Some(&json!(42.5)),
            "the budget's did not"
        );
    }

    #[test]
    fn expired_approvals_and_grants_leave_memory_in_expiry_order() {
        let mut e = engine(
            json!([{"id": "a", "action": "a", "effect": "require_approval",
            "approval": {"pendingTtl": "1h", "grantTtl": "1h"}}]),
        );
        let mut last = None;
        for n in 0..100 {
            last = e
                .verify(
                    &json!({"agentId": "ag", "action": "a", "params": {"n": n}}),
                    0,
                )
                .approval_id;
        }
        assert!(e.approve(last.as_deref().unwrap_or(""), None, 0).is_ok());
        assert_eq!(e.state_for_tests().approvals.len(), 100);
        assert_eq!(e.state_for_tests().grants.len(), 1);
        // After pendingTtl and grantTtl: nothing is open and no grant is left.
        e.verify(&json!({"agentId": "ag", "action": "z"}), 3_600_000);
        assert!(e.state_for_tests().open.is_empty());
        assert!(e.state_for_tests().grants.is_empty());
        assert!(e.state_for_tests().pending_by_passport.is_empty());
        // A day later still, they are forgotten.
        e.verify(
            &json!({"agentId": "ag", "action": "z"}),
            3_600_000 + FORGET_AFTER,
        );
        assert!(e.state_for_tests().approvals.is_empty());
        assert!(
            e.state_for_tests().expiring.is_empty() && e.state_for_tests().forgetting.is_empty()
        );
    }
}
