//! Vendors are hosts, read the way a WHATWG URL parser (every browser, Node's `URL`, curl's
//! and Python's newer parsers) reads them, so the host behalf checks is the host a tool dials.

use unicode_normalization::is_nfkc;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::NormError;

const MAX_HOST: usize = 253;

/// Already canonical: lowercase labels of allowed bytes, no trailing dot, and nothing that a
/// URL parser would rewrite (an address-like last label, a punycode label, brackets).
pub fn is_canonical_vendor(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_HOST {
        return false;
    }
    // One pass: label lengths, where each label starts, and any `xn--` (it ends at a `-`).
    let mut label = 0usize;
    let mut label_starts_with_digit = false;
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'0'..=b'9' | b'_' => {}
            b'-' if i >= 3 && bytes.get(i - 3..=i) == Some(b"xn--".as_slice()) => return false,
            b'-' => {}
            b'.' if label > 0 => {
                label = 0;
                continue;
            }
            _ => return false,
        }
        if label == 0 {
            label_starts_with_digit = c.is_ascii_digit();
        }
        label += 1;
        if label > 63 {
            return false;
        }
    }
    // An address-like last label (`1b`, `0x7f`) is rewritten by URL parsers.
    label > 0 && !label_starts_with_digit
}

/// Canonical host. A name: ASCII, lowercased, one trailing dot stripped, no empty labels.
/// An IPv4 address in any form a URL parser accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`):
/// dotted decimal. An IPv6 literal: `[…]` in RFC 5952 form. Anything else numeric: refused.
pub fn vendor(text: &str) -> Result<String, NormError> {
    if text.starts_with('[') {
        return ipv6(text);
    }
    let host = text.strip_suffix('.').unwrap_or(text);
    if host.is_empty() {
        return Err("is empty");
    }
    if host.len() > MAX_HOST {
        return if text.is_ascii() {
            Err("is longer than 253 characters")
        } else {
            Err("is not ASCII (punycode it first: xn--...)")
        };
    }
    let mut out = String::with_capacity(host.len());
    let mut label = 0usize;
    for c in host.bytes() {
        match c {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => label += 1,
            b'A'..=b'Z' => label += 1,
            b'.' if label == 0 => return Err("has an empty label"),
            b'.' => label = 0,
            b':' if host.contains("://") => return Err("has a scheme; give the host only"),
            b':' => return Err("has a port or scheme; give the host only (IPv6 in brackets)"),
            b'/' => return Err("has a path; give the host only"),
            b'@' => return Err("has userinfo (`@`); give the host only"),
            b' ' | b'\t' => return Err("contains white space"),
            b'*' => return Err("contains `*`, which only patterns may use"),
            b'%' => return Err("contains `%`; give the host itself, not an encoded form"),
            0x80.. => return Err("is not ASCII (punycode it first: xn--...)"),
            _ => return Err("may only contain a-z 0-9 - _ and dots"),
        }
        if label > 63 {
            return Err("has a label longer than 63 characters");
        }
        out.push(char::from(c.to_ascii_lowercase()));
    }
    if label == 0 {
        return Err("has an empty label");
    }
    let last_label = out.rsplit('.').next().unwrap_or("");
    let address_like = last_label.starts_with(|c: char| c.is_ascii_digit());
    if !address_like && !out.split('.').any(|l| l.starts_with("xn--")) {
        return Ok(out);
    }
    if out
        .split('.')
        .any(|l| l.starts_with("xn--") && !valid_punycode_label(l))
    {
        return Err("has a punycode (xn--) label that does not decode to a valid name");
    }
    // The URL parser decides what ends in a number: an IPv4 address in any of its spellings.
    match url::Host::parse(&out) {
        Ok(url::Host::Ipv4(address)) => Ok(address.to_string()),
        Ok(url::Host::Domain(domain)) if domain == out => Ok(out),
        _ => Err(
            "ends in a number but is not an IPv4 address (one to four decimal, 0x hex or 0 octal parts)",
        ),
    }
}

/// An `xn--` label must be the one punycode spelling of a lowercase, NFKC-stable name with no
/// invisible, control, space, private-use or unassigned character and no leading mark — what
/// UTS 46 calls valid, checked with the normalization and category tables behalf already
/// carries. (The bidi and joiner context rules are not checked: a label failing only those
/// is accepted here and refused by a URL parser, so a tool cannot dial it either.)
fn valid_punycode_label(label: &str) -> bool {
    let Some(encoded) = label.strip_prefix("xn--") else {
        return false;
    };
    let Some(decoded) = idna::punycode::decode_to_string(encoded) else {
        return false;
    };
    if decoded.is_ascii() || idna::punycode::encode_str(&decoded).as_deref() != Some(encoded) {
        return false;
    }
    let starts_with_mark = decoded.chars().next().is_some_and(|c| {
        matches!(
            c.general_category(),
            GeneralCategory::NonspacingMark
                | GeneralCategory::SpacingMark
                | GeneralCategory::EnclosingMark
        )
    });
    let every_char_valid = decoded.chars().all(|c| {
        !c.is_uppercase()
            && !matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::Unassigned
                    | GeneralCategory::PrivateUse
                    | GeneralCategory::Surrogate
                    | GeneralCategory::SpaceSeparator
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            )
    });
    !starts_with_mark && every_char_valid && is_nfkc(&decoded)
}

/// `[…]`: an IPv6 address, serialized as RFC 5952 says. IPv4-mapped and IPv4-compatible
/// forms are refused: they reach an IPv4 host that a policy names by its IPv4 address.
fn ipv6(text: &str) -> Result<String, NormError> {
    if !text.ends_with(']') {
        return Err("opens `[` without a closing `]` (an IPv6 literal is `[::1]`)");
    }
    match url::Host::parse(text) {
        Ok(url::Host::Ipv6(address)) => {
            let segments = address.segments();
            let embeds_ipv4 = segments.get(..5).is_some_and(|s| s.iter().all(|&x| x == 0))
                && segments.get(5).is_some_and(|&x| x == 0 || x == 0xffff)
                && !address.is_loopback()
                && !address.is_unspecified();
            if embeds_ipv4 {
                return Err("is an IPv4 address written as IPv6; give the IPv4 address");
            }
            Ok(url::Host::<String>::Ipv6(address).to_string())
        }
        _ => Err("is not a valid IPv6 address in brackets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Result<String, NormError> {
        vendor(text)
    }

    #[test]
    fn names_are_lowercased_with_one_trailing_dot_stripped() {
        assert_eq!(v("Vercel.COM.").as_deref(), Ok("vercel.com"));
        assert!(v("vercel.com..").is_err());
        assert!(v("ｖｅｒｃｅｌ.com").is_err());
        assert!(v("vercel.com:443").is_err());
        assert!(v("https://vercel.com").is_err());
        assert!(v("user@vercel.com").is_err());
        assert!(v("vercel%2ecom").is_err());
    }

    #[test]
    fn every_ipv4_spelling_becomes_dotted_decimal() {
        for spelling in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0177.0.0.1",
            "0177.1",
            "127.1",
            "127.0.1",
            "0X7F.0.0.1",
            "127.0.0.1.",
            "017700000001",
        ] {
            assert_eq!(v(spelling).as_deref(), Ok("127.0.0.1"), "{spelling}");
        }
    }

    #[test]
    fn numeric_hosts_that_are_not_addresses_are_refused() {
        for bad in [
            "256.0.0.1",
            "1.2.3.4.5",
            "08.1.1.1",
            "0x1g.1",
            "4294967296",
            "example.123",
        ] {
            assert!(v(bad).is_err(), "{bad}");
        }
        assert_eq!(v("1password.com").as_deref(), Ok("1password.com"));
        assert_eq!(v("example.3com").as_deref(), Ok("example.3com"));
    }

    #[test]
    fn ipv6_literals_are_rfc_5952() {
        assert_eq!(v("[::1]").as_deref(), Ok("[::1]"));
        assert_eq!(v("[2001:DB8:0:0:0:0:0:1]").as_deref(), Ok("[2001:db8::1]"));
        assert_eq!(v("[0:0:0:0:0:0:0:1]").as_deref(), Ok("[::1]"));
        assert!(v("[::ffff:127.0.0.1]").is_err());
        assert!(v("[::127.0.0.1]").is_err());
        assert!(v("::1").is_err());
        assert!(v("[::1").is_err());
        assert!(v("[zz::1]").is_err());
    }

    #[test]
    fn punycode_labels_must_be_valid() {
        assert_eq!(v("xn--bcher-kva.ch").as_deref(), Ok("xn--bcher-kva.ch"));
        assert_eq!(v("XN--BCHER-KVA.ch").as_deref(), Ok("xn--bcher-kva.ch"));
        assert_eq!(v("xn--ls8h.la").as_deref(), Ok("xn--ls8h.la"));
        assert!(v("xn--a.com").is_err(), "decodes to a C1 control");
        assert!(v("xn--.com").is_err(), "empty");
        assert!(v("xn--abc-.com").is_err(), "decodes to ASCII");
        assert!(v("xn--bcher-kva-.ch").is_err(), "not punycode");
        assert!(
            v("xn--cher-zra77610b.ch").is_err(),
            "fullwidth b: NFKC rewrites it"
        );
        assert!(
            v("xn--bucher-xyd.ch").is_err(),
            "u + combining diaeresis: not NFC"
        );
    }

    /// The fast path as first written (three passes), kept as the reference.
    fn reference(text: &str) -> bool {
        if text.is_empty() || text.len() > MAX_HOST || text.contains("xn--") {
            return false;
        }
        if text
            .rsplit('.')
            .next()
            .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_digit()))
        {
            return false;
        }
        let mut label = 0usize;
        for c in text.bytes() {
            match c {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => label += 1,
                b'.' if label > 0 => label = 0,
                _ => return false,
            }
            if label > 63 {
                return false;
            }
        }
        label > 0
    }

    #[test]
    fn the_one_pass_fast_path_agrees_with_the_reference() {
        // Every string of up to 5 bytes over an alphabet that reaches every branch, and
        // longer ones built from labels around the length limits.
        let alphabet = b"xn-.1aZ_";
        let mut texts = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for t in &frontier {
                for &c in alphabet {
                    next.push(format!("{t}{}", char::from(c)));
                }
            }
            texts.extend(next.iter().cloned());
            frontier = next;
        }
        for n in [62, 63, 64] {
            let label = "a".repeat(n);
            texts.push(format!("{label}.com"));
            texts.push(format!("x.{label}"));
            texts.push(format!("{}.b", ["c"; 120].join(".")));
            texts.push(format!("{}.b", ["cc"; 84].join(".")));
        }
        texts.push("news.ycombinator.com".into());
        texts.push("a.xn--b.com".into());
        for text in &texts {
            assert_eq!(is_canonical_vendor(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn canonical_fast_path_never_skips_what_the_parser_would_rewrite() {
        for text in ["vercel.com", "a-b.example_x.io"] {
            assert!(is_canonical_vendor(text), "{text}");
        }
        for text in [
            "127.0.0.1",
            "0x7f.1",
            "xn--bcher-kva.ch",
            "a.1b",
            "Vercel.com",
            "a.b.",
        ] {
            assert!(!is_canonical_vendor(text), "{text}");
        }
    }
}
