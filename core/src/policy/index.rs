//! The index: a passport's candidate permissions for an action and a vendor.
//!
//! Each passport keeps its routes (one per action pattern × vendor pattern of a permission) in
//! one sorted array of small numbers: actions and hosts are the ids the policy's [`Names`]
//! gives them, so finding the candidates reads the passport's few cache lines and the
//! policy-wide name table, which every decision shares and keeps warm. With many passports
//! (shared/BENCH.md's W2) the passport is usually out of the cache; chasing string keys
//! through per-passport hash maps cost a cache miss at every step.
//!
//! A candidate found under its exact action and its exact vendor (or any vendor) is *proven*:
//! its action and vendor patterns match, so evaluation does not read them again. Every other
//! candidate (a glob action, a `*.domain` vendor) is checked against its patterns as before.

use crate::normalize::{ActionPattern, VendorPattern};

use super::{Names, Permission};

/// The action key of routes whose action is a glob: sorted after every name id.
const GLOB: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VendorKey {
    /// Any vendor, or none (no `vendors`, or `*`).
    Any,
    Exact(u32),
    /// `*.domain`: the request's host has this domain as a parent.
    SubdomainOf(u32),
}

#[derive(Clone, Copy, Debug)]
struct Route {
    /// The exact action's name id, or `GLOB`.
    action: u32,
    vendor: VendorKey,
    /// The permission's place in the passport.
    at: usize,
    /// False when a name was missing from the table (never, for a policy built whole): the
    /// route then stands for "check this permission's patterns".
    named: bool,
}

/// A permission the index found: its place in the passport, and whether its action and vendor
/// patterns are known to match. Ordered by place, a proven one before an unproven one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate(usize);

impl Candidate {
    fn new(at: usize, proven: bool) -> Candidate {
        Candidate(at << 1 | usize::from(!proven))
    }

    /// The permission's index in the passport.
    pub fn at(self) -> usize {
        self.0 >> 1
    }

    /// The index proved the action and vendor patterns match.
    pub fn proven(self) -> bool {
        self.0 & 1 == 0
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PermissionIndex {
    /// Sorted by action key, then place.
    routes: Box<[Route]>,
    /// Some route is `*.domain`: the request host's parents must be looked up.
    subdomains: bool,
}

impl PermissionIndex {
    pub(super) fn build(permissions: &[Permission], names: &Names) -> PermissionIndex {
        let mut routes = Vec::new();
        for (at, p) in permissions.iter().enumerate() {
            let vendors: Vec<(VendorKey, bool)> = match &p.vendors {
                None => vec![(VendorKey::Any, true)],
                Some(list) => list
                    .iter()
                    .map(|v| match v {
                        VendorPattern::Any => (VendorKey::Any, true),
                        VendorPattern::Exact(h) => names
                            .id_of(h)
                            .map_or((VendorKey::Any, false), |id| (VendorKey::Exact(id), true)),
                        VendorPattern::SubdomainOf(d) => {
                            names.id_of(d).map_or((VendorKey::Any, false), |id| {
                                (VendorKey::SubdomainOf(id), true)
                            })
                        }
                    })
                    .collect(),
            };
            for a in &p.actions {
                let (action, action_named) = match a {
                    ActionPattern::Exact(action) => {
                        names.id_of(action).map_or((GLOB, false), |id| (id, true))
                    }
                    ActionPattern::Glob(_) => (GLOB, true),
                };
                for &(vendor, vendor_named) in &vendors {
                    routes.push(Route {
                        action,
                        vendor,
                        at,
                        named: action_named && vendor_named,
                    });
                }
            }
        }
        routes.sort_by_key(|r| (r.action, r.at));
        let subdomains = routes
            .iter()
            .any(|r| matches!(r.vendor, VendorKey::SubdomainOf(_)));
        PermissionIndex {
            routes: routes.into_boxed_slice(),
            subdomains,
        }
    }

    /// The permissions that could match, in file order, without duplicates (a proven entry
    /// kept over an unproven one for the same permission).
    pub(crate) fn candidates(
        &self,
        names: &Names,
        action: &str,
        vendor: Option<&str>,
        out: &mut Vec<Candidate>,
    ) {
        out.clear();
        let host = vendor.map(|v| names.id_of(v));
        let mut parents = smallvec::SmallVec::<[u32; 4]>::new();
        if self.subdomains {
            let mut rest = vendor.unwrap_or_default();
            while let Some((_, parent)) = rest.split_once('.') {
                parents.extend(names.id_of(parent));
                rest = parent;
            }
        }
        let mut take = |routes: &[Route], exact_action: bool| {
            for r in routes {
                let vendor_proven = match r.vendor {
                    VendorKey::Any => true,
                    VendorKey::Exact(id) if host == Some(Some(id)) => true,
                    VendorKey::SubdomainOf(id) if parents.contains(&id) => false,
                    VendorKey::Exact(_) | VendorKey::SubdomainOf(_) => continue,
                };
                out.push(Candidate::new(
                    r.at,
                    exact_action && vendor_proven && r.named,
                ));
            }
        };
        let routes = &*self.routes;
        if let Some(id) = names.id_of(action) {
            let start = routes.partition_point(|r| r.action < id);
            let end = routes.partition_point(|r| r.action <= id);
            take(routes.get(start..end).unwrap_or_default(), true);
        }
        let globs = routes.partition_point(|r| r.action < GLOB);
        take(routes.get(globs..).unwrap_or_default(), false);
        out.sort_unstable();
        out.dedup_by_key(|c| c.at());
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::Policy;
    use serde_json::json;

    /// Against every pattern by hand: the index finds every permission whose action and vendor
    /// patterns match, in file order, once each, and calls proven only those that do match.
    #[test]
    fn candidates_are_every_match_and_proven_ones_match() {
        let read = Policy::from_value(&json!({"version": 1, "passports": [
            {"id": "p", "agent": "a", "permissions": [
                {"id": "exact", "action": "deploy", "vendor": "vercel.com"},
                {"id": "any_vendor", "action": "deploy"},
                {"id": "star", "action": "deploy", "vendor": "*"},
                {"id": "sub", "action": "deploy", "vendor": "*.example.com"},
                {"id": "list", "action": ["read", "deploy"], "vendor": ["github.com", "*.vercel.com", "vercel.com"]},
                {"id": "glob", "action": "send_*", "vendor": "gmail.com"},
                {"id": "glob_any", "action": "*"},
                {"id": "other_host", "action": "read", "vendor": "example.com"}
            ]},
            {"id": "q", "agent": "b", "permissions": [
                {"id": "only", "action": "browse", "vendor": "*.b.example.com"}
            ]}
        ]}));
        assert!(read.is_ok(), "{read:?}");
        let Ok(policy) = read else { return };
        let actions = ["deploy", "read", "send_email", "browse", "unknown"];
        let vendors = [
            None,
            Some("vercel.com"),
            Some("api.vercel.com"),
            Some("example.com"),
            Some("a.example.com"),
            Some("x.b.example.com"),
            Some("b.example.com"),
            Some("github.com"),
            Some("gmail.com"),
            Some("nowhere.org"),
        ];
        let mut out = Vec::new();
        let mut proven = 0;
        for passport in &policy.passports {
            for action in actions {
                for vendor in vendors {
                    passport
                        .index
                        .candidates(&policy.names, action, vendor, &mut out);
                    let places: Vec<usize> = out.iter().map(|c| c.at()).collect();
                    assert!(places.is_sorted() && !has_repeats(&places), "{places:?}");
                    for (at, p) in passport.permissions.iter().enumerate() {
                        let matches = p.actions.iter().any(|a| a.matches(action))
                            && p.vendors
                                .as_ref()
                                .is_none_or(|v| v.iter().any(|v| v.matches(vendor)));
                        let found = out.iter().find(|c| c.at() == at);
                        if matches {
                            assert!(found.is_some(), "{} missed for {action} {vendor:?}", p.id);
                        }
                        if found.is_some_and(|c| c.proven()) {
                            assert!(matches, "{} proven for {action} {vendor:?}", p.id);
                            proven += 1;
                        }
                    }
                }
            }
        }
        // Exact action with exact or any vendor is proven; that must happen, or the test
        // checks nothing of it.
        assert!(proven > 10, "{proven}");
    }

    fn has_repeats(sorted: &[usize]) -> bool {
        sorted
            .iter()
            .zip(sorted.iter().skip(1))
            .any(|(a, b)| a == b)
    }
}
