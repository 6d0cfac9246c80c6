//! The index: candidates by exact action, then by vendor (exact host, parent domains, any).

use crate::fasthash::FastMap;
use crate::normalize::{ActionPattern, VendorPattern};

use super::Permission;

#[derive(Clone, Debug, Default)]
struct VendorBuckets {
    exact: FastMap<String, Vec<u32>>,
    subdomain_of: FastMap<String, Vec<u32>>,
    any: Vec<u32>,
}

impl VendorBuckets {
    fn insert(&mut self, vendors: Option<&Vec<VendorPattern>>, at: u32) {
        match vendors {
            None => self.any.push(at),
            Some(list) => {
                for v in list {
                    match v {
                        VendorPattern::Any => self.any.push(at),
                        VendorPattern::Exact(h) => {
                            self.exact.entry(h.clone()).or_default().push(at)
                        }
                        VendorPattern::SubdomainOf(d) => {
                            self.subdomain_of.entry(d.clone()).or_default().push(at)
                        }
                    }
                }
            }
        }
    }

    fn collect(&self, vendor: Option<&str>, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.any);
        let Some(host) = vendor else { return };
        if let Some(list) = self.exact.get(host) {
            out.extend_from_slice(list);
        }
        if self.subdomain_of.is_empty() {
            return;
        }
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(list) = self.subdomain_of.get(parent) {
                out.extend_from_slice(list);
            }
            rest = parent;
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PermissionIndex {
    by_action: FastMap<String, VendorBuckets>,
    glob_action: VendorBuckets,
}

impl PermissionIndex {
    pub(super) fn build(permissions: &[Permission]) -> PermissionIndex {
        let mut index = PermissionIndex::default();
        for (at, p) in permissions.iter().enumerate() {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            for a in &p.actions {
                match a {
                    ActionPattern::Exact(action) => index
                        .by_action
                        .entry(action.clone())
                        .or_default()
                        .insert(p.vendors.as_ref(), at),
                    ActionPattern::Glob(_) => index.glob_action.insert(p.vendors.as_ref(), at),
                }
            }
        }
        index
    }

    /// The permissions that could match, in file order, without duplicates.
    pub(crate) fn candidates(&self, action: &str, vendor: Option<&str>, out: &mut Vec<u32>) {
        out.clear();
        if let Some(buckets) = self.by_action.get(action) {
            buckets.collect(vendor, out);
        }
        self.glob_action.collect(vendor, out);
        out.sort_unstable();
        out.dedup();
    }
}
