//! The shape of `behalf.json`, declared once. The validator reads it to find unknown and
//! missing fields, and `json_schema()` turns it into the published JSON Schema, so the two
//! cannot drift apart.

use serde_json::{json, Map, Value};

/// What a field holds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Version,
    Id,
    Text,
    Bool,
    Time,
    Duration,
    Number,
    PositiveInteger,
    /// An integer from 1 to the passport's cap of pending approvals.
    MaxPending,
    /// A pattern or a non-empty array of patterns; the text says which.
    Patterns(&'static str),
    OneOf(&'static [&'static str]),
    Object(&'static [Field]),
    ArrayOf(&'static [Field]),
    Conditions,
    Url,
    Events,
    EnvName,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
}

const fn field(name: &'static str, kind: Kind, required: bool, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required,
        doc,
    }
}

pub const EFFECTS: &[&str] = &["allow", "block", "require_approval"];
pub const SCOPES: &[&str] = &["request", "permission"];
pub const OVER_LIMIT: &[&str] = &["deny", "require_approval"];
pub const EVENTS: &[&str] = &[
    "decision.allowed",
    "decision.denied",
    "decision.approval_required",
    "approval.granted",
    "approval.denied",
    "*",
];

pub const BUDGET: &[Field] = &[
    field(
        "amount",
        Kind::Number,
        true,
        "The most that allowed decisions may add up to in the window.",
    ),
    field(
        "per",
        Kind::Duration,
        true,
        "The rolling window, e.g. `1d`.",
    ),
];

pub const RATE: &[Field] = &[
    field(
        "count",
        Kind::PositiveInteger,
        true,
        "The most allowed decisions in the window.",
    ),
    field(
        "per",
        Kind::Duration,
        true,
        "The rolling window, e.g. `1h`.",
    ),
];

pub const LIMITS: &[Field] = &[
    field(
        "maxAmount",
        Kind::Number,
        false,
        "Caps `params.amount` of one request.",
    ),
    field(
        "budget",
        Kind::Object(BUDGET),
        false,
        "Caps the sum of amounts in a rolling window.",
    ),
    field(
        "rate",
        Kind::Object(RATE),
        false,
        "Caps the number of allowed decisions in a rolling window.",
    ),
    field(
        "overLimit",
        Kind::OneOf(OVER_LIMIT),
        false,
        "What a failed limit means: `deny` (default) or `require_approval`.",
    ),
];

pub const APPROVAL: &[Field] = &[
    field("grantTtl", Kind::Duration, false, "How long an approval's grant lasts (default `30m`)."),
    field("pendingTtl", Kind::Duration, false, "How long an approval stays pending, and a denial stands (default `24h`)."),
    field("scope", Kind::OneOf(SCOPES), false, "`request` (same request only, default) or `permission` (any request under the permission)."),
    field("singleUse", Kind::Bool, false, "The grant covers one decision only."),
    field("maxPending", Kind::MaxPending, false, "Most pending approvals this permission holds at once: 1 to 1000 (default 1000, the passport's cap)."),
];

pub const PERMISSION: &[Field] = &[
    field(
        "id",
        Kind::Id,
        true,
        "Unique in the file; reported as `matchedPermission`.",
    ),
    field(
        "action",
        Kind::Patterns("action pattern: [a-z0-9_.:/-], `*` matches any run"),
        true,
        "Action pattern(s).",
    ),
    field(
        "vendor",
        Kind::Patterns("vendor pattern: `*`, `*.example.com` or a host"),
        false,
        "Vendor pattern(s); absent = any vendor.",
    ),
    field(
        "resource",
        Kind::Patterns("resource pattern: `/`-separated, `*` in a segment, `**` across segments"),
        false,
        "Resource pattern(s); absent = any resource, including none.",
    ),
    field(
        "when",
        Kind::Conditions,
        false,
        "Conditions on params; all must hold.",
    ),
    field(
        "effect",
        Kind::OneOf(EFFECTS),
        false,
        "`allow` (default), `block` or `require_approval`.",
    ),
    field(
        "limits",
        Kind::Object(LIMITS),
        false,
        "Limits of an allow permission.",
    ),
    field(
        "approval",
        Kind::Object(APPROVAL),
        false,
        "Approval settings.",
    ),
    field(
        "expiresAt",
        Kind::Time,
        false,
        "RFC 3339; the permission is inactive from this instant.",
    ),
    field(
        "notBefore",
        Kind::Time,
        false,
        "RFC 3339; the permission is inactive before this instant.",
    ),
    field("description", Kind::Text, false, "Free text."),
];

pub const PASSPORT: &[Field] = &[
    field("id", Kind::Id, true, "Unique passport id."),
    field(
        "agent",
        Kind::Id,
        true,
        "The agent id this passport belongs to; unique across passports.",
    ),
    field(
        "permissions",
        Kind::ArrayOf(PERMISSION),
        true,
        "The agent's permissions.",
    ),
    field(
        "expiresAt",
        Kind::Time,
        false,
        "RFC 3339; the passport is inactive from this instant.",
    ),
    field(
        "notBefore",
        Kind::Time,
        false,
        "RFC 3339; the passport is inactive before this instant.",
    ),
    field(
        "revoked",
        Kind::Bool,
        false,
        "A revoked passport denies everything.",
    ),
    field("description", Kind::Text, false, "Free text."),
];

pub const WEBHOOK: &[Field] = &[
    field("id", Kind::Id, true, "Unique endpoint id."),
    field(
        "url",
        Kind::Url,
        true,
        "Where events are POSTed (http or https).",
    ),
    field(
        "events",
        Kind::Events,
        true,
        "Event types to deliver, or `[\"*\"]`.",
    ),
    field(
        "secretEnv",
        Kind::EnvName,
        true,
        "Name of the environment variable holding the `whsec_` secret.",
    ),
    field(
        "previousSecretEnv",
        Kind::EnvName,
        false,
        "During a secret rotation: the variable holding the previous secret; messages carry a signature from each.",
    ),
    field("description", Kind::Text, false, "Free text."),
];

pub const POLICY: &[Field] = &[
    field(
        "$schema",
        Kind::Text,
        false,
        "Path or URL of this schema, for editors.",
    ),
    field("version", Kind::Version, true, "Always 1."),
    field(
        "passports",
        Kind::ArrayOf(PASSPORT),
        true,
        "One passport per agent.",
    ),
    field(
        "webhooks",
        Kind::ArrayOf(WEBHOOK),
        false,
        "Signed webhook endpoints (Standard Webhooks v1).",
    ),
];

/// The JSON Schema (draft 2020-12) of `behalf.json`.
pub fn json_schema() -> Value {
    let mut schema = object_schema(POLICY, "A behalf policy file.");
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert(
            "$id".into(),
            json!("https://behalf.dev/schema/behalf.schema.json"),
        );
        map.insert("title".into(), json!("behalf.json"));
    }
    schema
}

fn object_schema(fields: &[Field], doc: &str) -> Value {
    let mut properties = Map::new();
    for f in fields {
        let mut s = kind_schema(f.kind);
        if let Value::Object(map) = &mut s {
            map.insert("description".into(), json!(f.doc));
        }
        properties.insert(f.name.into(), s);
    }
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({
        "type": "object",
        "description": doc,
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

const ID_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,128}$";
const DURATION: &str = "^[0-9]+[smhd]$";

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Version => json!({ "const": 1 }),
        Kind::Id => json!({ "type": "string", "pattern": ID_PATTERN }),
        Kind::Text => json!({ "type": "string" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Time => json!({ "type": "string", "format": "date-time" }),
        Kind::Duration => json!({ "oneOf": [
            { "type": "string", "pattern": DURATION },
            { "type": "integer", "minimum": 1 }
        ] }),
        Kind::Number => json!({ "type": "number", "minimum": 0 }),
        Kind::PositiveInteger => json!({ "type": "integer", "minimum": 1 }),
        Kind::MaxPending => json!({ "type": "integer", "minimum": 1,
            "maximum": crate::state::MAX_PENDING_PER_PASSPORT }),
        Kind::Patterns(what) => json!({ "oneOf": [
            { "type": "string", "minLength": 1, "description": what },
            { "type": "array", "minItems": 1, "items": { "type": "string", "minLength": 1 } }
        ] }),
        Kind::OneOf(values) => json!({ "enum": values }),
        Kind::Object(fields) => object_schema(fields, ""),
        Kind::ArrayOf(fields) => json!({ "type": "array", "items": object_schema(fields, "") }),
        Kind::Conditions => json!({
            "type": "object",
            "additionalProperties": { "$ref": "#/$defs/matcher" }
        }),
        Kind::Url => json!({ "type": "string", "pattern": "^https?://" }),
        Kind::Events => json!({ "type": "array", "minItems": 1, "items": { "enum": EVENTS } }),
        Kind::EnvName => json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }),
    }
}

/// The schema of one `when` matcher, referenced from every `when`.
pub fn matcher_schema() -> Value {
    let scalar = json!({ "type": ["string", "number", "boolean", "null"] });
    json!({
        "oneOf": [
            scalar,
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": false,
                "properties": {
                    "in": { "type": "array", "items": scalar },
                    "notIn": { "type": "array", "items": scalar },
                    "ne": scalar,
                    "glob": { "type": "string" },
                    "lt": { "type": "number" },
                    "lte": { "type": "number" },
                    "gt": { "type": "number" },
                    "gte": { "type": "number" },
                    "exists": { "type": "boolean" },
                    "emailDomain": {
                        "oneOf": [
                            { "type": "string" },
                            { "type": "array", "minItems": 1, "items": { "type": "string" } }
                        ]
                    }
                }
            }
        ]
    })
}

/// The complete schema with its `$defs`.
pub fn full_json_schema() -> Value {
    let mut schema = json_schema();
    if let Value::Object(map) = &mut schema {
        map.insert("$defs".into(), json!({ "matcher": matcher_schema() }));
    }
    schema
}
