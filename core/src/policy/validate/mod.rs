//! The validator: every problem of a policy, by JSON path, and the compiled policy when
//! there is none. `passport.rs`, `conditions.rs` and `webhooks.rs` read those parts.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::fasthash::FastMap;
use crate::number::Decimal;
use crate::spec::{self, Field};
use crate::time::{parse_duration, parse_rfc3339, Millis};

use super::{Policy, Problem};
use crate::error::ErrorCode;

mod conditions;
mod passport;
mod webhooks;

#[derive(Default)]
pub(super) struct Validator {
    pub(super) problems: Vec<Problem>,
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
    fn problem(&mut self, path: &Path<'_>, code: ErrorCode, message: String, hint: &str) {
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
            ErrorCode::WrongType,
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
                    ErrorCode::UnknownField,
                    message,
                    &format!("known fields here: {}", known.join(", ")),
                );
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            if !map.contains_key(f.name) {
                self.problem(
                    &path.key(f.name),
                    ErrorCode::MissingField,
                    format!("missing required field `{}`", f.name),
                    &format!("add `{}`: {}", f.name, f.doc),
                );
            }
        }
        Some(map)
    }

    pub(super) fn policy(&mut self, value: &Value) -> Option<Policy> {
        let root = Path::Root;
        let map = self.object(value, &root, spec::POLICY)?;
        if let Some(schema) = map.get("$schema") {
            self.text(schema, &root.key("$schema"));
        }
        if let Some(version) = map.get("version") {
            if version.as_u64() != Some(1) {
                self.problem(
                    &root.key("version"),
                    ErrorCode::BadVersion,
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
                                    ErrorCode::DuplicateId,
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
        let mut by_permission = FastMap::default();
        for (i, p) in passports.iter().enumerate() {
            for (j, q) in p.permissions.iter().enumerate() {
                by_permission.entry(q.id.clone()).or_insert((i, j));
            }
        }
        let names = super::Names::build(&passports);
        for passport in &mut passports {
            passport.index = super::PermissionIndex::build(&passport.permissions, &names);
        }
        Some(Policy {
            passports,
            webhooks,
            by_permission,
            names,
        })
    }

    fn id(&mut self, value: &Value, path: &Path<'_>) -> Option<String> {
        match value {
            Value::String(s) if is_valid_id(s) => Some(s.clone()),
            Value::String(s) => {
                self.problem(
                    path,
                    ErrorCode::BadId,
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
                ErrorCode::BadTime,
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
                ErrorCode::BadDuration,
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
                    ErrorCode::BadNumber,
                    format!("`{}` is negative", crate::number::show(n)),
                    "use a number >= 0",
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    path,
                    ErrorCode::BadNumber,
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
        code: ErrorCode,
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
                    ErrorCode::EmptyArray,
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
                        ErrorCode::BadPattern,
                        format!("{what} pattern `{s}` {why}"),
                        hint,
                    );
                }
            }
        }
        ok.then_some(out)
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
