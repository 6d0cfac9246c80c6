//! The policy model: `behalf.json` validated as a whole (every problem listed by JSON path),
//! then compiled into passports, permissions and an index for fast lookup.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::fasthash::FastMap;
use crate::normalize::{ActionPattern, ResourcePattern, VendorPattern};
use crate::number::Decimal;
use crate::spec::{self, Field};
use crate::time::{parse_duration, parse_rfc3339, Millis};

/// One problem found in a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub code: &'static str,
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
    String(String),
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
    pub path: String,
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

#[derive(Clone, Debug)]
pub struct Permission {
    pub id: Arc<str>,
    pub actions: Vec<ActionPattern>,
    /// `None`: any vendor, including none.
    pub vendors: Option<Vec<VendorPattern>>,
    /// `None`: any resource, including none.
    pub resources: Option<Vec<ResourcePattern>>,
    pub when: Vec<Condition>,
    pub effect: Effect,
    pub limits: Option<Limits>,
    pub approval: ApprovalSettings,
    pub not_before: Option<Millis>,
    pub expires_at: Option<Millis>,
    pub description: Option<String>,
}

impl Permission {
    pub fn in_window(&self, now: Millis) -> bool {
        self.not_before.is_none_or(|t| t <= now) && self.expires_at.is_none_or(|t| now < t)
    }
}

#[derive(Clone, Debug)]
pub struct Passport {
    pub id: Arc<str>,
    pub agent: String,
    pub not_before: Option<Millis>,
    pub expires_at: Option<Millis>,
    pub revoked: bool,
    pub description: Option<String>,
    pub permissions: Vec<Permission>,
    pub(crate) index: PermissionIndex,
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
    by_agent: FastMap<String, usize>,
    by_permission: FastMap<Arc<str>, (usize, usize)>,
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
        let &at = self.by_agent.get(agent)?;
        Some((at, self.passports.get(at)?))
    }

    pub fn permission(&self, id: &str) -> Option<(&Passport, &Permission)> {
        let &(p, q) = self.by_permission.get(id)?;
        let passport = self.passports.get(p)?;
        Some((passport, passport.permissions.get(q)?))
    }
}

/// Validates a policy and lists every problem.
/// The problem a policy text that is not JSON (or repeats a key) reports.
pub fn json_text_problem(e: &crate::json::JsonTextError) -> Problem {
    match e {
        crate::json::JsonTextError::Syntax { message, .. } => Problem {
            path: String::new(),
            code: "invalid_json",
            message: format!("not valid JSON: {message}"),
            hint: "check the file with a JSON linter; line and column are given".into(),
        },
        crate::json::JsonTextError::DuplicateKey { path, key } => Problem {
            path: path.clone(),
            code: "duplicate_key",
            message: format!("the key `{key}` appears twice in one object"),
            hint: "keep one; readers disagree on which of two copies counts".into(),
        },
    }
}

pub fn validate(value: &Value) -> Vec<Problem> {
    match Policy::from_value(value) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems,
    }
}

// ---------------------------------------------------------------------------------------------
// The index: candidates by exact action, then by vendor (exact host, parent domains, any).

#[derive(Clone, Debug, Default)]
struct VendorBuckets {
    exact: FastMap<String, Vec<u32>>,
    subdomain_of: FastMap<String, Vec<u32>>,
    any: Vec<u32>,
}

impl VendorBuckets {
    fn insert(&mut self, vendors: Option<&Vec<VendorPattern>>, at: u32) {
        match vendors {
            None => self.any.push(at),
            Some(list) => {
                for v in list {
                    match v {
                        VendorPattern::Any => self.any.push(at),
                        VendorPattern::Exact(h) => {
                            self.exact.entry(h.clone()).or_default().push(at)
                        }
                        VendorPattern::SubdomainOf(d) => {
                            self.subdomain_of.entry(d.clone()).or_default().push(at)
                        }
                    }
                }
            }
        }
    }

    fn collect(&self, vendor: Option<&str>, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.any);
        let Some(host) = vendor else { return };
        if let Some(list) = self.exact.get(host) {
            out.extend_from_slice(list);
        }
        if self.subdomain_of.is_empty() {
            return;
        }
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(list) = self.subdomain_of.get(parent) {
                out.extend_from_slice(list);
            }
            rest = parent;
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PermissionIndex {
    by_action: FastMap<String, VendorBuckets>,
    glob_action: VendorBuckets,
}

impl PermissionIndex {
    fn build(permissions: &[Permission]) -> PermissionIndex {
        let mut index = PermissionIndex::default();
        for (at, p) in permissions.iter().enumerate() {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            for a in &p.actions {
                match a {
                    ActionPattern::Exact(action) => index
                        .by_action
                        .entry(action.clone())
                        .or_default()
                        .insert(p.vendors.as_ref(), at),
                    ActionPattern::Glob(_) => index.glob_action.insert(p.vendors.as_ref(), at),
                }
            }
        }
        index
    }

    /// The permissions that could match, in file order, without duplicates.
    pub(crate) fn candidates(&self, action: &str, vendor: Option<&str>, out: &mut Vec<u32>) {
        out.clear();
        if let Some(buckets) = self.by_action.get(action) {
            buckets.collect(vendor, out);
        }
        self.glob_action.collect(vendor, out);
        out.sort_unstable();
        out.dedup();
    }
}

// ---------------------------------------------------------------------------------------------
// The validator.

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
    /// Where each permission id was first seen: (passport, permission) positions.
    permission_ids: HashMap<String, (usize, usize)>,
    passport_ids: HashSet<String>,
    agents: HashSet<String>,
}

/// A JSON path, built without allocating and rendered only when a problem is reported
/// (`passports[0].permissions[2].when.env`).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
}

fn show(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

impl Validator {
    fn problem(&mut self, path: &Path<'_>, code: &'static str, message: String, hint: &str) {
        self.problems.push(Problem {
            path: path.to_string(),
            code,
            message,
            hint: hint.to_string(),
        });
    }

    fn wrong_type(&mut self, path: &Path<'_>, want: &str, got: &Value) {
        self.problem(
            path,
            "wrong_type",
            format!("expected {want}, got {} `{}`", type_name(got), show(got)),
            "see schema/behalf.schema.json for the shape of behalf.json",
        );
    }

    /// Checks an object against its spec: unknown and missing fields. Returns the map.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &Path<'_>,
        fields: &[Field],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = value else {
            self.wrong_type(path, "an object", value);
            return None;
        };
        for key in map.keys() {
            if !fields.iter().any(|f| f.name == key) {
                let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
                let message = match crate::suggest::closest(key, known.iter().copied()) {
                    Some(near) => format!("unknown field `{key}`; did you mean `{near}`?"),
                    None => format!("unknown field `{key}`"),
                };
                self.problem(
                    &path.key(key),
                    "unknown_field",
                    message,
                    &format!("known fields here: {}", known.join(", ")),
                );
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            if !map.contains_key(f.name) {
                self.problem(
                    &path.key(f.name),
                    "missing_field",
                    format!("missing required field `{}`", f.name),
                    &format!("add `{}`: {}", f.name, f.doc),
                );
            }
        }
        Some(map)
    }

    fn policy(&mut self, value: &Value) -> Option<Policy> {
        let root = Path::Root;
        let map = self.object(value, &root, spec::POLICY)?;
        if let Some(schema) = map.get("$schema") {
            self.text(schema, &root.key("$schema"));
        }
        if let Some(version) = map.get("version") {
            if version.as_u64() != Some(1) {
                self.problem(
                    &root.key("version"),
                    "bad_version",
                    format!("unsupported version `{}`", show(version)),
                    "this engine reads `\"version\": 1`",
                );
            }
        }
        let mut passports = Vec::new();
        if let Some(list) = map.get("passports") {
            match list {
                Value::Array(items) => {
                    let list = root.key("passports");
                    for (i, item) in items.iter().enumerate() {
                        if let Some(p) = self.passport(item, &list.index(i)) {
                            passports.push(p);
                        }
                    }
                }
                other => self.wrong_type(&root.key("passports"), "an array of passports", other),
            }
        }
        let mut webhooks = Vec::new();
        if let Some(list) = map.get("webhooks") {
            match list {
                Value::Array(items) => {
                    let mut seen = HashSet::new();
                    let list = root.key("webhooks");
                    for (i, item) in items.iter().enumerate() {
                        let path = list.index(i);
                        if let Some(w) = self.webhook(item, &path) {
                            if !seen.insert(w.id.clone()) {
                                self.problem(
                                    &path.key("id"),
                                    "duplicate_id",
                                    format!("webhook id `{}` is used twice", w.id),
                                    "give every webhook endpoint its own id",
                                );
                            }
                            webhooks.push(w);
                        }
                    }
                }
                other => self.wrong_type(
                    &root.key("webhooks"),
                    "an array of webhook endpoints",
                    other,
                ),
            }
        }
        // The first passport for an agent wins in the index; a duplicate is an error anyway.
        let mut by_agent = FastMap::default();
        for (i, p) in passports.iter().enumerate() {
            by_agent.entry(p.agent.clone()).or_insert(i);
        }
        let mut by_permission = FastMap::default();
        for (i, p) in passports.iter().enumerate() {
            for (j, q) in p.permissions.iter().enumerate() {
                by_permission.entry(q.id.clone()).or_insert((i, j));
            }
        }
        Some(Policy {
            passports,
            webhooks,
            by_agent,
            by_permission,
        })
    }

    fn id(&mut self, value: &Value, path: &Path<'_>) -> Option<String> {
        match value {
            Value::String(s) if is_valid_id(s) => Some(s.clone()),
            Value::String(s) => {
                self.problem(
                    path,
                    "bad_id",
                    format!("`{}` is not a valid id", show(&Value::String(s.clone()))),
                    "ids are 1-128 characters of A-Z a-z 0-9 _ . : -",
                );
                None
            }
            other => {
                self.wrong_type(path, "a string id", other);
                None
            }
        }
    }

    fn text(&mut self, value: &Value, path: &Path<'_>) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value, path: &Path<'_>) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(path, "true or false", other);
                None
            }
        }
    }

    fn time(&mut self, value: &Value, path: &Path<'_>) -> Option<Millis> {
        let Value::String(s) = value else {
            self.wrong_type(path, "an RFC 3339 time string", value);
            return None;
        };
        let parsed = parse_rfc3339(s);
        if parsed.is_none() {
            self.problem(
                path,
                "bad_time",
                format!("`{s}` is not an RFC 3339 time"),
                "write times like `2027-06-01T00:00:00Z`",
            );
        }
        parsed
    }

    fn duration(&mut self, value: &Value, path: &Path<'_>) -> Option<Millis> {
        if !matches!(value, Value::String(_) | Value::Number(_)) {
            self.wrong_type(path, "a duration such as \"30m\"", value);
            return None;
        }
        let parsed = parse_duration(value);
        if parsed.is_none() {
            self.problem(
                path,
                "bad_duration",
                format!("`{}` is not a duration", show(value)),
                "write a positive `<integer><unit>` with unit s, m, h or d (`30m`), or whole seconds",
            );
        }
        parsed
    }

    fn number(&mut self, value: &Value, path: &Path<'_>, non_negative: bool) -> Option<Decimal> {
        let Value::Number(n) = value else {
            self.wrong_type(path, "a number", value);
            return None;
        };
        match Decimal::from_json(n) {
            Ok(d) if non_negative && d.is_negative() => {
                self.problem(
                    path,
                    "bad_number",
                    format!("`{}` is negative", crate::number::show(n)),
                    "use a number >= 0",
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    path,
                    "bad_number",
                    format!("`{}` {}", crate::number::show(n), e.explain()),
                    "numbers are finite, at most 6 fractional digits, magnitude at most 2^53-1",
                );
                None
            }
        }
    }

    fn one_of(
        &mut self,
        value: &Value,
        path: &Path<'_>,
        allowed: &[&str],
        code: &'static str,
    ) -> Option<String> {
        match value {
            Value::String(s) if allowed.contains(&s.as_str()) => Some(s.clone()),
            other => {
                self.problem(
                    path,
                    code,
                    format!("`{}` is not one of {}", show(other), allowed.join(", ")),
                    &format!("use one of: {}", allowed.join(", ")),
                );
                None
            }
        }
    }

    /// A pattern or a non-empty array of patterns, each compiled by `parse`.
    fn patterns<T>(
        &mut self,
        value: &Value,
        path: &Path<'_>,
        what: &str,
        hint: &str,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Option<Vec<T>> {
        let items: Vec<(Path<'_>, &Value)> = match value {
            Value::String(_) => vec![(*path, value)],
            Value::Array(list) if list.is_empty() => {
                self.problem(
                    path,
                    "empty_array",
                    format!("empty list of {what} patterns"),
                    "give at least one pattern, or leave the field out",
                );
                return None;
            }
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (path.index(i), v))
                .collect(),
            other => {
                self.wrong_type(
                    path,
                    &format!("a {what} pattern or an array of them"),
                    other,
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (at, item) in items {
            let Value::String(s) = item else {
                self.wrong_type(&at, &format!("a {what} pattern"), item);
                ok = false;
                continue;
            };
            match parse(s) {
                Ok(p) => out.push(p),
                Err(why) => {
                    ok = false;
                    self.problem(
                        &at,
                        "bad_pattern",
                        format!("{what} pattern `{s}` {why}"),
                        hint,
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn passport(&mut self, value: &Value, path: &Path<'_>) -> Option<Passport> {
        let map = self.object(value, path, spec::PASSPORT)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        let agent = map
            .get("agent")
            .and_then(|v| self.id(v, &path.key("agent")));
        if let Some(id) = &id {
            if !self.passport_ids.insert(id.clone()) {
                self.problem(
                    &path.key("id"),
                    "duplicate_id",
                    format!("passport id `{id}` is used twice"),
                    "give every passport its own id",
                );
            }
        }
        if let Some(agent) = &agent {
            if !self.agents.insert(agent.clone()) {
                self.problem(
                    &path.key("agent"),
                    "duplicate_agent",
                    format!("agent `{agent}` has more than one passport"),
                    "merge the permissions into one passport per agent",
                );
            }
        }
        let not_before = map
            .get("notBefore")
            .and_then(|v| self.time(v, &path.key("notBefore")));
        let expires_at = map
            .get("expiresAt")
            .and_then(|v| self.time(v, &path.key("expiresAt")));
        self.window(path, not_before, expires_at);
        let revoked = map
            .get("revoked")
            .and_then(|v| self.boolean(v, &path.key("revoked")));
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        let mut permissions = Vec::new();
        if let Some(list) = map.get("permissions") {
            let list_path = path.key("permissions");
            match list {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(p) = self.permission(item, &list_path.index(i)) {
                            permissions.push(p);
                        }
                    }
                }
                other => self.wrong_type(&list_path, "an array of permissions", other),
            }
        }
        let mut starts: Vec<Millis> = permissions.iter().filter_map(|p| p.not_before).collect();
        let mut ends: Vec<Millis> = permissions.iter().filter_map(|p| p.expires_at).collect();
        starts.sort_unstable();
        ends.sort_unstable();
        let index = PermissionIndex::build(&permissions);
        Some(Passport {
            id: Arc::from(id?.as_str()),
            agent: agent?,
            not_before,
            expires_at,
            revoked: revoked.unwrap_or(false),
            description,
            permissions,
            index,
            starts,
            ends,
        })
    }

    fn window(&mut self, path: &Path<'_>, not_before: Option<Millis>, expires_at: Option<Millis>) {
        if let (Some(start), Some(end)) = (not_before, expires_at) {
            if start >= end {
                self.problem(
                    &path.key("notBefore"),
                    "bad_window",
                    "`notBefore` is not before `expiresAt`".into(),
                    "the window is notBefore <= now < expiresAt; make notBefore earlier",
                );
            }
        }
    }

    fn permission(&mut self, value: &Value, path: &Path<'_>) -> Option<Permission> {
        let map = self.object(value, path, spec::PERMISSION)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        if let Some(id) = &id {
            if let Some(&(i, j)) = self.permission_ids.get(id) {
                self.problem(
                    &path.key("id"),
                    "duplicate_id",
                    format!("permission id `{id}` is already used at passports[{i}].permissions[{j}].id"),
                    "permission ids are unique across the whole file",
                );
            } else {
                // The path is passports[i].permissions[j]: keep the positions, not the text.
                let at = match path {
                    Path::Index(Path::Key(Path::Index(_, i), _), j) => (*i, *j),
                    _ => (0, 0),
                };
                self.permission_ids.insert(id.clone(), at);
            }
        }
        let actions = map.get("action").and_then(|v| {
            self.patterns(
                v,
                &path.key("action"),
                "action",
                "actions use a-z 0-9 _ . : / - and `*`",
                ActionPattern::parse,
            )
        });
        let vendors = map.get("vendor").map(|v| {
            self.patterns(
                v,
                &path.key("vendor"),
                "vendor",
                "use `*`, `*.example.com` or a host name like `vercel.com`",
                VendorPattern::parse,
            )
        });
        let resources = map.get("resource").map(|v| {
            self.patterns(
                v,
                &path.key("resource"),
                "resource",
                "use `/`-separated paths; `*` within a segment, `**` across segments",
                ResourcePattern::parse,
            )
        });
        let when = map
            .get("when")
            .map(|v| self.conditions(v, &path.key("when")));
        let effect = match map.get("effect") {
            None => Some(Effect::Allow),
            Some(v) => self
                .one_of(v, &path.key("effect"), spec::EFFECTS, "bad_effect")
                .map(|e| match e.as_str() {
                    "block" => Effect::Block,
                    "require_approval" => Effect::RequireApproval,
                    _ => Effect::Allow,
                }),
        };
        let limits = match map.get("limits") {
            None => None,
            Some(v) => {
                if effect.is_some_and(|e| e != Effect::Allow) {
                    self.problem(
                        &path.key("limits"),
                        "limits_not_allowed",
                        "`limits` on a permission whose effect is not `allow`".into(),
                        "limits apply to allow permissions only; remove them or set effect to allow",
                    );
                }
                self.limits(v, &path.key("limits"))
            }
        };
        let approval = match map.get("approval") {
            None => Some(ApprovalSettings::default()),
            Some(v) => {
                let over = limits
                    .as_ref()
                    .is_some_and(|l| l.over_limit_requires_approval);
                if effect.is_some_and(|e| e != Effect::RequireApproval) && !over {
                    self.problem(
                        &path.key("approval"),
                        "approval_not_allowed",
                        "`approval` on a permission that never asks for approval".into(),
                        "use it with effect `require_approval`, or with limits.overLimit `require_approval`",
                    );
                }
                self.approval(v, &path.key("approval"))
            }
        };
        let not_before = map
            .get("notBefore")
            .and_then(|v| self.time(v, &path.key("notBefore")));
        let expires_at = map
            .get("expiresAt")
            .and_then(|v| self.time(v, &path.key("expiresAt")));
        self.window(path, not_before, expires_at);
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        Some(Permission {
            id: Arc::from(id?.as_str()),
            actions: actions?,
            vendors: vendors.transpose_option()?,
            resources: resources.transpose_option()?,
            when: when.transpose_option()?.unwrap_or_default(),
            effect: effect?,
            limits,
            approval: approval?,
            not_before,
            expires_at,
            description,
        })
    }

    fn limits(&mut self, value: &Value, path: &Path<'_>) -> Option<Limits> {
        let map = self.object(value, path, spec::LIMITS)?;
        if map.is_empty() {
            self.problem(
                path,
                "empty_array",
                "`limits` is empty".into(),
                "give maxAmount, budget or rate, or leave limits out",
            );
            return None;
        }
        let max_amount = map
            .get("maxAmount")
            .and_then(|v| self.number(v, &path.key("maxAmount"), true));
        let budget = map.get("budget").and_then(|v| {
            let at = path.key("budget");
            let m = self.object(v, &at, spec::BUDGET)?;
            let amount = m
                .get("amount")
                .and_then(|v| self.number(v, &at.key("amount"), true));
            let per = m.get("per").and_then(|v| self.duration(v, &at.key("per")));
            Some((amount?, per?))
        });
        let rate = map.get("rate").and_then(|v| {
            let at = path.key("rate");
            let m = self.object(v, &at, spec::RATE)?;
            let count = m.get("count").and_then(|v| match v.as_u64() {
                Some(c) if c >= 1 => Some(c),
                _ => {
                    self.problem(
                        &at.key("count"),
                        "bad_number",
                        format!("`{}` is not a whole number >= 1", show(v)),
                        "rate.count counts decisions: 1, 2, 3...",
                    );
                    None
                }
            });
            let per = m.get("per").and_then(|v| self.duration(v, &at.key("per")));
            Some((count?, per?))
        });
        let over = match map.get("overLimit") {
            None => Some(false),
            Some(v) => self
                .one_of(v, &path.key("overLimit"), spec::OVER_LIMIT, "bad_value")
                .map(|s| s == "require_approval"),
        };
        if map.contains_key("maxAmount") && max_amount.is_none()
            || map.contains_key("budget") && budget.is_none()
            || map.contains_key("rate") && rate.is_none()
        {
            return None;
        }
        Some(Limits {
            max_amount,
            budget,
            rate,
            over_limit_requires_approval: over?,
        })
    }

    fn approval(&mut self, value: &Value, path: &Path<'_>) -> Option<ApprovalSettings> {
        let map = self.object(value, path, spec::APPROVAL)?;
        let defaults = ApprovalSettings::default();
        let grant_ttl = map
            .get("grantTtl")
            .map(|v| self.duration(v, &path.key("grantTtl")));
        let pending_ttl = map
            .get("pendingTtl")
            .map(|v| self.duration(v, &path.key("pendingTtl")));
        let scope = map.get("scope").map(|v| {
            self.one_of(v, &path.key("scope"), spec::SCOPES, "bad_value")
                .map(|s| {
                    if s == "permission" {
                        Scope::Permission
                    } else {
                        Scope::Request
                    }
                })
        });
        let single_use = map
            .get("singleUse")
            .map(|v| self.boolean(v, &path.key("singleUse")));
        let max_pending = map
            .get("maxPending")
            .map(|v| self.max_pending(v, &path.key("maxPending")));
        Some(ApprovalSettings {
            grant_ttl: grant_ttl.unwrap_or(Some(defaults.grant_ttl))?,
            pending_ttl: pending_ttl.unwrap_or(Some(defaults.pending_ttl))?,
            scope: scope.unwrap_or(Some(defaults.scope))?,
            single_use: single_use.unwrap_or(Some(defaults.single_use))?,
            max_pending: max_pending.unwrap_or(Some(defaults.max_pending))?,
        })
    }

    /// `approval.maxPending`: an integer from 1 to the passport's cap (1,000).
    fn max_pending(&mut self, value: &Value, path: &Path<'_>) -> Option<usize> {
        let cap = crate::state::MAX_PENDING_PER_PASSPORT;
        if !value.is_number() {
            self.wrong_type(path, "an integer from 1 to 1000", value);
            return None;
        }
        match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=cap).contains(&n) => Some(n),
            _ => {
                self.problem(
                    path,
                    "bad_value",
                    format!("`maxPending` must be an integer from 1 to {cap}, not {value}"),
                    "write a whole number of pending approvals from 1 to 1000",
                );
                None
            }
        }
    }

    fn conditions(&mut self, value: &Value, path: &Path<'_>) -> Option<Vec<Condition>> {
        let Value::Object(map) = value else {
            self.wrong_type(path, "an object of param path -> matcher", value);
            return None;
        };
        let mut out = Vec::with_capacity(map.len());
        let mut ok = true;
        for (key, matcher) in map {
            let at = path.key(key);
            if key.is_empty() || key.len() > 256 || key.split('.').any(str::is_empty) {
                self.problem(
                    &at,
                    "bad_matcher",
                    format!("condition path `{key}` is empty, too long or has an empty step"),
                    "name a param, or a dotted path into nested params (`repo.owner`)",
                );
                ok = false;
                continue;
            }
            match self.matcher(matcher, &at) {
                Some(m) => out.push(Condition {
                    path: key.clone(),
                    matcher: m,
                    failure: Arc::from(format!("condition on `{key}` does not hold").as_str()),
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn scalar(&mut self, value: &Value, path: &Path<'_>) -> Option<Scalar> {
        match value {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::String(s) => Some(Scalar::String(s.clone())),
            Value::Number(_) => self.number(value, path, false).map(Scalar::Number),
            other => {
                self.problem(
                    path,
                    "bad_matcher",
                    format!(
                        "expected a string, number, boolean or null, got {}",
                        type_name(other)
                    ),
                    "to match one of several values use {\"in\": [...]}",
                );
                None
            }
        }
    }

    fn matcher(&mut self, value: &Value, path: &Path<'_>) -> Option<Matcher> {
        let Value::Object(ops) = value else {
            return self.scalar(value, path).map(Matcher::Equals);
        };
        if ops.is_empty() {
            self.problem(
                path,
                "bad_matcher",
                "empty matcher object".into(),
                "use one or more of in, notIn, ne, glob, lt, lte, gt, gte, exists, emailDomain",
            );
            return None;
        }
        let mut out = Vec::with_capacity(ops.len());
        let mut ok = true;
        for (op, arg) in ops {
            let at = path.key(op);
            let parsed = match op.as_str() {
                "in" | "notIn" => match arg {
                    Value::Array(items) => {
                        let scalars: Option<Vec<Scalar>> = items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| self.scalar(v, &at.index(i)))
                            .collect::<Vec<_>>()
                            .into_iter()
                            .collect();
                        scalars.map(|s| if op == "in" { Op::In(s) } else { Op::NotIn(s) })
                    }
                    other => {
                        self.problem(
                            &at,
                            "bad_matcher",
                            format!("`{op}` takes an array, got {}", type_name(other)),
                            "write {\"in\": [\"a\", \"b\"]}",
                        );
                        None
                    }
                },
                "ne" => self.scalar(arg, &at).map(Op::Ne),
                "glob" => match arg {
                    Value::String(s) => match ResourcePattern::parse(s) {
                        Ok(p) => Some(Op::Glob(p)),
                        Err(why) => {
                            self.problem(
                                &at,
                                "bad_matcher",
                                format!("`glob` `{s}` {why}"),
                                "a glob follows the resource rules: `*` within a segment, `**` across",
                            );
                            None
                        }
                    },
                    other => {
                        self.problem(
                            &at,
                            "bad_matcher",
                            format!("`glob` takes a string, got {}", type_name(other)),
                            "write {\"glob\": \"*@example.com\"}",
                        );
                        None
                    }
                },
                "lt" | "lte" | "gt" | "gte" => match arg {
                    Value::Number(_) => self.number(arg, &at, false).map(|d| match op.as_str() {
                        "lt" => Op::Lt(d),
                        "lte" => Op::Lte(d),
                        "gt" => Op::Gt(d),
                        _ => Op::Gte(d),
                    }),
                    other => {
                        self.problem(
                            &at,
                            "bad_matcher",
                            format!("`{op}` takes a number, got {}", type_name(other)),
                            "compare numbers only, e.g. {\"lte\": 100}",
                        );
                        None
                    }
                },
                "emailDomain" => self.email_domains(arg, &at).map(Op::EmailDomain),
                "exists" => match arg {
                    Value::Bool(b) => Some(Op::Exists(*b)),
                    other => {
                        self.problem(
                            &at,
                            "bad_matcher",
                            format!("`exists` takes true or false, got {}", type_name(other)),
                            "write {\"exists\": true}",
                        );
                        None
                    }
                },
                _ => {
                    self.problem(
                        &at,
                        "bad_matcher",
                        format!("unknown matcher `{op}`"),
                        "use in, notIn, ne, glob, lt, lte, gt, gte, exists or emailDomain",
                    );
                    None
                }
            };
            match parsed {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        ok.then_some(Matcher::All(out))
    }

    /// `emailDomain`: one domain pattern or an array of them, each a vendor pattern.
    fn email_domains(&mut self, value: &Value, path: &Path<'_>) -> Option<Vec<VendorPattern>> {
        let items: Vec<(Path<'_>, &Value)> = match value {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, v)| (path.index(i), v))
                .collect(),
            Value::String(_) => vec![(*path, value)],
            other => {
                self.problem(
                    path,
                    "bad_matcher",
                    format!(
                        "`emailDomain` takes a domain pattern or a non-empty array of them, got {}",
                        type_name(other)
                    ),
                    "write {\"emailDomain\": \"example.com\"} or [\"example.com\", \"*.example.com\"]",
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (at, item) in items {
            match item.as_str().map(VendorPattern::parse) {
                Some(Ok(p)) => out.push(p),
                Some(Err(why)) => {
                    self.problem(
                        &at,
                        "bad_matcher",
                        format!("email domain {} {why}", show(item)),
                        "use a domain (`example.com`), `*.example.com` or `*`",
                    );
                    ok = false;
                }
                None => {
                    self.wrong_type(&at, "a domain pattern string", item);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn webhook(&mut self, value: &Value, path: &Path<'_>) -> Option<WebhookEndpoint> {
        let map = self.object(value, path, spec::WEBHOOK)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        let url = map.get("url").and_then(|v| {
            let at = path.key("url");
            let s = self.text(v, &at)?;
            let ok = (s.starts_with("http://") || s.starts_with("https://"))
                && s.len() > 8
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                self.problem(
                    &at,
                    "bad_webhook",
                    format!("`{s}` is not an http(s) URL"),
                    "write a URL like `https://hooks.example.com/behalf`",
                );
            }
            ok.then_some(s)
        });
        let events = map.get("events").and_then(|v| {
            let at = path.key("events");
            let Value::Array(items) = v else {
                self.wrong_type(&at, "an array of event types", v);
                return None;
            };
            if items.is_empty() {
                self.problem(
                    &at,
                    "empty_array",
                    "no events listed".into(),
                    "list event types, or [\"*\"] for all",
                );
                return None;
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(e) if spec::EVENTS.contains(&e) => out.push(e.to_string()),
                    _ => self.problem(
                        &at.index(i),
                        "bad_webhook",
                        format!("`{}` is not an event type", show(item)),
                        &format!("use one of: {}", spec::EVENTS.join(", ")),
                    ),
                }
            }
            (out.len() == items.len()).then_some(out)
        });
        let secret_env = map
            .get("secretEnv")
            .and_then(|v| self.env_name(v, &path.key("secretEnv")));
        // Absent: None; present and valid: Some(Some); present and invalid: Some(None).
        let previous_secret_env = map.get("previousSecretEnv").map(|v| {
            let at = path.key("previousSecretEnv");
            let name = self.env_name(v, &at)?;
            if secret_env.as_deref() == Some(name.as_str()) {
                self.problem(
                    &at,
                    "bad_webhook",
                    format!("`{name}` is also the `secretEnv`"),
                    "name the variable holding the previous secret, or remove `previousSecretEnv` to end the rotation",
                );
                return None;
            }
            Some(name)
        });
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        Some(WebhookEndpoint {
            id: id?,
            url: url?,
            events: events?,
            secret_env: secret_env?,
            previous_secret_env: match previous_secret_env {
                None => None,
                Some(v) => Some(v?),
            },
            description,
        })
    }

    fn env_name(&mut self, v: &Value, at: &Path<'_>) -> Option<String> {
        let s = self.text(v, at)?;
        let ok = !s.is_empty()
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && !s.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if !ok {
            self.problem(
                at,
                "bad_webhook",
                format!("`{s}` is not an environment variable name"),
                "name the variable holding the secret, e.g. `BEHALF_WEBHOOK_SECRET`",
            );
        }
        ok.then_some(s)
    }
}

/// `Option<Option<T>>` from a present-but-maybe-invalid field: `Some(None)` means invalid.
trait TransposeOption<T> {
    fn transpose_option(self) -> Option<Option<T>>;
}

impl<T> TransposeOption<T> for Option<Option<T>> {
    fn transpose_option(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(None) => None,
            Some(Some(v)) => Some(Some(v)),
        }
    }
}
