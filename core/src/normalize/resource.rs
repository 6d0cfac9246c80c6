//! Resources are `/`-separated paths, read the way the tool that opens them will: decoded
//! once, then refused if any consumer (a decoder, a file system, a URL router, a Unicode
//! normalizer) could read them as another path than the one checked.

use std::borrow::Cow;

use unicode_normalization::{is_nfc, is_nfkc};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::NormError;

const MAX_RESOURCE: usize = 8192;

/// Canonical resource path: percent-escapes decoded once; repeated, leading and trailing `/`
/// and leading `./` removed; every unsafe spelling refused. `allow_glob` for patterns.
pub fn resource(text: &str, allow_glob: bool) -> Result<String, NormError> {
    canonical_resource(text, allow_glob).map(Cow::into_owned)
}

/// `resource`, borrowing the text when it is already canonical (the usual case: a path with
/// no escapes, no empty or leading `.` segments), so checking it allocates nothing.
pub fn canonical_resource(text: &str, allow_glob: bool) -> Result<Cow<'_, str>, NormError> {
    if text.len() > MAX_RESOURCE {
        return Err("is longer than 8 KiB");
    }
    let decoded = percent_decode(text)?;
    check_characters(&decoded, allow_glob)?;
    // Every rule, on every segment; whether the canonical form leaves any segment out.
    let mut kept = 0usize;
    let mut left_out = false;
    for segment in decoded.split('/') {
        if segment.is_empty() || (segment == "." && kept == 0) {
            left_out = true;
            continue;
        }
        if segment == "." || segment == ".." {
            return Err("contains a `.` or `..` segment");
        }
        if segment.starts_with(' ') {
            return Err("has a segment that begins with a space");
        }
        if segment.ends_with('.') || segment.ends_with(' ') {
            return Err("has a segment that ends with `.` or a space (Windows drops them)");
        }
        if allow_glob && segment.contains("**") && segment != "**" {
            return Err("uses `**` inside a segment; `**` must be a whole segment");
        }
        kept += 1;
    }
    if kept == 0 {
        return Err("is empty");
    }
    if !left_out {
        return Ok(decoded);
    }
    // Repeated `/` collapse; a leading `/` and `./` go.
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." && out.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(segment);
    }
    Ok(Cow::Owned(out))
}

/// Decodes `%XX` once. A decode that yields a separator, `%` (a second layer of encoding),
/// NUL, a control character or bytes that are not UTF-8 is refused.
fn percent_decode(text: &str) -> Result<Cow<'_, str>, NormError> {
    if !text.as_bytes().contains(&b'%') {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if b != b'%' {
            out.push(b);
            at += 1;
            continue;
        }
        let hex = |i: usize| bytes.get(i).and_then(|&c| char::from(c).to_digit(16));
        let (Some(high), Some(low)) = (hex(at + 1), hex(at + 2)) else {
            return Err("has a `%` that is not followed by two hex digits");
        };
        let decoded = u8::try_from(high * 16 + low).unwrap_or(0);
        match decoded {
            b'/' | b'\\' => return Err("contains an encoded slash (%2F or %5C)"),
            b'%' => return Err("is encoded twice (%25)"),
            0 => return Err("contains NUL"),
            c if c < 0x20 || c == 0x7f => return Err("contains a control character"),
            c => out.push(c),
        }
        at += 3;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| "decodes to bytes that are not UTF-8")
}

/// Characters refused anywhere in a path, and Unicode that is not in its one canonical form.
fn check_characters(text: &str, allow_glob: bool) -> Result<(), NormError> {
    if text.is_ascii() {
        return check_ascii(text.as_bytes(), allow_glob);
    }
    let mut ascii = true;
    for c in text.chars() {
        match c {
            '\0' => return Err("contains NUL"),
            '\\' => return Err("contains `\\`"),
            '?' => return Err("contains `?`"),
            '#' => return Err("contains `#`"),
            ';' => return Err("contains `;`"),
            '*' if !allow_glob => return Err("contains `*`, which only patterns may use"),
            c if c.is_control() => return Err("contains a control character"),
            c if !c.is_ascii() => {
                ascii = false;
                match c.general_category() {
                    GeneralCategory::Format => {
                        return Err(
                            "contains an invisible format character (zero-width, BOM, soft hyphen, bidi control)",
                        )
                    }
                    GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                        return Err("contains a line or paragraph separator")
                    }
                    GeneralCategory::Unassigned => {
                        return Err("contains an unassigned code point")
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if ascii {
        return Ok(());
    }
    if !is_nfc(text) {
        return Err("is not in Unicode NFC form (compose it first)");
    }
    if !is_nfkc(text) {
        return Err(
            "contains a compatibility character (fullwidth forms, `‥`, KELVIN SIGN, long s...) that NFKC rewrites",
        );
    }
    Ok(())
}

/// `check_characters` for ASCII text, a byte at a time (the same rules, in the same order of
/// precedence: the first refused byte decides the message).
fn check_ascii(bytes: &[u8], allow_glob: bool) -> Result<(), NormError> {
    for &b in bytes {
        match b {
            0 => return Err("contains NUL"),
            b'\\' => return Err("contains `\\`"),
            b'?' => return Err("contains `?`"),
            b'#' => return Err("contains `#`"),
            b';' => return Err("contains `;`"),
            b'*' if !allow_glob => return Err("contains `*`, which only patterns may use"),
            b if b < 0x20 || b == 0x7f => return Err("contains a control character"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Result<String, NormError> {
        resource(text, false)
    }

    #[test]
    fn a_canonical_path_is_borrowed_and_any_other_rewritten() {
        for text in ["db/prod/main", "a", "db/.hidden/a.b", "caf\u{e9}/x"] {
            let got = canonical_resource(text, false);
            assert!(matches!(got, Ok(Cow::Borrowed(t)) if t == text), "{text}");
        }
        for (text, want) in [
            ("/a", "a"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/", "a"),
            ("%61", "a"),
        ] {
            let got = canonical_resource(text, false);
            assert!(
                matches!(&got, Ok(Cow::Owned(t)) if t == want),
                "{text}: {got:?}"
            );
        }
    }

    #[test]
    fn slashes_collapse_and_a_leading_dot_segment_drops() {
        assert_eq!(r("/db//prod/main/").as_deref(), Ok("db/prod/main"));
        assert_eq!(r("./db/prod").as_deref(), Ok("db/prod"));
        assert_eq!(r("/././db").as_deref(), Ok("db"));
    }

    #[test]
    fn escapes_decode_once_and_every_rule_applies_after() {
        assert_eq!(r("db/%70rod").as_deref(), Ok("db/prod"));
        assert_eq!(r("caf%C3%A9").as_deref(), Ok("café"));
        for bad in [
            "db/%2e%2e/x",
            "db/%2E%2E",
            "db/%2e./x",
            "db/.%2e",
            "db/%2e",
            "db%2Fx",
            "db%5cx",
            "db/%252e%252e",
            "db/%2",
            "db/%zz",
            "db/%00",
            "db/%0a",
            "db/%FF",
            "db/%3bx",
            "a%3Fb",
        ] {
            assert!(r(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spellings_that_consumers_rewrite_are_refused() {
        for bad in [
            "db/../x",
            "db/./x",
            "a\\b",
            "a?b",
            "a#b",
            "a\0b",
            "/",
            "db/prod;x",
            "db/prod.",
            "db/prod ",
            "db/ prod",
            "db/prod...",
        ] {
            assert!(r(bad).is_err(), "{bad}");
        }
        assert_eq!(r("db/.hidden/a.b").as_deref(), Ok("db/.hidden/a.b"));
    }

    #[test]
    fn ascii_is_refused_with_the_same_words_as_by_the_general_path() {
        // Text with a non-ASCII character takes the general (char) path; without, the byte path.
        for allow_glob in [false, true] {
            for b in 0u8..0x80 {
                let ascii = format!("a{}b", char::from(b));
                let general = format!("a{}b\u{e9}", char::from(b));
                assert_eq!(
                    check_characters(&ascii, allow_glob),
                    check_characters(&general, allow_glob),
                    "byte {b:#04x}, allow_glob {allow_glob}"
                );
            }
        }
    }

    #[test]
    fn unicode_must_be_nfc_without_compatibility_or_invisible_characters() {
        assert_eq!(r("caf\u{e9}").as_deref(), Ok("caf\u{e9}"));
        for bad in [
            "cafe\u{301}",     // NFD
            "\u{ff44}b/prod",  // fullwidth d
            "db\u{ff0f}prod",  // fullwidth solidus
            "\u{2025}/x",      // two dot leader
            "\u{212a}eys",     // KELVIN SIGN
            "\u{17f}ecret",    // long s
            "db/pr\u{200b}od", // zero-width space
            "db/pr\u{200d}od", // zero-width joiner
            "\u{feff}db",      // BOM
            "db/pr\u{ad}od",   // soft hyphen
            "db/\u{202e}dorp", // bidi override
            "db/\u{2028}x",    // line separator
        ] {
            assert!(r(bad).is_err(), "{bad:?}");
        }
    }
}
