//! `emailDomain`: a param holds exactly one plain address, and its domain is a vendor.
//! Anything a mail library could read as another recipient or another domain is refused.

use super::{vendor, NormError};

/// The canonical domain of exactly one `local@domain` address: no display name, comment,
/// quoted local part, route (`%`, `!`), list separator or white space.
pub fn email_domain(text: &str) -> Result<String, NormError> {
    let Some((local, domain)) = text.split_once('@') else {
        return Err("is not an email address (no `@`)");
    };
    if domain.contains('@') {
        return Err("has more than one `@`");
    }
    if local.is_empty() || local.len() > 64 {
        return Err("has an empty or over-long local part");
    }
    for c in local.bytes() {
        let atext = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'#' | b'$'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
                    | b'.'
            );
        if !atext {
            return Err(
                "has a local part with a display name, quote, comment, route, separator or space",
            );
        }
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a local part with a misplaced `.`");
    }
    if domain.starts_with('[') {
        return Err("has an address literal for a domain");
    }
    vendor(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_address_gives_its_canonical_domain() {
        assert_eq!(
            email_domain("bob@Example.COM").as_deref(),
            Ok("example.com")
        );
        assert_eq!(
            email_domain("a.b+tag@example.com.").as_deref(),
            Ok("example.com")
        );
    }

    #[test]
    fn anything_a_mailer_could_read_otherwise_is_refused() {
        for bad in [
            "Bob <bob@example.com>",
            "\"bob@evil.com\"@example.com",
            "bob(comment)@example.com",
            "bob@example.com, eve@evil.com",
            "bob@example.com;eve@evil.com",
            "bob@example.com\neve@evil.com",
            " bob@example.com",
            "bob%evil.com@example.com",
            "evil.com!bob@example.com",
            "bob@evil.com@example.com",
            "bob@[127.0.0.1]",
            ".bob@example.com",
            "bob..x@example.com",
            "bob@",
            "@example.com",
            "bob",
            "bøb@example.com",
        ] {
            assert!(email_domain(bad).is_err(), "{bad:?}");
        }
    }
}
