//! The policy model: `behalf.json` validated as a whole (every problem listed by JSON path),
//! then compiled into passports, permissions and an index for fast lookup.
//!
//! `index.rs` finds a request's candidate permissions; `validate/` reads and checks the JSON.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use smol_str::SmolStr;

use crate::error::ErrorCode;
use crate::fasthash::FastMap;
use crate::normalize::{ActionPattern, ResourcePattern, VendorPattern};
use crate::number::Decimal;
use crate::time::Millis;

mod index;
mod validate;

pub use index::Candidate;
pub(crate) use index::PermissionIndex;
pub(crate) use validate::is_valid_id;
use validate::Validator;

/// One problem found in a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub code: ErrorCode,
    pub message: String,
    pub hint: String,
}

/// A rejected policy, with every problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid policy ({} problem", self.problems.len())?;
        if self.problems.len() != 1 {
            write!(f, "s")?;
        }
        write!(f, ")")?;
        for p in &self.problems {
            let at = if p.path.is_empty() { "$" } else { &p.path };
            write!(f, "\n  {at}: {} ({}); {}", p.message, p.code, p.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Block,
    RequireApproval,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Request,
    Permission,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Number(Decimal),
    String(SmolStr),
}

#[derive(Clone, Debug)]
pub enum Op {
    In(Vec<Scalar>),
    NotIn(Vec<Scalar>),
    Ne(Scalar),
    /// Compiled once with the resource canonicalizer; the value is canonicalized as a resource.
    Glob(ResourcePattern),
    /// The value must be exactly one address whose domain matches one of these.
    EmailDomain(Vec<VendorPattern>),
    Lt(Decimal),
    Lte(Decimal),
    Gt(Decimal),
    Gte(Decimal),
    Exists(bool),
}

#[derive(Clone, Debug)]
pub enum Matcher {
    Equals(Scalar),
    All(Vec<Op>),
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub path: SmolStr,
    pub matcher: Matcher,
    /// The trace's words when this condition does not hold, prepared once.
    pub failure: Arc<str>,
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_amount: Option<Decimal>,
    pub budget: Option<(Decimal, Millis)>,
    pub rate: Option<(u64, Millis)>,
    pub over_limit_requires_approval: bool,
}

impl Limits {
    pub fn needs_amount(&self) -> bool {
        self.max_amount.is_some() || self.budget.is_some()
    }

    /// The longest window any limit looks back over.
    pub fn window(&self) -> Millis {
        let budget = self.budget.map_or(0, |(_, per)| per);
        let rate = self.rate.map_or(0, |(_, per)| per);
        budget.max(rate)
    }
}

#[derive(Clone, Debug)]
pub struct ApprovalSettings {
    pub grant_ttl: Millis,
    pub pending_ttl: Millis,
    pub scope: Scope,
    pub single_use: bool,
    /// Most pending approvals this permission holds at once (1 to 1,000; default 1,000).
    pub max_pending: usize,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            grant_ttl: 30 * 60 * 1000,
            pending_ttl: 24 * 3600 * 1000,
            scope: Scope::Request,
            single_use: false,
            max_pending: crate::state::MAX_PENDING_PER_PASSPORT,
        }
    }
}

/// A compiled permission. `repr(C)` keeps the fields in the order written: what every
/// decision reads about a candidate comes first, in its first two cache lines (with many
/// passports a candidate is usually out of the cache), then the limits, then what only a
/// look-up, an unproven candidate or an approval reads.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Permission {
    pub id: Arc<str>,
    pub when: Vec<Condition>,
    /// `None`: any resource, including none.
    pub resources: Option<Vec<ResourcePattern>>,
    pub not_before: Option<Millis>,
    pub expires_at: Option<Millis>,
    pub effect: Effect,
    pub limits: Option<Limits>,
    pub actions: Vec<ActionPattern>,
    /// `None`: any vendor, including none.
    pub vendors: Option<Vec<VendorPattern>>,
    pub approval: ApprovalSettings,
    pub description: Option<String>,
}

impl Permission {
    pub fn in_window(&self, now: Millis) -> bool {
        self.not_before.is_none_or(|t| t <= now) && self.expires_at.is_none_or(|t| now < t)
    }
}

/// A compiled passport; `repr(C)`, what a decision reads first (see `Permission`).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Passport {
    pub permissions: Vec<Permission>,
    pub(crate) index: PermissionIndex,
    pub not_before: Option<Millis>,
    pub expires_at: Option<Millis>,
    pub id: Arc<str>,
    pub revoked: bool,
    pub agent: String,
    pub description: Option<String>,
    starts: Vec<Millis>,
    ends: Vec<Millis>,
}

impl Passport {
    pub fn is_active(&self, now: Millis) -> bool {
        !self.revoked
            && self.not_before.is_none_or(|t| t <= now)
            && self.expires_at.is_none_or(|t| now < t)
    }

    /// How many permissions are inside their validity window at `now`, without a scan.
    pub fn active_permissions(&self, now: Millis) -> usize {
        let not_yet = self.starts.len() - self.starts.partition_point(|&t| t <= now);
        let ended = self.ends.partition_point(|&t| t <= now);
        self.permissions.len().saturating_sub(not_yet + ended)
    }
}

#[derive(Clone, Debug)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret_env: String,
    /// During a rotation, the variable holding the previous secret (both sign).
    pub previous_secret_env: Option<String>,
    pub description: Option<String>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// A validated, compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub passports: Vec<Passport>,
    pub webhooks: Vec<WebhookEndpoint>,
    by_permission: FastMap<Arc<str>, (usize, usize)>,
    /// The agents, exact actions and exact hosts the policy names, shared with requests.
    pub(crate) names: Names,
}

/// Strings a policy names, kept once: each agent with its passport (the index a decision
/// starts from), and the exact actions, exact hosts and `*.domain` domains, each with a small
/// id the passports' indexes use. A request that names an action or host shares it instead of
/// allocating its own copy. Agents are keyed inline (most ids are under 24 bytes), so finding
/// a passport reads the table's own lines, not a string elsewhere.
#[derive(Clone, Debug, Default)]
pub struct Names {
    agents: FastMap<SmolStr, usize>,
    others: FastMap<Arc<str>, u32>,
}

impl Names {
    fn build(passports: &[Passport]) -> Names {
        let mut names = Names::default();
        // The first passport for an agent wins; a duplicate is an error anyway.
        for (at, passport) in passports.iter().enumerate() {
            if !names.agents.contains_key(passport.agent.as_str()) {
                names.agents.insert(SmolStr::new(&passport.agent), at);
            }
        }
        let mut add = |s: &str| {
            // Ids are unique or not given: a name without one is indexed as "check the
            // patterns" (index.rs), never as another name's.
            let next = u32::try_from(names.others.len())
                .ok()
                .filter(|&id| id < u32::MAX);
            if let (false, Some(id)) = (names.others.contains_key(s), next) {
                names.others.insert(Arc::from(s), id);
            }
        };
        for passport in passports {
            for permission in &passport.permissions {
                for action in &permission.actions {
                    if let ActionPattern::Exact(a) = action {
                        add(a);
                    }
                }
                for vendor in permission.vendors.iter().flatten() {
                    match vendor {
                        VendorPattern::Exact(v) | VendorPattern::SubdomainOf(v) => add(v),
                        VendorPattern::Any => {}
                    }
                }
            }
        }
        names
    }

    /// An action or a host as an `Arc`: the policy's own when a permission names it exactly.
    pub fn share(&self, text: &str) -> Arc<str> {
        match self.others.get_key_value(text) {
            Some((name, _)) => name.clone(),
            None => Arc::from(text),
        }
    }

    /// The id of an action, host or domain the policy names (the indexes' keys).
    pub(crate) fn id_of(&self, text: &str) -> Option<u32> {
        self.others.get(text).copied()
    }
}

impl Policy {
    /// Reads policy text; an object that repeats a key is a problem at the key's path.
    pub fn from_json_text(text: &str) -> Result<Policy, PolicyError> {
        match crate::json::from_str(text) {
            Ok(value) => Policy::from_value(&value),
            Err(e) => Err(PolicyError {
                problems: vec![json_text_problem(&e)],
            }),
        }
    }

    pub fn from_value(value: &Value) -> Result<Policy, PolicyError> {
        let mut v = Validator::default();
        let policy = v.policy(value);
        match policy {
            Some(p) if v.problems.is_empty() => Ok(p),
            _ => Err(PolicyError {
                problems: v.problems,
            }),
        }
    }

    /// The agent's passport and its index, through the agent index.
    pub fn passport_for(&self, agent: &str) -> Option<(usize, &Passport)> {
        let &at = self.names.agents.get(agent)?;
        Some((at, self.passports.get(at)?))
    }

    pub fn permission(&self, id: &str) -> Option<(&Passport, &Permission)> {
        let &(p, q) = self.by_permission.get(id)?;
        let passport = self.passports.get(p)?;
        Some((passport, passport.permissions.get(q)?))
    }
}

/// The problem a policy text that is not JSON (or repeats a key) reports.
pub fn json_text_problem(e: &crate::json::JsonTextError) -> Problem {
    match e {
        crate::json::JsonTextError::Syntax { message, .. } => Problem {
            path: String::new(),
            code: ErrorCode::InvalidJson,
            message: format!("not valid JSON: {message}"),
            hint: "check the file with a JSON linter; line and column are given".into(),
        },
        crate::json::JsonTextError::DuplicateKey { path, key } => Problem {
            path: path.clone(),
            code: ErrorCode::DuplicateKey,
            message: format!("the key `{key}` appears twice in one object"),
            hint: "keep one; readers disagree on which of two copies counts".into(),
        },
    }
}

/// Validates a policy and lists every problem.
pub fn validate(value: &Value) -> Vec<Problem> {
    match Policy::from_value(value) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems,
    }
}
