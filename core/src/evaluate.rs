//! The evaluation order, top to bottom, as in DESIGN.md's reason table: the first rule that
//! applies decides. Restrictive wins: block over approval over allow, whatever the file order.
//! Evaluation only reads the state; what the decision changes comes back as [`Change`]s, which
//! the engine applies (and a store writes) after it.

use serde_json::Value;

use crate::decision::{Reason, TraceDetail, TraceResult, TraceStep};
use crate::normalize;
use crate::number::Decimal;
use crate::policy::{Candidate, Condition, Effect, Matcher, Op, Permission, Policy, Scalar};
use crate::request::{lookup, Lookup, Request};
use crate::state::{Fingerprint, LimitCheck, Room, State};
use crate::time::Millis;

/// Indexes of matching permissions, by effect.
type Matches = smallvec::SmallVec<[usize; 4]>;

/// What a decision changes (its effects), applied after evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Charge the decision to a permission's budget and rate (index into the passport).
    Charge {
        permission: usize,
        amount: Option<Decimal>,
    },
    /// The grant that covered the request is used (and spent, if single-use).
    UseGrant { grant: String },
    /// Open the pending approval of this request under the matched permission, or reuse it.
    Hold,
}

/// What evaluation concluded, before ids and the packet are made.
#[derive(Debug)]
pub struct Outcome {
    pub reason: Reason,
    pub passport: Option<usize>,
    /// Index into the passport's permissions.
    pub matched: Option<usize>,
    /// The request's fingerprint, when the approval path computed it.
    pub fingerprint: Option<Fingerprint>,
    /// The denied approval (`approval_denied`).
    pub approval_id: Option<String>,
    /// The grant used (`approved`): id and end.
    pub grant: Option<(String, Millis)>,
    pub trace: Vec<TraceStep>,
    /// What the decision changes, in order.
    pub changes: Vec<Change>,
}

impl Outcome {
    fn new(reason: Reason, passport: Option<usize>, trace: Vec<TraceStep>) -> Outcome {
        Outcome {
            reason,
            passport,
            matched: None,
            fingerprint: None,
            approval_id: None,
            grant: None,
            trace,
            changes: Vec::new(),
        }
    }
}

fn step(
    step: &'static str,
    permission: Option<&Permission>,
    result: TraceResult,
    detail: impl Into<TraceDetail>,
) -> TraceStep {
    TraceStep {
        step,
        permission: permission.map(|p| p.id.clone()),
        result,
        detail: detail.into(),
    }
}

/// Decides a valid request. `candidates` is scratch space reused across calls.
pub fn evaluate(
    policy: &Policy,
    state: &State,
    request: &Request,
    now: Millis,
    candidates: &mut Vec<Candidate>,
    fingerprint: &mut dyn FnMut() -> Fingerprint,
) -> Outcome {
    let mut trace = Vec::with_capacity(8);

    // 2. unknown_agent
    let Some((passport_at, passport)) = policy.passport_for(&request.agent_id) else {
        trace.push(step(
            "passport",
            None,
            TraceResult::Missing,
            "no passport for this agent",
        ));
        return Outcome::new(Reason::UnknownAgent, None, trace);
    };

    // 3. passport_expired
    if !passport.is_active(now) {
        let why = if passport.revoked {
            "the passport is revoked"
        } else if passport.not_before.is_some_and(|t| now < t) {
            "the passport is not valid yet"
        } else {
            "the passport has expired"
        };
        trace.push(step("passport", None, TraceResult::Inactive, why));
        return Outcome::new(Reason::PassportExpired, Some(passport_at), trace);
    }
    trace.push(step(
        "passport",
        None,
        TraceResult::Active,
        "checking the passport's permissions",
    ));

    // 4. collect matching permissions
    passport.index.candidates(
        &policy.names,
        &request.action,
        request.vendor.as_deref(),
        candidates,
    );
    // Matches are few: kept inline, so a decision allocates nothing for them.
    let mut blocks = Matches::new();
    let mut approvals = Matches::new();
    let mut allows = Matches::new();
    let mut out_of_window = None;
    for &candidate in candidates.iter() {
        let at = candidate.at();
        let Some(p) = passport.permissions.get(at) else {
            continue;
        };
        if let Some(miss) = pattern_mismatch(p, request, candidate.proven()) {
            trace.push(step("match", Some(p), TraceResult::Skipped, miss));
            continue;
        }
        match conditions_truth(&p.when, &request.params) {
            (Truth::Holds, _) => {}
            (Truth::Fails, failed) => {
                let why = failed
                    .map_or_else(|| "a condition does not hold".into(), |c| c.failure.clone());
                trace.push(step("match", Some(p), TraceResult::Skipped, why));
                continue;
            }
            // Indeterminate is restrictive: a block or an approval applies, an allow does not.
            (Truth::Indeterminate, doubt) => {
                let path = doubt.map_or("", |c| c.path.as_str());
                let applies = p.effect != Effect::Allow;
                let detail = format!(
                    "condition on `{path}` cannot be decided on the value given, so this {} {}",
                    effect_name(p.effect),
                    if applies { "applies" } else { "does not apply" }
                );
                trace.push(step("match", Some(p), TraceResult::Indeterminate, detail));
                if !applies {
                    continue;
                }
            }
        }
        if !p.in_window(now) {
            trace.push(step(
                "match",
                Some(p),
                TraceResult::Inactive,
                "outside its validity window",
            ));
            out_of_window.get_or_insert(at);
            continue;
        }
        trace.push(step(
            "match",
            Some(p),
            TraceResult::Matched,
            effect_name(p.effect),
        ));
        match p.effect {
            Effect::Block => blocks.push(at),
            Effect::RequireApproval => approvals.push(at),
            Effect::Allow => allows.push(at),
        }
    }

    // 5. blocked
    if let Some(&first) = blocks.first() {
        return decided(Reason::Blocked, passport_at, first, trace);
    }

    // 7. (checked before 6 only to know whether allow permissions failed their limits)
    let mut allowed = None;
    let mut over_limit = Matches::new();
    if approvals.is_empty() {
        for &at in &allows {
            let Some(p) = passport.permissions.get(at) else {
                continue;
            };
            match state.check_limits(p, request.amount, now) {
                LimitCheck::Holds => {
                    allowed = Some(at);
                    break;
                }
                LimitCheck::Fails(why) => {
                    trace.push(step("limits", Some(p), TraceResult::Failed, why));
                    if p.limits
                        .as_ref()
                        .is_some_and(|l| l.over_limit_requires_approval)
                    {
                        over_limit.push(at);
                    }
                }
            }
        }
    }

    // 6. the approval path: approval_denied, approved, requires_approval
    let approval_set = if !approvals.is_empty() {
        approvals
    } else if allowed.is_none() {
        over_limit
    } else {
        Matches::new()
    };
    if !approval_set.is_empty() {
        let fp = fingerprint();
        for &at in &approval_set {
            let Some(p) = passport.permissions.get(at) else {
                continue;
            };
            if let Some(id) = state.denial(&fp, &p.id, now) {
                trace.push(step(
                    "approval",
                    Some(p),
                    TraceResult::Denied,
                    "a person denied this request",
                ));
                let mut o = decided(Reason::ApprovalDenied, passport_at, at, trace);
                o.approval_id = Some(id);
                o.fingerprint = Some(fp);
                return o;
            }
        }
        for &at in &approval_set {
            let Some(p) = passport.permissions.get(at) else {
                continue;
            };
            if let Some(grant) = state.covering_grant(&fp, p, now) {
                trace.push(step(
                    "approval",
                    Some(p),
                    TraceResult::Granted,
                    "an active grant covers this request",
                ));
                let mut o = decided(Reason::Approved, passport_at, at, trace);
                o.changes.push(Change::UseGrant {
                    grant: grant.0.clone(),
                });
                if p.effect == Effect::Allow {
                    o.changes.push(Change::Charge {
                        permission: at,
                        amount: request.amount,
                    });
                }
                o.grant = Some(grant);
                o.fingerprint = Some(fp);
                return o;
            }
        }
        let first = approval_set.first().copied().unwrap_or(0);
        // 6b. approval_limit_reached: a new held request beyond the pending cap
        if let Some(p) = passport.permissions.get(first) {
            if let Room::Full(why) = state.room(&fp, passport, p, now) {
                trace.push(step("approval", Some(p), TraceResult::Limit, why));
                let mut o = decided(Reason::ApprovalLimitReached, passport_at, first, trace);
                o.fingerprint = Some(fp);
                return o;
            }
        }
        trace.push(step(
            "approval",
            passport.permissions.get(first),
            TraceResult::Required,
            "no grant covers this request; a person must approve",
        ));
        let mut o = decided(Reason::RequiresApproval, passport_at, first, trace);
        o.changes.push(Change::Hold);
        o.fingerprint = Some(fp);
        return o;
    }

    // 7. allowed, and charged in the same step
    if let Some(at) = allowed {
        let mut o = decided(Reason::Allowed, passport_at, at, trace);
        o.changes.push(Change::Charge {
            permission: at,
            amount: request.amount,
        });
        return o;
    }

    // 8. limit_exceeded
    if let Some(&first) = allows.first() {
        return decided(Reason::LimitExceeded, passport_at, first, trace);
    }

    // 9. permission_expired
    if let Some(at) = out_of_window {
        return decided(Reason::PermissionExpired, passport_at, at, trace);
    }

    // 10. no_permission
    trace.push(step(
        "result",
        None,
        TraceResult::None,
        "no permission matches",
    ));
    Outcome::new(Reason::NoPermission, Some(passport_at), trace)
}

fn decided(reason: Reason, passport: usize, at: usize, trace: Vec<TraceStep>) -> Outcome {
    Outcome {
        reason,
        passport: Some(passport),
        matched: Some(at),
        fingerprint: None,
        approval_id: None,
        grant: None,
        trace,
        changes: Vec::new(),
    }
}

fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Block => "block",
        Effect::RequireApproval => "require_approval",
    }
}

/// Why a candidate's patterns do not match the request, if they do not. `proven`: the index
/// found it under its exact action and vendor, so only its resources are left to check.
fn pattern_mismatch(p: &Permission, r: &Request, proven: bool) -> Option<&'static str> {
    if !proven && !p.actions.iter().any(|a| a.matches(&r.action)) {
        return Some("action does not match");
    }
    if let (false, Some(vendors)) = (proven, &p.vendors) {
        if !vendors.iter().any(|v| v.matches(r.vendor.as_deref())) {
            return Some("vendor does not match");
        }
    }
    if let Some(resources) = &p.resources {
        if !resources.iter().any(|g| g.matches(r.resource.as_deref())) {
            return Some("resource does not match");
        }
    }
    None
}

/// A condition's truth on the request's params. `Indeterminate`: a present value the matcher
/// cannot decide on (another type than the matcher's, a value that fails canonicalization).
/// It holds for `block` and `require_approval` permissions and not for `allow`: behalf never
/// loosens on an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    Holds,
    Fails,
    Indeterminate,
}

impl Truth {
    fn of(holds: bool) -> Truth {
        if holds {
            Truth::Holds
        } else {
            Truth::Fails
        }
    }

    /// Kleene and: a definite failure decides; otherwise any doubt stays doubt.
    fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::Fails, _) | (_, Truth::Fails) => Truth::Fails,
            (Truth::Indeterminate, _) | (_, Truth::Indeterminate) => Truth::Indeterminate,
            _ => Truth::Holds,
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::Holds => Truth::Fails,
            Truth::Fails => Truth::Holds,
            Truth::Indeterminate => Truth::Indeterminate,
        }
    }
}

/// The conditions of a permission, together: the first definite failure, else the first
/// condition that could not be decided, else none.
pub fn conditions_truth<'p>(
    when: &'p [Condition],
    params: &serde_json::Map<String, Value>,
) -> (Truth, Option<&'p Condition>) {
    let mut doubt = None;
    for c in when {
        match condition_truth(c, params) {
            Truth::Holds => {}
            Truth::Fails => return (Truth::Fails, Some(c)),
            Truth::Indeterminate => {
                doubt.get_or_insert(c);
            }
        }
    }
    match doubt {
        Some(c) => (Truth::Indeterminate, Some(c)),
        None => (Truth::Holds, None),
    }
}

fn same_type(want: &Scalar, got: &Value) -> bool {
    matches!(
        (want, got),
        (Scalar::Null, Value::Null)
            | (Scalar::Bool(_), Value::Bool(_))
            | (Scalar::String(_), Value::String(_))
            | (Scalar::Number(_), Value::Number(_))
    )
}

fn scalar_equals(want: &Scalar, got: &Value) -> bool {
    match (want, got) {
        (Scalar::Null, Value::Null) => true,
        (Scalar::Bool(a), Value::Bool(b)) => a == b,
        (Scalar::String(a), Value::String(b)) => a == b,
        (Scalar::Number(a), Value::Number(b)) => Decimal::from_json(b).is_ok_and(|b| *a == b),
        _ => false,
    }
}

/// Equality, typed: a value of another type than the matcher's cannot be compared.
fn scalar_truth(want: &Scalar, got: &Value) -> Truth {
    if same_type(want, got) {
        Truth::of(scalar_equals(want, got))
    } else {
        Truth::Indeterminate
    }
}

/// `in`: equal to one of the list; decidable when the list holds the value's type.
fn membership(list: &[Scalar], got: &Value) -> Truth {
    if list.is_empty() {
        return Truth::Fails;
    }
    if list.iter().any(|s| scalar_equals(s, got)) {
        Truth::Holds
    } else if list.iter().any(|s| same_type(s, got)) {
        Truth::Fails
    } else {
        Truth::Indeterminate
    }
}

fn number(got: &Value) -> Option<Decimal> {
    match got {
        Value::Number(n) => Decimal::from_json(n).ok(),
        _ => None,
    }
}

pub fn condition_truth(c: &Condition, params: &serde_json::Map<String, Value>) -> Truth {
    let got = match lookup(params, &c.path) {
        Lookup::Found(v) => Some(v),
        Lookup::Missing => None,
        Lookup::Undecidable => return Truth::Indeterminate,
    };
    match &c.matcher {
        Matcher::Equals(want) => got.map_or(Truth::Fails, |g| scalar_truth(want, g)),
        Matcher::All(ops) => ops
            .iter()
            .fold(Truth::Holds, |truth, op| truth.and(op_truth(op, got))),
    }
}

fn op_truth(op: &Op, got: Option<&Value>) -> Truth {
    let Some(got) = got else {
        return Truth::of(matches!(op, Op::Exists(false)));
    };
    match op {
        Op::Exists(want) => Truth::of(*want),
        Op::In(list) => membership(list, got),
        Op::NotIn(list) if list.is_empty() => Truth::Holds,
        Op::NotIn(list) => membership(list, got).not(),
        Op::Ne(s) => scalar_truth(s, got).not(),
        Op::Glob(pattern) => got
            .as_str()
            .and_then(|s| normalize::value_glob_match(pattern, s))
            .map_or(Truth::Indeterminate, Truth::of),
        Op::EmailDomain(domains) => match got.as_str().map(normalize::email_domain) {
            Some(Ok(domain)) => Truth::of(domains.iter().any(|d| d.matches(Some(&domain)))),
            _ => Truth::Indeterminate,
        },
        Op::Lt(n) => number(got).map_or(Truth::Indeterminate, |g| Truth::of(g < *n)),
        Op::Lte(n) => number(got).map_or(Truth::Indeterminate, |g| Truth::of(g <= *n)),
        Op::Gt(n) => number(got).map_or(Truth::Indeterminate, |g| Truth::of(g > *n)),
        Op::Gte(n) => number(got).map_or(Truth::Indeterminate, |g| Truth::of(g >= *n)),
    }
}
