//! Passports and their permissions: ids, windows, patterns, limits, approval settings.

use std::sync::Arc;

use serde_json::Value;

use crate::normalize::{ActionPattern, ResourcePattern, VendorPattern};
use crate::spec;
use crate::time::Millis;

use super::{show, Path, TransposeOption, Validator};
use crate::error::ErrorCode;
use crate::policy::{
    ApprovalSettings, Effect, Limits, Passport, Permission, PermissionIndex, Scope,
};

impl Validator {
    pub(super) fn passport(&mut self, value: &Value, path: &Path<'_>) -> Option<Passport> {
        let map = self.object(value, path, spec::PASSPORT)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        let agent = map
            .get("agent")
            .and_then(|v| self.id(v, &path.key("agent")));
        if let Some(id) = &id {
            if !self.passport_ids.insert(id.clone()) {
                self.problem(
                    &path.key("id"),
                    ErrorCode::DuplicateId,
                    format!("passport id `{id}` is used twice"),
                    "give every passport its own id",
                );
            }
        }
        if let Some(agent) = &agent {
            if !self.agents.insert(agent.clone()) {
                self.problem(
                    &path.key("agent"),
                    ErrorCode::DuplicateAgent,
                    format!("agent `{agent}` has more than one passport"),
                    "merge the permissions into one passport per agent",
                );
            }
        }
        let not_before = map
            .get("notBefore")
            .and_then(|v| self.time(v, &path.key("notBefore")));
        let expires_at = map
            .get("expiresAt")
            .and_then(|v| self.time(v, &path.key("expiresAt")));
        self.window(path, not_before, expires_at);
        let revoked = map
            .get("revoked")
            .and_then(|v| self.boolean(v, &path.key("revoked")));
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        let mut permissions = Vec::new();
        if let Some(list) = map.get("permissions") {
            let list_path = path.key("permissions");
            match list {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(p) = self.permission(item, &list_path.index(i)) {
                            permissions.push(p);
                        }
                    }
                }
                other => self.wrong_type(&list_path, "an array of permissions", other),
            }
        }
        let mut starts: Vec<Millis> = permissions.iter().filter_map(|p| p.not_before).collect();
        let mut ends: Vec<Millis> = permissions.iter().filter_map(|p| p.expires_at).collect();
        starts.sort_unstable();
        ends.sort_unstable();
        Some(Passport {
            id: Arc::from(id?.as_str()),
            agent: agent?,
            not_before,
            expires_at,
            revoked: revoked.unwrap_or(false),
            description,
            permissions,
            // Built with the policy's names, once every passport is read (validate/mod.rs).
            index: PermissionIndex::default(),
            starts,
            ends,
        })
    }

    pub(super) fn window(
        &mut self,
        path: &Path<'_>,
        not_before: Option<Millis>,
        expires_at: Option<Millis>,
    ) {
        if let (Some(start), Some(end)) = (not_before, expires_at) {
            if start >= end {
                self.problem(
                    &path.key("notBefore"),
                    ErrorCode::BadWindow,
                    "`notBefore` is not before `expiresAt`".into(),
                    "the window is notBefore <= now < expiresAt; make notBefore earlier",
                );
            }
        }
    }

    pub(super) fn permission(&mut self, value: &Value, path: &Path<'_>) -> Option<Permission> {
        let map = self.object(value, path, spec::PERMISSION)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        if let Some(id) = &id {
            if let Some(&(i, j)) = self.permission_ids.get(id) {
                self.problem(
                    &path.key("id"),
                    ErrorCode::DuplicateId,
                    format!("permission id `{id}` is already used at passports[{i}].permissions[{j}].id"),
                    "permission ids are unique across the whole file",
                );
            } else {
                // The path is passports[i].permissions[j]: keep the positions, not the text.
                let at = match path {
                    Path::Index(Path::Key(Path::Index(_, i), _), j) => (*i, *j),
                    _ => (0, 0),
                };
                self.permission_ids.insert(id.clone(), at);
            }
        }
        let actions = map.get("action").and_then(|v| {
            self.patterns(
                v,
                &path.key("action"),
                "action",
                "actions use a-z 0-9 _ . : / - and `*`",
                ActionPattern::parse,
            )
        });
        let vendors = map.get("vendor").map(|v| {
            self.patterns(
                v,
                &path.key("vendor"),
                "vendor",
                "use `*`, `*.example.com` or a host name like `vercel.com`",
                VendorPattern::parse,
            )
        });
        let resources = map.get("resource").map(|v| {
            self.patterns(
                v,
                &path.key("resource"),
                "resource",
                "use `/`-separated paths; `*` within a segment, `**` across segments",
                ResourcePattern::parse,
            )
        });
        let when = map
            .get("when")
            .map(|v| self.conditions(v, &path.key("when")));
        let effect = match map.get("effect") {
            None => Some(Effect::Allow),
            Some(v) => self
                .one_of(v, &path.key("effect"), spec::EFFECTS, ErrorCode::BadEffect)
                .map(|e| match e.as_str() {
                    "block" => Effect::Block,
                    "require_approval" => Effect::RequireApproval,
                    _ => Effect::Allow,
                }),
        };
        let limits = match map.get("limits") {
            None => None,
            Some(v) => {
                if effect.is_some_and(|e| e != Effect::Allow) {
                    self.problem(
                        &path.key("limits"),
                        ErrorCode::LimitsNotAllowed,
                        "`limits` on a permission whose effect is not `allow`".into(),
                        "limits apply to allow permissions only; remove them or set effect to allow",
                    );
                }
                self.limits(v, &path.key("limits"))
            }
        };
        let approval = match map.get("approval") {
            None => Some(ApprovalSettings::default()),
            Some(v) => {
                let over = limits
                    .as_ref()
                    .is_some_and(|l| l.over_limit_requires_approval);
                if effect.is_some_and(|e| e != Effect::RequireApproval) && !over {
                    self.problem(
                        &path.key("approval"),
                        ErrorCode::ApprovalNotAllowed,
                        "`approval` on a permission that never asks for approval".into(),
                        "use it with effect `require_approval`, or with limits.overLimit `require_approval`",
                    );
                }
                self.approval(v, &path.key("approval"))
            }
        };
        let not_before = map
            .get("notBefore")
            .and_then(|v| self.time(v, &path.key("notBefore")));
        let expires_at = map
            .get("expiresAt")
            .and_then(|v| self.time(v, &path.key("expiresAt")));
        self.window(path, not_before, expires_at);
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        Some(Permission {
            id: Arc::from(id?.as_str()),
            actions: actions?,
            vendors: vendors.transpose_option()?,
            resources: resources.transpose_option()?,
            when: when.transpose_option()?.unwrap_or_default(),
            effect: effect?,
            limits,
            approval: approval?,
            not_before,
            expires_at,
            description,
        })
    }

    pub(super) fn limits(&mut self, value: &Value, path: &Path<'_>) -> Option<Limits> {
        let map = self.object(value, path, spec::LIMITS)?;
        if map.is_empty() {
            self.problem(
                path,
                ErrorCode::EmptyArray,
                "`limits` is empty".into(),
                "give maxAmount, budget or rate, or leave limits out",
            );
            return None;
        }
        let max_amount = map
            .get("maxAmount")
            .and_then(|v| self.number(v, &path.key("maxAmount"), true));
        let budget = map.get("budget").and_then(|v| {
            let at = path.key("budget");
            let m = self.object(v, &at, spec::BUDGET)?;
            let amount = m
                .get("amount")
                .and_then(|v| self.number(v, &at.key("amount"), true));
            let per = m.get("per").and_then(|v| self.duration(v, &at.key("per")));
            Some((amount?, per?))
        });
        let rate = map.get("rate").and_then(|v| {
            let at = path.key("rate");
            let m = self.object(v, &at, spec::RATE)?;
            let count = m.get("count").and_then(|v| match v.as_u64() {
                Some(c) if c >= 1 => Some(c),
                _ => {
                    self.problem(
                        &at.key("count"),
                        ErrorCode::BadNumber,
                        format!("`{}` is not a whole number >= 1", show(v)),
                        "rate.count counts decisions: 1, 2, 3...",
                    );
                    None
                }
            });
            let per = m.get("per").and_then(|v| self.duration(v, &at.key("per")));
            Some((count?, per?))
        });
        let over = match map.get("overLimit") {
            None => Some(false),
            Some(v) => self
                .one_of(
                    v,
                    &path.key("overLimit"),
                    spec::OVER_LIMIT,
                    ErrorCode::BadValue,
                )
                .map(|s| s == "require_approval"),
        };
        if map.contains_key("maxAmount") && max_amount.is_none()
            || map.contains_key("budget") && budget.is_none()
            || map.contains_key("rate") && rate.is_none()
        {
            return None;
        }
        Some(Limits {
            max_amount,
            budget,
            rate,
            over_limit_requires_approval: over?,
        })
    }

    pub(super) fn approval(&mut self, value: &Value, path: &Path<'_>) -> Option<ApprovalSettings> {
        let map = self.object(value, path, spec::APPROVAL)?;
        let defaults = ApprovalSettings::default();
        let grant_ttl = map
            .get("grantTtl")
            .map(|v| self.duration(v, &path.key("grantTtl")));
        let pending_ttl = map
            .get("pendingTtl")
            .map(|v| self.duration(v, &path.key("pendingTtl")));
        let scope = map.get("scope").map(|v| {
            self.one_of(v, &path.key("scope"), spec::SCOPES, ErrorCode::BadValue)
                .map(|s| {
                    if s == "permission" {
                        Scope::Permission
                    } else {
                        Scope::Request
                    }
                })
        });
        let single_use = map
            .get("singleUse")
            .map(|v| self.boolean(v, &path.key("singleUse")));
        let max_pending = map
            .get("maxPending")
            .map(|v| self.max_pending(v, &path.key("maxPending")));
        Some(ApprovalSettings {
            grant_ttl: grant_ttl.unwrap_or(Some(defaults.grant_ttl))?,
            pending_ttl: pending_ttl.unwrap_or(Some(defaults.pending_ttl))?,
            scope: scope.unwrap_or(Some(defaults.scope))?,
            single_use: single_use.unwrap_or(Some(defaults.single_use))?,
            max_pending: max_pending.unwrap_or(Some(defaults.max_pending))?,
        })
    }

    /// `approval.maxPending`: an integer from 1 to the passport's cap (1,000).
    pub(super) fn max_pending(&mut self, value: &Value, path: &Path<'_>) -> Option<usize> {
        let cap = crate::state::MAX_PENDING_PER_PASSPORT;
        if !value.is_number() {
            self.wrong_type(path, "an integer from 1 to 1000", value);
            return None;
        }
        match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=cap).contains(&n) => Some(n),
            _ => {
                self.problem(
                    path,
                    ErrorCode::BadValue,
                    format!("`maxPending` must be an integer from 1 to {cap}, not {value}"),
                    "write a whole number of pending approvals from 1 to 1000",
                );
                None
            }
        }
    }
}
