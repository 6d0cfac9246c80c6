//! JSON text as behalf reads it: like `serde_json::from_str`, but an object with a duplicate
//! key is refused. A last-wins parser and a first-wins consumer must never see two different
//! requests (or policies) in one text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a JSON text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonTextError {
    /// Not JSON at all: serde_json's own message, and where (1-based line and column).
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// An object repeats a key. `path` is the repeated key's own path (`params.env`,
    /// `passports[0].permissions[1].id`); `key` is the key.
    DuplicateKey { path: String, key: String },
}

impl fmt::Display for JsonTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonTextError::Syntax { message, .. } => write!(f, "not valid JSON: {message}"),
            JsonTextError::DuplicateKey { path, key } => {
                write!(
                    f,
                    "duplicate key `{key}` at `{path}`: each key may appear only once"
                )
            }
        }
    }
}

impl JsonTextError {
    /// The error as a sentence about `subject` ("the request", "--params", "behalf.json").
    pub fn describe(&self, subject: &str) -> String {
        match self {
            JsonTextError::Syntax { message, .. } => {
                format!("{subject} is not valid JSON: {message}")
            }
            JsonTextError::DuplicateKey { path, key } => format!(
                "{subject} repeats the key `{key}` at `{path}`; each key may appear only once"
            ),
        }
    }
}

impl std::error::Error for JsonTextError {}

/// Parses JSON text into a value, refusing duplicate keys at any depth.
pub fn from_str(text: &str) -> Result<Value, JsonTextError> {
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictValue {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate) {
        (_, Some(found)) => Err(found.into_error()),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(JsonTextError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// A request text's own fields, read straight from the text: no JSON value is made of the
/// request object, and a field's text is borrowed from the request text when it has no escapes.
/// Only for the plain case; see [`request_fields`].
#[derive(Debug, Default)]
pub struct RequestText<'t> {
    agent_id: Option<Cow<'t, str>>,
    action: Option<Cow<'t, str>>,
    vendor: Option<Cow<'t, str>>,
    resource: Option<Cow<'t, str>>,
    request_id: Option<Cow<'t, str>>,
    /// Read as `from_str` reads a value (duplicate keys refused), always an object.
    pub params: Option<Value>,
}

impl RequestText<'_> {
    /// The fields as the request checks take them (params apart: hand them over).
    pub fn fields(&self) -> crate::request::Fields<'_> {
        fn text<'a>(f: &'a Option<Cow<'_, str>>) -> Option<crate::request::Field<'a>> {
            f.as_deref().map(crate::request::Field::Text)
        }
        crate::request::Fields {
            agent_id: text(&self.agent_id),
            action: text(&self.action),
            vendor: text(&self.vendor),
            resource: text(&self.resource),
            params: None,
            request_id: text(&self.request_id),
        }
    }
}

/// Reads a request text's fields without making a JSON value of the request object, when the
/// text is the plain case: one object, each key a request field given once, every field but
/// `params` a string, `params` (if given) an object without duplicate keys, nothing after.
/// `None` for anything else; the caller then reads the text with [`from_str`], and gets every
/// message as before. For the plain case the two ways give the same fields.
pub fn request_fields(text: &str) -> Option<RequestText<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de.deserialize_map(RequestVisitor).ok()?;
    de.end().ok()?;
    Some(read)
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = RequestText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestText<'de>, A::Error> {
        let mut out = RequestText::default();
        while let Some(key) = map.next_key_seed(BorrowedText)? {
            let slot = match key {
                "agentId" => &mut out.agent_id,
                "action" => &mut out.action,
                "vendor" => &mut out.vendor,
                "resource" => &mut out.resource,
                "requestId" => &mut out.request_id,
                "params" if out.params.is_none() => {
                    let mut duplicate = None;
                    let params = map.next_value_seed(StrictValue {
                        duplicate: &mut duplicate,
                    })?;
                    if !params.is_object() {
                        return Err(de::Error::custom("params is not an object"));
                    }
                    out.params = Some(params);
                    continue;
                }
                _ => return Err(de::Error::custom("not a plain request field")),
            };
            if slot.is_some() {
                return Err(de::Error::custom("a repeated field"));
            }
            *slot = Some(map.next_value_seed(Text)?);
        }
        Ok(out)
    }
}

/// A string borrowed from the text (a key without escapes); anything else is an error.
struct BorrowedText;

impl<'de> DeserializeSeed<'de> for BorrowedText {
    type Value = &'de str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'de str, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for BorrowedText {
    type Value = &'de str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key without escapes")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<&'de str, E> {
        Ok(v)
    }
}

/// A string: borrowed from the text when it has no escapes; anything else is an error.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// One step of the path to the value being read.
enum Step {
    Key(String),
    Index(usize),
}

/// A repeated key, and the steps to it, gathered as the error returns through each level (so
/// reading keeps no path, and copies no key, until a duplicate is found).
struct Duplicate {
    key: String,
    /// From the repeated key up to the top.
    steps_up: Vec<Step>,
}

impl Duplicate {
    fn into_error(self) -> JsonTextError {
        let mut path = String::new();
        for step in self.steps_up.iter().rev() {
            match step {
                Step::Key(k) if path.is_empty() => path.push_str(k),
                Step::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        JsonTextError::DuplicateKey {
            path,
            key: self.key,
        }
    }
}

/// serde_json's private marker for a number kept as text (feature `arbitrary_precision`):
/// a number arrives at a visitor as a one-entry map under this key. serde_json's own `Value`
/// reads it so; every other visitor of JSON text in behalf must too.
pub const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct StrictValue<'a> {
    duplicate: &'a mut Option<Duplicate>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let item = seq.next_element_seed(StrictValue {
                duplicate: self.duplicate,
            });
            if let (Err(_), Some(found)) = (&item, self.duplicate.as_mut()) {
                found.steps_up.push(Step::Index(items.len()));
            }
            match item? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.is_empty() && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return text
                    .parse::<Number>()
                    .map(Value::Number)
                    .map_err(de::Error::custom);
            }
            if out.contains_key(&key) {
                *self.duplicate = Some(Duplicate {
                    key: key.clone(),
                    steps_up: vec![Step::Key(key)],
                });
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(StrictValue {
                duplicate: self.duplicate,
            });
            if let (Err(_), Some(found)) = (&value, self.duplicate.as_mut()) {
                found.steps_up.push(Step::Key(key.clone()));
            }
            out.insert(key, value?);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_with_their_path() {
        assert_eq!(
            from_str(r#"{"a":1,"a":2}"#),
            Err(JsonTextError::DuplicateKey {
                path: "a".into(),
                key: "a".into()
            })
        );
        assert_eq!(
            from_str(r#"{"params":{"x":[{"k":1},{"k":1,"k":2}]}}"#),
            Err(JsonTextError::DuplicateKey {
                path: "params.x[1].k".into(),
                key: "k".into()
            })
        );
        assert_eq!(
            from_str(r#"[[], {"b":{"c":0}}, {"a":1,"a":2}]"#),
            Err(JsonTextError::DuplicateKey {
                path: "[2].a".into(),
                key: "a".into()
            })
        );
    }

    #[test]
    fn errors_read_as_sentences_about_their_subject() {
        let dup = from_str(r#"{"params":{"env":1,"env":2}}"#).err();
        assert_eq!(
            dup.map(|e| e.describe("the request")).as_deref(),
            Some(
                "the request repeats the key `env` at `params.env`; each key may appear only once"
            )
        );
        let bad = from_str("{").err().map(|e| e.describe("--params"));
        assert!(bad.is_some_and(|m| m.starts_with("--params is not valid JSON: ")));
    }

    #[test]
    fn the_same_key_in_sibling_objects_is_fine() {
        let v = from_str(r#"{"a":{"k":1},"b":{"k":2}}"#);
        assert_eq!(v, Ok(serde_json::json!({"a": {"k": 1}, "b": {"k": 2}})));
    }

    #[test]
    fn numbers_keep_their_text() {
        let v = from_str(r#"[100.00000000000001, 1e-7, -0, 9007199254740993]"#);
        let texts: Vec<String> = match v {
            Ok(Value::Array(items)) => items.iter().map(Value::to_string).collect(),
            other => vec![format!("{other:?}")],
        };
        assert_eq!(
            texts,
            ["100.00000000000001", "1e-7", "-0", "9007199254740993"]
        );
    }

    #[test]
    fn syntax_errors_and_trailing_text_are_refused() {
        assert!(matches!(from_str("{"), Err(JsonTextError::Syntax { .. })));
        assert!(matches!(
            from_str("{} x"),
            Err(JsonTextError::Syntax { .. })
        ));
        assert!(matches!(from_str(""), Err(JsonTextError::Syntax { .. })));
    }

    #[test]
    fn it_reads_what_serde_json_reads() {
        let text = r#"{"s":"\u00e9\n","n":null,"t":true,"a":[1,-2,3.5,{}],"o":{"x":[]}}"#;
        assert_eq!(
            from_str(text).ok(),
            serde_json::from_str::<Value>(text).ok()
        );
    }
}
