//! What the server answers, checked before the client sees it: entries under blocked paths
//! leave listings, trees and searches; resources the policy blocks leave results, prompts,
//! reads and resource lists. These checks are stateless (no database), so they never wait.

use std::path::{Path, PathBuf};

use behalf_core::time::Millis;
use behalf_core::Reason;
use serde_json::{json, Value};

use super::filesystem;
use super::gate::{explicitly_allowed, Context, Plan};
use super::profiles::Output;
use crate::project::{self, Loaded};

const WITHHELD: &str = "[behalf withheld a resource that the policy blocks]";

/// The policy as it is now, for checks on answers.
pub struct Checker<'a> {
    ctx: &'a Context,
    loaded: Loaded,
    now: Millis,
}

impl<'a> Checker<'a> {
    pub fn new(ctx: &'a Context, project: &project::Project) -> Option<Checker<'a>> {
        Some(Checker {
            ctx,
            loaded: project.load().ok()?,
            now: project::now().ok()?,
        })
    }

    /// Blocked, or not even a valid request: the client must not see it.
    pub fn blocks(&self, request: &Value) -> bool {
        match behalf_core::verify_once(&self.loaded.value, request, self.now) {
            Ok(d) => matches!(d.reason, Reason::Blocked | Reason::InvalidRequest),
            Err(_) => true,
        }
    }

    fn request(&self, action: &str, vendor: &str, resource: Option<&str>, params: &Value) -> Value {
        let mut r = json!({"agentId": self.ctx.agent, "action": action, "vendor": vendor, "params": params});
        if let (Some(res), Some(m)) = (resource, r.as_object_mut()) {
            m.insert("resource".into(), json!(res));
        }
        r
    }

    /// An entry of a listing: hidden when the listing's action on it is blocked, or it is
    /// behalf's own file and no permission names it.
    pub fn path_hidden(&self, action: &str, params: &Value, path: &Path) -> bool {
        let Some(text) = path.to_str() else {
            return true;
        };
        let request = self.request(action, &self.ctx.vendor, Some(text), params);
        if let Some(name) = filesystem::protected_name(
            path,
            self.ctx.policy_path.as_deref(),
            self.ctx.state_dir.as_deref(),
        ) {
            if !explicitly_allowed(&self.loaded, &request, &name, self.now) {
                return true;
            }
        }
        self.blocks(&request)
    }

    /// A resource in an answer, checked as a `resources/read` of its URI.
    pub fn uri_hidden(&self, uri: &str, roots: &[PathBuf]) -> bool {
        match self.ctx.uri_resource(uri, roots) {
            Ok((vendor, resource, protected)) => {
                let request =
                    self.request("resources/read", &vendor, resource.as_deref(), &json!({}));
                if let Some(name) = protected {
                    if !explicitly_allowed(&self.loaded, &request, &name, self.now) {
                        return true;
                    }
                }
                self.blocks(&request)
            }
            Err(_) => true,
        }
    }

    /// A tool that any call would find blocked (for `--hide-blocked`).
    pub fn tool_blocked(&self, action: &str) -> bool {
        let request = self.request(action, &self.ctx.vendor, None, &json!({}));
        matches!(
            behalf_core::verify_once(&self.loaded.value, &request, self.now),
            Ok(d) if d.reason == Reason::Blocked
        )
    }
}

/// One content block: a blocked embedded resource or resource link becomes a notice.
fn filter_block(block: &mut Value, checker: &Checker<'_>, roots: &[PathBuf]) -> bool {
    let uri = match block.get("type").and_then(Value::as_str) {
        Some("resource") => block.pointer("/resource/uri").and_then(Value::as_str),
        Some("resource_link") => block.get("uri").and_then(Value::as_str),
        _ => return false,
    };
    let hidden = uri.is_none_or(|u| checker.uri_hidden(u, roots));
    if hidden {
        *block = json!({"type": "text", "text": WITHHELD});
    }
    hidden
}

/// A tool's result (or a task's): listings filtered by the plan, embedded resources checked.
pub fn filter_tool_result(
    result: &mut Value,
    plan: &Plan,
    checker: &Checker<'_>,
    roots: &[PathBuf],
) {
    let mut withheld = false;
    if let Some(blocks) = result.get_mut("content").and_then(Value::as_array_mut) {
        for b in blocks.iter_mut() {
            withheld |= filter_block(b, checker, roots);
        }
    }
    if let (Some(output), Some(dir)) = (plan.output, plan.dir.as_deref()) {
        let mut hidden = |p: &Path| checker.path_hidden(&plan.action, &plan.params, p);
        let mut apply = |text: &str| -> String {
            match output {
                Output::Listing => filesystem::filter_listing(text, dir, &mut hidden).0,
                Output::Tree => filesystem::filter_tree(text, dir, &mut hidden).0,
                Output::Search => filesystem::filter_search(text, &mut hidden).0,
            }
        };
        if let Some(blocks) = result.get_mut("content").and_then(Value::as_array_mut) {
            for b in blocks.iter_mut() {
                if let Some(Value::String(t)) = b.get_mut("text") {
                    *t = apply(t);
                }
            }
        }
        if let Some(Value::String(t)) = result.pointer_mut("/structuredContent/content") {
            *t = apply(t);
        }
    } else if withheld {
        // Structured content may repeat what was withheld; it cannot be checked item by item.
        if let Some(m) = result.as_object_mut() {
            m.remove("structuredContent");
        }
    }
}

/// `prompts/get`: each message's content (one block, or a list of them).
pub fn filter_prompt(result: &mut Value, checker: &Checker<'_>, roots: &[PathBuf]) {
    if let Some(messages) = result.get_mut("messages").and_then(Value::as_array_mut) {
        for m in messages.iter_mut() {
            match m.get_mut("content") {
                Some(Value::Array(blocks)) => {
                    for b in blocks.iter_mut() {
                        filter_block(b, checker, roots);
                    }
                }
                Some(block) => {
                    filter_block(block, checker, roots);
                }
                None => {}
            }
        }
    }
}

/// `resources/read`: contents whose URI is blocked are left out.
pub fn filter_contents(result: &mut Value, checker: &Checker<'_>, roots: &[PathBuf]) {
    if let Some(items) = result.get_mut("contents").and_then(Value::as_array_mut) {
        items.retain(|c| {
            c.get("uri")
                .and_then(Value::as_str)
                .is_some_and(|u| !checker.uri_hidden(u, roots))
        });
    }
}

/// `resources/list`: resources whose URI is blocked are left out.
pub fn filter_resource_list(result: &mut Value, checker: &Checker<'_>, roots: &[PathBuf]) {
    if let Some(items) = result.get_mut("resources").and_then(Value::as_array_mut) {
        items.retain(|c| {
            c.get("uri")
                .and_then(Value::as_str)
                .is_some_and(|u| !checker.uri_hidden(u, roots))
        });
    }
}
