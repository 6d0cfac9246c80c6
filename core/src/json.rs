//! JSON text as behalf reads it: like `serde_json::from_str`, but an object with a duplicate
//! key is refused. A last-wins parser and a first-wins consumer must never see two different
//! requests (or policies) in one text.

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
    let mut path = Vec::new();
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictValue {
        path: &mut path,
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate) {
        (_, Some(found)) => Err(found),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(JsonTextError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// One step of the path to the value being read.
enum Step {
    Key(String),
    Index(usize),
}

fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde_json's private marker for a number kept as text (feature `arbitrary_precision`):
/// a number arrives at a visitor as a one-entry map under this key. serde_json's own `Value`
/// reads it so; every other visitor of JSON text in behalf must too.
pub const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct StrictValue<'a> {
    path: &'a mut Vec<Step>,
    duplicate: &'a mut Option<JsonTextError>,
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
            self.path.push(Step::Index(items.len()));
            let item = seq.next_element_seed(StrictValue {
                path: self.path,
                duplicate: self.duplicate,
            });
            self.path.pop();
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
                let parent = render(self.path);
                let path = if parent.is_empty() {
                    key.clone()
                } else {
                    format!("{parent}.{key}")
                };
                *self.duplicate = Some(JsonTextError::DuplicateKey { path, key });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(Step::Key(key.clone()));
            let value = map.next_value_seed(StrictValue {
                path: self.path,
                duplicate: self.duplicate,
            });
            self.path.pop();
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
