//! Canonical JSON: sorted keys, no white space, numbers in their canonical decimal form.
//! Used for audit hashes and request fingerprints, so every runtime hashes the same bytes.

use serde_json::Value;

use crate::number::Decimal;

/// Writes `value` canonically. Iterative: depth never grows the native stack.
pub fn write(value: &Value, out: &mut String) {
    enum Item<'a> {
        Value(&'a Value),
        Raw(&'static str),
        Key(&'a str),
    }
    let mut stack = vec![Item::Value(value)];
    while let Some(item) = stack.pop() {
        match item {
            Item::Raw(s) => out.push_str(s),
            Item::Key(k) => {
                write_string(k, out);
                out.push(':');
            }
            Item::Value(v) => match v {
                Value::Null => out.push_str("null"),
                Value::Bool(true) => out.push_str("true"),
                Value::Bool(false) => out.push_str("false"),
                Value::Number(n) => match Decimal::from_json(n) {
                    Ok(d) => out.push_str(&d.to_string()),
                    Err(_) => out.push_str(&n.to_string()),
                },
                Value::String(s) => write_string(s, out),
                Value::Array(items) => {
                    out.push('[');
                    stack.push(Item::Raw("]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push(Item::Value(item));
                        if i > 0 {
                            stack.push(Item::Raw(","));
                        }
                    }
                }
                Value::Object(map) => {
                    out.push('{');
                    stack.push(Item::Raw("}"));
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort_unstable();
                    for (i, k) in keys.iter().enumerate().rev() {
                        if let Some(v) = map.get(k.as_str()) {
                            stack.push(Item::Value(v));
                        }
                        stack.push(Item::Key(k));
                        if i > 0 {
                            stack.push(Item::Raw(","));
                        }
                    }
                }
            },
        }
    }
}

/// Writes an object canonically.
pub fn write_map(map: &serde_json::Map<String, Value>, out: &mut String) {
    out.push('{');
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        if let Some(v) = map.get(k.as_str()) {
            write(v, out);
        }
    }
    out.push('}');
}

pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    // Copy runs that need no escape in one go; escape the rest.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => Some(""),
            _ => None,
        };
        if let Some(e) = escape {
            out.push_str(s.get(start..i).unwrap_or_default());
            if e.is_empty() {
                out.push_str(&format!("\\u{b:04x}"));
            } else {
                out.push_str(e);
            }
            start = i + 1;
        }
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_at_every_depth_and_canonicalizes_numbers() {
        let v = serde_json::json!({"b": [1.0, {"z": 1, "a": 0.1}], "a": "x\n"});
        assert_eq!(to_string(&v), r#"{"a":"x\n","b":[1,{"a":0.1,"z":1}]}"#);
    }

    #[test]
    fn escapes_like_json_and_keeps_unicode() {
        let text = "a\"b\\c\u{1}d\u{1f}é\tf";
        assert_eq!(
            to_string(&serde_json::json!(text)),
            r#""a\"b\\c\u0001d\u001fé\tf""#
        );
        let back: String =
            serde_json::from_str(&to_string(&serde_json::json!(text))).unwrap_or_default();
        assert_eq!(back, text);
    }
}
