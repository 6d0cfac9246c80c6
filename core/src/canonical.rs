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
    // Scalars (most params) need no work list.
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        write_scalar(value, out);
        return;
    }
    let mut stack = vec![Item::Value(value)];
    while let Some(item) = stack.pop() {
        match item {
            Item::Raw(s) => out.push_str(s),
            Item::Key(k) => {
                write_string(k, out);
                out.push(':');
            }
            Item::Value(Value::Array(items)) => {
                out.push('[');
                stack.push(Item::Raw("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Item::Value(item));
                    if i > 0 {
                        stack.push(Item::Raw(","));
                    }
                }
            }
            Item::Value(Value::Object(map)) => {
                out.push('{');
                stack.push(Item::Raw("}"));
                let entries = sorted_entries(map);
                let last = entries.len().saturating_sub(1);
                for (i, (k, v)) in entries.into_iter().rev().enumerate() {
                    stack.push(Item::Value(v));
                    stack.push(Item::Key(k));
                    if i < last {
                        stack.push(Item::Raw(","));
                    }
                }
            }
            Item::Value(scalar) => write_scalar(scalar, out),
        }
    }
}

/// null, a boolean, a number or a string.
fn write_scalar(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(_) | Value::Object(_) => write(value, out),
    }
}

/// A number in its canonical decimal form. An integer already spelled canonically (no sign
/// but `-`, no leading zero, not `-0`) is its own form and is copied as it is; every other
/// number takes the decimal path, as it always has (the chain's hashes depend on it).
fn write_number(n: &serde_json::Number, out: &mut String) {
    let text = n.as_str();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical_integer = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (!digits.starts_with('0') || (digits.len() == 1 && digits.len() == text.len()));
    if canonical_integer {
        out.push_str(text);
        return;
    }
    use std::fmt::Write as _;
    match Decimal::from_json(n) {
        Ok(d) => {
            let _ = write!(out, "{d}");
        }
        Err(_) => {
            let _ = write!(out, "{n}");
        }
    }
}

/// An object's entries in canonical (byte-wise) key order: as stored when the map already
/// keeps them so (serde_json's default `BTreeMap`), sorted otherwise (`preserve_order`).
fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    if !entries.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    entries
}

/// Writes an object canonically. One pass over the map as stored, checking the order as it
/// goes (serde_json's default map is already sorted); a map out of order is written again from
/// its sorted entries.
pub fn write_map(map: &serde_json::Map<String, Value>, out: &mut String) {
    let start = out.len();
    out.push('{');
    let mut previous: Option<&str> = None;
    for (k, v) in map {
        if let Some(p) = previous {
            if p >= k.as_str() {
                out.truncate(start);
                write_entries(sorted_entries(map).into_iter(), out);
                return;
            }
            out.push(',');
        }
        previous = Some(k);
        write_string(k, out);
        out.push(':');
        write(v, out);
    }
    out.push('}');
}

fn write_entries<'a>(entries: impl Iterator<Item = (&'a str, &'a Value)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write(v, out);
    }
    out.push('}');
}

pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Whether any byte is a control character, `"` or `\\`: eight bytes at a time (SWAR; the
/// classic "has a byte less than n / equal to c" tests have no false negatives).
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q & HIGH;
        let b = x ^ (ONES * u64::from(b'\\'));
        let backslash = b.wrapping_sub(ONES) & !b & HIGH;
        if control | quote | backslash != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

pub fn write_string(s: &str, out: &mut String) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
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
    fn integers_are_copied_and_every_other_number_is_canonicalized() {
        for (text, canonical) in [
            ("0", "0"),
            ("-0", "-0"),
            ("742", "742"),
            ("-17", "-17"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("1.50", "1.5"),
            ("1e2", "100"),
            ("-0.0", "-0.0"),
            ("1E400", "1e+400"),
            ("0.0000001", "0.0000001"),
        ] {
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            assert_eq!(to_string(&v), canonical, "{text}");
        }
    }

    #[test]
    fn maps_in_insertion_order_are_sorted_like_maps_in_key_order() {
        let sorted = serde_json::json!({"a": 1, "b": {"y": [2, {"k": 1.0}], "x": null}, "c": "z"});
        let Value::Object(map) = &sorted else {
            return;
        };
        let mut text = String::new();
        write_map(map, &mut text);
        assert_eq!(text, r#"{"a":1,"b":{"x":null,"y":[2,{"k":1}]},"c":"z"}"#);
        assert_eq!(to_string(&sorted), text);
    }

    #[test]
    fn the_fast_escape_check_finds_every_byte_that_needs_escaping() {
        for len in 0..24 {
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\', b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    if let Some(b) = bytes.get_mut(at) {
                        *b = special;
                    }
                    assert!(needs_escape(&bytes), "{len} {at} {special}");
                }
            }
            for plain in [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
                assert!(!needs_escape(&vec![plain; len]), "{len} {plain}");
            }
        }
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
