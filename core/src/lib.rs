//! behalf-core: the one engine behind every behalf runtime.
//!
//! A policy (`behalf.json`) is validated as a whole and compiled once into an [`Engine`];
//! each [`Engine::verify`] answers `allowed`, `denied` or `approval_required` with a
//! [`Decision`] packet, records it in a hash-chained audit log, and fails closed on any
//! doubt. The crate has no I/O, no threads and no clock: time is always an input.
//!
//! ```
//! use behalf_core::{Engine, EngineOptions, time::parse_rfc3339};
//! let policy = serde_json::json!({"version": 1, "passports": [{"id": "passport_claude",
//!   "agent": "agent_claude_code", "permissions": [{"id": "deploy_staging",
//!   "action": "deploy", "vendor": "vercel.com", "when": {"env": "staging"}}]}]});
//! let mut engine = Engine::from_value(&policy, EngineOptions::default()).unwrap();
//! let now = parse_rfc3339("2026-11-26T11:00:00Z").unwrap();
//! let d = engine.verify(&serde_json::json!({"agentId": "agent_claude_code",
//!   "action": "deploy", "vendor": "vercel.com", "params": {"env": "staging"}}), now);
//! assert!(d.allowed());
//! ```

pub mod audit;
pub mod canonical;
pub mod conformance;
pub mod decision;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod fasthash;
pub mod ffi;
pub mod ids;
pub mod json;
pub mod normalize;
pub mod number;
pub mod policy;
pub mod request;
pub mod spec;
pub mod state;
pub mod suggest;
pub mod time;
pub mod webhook;

pub use audit::{verify_chain, verify_chain_anchored, Anchor, AuditRecord, ChainReport};
pub use decision::{Decision, DecisionKind, Reason, TraceResult};
pub use engine::{verify_once, Engine, EngineOptions, EngineState, PermissionUsage, Prepared};
pub use error::{ApiError, BehalfError, ErrorCode};
pub use policy::{validate, Policy, PolicyError, Problem};
pub use request::Rejection;
/// Agent ids as requests, packets and records carry them (inline up to 23 bytes).
pub use smol_str::SmolStr;
pub use state::{Approval, Changes, Grant, RowKeys, Rows};
