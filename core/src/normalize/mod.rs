//! The one canonicalizer: actions, vendors, resource paths and email domains, for policy
//! patterns and requests alike, and the glob matchers over their canonical forms.

mod email;
mod resource;
mod vendor;

pub use email::email_domain;
pub use resource::{canonical_resource, resource};
pub use vendor::{is_canonical_vendor, vendor};

use smol_str::SmolStr;

/// Why a value failed normalization; the text completes "`value` ...".
pub type NormError = &'static str;

const MAX_ACTION: usize = 128;

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
    /// Inline when 23 bytes or fewer: matching reads them with the list.
    segments: Vec<SmolStr>,
}

impl ResourcePattern {
    pub fn parse(text: &str) -> Result<ResourcePattern, NormError> {
        let canonical = resource(text, true)?;
        let segments = canonical.split('/').map(SmolStr::from).collect();
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
pub fn path_glob_match(pattern: &[SmolStr], path: &str) -> bool {
    // One segment other than `**` (`*@example.com`, `*.txt`) matches one segment only.
    if let [only] = pattern {
        if only != "**" {
            return !path.as_bytes().contains(&b'/')
                && wildcard_match(only.as_bytes(), path.as_bytes());
        }
    }
    // Most paths have a few segments: kept inline, so matching allocates nothing for them.
    let segments: smallvec::SmallVec<[&str; 8]> = path.split('/').collect();
    // Iterative backtracking over segments: remember the last `**` and where it resumed.
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < segments.len() {
        match pattern.get(p).map(SmolStr::as_str) {
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

/// The glob of a `when` condition: the value is canonicalized as a resource first, so the
/// pattern sees what a path consumer would. `None`: the value is not a canonical path
/// (indeterminate, never a silent miss or match).
pub fn value_glob_match(pattern: &ResourcePattern, value: &str) -> Option<bool> {
    let canonical = canonical_resource(value, false).ok()?;
    Some(pattern.matches(Some(&canonical)))
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
    fn a_one_segment_pattern_matches_one_segment() {
        assert!(glob("*@example.com", "bob@example.com"));
        assert!(!glob("*@example.com", "a/bob@example.com"));
        assert!(!glob("*@example.com", "bob@example.com/x"));
        assert!(!glob("*@example.com", "bob@example.co"));
        assert!(glob("*", "x"));
        assert!(!glob("*", "x/y"));
        assert!(glob("**", "x/y"));
        assert!(glob("prod", "prod"));
        assert!(!glob("prod", "prod/x"));
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
}
