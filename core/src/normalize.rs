//! The one canonicalizer: actions, vendors and resource paths, for policy patterns and
//! requests alike, and the glob matchers over their canonical forms.

/// Why a value failed normalization; the text completes "`value` ...".
pub type NormError = &'static str;

const MAX_ACTION: usize = 128;
const MAX_HOST: usize = 253;

/// Lowercases an action and checks its characters. `allow_star` for patterns.
pub fn action(text: &str, allow_star: bool) -> Result<String, NormError> {
    if text.is_empty() {
        return Err("is empty");
    }
    if text.len() > MAX_ACTION {
        return Err("is longer than 128 characters");
    }
    let lower = text.to_ascii_lowercase();
    for c in lower.bytes() {
        let ok = matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'/' | b'-')
            || (allow_star && c == b'*');
        if !ok {
            return Err(if c == b'*' {
                "contains `*`, which only patterns may use"
            } else {
                "may only contain a-z 0-9 _ . : / -"
            });
        }
    }
    Ok(lower)
}

/// Already in canonical form (the common case), so it can be used as is.
pub fn is_canonical_action(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ACTION
        && text
            .bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'/' | b'-'))
}

/// Already a canonical host (lowercase, no trailing dot, labels of 1-63 allowed bytes).
pub fn is_canonical_vendor(text: &str) -> bool {
    if text.is_empty() || text.len() > MAX_HOST {
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

/// Canonical host: ASCII, lowercased, one trailing dot stripped, no empty labels. One pass.
pub fn vendor(text: &str) -> Result<String, NormError> {
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
            b'A'..=b'Z' => {
                out.push(char::from(c.to_ascii_lowercase()));
                label += 1;
                if label > 63 {
                    return Err("has a label longer than 63 characters");
                }
                continue;
            }
            b'.' if label == 0 => return Err("has an empty label"),
            b'.' => label = 0,
            b':' if host.contains("://") => return Err("has a scheme; give the host only"),
            b':' => return Err("has a port or scheme; give the host only"),
            b'/' => return Err("has a path; give the host only"),
            b' ' | b'\t' => return Err("contains white space"),
            b'*' => return Err("contains `*`, which only patterns may use"),
            0x80.. => return Err("is not ASCII (punycode it first: xn--...)"),
            _ => return Err("may only contain a-z 0-9 - _ and dots"),
        }
        if label > 63 {
            return Err("has a label longer than 63 characters");
        }
        out.push(char::from(c));
    }
    if label == 0 {
        return Err("has an empty label");
    }
    Ok(out)
}

/// Canonical resource path: repeated, leading and trailing `/` removed; unsafe segments refused.
pub fn resource(text: &str, allow_glob: bool) -> Result<String, NormError> {
    if text.len() > 8192 {
        return Err("is longer than 8 KiB");
    }
    for c in text.chars() {
        if c == '\0' {
            return Err("contains NUL");
        }
        if c.is_control() {
            return Err("contains a control character");
        }
        match c {
            '\\' => return Err("contains `\\`"),
            '?' => return Err("contains `?`"),
            '#' => return Err("contains `#`"),
            '*' if !allow_glob => return Err("contains `*`, which only patterns may use"),
            _ => {}
        }
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err("contains an encoded slash (%2F or %5C)");
    }
    let mut out = String::with_capacity(text.len());
    for segment in text.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err("contains a `.` or `..` segment");
        }
        if allow_glob && segment.contains("**") && segment != "**" {
            return Err("uses `**` inside a segment; `**` must be a whole segment");
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(segment);
    }
    if out.is_empty() {
        return Err("is empty");
    }
    Ok(out)
}

/// A compiled action pattern.
#[derive(Clone, Debug)]
pub enum ActionPattern {
    Exact(String),
    Glob(String),
}

impl ActionPattern {
    pub fn parse(text: &str) -> Result<ActionPattern, NormError> {
        let canonical = action(text, true)?;
        Ok(if canonical.contains('*') {
            ActionPattern::Glob(canonical)
        } else {
            ActionPattern::Exact(canonical)
        })
    }

    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Exact(exact) => exact == action,
            ActionPattern::Glob(glob) => wildcard_match(glob.as_bytes(), action.as_bytes()),
        }
    }
}

/// A compiled vendor pattern: `*`, `*.example.com`, or an exact host.
#[derive(Clone, Debug)]
pub enum VendorPattern {
    Any,
    SubdomainOf(String),
    Exact(String),
}

impl VendorPattern {
    pub fn parse(text: &str) -> Result<VendorPattern, NormError> {
        if text == "*" {
            return Ok(VendorPattern::Any);
        }
        if let Some(domain) = text.strip_prefix("*.") {
            return Ok(VendorPattern::SubdomainOf(vendor(domain).map_err(
                |_| "is not a vendor pattern: use `*`, `*.example.com` or a host name",
            )?));
        }
        if text.contains('*') {
            return Err("is not a vendor pattern: use `*`, `*.example.com` or a host name");
        }
        vendor(text).map(VendorPattern::Exact)
    }

    pub fn matches(&self, vendor: Option<&str>) -> bool {
        match (self, vendor) {
            (VendorPattern::Any, _) => true,
            (VendorPattern::Exact(exact), Some(v)) => exact == v,
            (VendorPattern::SubdomainOf(domain), Some(v)) => v
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (_, None) => false,
        }
    }
}

/// A compiled resource pattern: segments of which `**` spans any number.
#[derive(Clone, Debug)]
pub struct ResourcePattern {
    pub canonical: String,
    segments: Vec<String>,
}

impl ResourcePattern {
    pub fn parse(text: &str) -> Result<ResourcePattern, NormError> {
        let canonical = resource(text, true)?;
        let segments = canonical.split('/').map(str::to_string).collect();
        Ok(ResourcePattern {
            canonical,
            segments,
        })
    }

    pub fn matches(&self, resource: Option<&str>) -> bool {
        resource.is_some_and(|r| path_glob_match(&self.segments, r))
    }
}

/// Matches a canonical path against glob segments (`*` within a segment, `**` across).
pub fn path_glob_match(pattern: &[String], path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    // Iterative backtracking over segments: remember the last `**` and where it resumed.
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < segments.len() {
        match pattern.get(p).map(String::as_str) {
            Some("**") => {
                star = Some((p, s));
                p += 1;
            }
            Some(glob)
                if segments
                    .get(s)
                    .is_some_and(|seg| wildcard_match(glob.as_bytes(), seg.as_bytes())) =>
            {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((star_p, star_s)) => {
                    p = star_p + 1;
                    s = star_s + 1;
                    star = Some((star_p, star_s + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|seg| seg == "**"))
}

/// Matches a glob with `*` (any run of bytes) against text.
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let c = text.get(t).copied();
        match pattern.get(p).copied() {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(pc) if Some(pc) == c => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The glob of a `when` condition: resource glob rules applied to a string value.
pub fn string_glob_match(pattern: &str, value: &str) -> bool {
    if !pattern.contains('/') && !value.contains('/') {
        return wildcard_match(pattern.as_bytes(), value.as_bytes());
    }
    let segments: Vec<String> = pattern.split('/').map(str::to_string).collect();
    path_glob_match(&segments, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, path: &str) -> bool {
        ResourcePattern::parse(pattern).is_ok_and(|p| p.matches(Some(path)))
    }

    #[test]
    fn double_star_spans_zero_or_more_segments() {
        assert!(glob("db/prod/**", "db/prod"));
        assert!(glob("db/prod/**", "db/prod/a/b/c"));
        assert!(!glob("db/prod/**", "db/production"));
        assert!(glob("a/**/z", "a/z"));
        assert!(glob("a/**/z", "a/b/c/z"));
        assert!(!glob("a/**/z", "a/b/c/y"));
    }

    #[test]
    fn single_star_stays_in_its_segment() {
        assert!(glob("db/*/main", "db/prod/main"));
        assert!(!glob("db/*", "db/prod/main"));
        assert!(glob("logs/*.txt", "logs/a.txt"));
    }

    #[test]
    fn subdomain_pattern_excludes_the_domain_itself() {
        let p = VendorPattern::parse("*.amazon.com");
        assert!(p.as_ref().is_ok_and(|p| p.matches(Some("www.amazon.com"))));
        assert!(p.as_ref().is_ok_and(|p| p.matches(Some("a.b.amazon.com"))));
        assert!(p.as_ref().is_ok_and(|p| !p.matches(Some("amazon.com"))));
        assert!(p.as_ref().is_ok_and(|p| !p.matches(Some("evilamazon.com"))));
    }

    #[test]
    fn vendors_are_canonical_hosts() {
        assert_eq!(vendor("Vercel.COM.").as_deref(), Ok("vercel.com"));
        assert!(vendor("vercel.com..").is_err());
        assert!(vendor("ｖｅｒｃｅｌ.com").is_err());
        assert!(vendor("vercel.com:443").is_err());
        assert!(vendor("https://vercel.com").is_err());
    }

    #[test]
    fn resources_collapse_slashes_and_refuse_escapes() {
        assert_eq!(
            resource("/db//prod/main/", false).as_deref(),
            Ok("db/prod/main")
        );
        for bad in [
            "db/../x", "db/./x", "db%2Fx", "db%5cx", "a\\b", "a?b", "a#b", "a\0b", "/",
        ] {
            assert!(resource(bad, false).is_err(), "{bad}");
        }
    }
}
