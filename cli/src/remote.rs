//! A `behalf serve` server as the CLI reaches it (`mcp proxy --url`, `verify --url`): the
//! agent's key from `BEHALF_AGENT_KEY`, `POST /v1/verify`, and the server's packet — or, for a
//! network error, a timeout (`BEHALF_TIMEOUT_MS`, default 2000), a refused key, a 5xx or any
//! other status, a redirect (never followed) or an answer that is not a whole packet, a denied
//! `internal_error` packet naming the cause. Never an allow the server did not give.

use std::time::Duration;

use behalf_core::request::is_valid_request_id;
use behalf_core::Decision;
use serde_json::Value;

use crate::error::{CliError, Result};

pub const KEY_ENV: &str = "BEHALF_AGENT_KEY";
const DEFAULT_TIMEOUT_MS: u64 = 2000;

pub struct RemoteServer {
    url: String,
    key: String,
    timeout: Duration,
    http: ureq::Agent,
}

fn fault(why: String, request: &Value) -> (Value, String) {
    let id = request
        .get("requestId")
        .and_then(Value::as_str)
        .filter(|id| is_valid_request_id(id))
        .map(str::to_string)
        .unwrap_or_else(|| {
            behalf_core::ids::IdSource::default()
                .make("req_")
                .unwrap_or_else(|_| "req_unrecorded".into())
        });
    let d = Decision::fault(why, id, crate::project::now().unwrap_or(0));
    (d.to_value(), d.to_json())
}

/// Whole and consistent: `allowed` exactly when the decision is `allowed`.
fn is_packet(p: &Value) -> bool {
    let decision = p.get("decision").and_then(Value::as_str);
    matches!(decision, Some("allowed" | "denied" | "approval_required"))
        && p.get("reason").is_some_and(Value::is_string)
        && p.get("requestId").is_some_and(Value::is_string)
        && p.get("allowed").and_then(Value::as_bool) == Some(decision == Some("allowed"))
}

impl RemoteServer {
    /// The server at `url`, with the key from `BEHALF_AGENT_KEY`.
    pub fn from_env(url: &str) -> Result<RemoteServer> {
        let trimmed = url.trim_end_matches('/');
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
            return Err(
                CliError::usage(format!("`{url}` is not an http:// or https:// address"))
                    .hint("pass the server's address, e.g. --url http://127.0.0.1:7777"),
            );
        }
        let key = std::env::var(KEY_ENV).unwrap_or_default();
        if key.is_empty() {
            return Err(CliError::usage(format!(
                "{KEY_ENV} is not set: a server decides only for agents that show their key"
            ))
            .hint("on the server's host: `behalf agents key create AGENT`, then export BEHALF_AGENT_KEY=bhk_…"));
        }
        let ms = std::env::var("BEHALF_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let timeout = Duration::from_millis(ms);
        let http = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Ok(RemoteServer {
            url: trimmed.to_string(),
            key,
            timeout,
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dashboard page where a person approves `approval_id`.
    pub fn approval_url(&self, approval_id: &str) -> String {
        format!("{}/dashboard/approvals/{approval_id}", self.url)
    }

    /// The server's packet for `request`, or a denied `internal_error` packet.
    pub fn verify(&self, request: &Value) -> Value {
        self.verify_text(request).0
    }

    /// `verify`, with the packet's JSON text as the server sent it (or as made here).
    pub fn verify_text(&self, request: &Value) -> (Value, String) {
        let url = &self.url;
        let sent = self
            .http
            .post(format!("{url}/v1/verify"))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {}", self.key))
            .send(request.to_string());
        let mut response = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return fault(
                    format!(
                    "the behalf server {url} did not answer within {} ms; not known to be recorded",
                    self.timeout.as_millis()
                ),
                    request,
                )
            }
            Err(e) => {
                return fault(
                    format!("cannot reach the behalf server {url}: {e}"),
                    request,
                )
            }
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => {
                return fault(
                    format!(
                    "the behalf server {url} answered {status} but the body could not be read: {e}"
                ),
                    request,
                )
            }
        };
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if status != 200 {
            let why = parsed
                .as_ref()
                .and_then(|e| {
                    Some(format!(
                        " {}: {}",
                        e.get("code")?.as_str()?,
                        e.get("message").and_then(Value::as_str).unwrap_or("")
                    ))
                })
                .unwrap_or_default();
            return fault(
                format!("the behalf server {url} answered {status}{why}; nothing was allowed"),
                request,
            );
        }
        match parsed {
            Some(p) if is_packet(&p) => (p, text),
            Some(_) => fault(
                format!(
                    "the behalf server {url} answered with something that is not a decision packet"
                ),
                request,
            ),
            None => fault(
                format!("the behalf server {url} answered with something that is not JSON"),
                request,
            ),
        }
    }
}
