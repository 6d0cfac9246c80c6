//! The request: validated and normalized before any permission is looked at.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use smol_str::SmolStr;

use crate::normalize;
use crate::number::Decimal;
use crate::policy::Names;

pub const MAX_DEPTH: usize = 32;
pub const MAX_VALUES: usize = 1024;
pub const MAX_STRING_BYTES: usize = 8192;
pub const MAX_ID_CHARS: usize = 128;

/// A request that passed validation, in canonical form. Its params are lent by the caller
/// when it kept the request value (`parse`), so checking a request copies none of them.
#[derive(Clone, Debug)]
pub struct Request<'p> {
    /// Inline up to 23 bytes: no allocation, and no shared count to touch.
    pub agent_id: SmolStr,
    pub action: Arc<str>,
    pub vendor: Option<Arc<str>>,
    pub resource: Option<Arc<str>>,
    pub params: Cow<'p, Map<String, Value>>,
    pub request_id: Option<String>,
    pub amount: Option<Decimal>,
}

impl Request<'_> {
    /// The same request with other params (the rest is moved, not copied).
    pub fn with_params<'q>(self, params: Cow<'q, Map<String, Value>>) -> Request<'q> {
        Request {
            agent_id: self.agent_id,
            action: self.action,
            vendor: self.vendor,
            resource: self.resource,
            params,
            request_id: self.request_id,
            amount: self.amount,
        }
    }

    /// A request that owns its params (to keep it beyond the value it was read from).
    pub fn into_owned(mut self) -> Request<'static> {
        let params = std::mem::take(&mut self.params).into_owned();
        self.with_params(Cow::Owned(params))
    }
}

/// Why a request was refused, with the fields that could be echoed.
#[derive(Clone, Debug, Default)]
pub struct Rejection {
    pub message: String,
    pub agent_id: Option<String>,
    pub action: Option<String>,
    pub vendor: Option<String>,
    pub resource: Option<String>,
    pub request_id: Option<String>,
}

impl Rejection {
    /// A rejection that echoes nothing (the input could not even be read as an object).
    pub fn bare(message: impl Into<String>) -> Rejection {
        Rejection {
            message: message.into(),
            ..Rejection::default()
        }
    }
}

const KNOWN: &[&str] = &[
    "agentId",
    "action",
    "vendor",
    "resource",
    "params",
    "requestId",
];

pub fn is_valid_request_id(id: &str) -> bool {
    crate::policy::is_valid_id(id)
}

fn quote(s: &str) -> String {
    let shown: String = s.chars().take(60).flat_map(char::escape_default).collect();
    if s.chars().count() > 60 {
        format!("`{shown}...`")
    } else {
        format!("`{shown}`")
    }
}

/// Validates and normalizes a request value; the request borrows its params from `value`.
/// (The rejection is large, but it is the rare path.)
#[allow(clippy::result_large_err)]
pub fn parse(value: &Value) -> Result<Request<'_>, Rejection> {
    parse_naming(value, None)
}

/// `parse`, sharing the strings a policy names instead of copying them.
#[allow(clippy::result_large_err)]
pub fn parse_naming<'v>(value: &'v Value, names: Option<&Names>) -> Result<Request<'v>, Rejection> {
    let (request, params) = parse_fields(value, names)?;
    Ok(match params {
        Some(p) => request.with_params(Cow::Borrowed(p)),
        None => request,
    })
}

/// Like `parse`, taking the value, so params are moved rather than copied or borrowed.
#[allow(clippy::result_large_err)]
pub fn parse_owned(value: Value) -> Result<Request<'static>, Rejection> {
    parse_owned_naming(value, None)
}

/// `parse_owned`, sharing the strings a policy names.
#[allow(clippy::result_large_err)]
pub fn parse_owned_naming(
    mut value: Value,
    names: Option<&Names>,
) -> Result<Request<'static>, Rejection> {
    let (mut request, _) = parse_fields(&value, names)?;
    if let Some(Value::Object(p)) = value.get_mut("params") {
        request.params = Cow::Owned(std::mem::take(p));
    }
    Ok(request)
}

type Params = Map<String, Value>;

/// One of the request's own fields as a caller found it: text already (a binding that read a
/// string without making a JSON value of it), or any JSON value.
#[derive(Clone, Copy, Debug)]
pub enum Field<'v> {
    Text(&'v str),
    Json(&'v Value),
}

impl<'v> Field<'v> {
    /// The text; `Ok(None)` for null; `Err` with the value for anything else.
    fn text(self) -> Result<Option<&'v str>, &'v Value> {
        match self {
            Field::Text(s) => Ok(Some(s)),
            Field::Json(Value::String(s)) => Ok(Some(s)),
            Field::Json(Value::Null) => Ok(None),
            Field::Json(other) => Err(other),
        }
    }

    /// The value as JSON text, for a message.
    fn json(self) -> String {
        match self {
            Field::Text(s) => Value::String(s.to_string()).to_string(),
            Field::Json(v) => v.to_string(),
        }
    }
}

/// The request object's own fields, as found (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fields<'v> {
    pub agent_id: Option<Field<'v>>,
    pub action: Option<Field<'v>>,
    pub vendor: Option<Field<'v>>,
    pub resource: Option<Field<'v>>,
    pub params: Option<&'v Value>,
    pub request_id: Option<Field<'v>>,
}

fn echo(field: Option<Field<'_>>) -> Option<String> {
    match field.map(Field::text) {
        Some(Ok(Some(s))) if s.chars().count() <= MAX_ID_CHARS => Some(s.to_string()),
        _ => None,
    }
}

impl Fields<'_> {
    /// A rejection that echoes the fields that can be echoed.
    fn reject(&self, message: String) -> Rejection {
        Rejection {
            message,
            agent_id: echo(self.agent_id),
            action: echo(self.action),
            vendor: echo(self.vendor),
            resource: echo(self.resource),
            request_id: echo(self.request_id).filter(|id| is_valid_request_id(id)),
        }
    }
}

/// Everything but moving params into the request (left empty here; the params object is
/// returned beside it).
#[allow(clippy::result_large_err)]
fn parse_fields<'v>(
    value: &'v Value,
    names: Option<&Names>,
) -> Result<(Request<'static>, Option<&'v Params>), Rejection> {
    let Value::Object(map) = value else {
        return Err(Rejection::bare(
            "the request must be an object with agentId and action",
        ));
    };
    // One pass over the object: each known field into its place; the first unknown is refused.
    let mut fields = Fields::default();
    let mut unknown = None;
    for (key, value) in map {
        let json = Some(Field::Json(value));
        match key.as_str() {
            "agentId" => fields.agent_id = json,
            "action" => fields.action = json,
            "vendor" => fields.vendor = json,
            "resource" => fields.resource = json,
            "params" => fields.params = Some(value),
            "requestId" => fields.request_id = json,
            _ => {
                unknown = unknown.or(Some(key));
            }
        }
    }
    if let Some(key) = unknown {
        return Err(fields.reject(format!(
            "unknown request field {}; known fields: {}",
            quote(key),
            KNOWN.join(", ")
        )));
    }
    check_fields(&fields, names)
}

/// Validates and normalizes a request given as its fields (a binding's fast path: no JSON
/// value is made of the request object). `params`, if given, is moved into the request.
#[allow(clippy::result_large_err)]
pub fn parse_given_fields(
    fields: &Fields<'_>,
    params: Option<Value>,
    names: Option<&Names>,
) -> Result<Request<'static>, Rejection> {
    let fields = Fields {
        params: params.as_ref(),
        ..*fields
    };
    let (mut request, _) = check_fields(&fields, names)?;
    if let Some(Value::Object(p)) = params {
        request.params = Cow::Owned(p);
    }
    Ok(request)
}

/// Checks each field and params; the request comes back without its params (the params
/// object, if any, beside it).
#[allow(clippy::result_large_err)]
fn check_fields<'v>(
    fields: &Fields<'v>,
    names: Option<&Names>,
) -> Result<(Request<'static>, Option<&'v Params>), Rejection> {
    let share = |s: &str| match names {
        Some(names) => names.share(s),
        None => Arc::from(s),
    };
    let reject = |message: String| fields.reject(message);
    let request_id = match fields.request_id.map(Field::text) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(id))) if is_valid_request_id(id) => Some(id.to_string()),
        Some(_) => {
            let shown = fields.request_id.map(Field::json).unwrap_or_default();
            return Err(reject(format!(
                "`requestId` {} must match [A-Za-z0-9_.:-]{{1,128}}",
                quote(&shown)
            )));
        }
    };
    let agent_id = match fields.agent_id.map(Field::text) {
        Some(Ok(Some(""))) => return Err(reject("`agentId` is empty".into())),
        // More than 128 characters takes more than 128 bytes: most ids are not counted.
        Some(Ok(Some(s))) if s.len() > MAX_ID_CHARS && s.chars().count() > MAX_ID_CHARS => {
            return Err(reject("`agentId` is longer than 128 characters".into()))
        }
        Some(Ok(Some(s))) if has_control(s) => {
            return Err(reject("`agentId` contains a control character".into()))
        }
        Some(Ok(Some(s))) => SmolStr::new(s),
        None | Some(Ok(None)) => return Err(reject("`agentId` is required".into())),
        Some(Err(_)) => return Err(reject("`agentId` must be a string".into())),
    };
    let action = match fields.action.map(Field::text) {
        Some(Ok(Some(s))) if normalize::is_canonical_action(s) => share(s),
        Some(Ok(Some(s))) => Arc::from(
            normalize::action(s, false)
                .map_err(|why| reject(format!("`action` {} {why}", quote(s))))?
                .as_str(),
        ),
        None | Some(Ok(None)) => return Err(reject("`action` is required".into())),
        Some(Err(_)) => return Err(reject("`action` must be a string".into())),
    };
    let vendor = match fields.vendor.map(Field::text) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(s))) if normalize::is_canonical_vendor(s) => Some(share(s)),
        Some(Ok(Some(s))) => Some(Arc::from(
            normalize::vendor(s)
                .map_err(|why| reject(format!("`vendor` {} {why}", quote(s))))?
                .as_str(),
        )),
        Some(Err(_)) => return Err(reject("`vendor` must be a host name string or null".into())),
    };
    let resource = match fields.resource.map(Field::text) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(s))) => Some(Arc::from(
            &*normalize::canonical_resource(s, false)
                .map_err(|why| reject(format!("`resource` {} {why}", quote(s))))?,
        )),
        Some(Err(_)) => return Err(reject("`resource` must be a path string or null".into())),
    };
    let empty = Map::new();
    let given = match fields.params {
        Some(Value::Object(p)) => Some(p),
        _ => None,
    };
    let params = match fields.params {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(reject("`params` must be an object".into())),
    };
    let checked_amount = check_params(params).map_err(&reject)?;
    let amount = match params.get("amount") {
        None => None,
        Some(Value::Number(n)) => match checked_amount.map_or_else(|| Decimal::from_json(n), Ok) {
            Ok(d) if d.is_negative() => {
                return Err(reject(format!(
                    "`params.amount` `{}` must be >= 0",
                    crate::number::show(n)
                )))
            }
            Ok(d) => Some(d),
            Err(e) => {
                return Err(reject(format!(
                    "`params.amount` `{}` {}",
                    crate::number::show(n),
                    e.explain()
                )))
            }
        },
        Some(other) => {
            return Err(reject(format!(
                "`params.amount` must be a number >= 0, got {}",
                quote(&other.to_string())
            )))
        }
    };
    let request = Request {
        agent_id,
        action,
        vendor,
        resource,
        params: Cow::Owned(Map::new()),
        request_id,
        amount,
    };
    Ok((request, given))
}

/// Whether text holds a control character (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F);
/// ASCII text is read a byte at a time.
fn has_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    }
}

/// Depth, count, string length and number rules over params, with an explicit stack (only
/// nested containers go on it, so flat params allocate nothing). Error messages name the
/// innermost key (`params...key`); paths are not built on the hot path. Returns
/// `params.amount` as read, when it is a number (so it is not read twice).
fn check_params(params: &Map<String, Value>) -> Result<Option<Decimal>, String> {
    let mut stack: Vec<(&Value, usize, &str)> = Vec::new();
    let mut count = 1usize;
    let mut amount = None;
    for (k, v) in params {
        check_key(k, "params")?;
        let number = check_value(v, 2, k, &mut count, &mut stack)?;
        if k == "amount" {
            amount = number;
        }
    }
    while let Some((value, depth, key)) = stack.pop() {
        match value {
            Value::Array(items) => {
                for item in items {
                    check_value(item, depth + 1, key, &mut count, &mut stack)?;
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    check_key(k, key)?;
                    check_value(v, depth + 1, k, &mut count, &mut stack)?;
                }
            }
            _ => {}
        }
    }
    Ok(amount)
}

/// Counts one value, checks it, and queues it if it is a container; a number comes back read.
fn check_value<'v>(
    value: &'v Value,
    depth: usize,
    key: &'v str,
    count: &mut usize,
    stack: &mut Vec<(&'v Value, usize, &'v str)>,
) -> Result<Option<Decimal>, String> {
    *count += 1;
    if *count > MAX_VALUES {
        return Err(format!("`params` holds more than {MAX_VALUES} values"));
    }
    if depth > MAX_DEPTH {
        return Err(format!("`params` is nested deeper than {MAX_DEPTH} levels"));
    }
    let at = if depth == 2 { "params." } else { "params...." };
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Err(format!("`{at}{key}` is a string longer than 8 KiB"))
        }
        Value::Number(n) => match Decimal::from_json(n) {
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(format!(
                "`{at}{key}` `{}` {}",
                crate::number::show(n),
                e.explain()
            )),
        },
        Value::Array(_) | Value::Object(_) => {
            stack.push((value, depth, key));
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn check_key(key: &str, at: &str) -> Result<(), String> {
    if key.len() > MAX_STRING_BYTES {
        return Err(format!("a key in `{at}` is longer than 8 KiB"));
    }
    // A condition path `repo.owner` must have one meaning: nested keys, never a dotted key.
    if key.as_bytes().contains(&b'.') {
        return Err(format!(
            "a key in `{at}`, {}, contains `.`; nest objects instead ({{\"repo\": {{\"owner\": ...}}}})",
            quote(key)
        ));
    }
    Ok(())
}

/// What a condition path finds in params.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'p> {
    Found(&'p Value),
    Missing,
    /// A step of the path is present but not an object (`repo` is a string in `repo.owner`):
    /// what the path means there cannot be decided.
    Undecidable,
}

/// Looks a condition path up in params: each `.` steps into a nested object. (Params keys
/// never contain `.`, so a path has exactly one meaning.)
pub fn lookup<'p>(params: &'p Map<String, Value>, path: &str) -> Lookup<'p> {
    if !path.as_bytes().contains(&b'.') {
        return params.get(path).map_or(Lookup::Missing, Lookup::Found);
    }
    let mut parts = path.split('.');
    let Some(mut current) = parts.next().and_then(|first| params.get(first)) else {
        return Lookup::Missing;
    };
    for part in parts {
        let Value::Object(map) = current else {
            return Lookup::Undecidable;
        };
        match map.get(part) {
            Some(v) => current = v,
            None => return Lookup::Missing,
        }
    }
    Lookup::Found(current)
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn control_characters_are_found_in_ascii_and_in_any_text() {
        for (text, want) in [
            ("agent_ollie", false),
            ("a\tb", true),
            ("\u{0}", true),
            ("a\u{7f}", true),
            ("~ ", false),
            ("caf\u{e9}", false),
            ("caf\u{e9}\u{85}", true),
            ("\u{9f}x", true),
            ("\u{a0}x", false),
        ] {
            assert_eq!(has_control(text), want, "{text:?}");
            assert_eq!(
                has_control(text),
                text.chars().any(char::is_control),
                "{text:?}"
            );
        }
    }
}
