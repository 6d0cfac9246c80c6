//! JSON that keeps its key order, so `behalf permissions` can edit `behalf.json` in place
//! without reshuffling what a person wrote.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum OValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<OValue>),
    Object(Vec<(String, OValue)>),
}

impl OValue {
    pub fn parse(text: &str) -> serde_json::Result<OValue> {
        serde_json::from_str(text)
    }

    pub fn to_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn get(&self, key: &str) -> Option<&OValue> {
        match self {
            OValue::Object(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut OValue> {
        match self {
            OValue::Object(items) => items.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key`, in place when it exists, else appended.
    pub fn set(&mut self, key: &str, value: OValue) {
        if let OValue::Object(items) = self {
            match items.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => items.push((key.to_string(), value)),
            }
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            OValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<OValue>> {
        match self {
            OValue::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<OValue>> {
        match self {
            OValue::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn str(s: impl Into<String>) -> OValue {
        OValue::String(s.into())
    }

    pub fn obj(items: Vec<(&str, OValue)>) -> OValue {
        OValue::Object(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// From a serde_json value (key order: serde_json's).
    pub fn from_value(v: &Value) -> OValue {
        match v {
            Value::Null => OValue::Null,
            Value::Bool(b) => OValue::Bool(*b),
            Value::Number(n) => OValue::Number(n.clone()),
            Value::String(s) => OValue::String(s.clone()),
            Value::Array(a) => OValue::Array(a.iter().map(OValue::from_value).collect()),
            Value::Object(m) => OValue::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), OValue::from_value(v)))
                    .collect(),
            ),
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for OValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OValue::Null => s.serialize_unit(),
            OValue::Bool(b) => s.serialize_bool(*b),
            OValue::Number(n) => n.serialize(s),
            OValue::String(v) => s.serialize_str(v),
            OValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OValue::Object(items) => {
                let mut map = s.serialize_map(Some(items.len()))?;
                for (k, v) in items {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OValue, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<OValue, E> {
                Ok(OValue::Null)
            }
            fn visit_none<E>(self) -> Result<OValue, E> {
                Ok(OValue::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<OValue, E> {
                Ok(OValue::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<OValue, E> {
                Ok(OValue::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<OValue, E> {
                Ok(OValue::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<OValue, E> {
                Ok(Number::from_f64(n).map_or(OValue::Null, OValue::Number))
            }
            fn visit_str<E>(self, s: &str) -> Result<OValue, E> {
                Ok(OValue::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<OValue, E> {
                Ok(OValue::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<OValue, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(OValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<OValue, A::Error> {
                let mut items = Vec::new();
                while let Some(k) = a.next_key::<String>()? {
                    // A number kept as its text (serde_json's arbitrary_precision).
                    if items.is_empty() && k == behalf_core::json::NUMBER_TOKEN {
                        let text: String = a.next_value()?;
                        return text
                            .parse::<Number>()
                            .map(OValue::Number)
                            .map_err(serde::de::Error::custom);
                    }
                    let v = a.next_value::<OValue>()?;
                    items.push((k, v));
                }
                Ok(OValue::Object(items))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_order_survives_a_round_trip() {
        let text = "{\n  \"version\": 1,\n  \"passports\": [],\n  \"alpha\": 0.1\n}\n";
        assert_eq!(OValue::parse(text).unwrap().to_pretty(), text);
    }

    #[test]
    fn numbers_keep_their_text_through_an_edit() {
        let text = "{\n  \"a\": 100.000001,\n  \"b\": [\n    1e-6,\n    9007199254740991,\n    -2.5\n  ]\n}\n";
        assert_eq!(OValue::parse(text).unwrap().to_pretty(), text);
    }
}
