//! `when` conditions: scalar equality and matcher objects (`in`, `glob`, `lt`, `emailDomain`...).

use std::sync::Arc;

use serde_json::Value;

use crate::normalize::{ResourcePattern, VendorPattern};

use super::{show, type_name, Path, Validator};
use crate::error::ErrorCode;
use crate::policy::{Condition, Matcher, Op, Scalar};

impl Validator {
    pub(super) fn conditions(&mut self, value: &Value, path: &Path<'_>) -> Option<Vec<Condition>> {
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
                    ErrorCode::BadMatcher,
                    format!("condition path `{key}` is empty, too long or has an empty step"),
                    "name a param, or a dotted path into nested params (`repo.owner`)",
                );
                ok = false;
                continue;
            }
            match self.matcher(matcher, &at) {
                Some(m) => out.push(Condition {
                    path: key.into(),
                    matcher: m,
                    failure: Arc::from(format!("condition on `{key}` does not hold").as_str()),
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn scalar(&mut self, value: &Value, path: &Path<'_>) -> Option<Scalar> {
        match value {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::String(s) => Some(Scalar::String(s.into())),
            Value::Number(_) => self.number(value, path, false).map(Scalar::Number),
            other => {
                self.problem(
                    path,
                    ErrorCode::BadMatcher,
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

    pub(super) fn matcher(&mut self, value: &Value, path: &Path<'_>) -> Option<Matcher> {
        let Value::Object(ops) = value else {
            return self.scalar(value, path).map(Matcher::Equals);
        };
        if ops.is_empty() {
            self.problem(
                path,
                ErrorCode::BadMatcher,
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
                            ErrorCode::BadMatcher,
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
                                ErrorCode::BadMatcher,
                                format!("`glob` `{s}` {why}"),
                                "a glob follows the resource rules: `*` within a segment, `**` across",
                            );
                            None
                        }
                    },
                    other => {
                        self.problem(
                            &at,
                            ErrorCode::BadMatcher,
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
                            ErrorCode::BadMatcher,
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
                            ErrorCode::BadMatcher,
                            format!("`exists` takes true or false, got {}", type_name(other)),
                            "write {\"exists\": true}",
                        );
                        None
                    }
                },
                _ => {
                    self.problem(
                        &at,
                        ErrorCode::BadMatcher,
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
    pub(super) fn email_domains(
        &mut self,
        value: &Value,
        path: &Path<'_>,
    ) -> Option<Vec<VendorPattern>> {
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
                    ErrorCode::BadMatcher,
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
                        ErrorCode::BadMatcher,
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
}
