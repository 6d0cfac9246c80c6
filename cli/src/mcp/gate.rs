//! From one client request to the behalf requests that must all be allowed before it is
//! forwarded: the tool must be listed, its arguments declared, every resource it names mapped
//! (by its profile) and resolved. Anything that cannot be mapped is a refusal, never a pass.

use std::path::{Path, PathBuf};

use behalf_core::time::Millis;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::filesystem;
use super::profiles::{top_argument, values_at, Kind, Output, Profile, ResourceArg, Rule};
use super::schema::{names_a_resource, Catalog};
use crate::project::Loaded;

/// Argument strings longer than this are replaced by their SHA-256 in the request's params
/// (the engine caps strings at 8 KiB; an approval then covers exactly that content).
const MAX_PARAM_STRING: usize = 4096;

/// What stays the same for a whole session.
pub struct Context {
    pub agent: String,
    /// The vendor of requests that name no host.
    pub vendor: String,
    pub profile: Profile,
    /// This project's policy file and state directory, resolved (they are protected).
    pub policy_path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub cwd: PathBuf,
}

/// One behalf request of a planned call.
#[derive(Clone, Debug)]
pub struct Planned {
    pub request: Value,
    /// The protected name (`behalf.json`, `.behalf`, …) this resource is or lies under.
    pub protected: Option<String>,
}

/// Everything a call needs verified, and what to filter out of its answer.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub items: Vec<Planned>,
    pub output: Option<Output>,
    /// The resolved directory a listing, tree or search is about.
    pub dir: Option<PathBuf>,
    pub action: String,
    /// The call's params, as its requests carry them (for checks on the answer).
    pub params: Value,
}

fn shrink(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_PARAM_STRING => {
            let digest = Sha256::digest(s.as_bytes());
            json!(format!(
                "sha256:{} ({} bytes)",
                behalf_core::audit::hex(&digest),
                s.len()
            ))
        }
        Value::Array(a) => Value::Array(a.iter().map(shrink).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shrink(v))).collect()),
        other => other.clone(),
    }
}

impl Context {
    fn request(&self, action: &str, vendor: &str, resource: Option<&str>, params: &Value) -> Value {
        let mut r = Map::new();
        r.insert("agentId".into(), json!(self.agent));
        r.insert("action".into(), json!(action));
        r.insert("vendor".into(), json!(vendor));
        if let Some(res) = resource {
            r.insert("resource".into(), json!(res));
        }
        r.insert("params".into(), params.clone());
        Value::Object(r)
    }

    fn resolve_path(
        &self,
        value: &str,
        base: Option<&Path>,
        roots: &[PathBuf],
    ) -> Result<PathBuf, String> {
        let roots: &[PathBuf] = if self.profile.filesystem { roots } else { &[] };
        filesystem::resolve(value, base, roots, &self.cwd)
    }

    /// (vendor, resource, protected name) for one value of a resource argument.
    fn resource_of(
        &self,
        arg: &ResourceArg,
        value: &str,
        args: &Value,
        roots: &[PathBuf],
    ) -> Result<(String, Option<String>, Option<String>), String> {
        match arg.kind {
            Kind::Path => {
                let base = match &arg.base {
                    Some(b) => match args.get(b).and_then(Value::as_str) {
                        Some(bv) => Some(self.resolve_path(bv, None, roots)?),
                        None => {
                            return Err(format!(
                                "`{}` is resolved inside `{b}`, which is missing",
                                arg.argument
                            ))
                        }
                    },
                    None => None,
                };
                let path = self
                    .resolve_path(value, base.as_deref(), roots)
                    .map_err(|e| format!("`{}`: {e}", arg.argument))?;
                let text = path
                    .to_str()
                    .ok_or_else(|| {
                        format!("`{}` resolves to a path that is not UTF-8", arg.argument)
                    })?
                    .to_string();
                let protected = filesystem::protected_name(
                    &path,
                    self.policy_path.as_deref(),
                    self.state_dir.as_deref(),
                );
                Ok((self.vendor.clone(), Some(text), protected))
            }
            Kind::Url => {
                let (vendor, resource) =
                    url_parts(value).map_err(|e| format!("`{}`: {e}", arg.argument))?;
                Ok((vendor, resource, None))
            }
            Kind::Uri => self.uri_resource(value, roots),
            Kind::Name => Ok((
                self.vendor.clone(),
                Some(format!("{}{value}", arg.prefix)),
                None,
            )),
        }
    }

    /// A resource URI of the server: `file://` paths resolve like paths on a filesystem
    /// server; anything else is `scheme/authority/path` under the server's vendor.
    pub fn uri_resource(
        &self,
        uri: &str,
        roots: &[PathBuf],
    ) -> Result<(String, Option<String>, Option<String>), String> {
        if self.profile.filesystem {
            if let Some(p) = filesystem::file_uri_path(uri) {
                let arg = ResourceArg {
                    argument: "uri".into(),
                    kind: Kind::Path,
                    base: None,
                    prefix: String::new(),
                };
                let text = p.to_str().ok_or("the URI's path is not UTF-8")?.to_string();
                return self.resource_of(&arg, &text, &Value::Null, roots);
            }
        }
        let (scheme, rest) = uri
            .split_once(':')
            .ok_or_else(|| format!("`{uri}` is not a URI (no scheme)"))?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(format!("`{uri}` has no valid scheme"));
        }
        let rest = rest.trim_start_matches('/');
        let resource = format!("{}/{rest}", scheme.to_ascii_lowercase());
        Ok((self.vendor.clone(), Some(resource), None))
    }

    /// The plan for a `tools/call`.
    pub fn plan_tool_call(
        &self,
        catalog: &Catalog,
        roots: &[PathBuf],
        params: &Value,
    ) -> Result<Plan, String> {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or("tools/call needs params.name")?;
        let schema = catalog.tools.get(name).ok_or_else(|| {
            format!("the server did not list a tool named `{name}` (tool names are exact and case-sensitive)")
        })?;
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("the call's arguments are not an object".into()),
        };
        if let Some(extra) = schema.undeclared(&args) {
            return Err(format!(
                "the argument `{extra}` is not declared by the input schema of `{name}`; behalf \
                 forwards only the arguments a tool declares"
            ));
        }
        let rule = self.profile.tools.get(name).cloned().unwrap_or_default();
        self.check_unmapped(name, &rule, &args, |k| schema.properties.get(k))?;
        let action = rule.action.clone().unwrap_or_else(|| name.to_string());
        self.plan_rule(&action, &rule, &Value::Object(args), roots)
    }

    /// Arguments that name a file or URL but that the profile does not map: refused.
    fn check_unmapped<'a>(
        &self,
        tool: &str,
        rule: &Rule,
        args: &Map<String, Value>,
        schema_of: impl Fn(&str) -> Option<&'a Value>,
    ) -> Result<(), String> {
        for k in args.keys() {
            let mapped = rule
                .resources
                .iter()
                .any(|r| top_argument(&r.argument) == k);
            let plain = rule.plain.iter().any(|p| p == k);
            if !mapped && !plain && names_a_resource(k, schema_of(k)) {
                return Err(format!(
                    "the argument `{k}` of `{tool}` names a file or URL, but no tool profile says \
                     which resource it is; map it in a --profile file (`resources`, or `plain` \
                     if it names none), see docs/mcp.md"
                ));
            }
        }
        Ok(())
    }

    fn plan_rule(
        &self,
        action: &str,
        rule: &Rule,
        args: &Value,
        roots: &[PathBuf],
    ) -> Result<Plan, String> {
        let params = shrink(args);
        let mut plan = Plan {
            output: rule.output,
            action: action.to_string(),
            params: params.clone(),
            ..Plan::default()
        };
        for arg in &rule.resources {
            for v in values_at(args, &arg.argument) {
                let Value::String(s) = v else {
                    return Err(format!(
                        "`{}` must be a string or a list of strings",
                        arg.argument
                    ));
                };
                let (vendor, resource, protected) = self.resource_of(arg, s, args, roots)?;
                if plan.dir.is_none() && arg.kind == Kind::Path {
                    plan.dir = resource.as_ref().map(PathBuf::from);
                }
                plan.items.push(Planned {
                    request: self.request(action, &vendor, resource.as_deref(), &params),
                    protected,
                });
            }
        }
        if plan.items.is_empty() {
            plan.items.push(Planned {
                request: self.request(action, &self.vendor, None, &params),
                protected: None,
            });
        }
        Ok(plan)
    }

    /// The plan for `resources/read`, `resources/subscribe`, `prompts/get`,
    /// `completion/complete`: the action is the method's name unless a profile says otherwise.
    pub fn plan_method(
        &self,
        method: &str,
        roots: &[PathBuf],
        params: &Value,
    ) -> Result<Plan, String> {
        let args = params
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let single = |vendor: String, resource: Option<String>, protected: Option<String>| Plan {
            items: vec![Planned {
                request: self.request(method, &vendor, resource.as_deref(), &shrink(&args)),
                protected,
            }],
            action: method.to_string(),
            params: shrink(&args),
            ..Plan::default()
        };
        match method {
            "resources/read" | "resources/subscribe" => {
                let uri = params
                    .get("uri")
                    .and_then(Value::as_str)
                    .ok_or("params.uri is required")?;
                let (v, r, p) = self.uri_resource(uri, roots)?;
                Ok(single(v, r, p))
            }
            "prompts/get" => {
                let name = params
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("params.name is required")?;
                let Value::Object(map) = &args else {
                    return Err("the prompt's arguments are not an object".into());
                };
                let rule = self.profile.prompts.get(name).cloned().unwrap_or_default();
                self.check_unmapped(name, &rule, map, |_| None)?;
                if rule.resources.is_empty() {
                    Ok(single(
                        self.vendor.clone(),
                        Some(format!("prompts/{name}")),
                        None,
                    ))
                } else {
                    let action = rule.action.clone().unwrap_or_else(|| method.to_string());
                    self.plan_rule(&action, &rule, &args, roots)
                }
            }
            "completion/complete" => {
                let r = params.get("ref").ok_or("params.ref is required")?;
                match r.get("type").and_then(Value::as_str) {
                    Some("ref/prompt") => {
                        let name = r
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or("ref.name is required")?;
                        Ok(single(
                            self.vendor.clone(),
                            Some(format!("prompts/{name}")),
                            None,
                        ))
                    }
                    Some("ref/resource") => {
                        let uri = r
                            .get("uri")
                            .and_then(Value::as_str)
                            .ok_or("ref.uri is required")?;
                        let (v, res, p) = self.uri_resource(uri, roots)?;
                        Ok(single(v, res, p))
                    }
                    _ => Err("ref.type must be ref/prompt or ref/resource".into()),
                }
            }
            other => Err(format!("`{other}` is not a gated method")),
        }
    }
}

/// Whether the policy lets a protected resource through by permissions that name it: the
/// request is evaluated against only those (and every block), so a broad allow elsewhere in
/// the file does not count. The agent reads or edits behalf's own files only when told so.
pub fn explicitly_allowed(loaded: &Loaded, request: &Value, name: &str, now: Millis) -> bool {
    let names_it = |perm: &Value| {
        let patterns: Vec<&str> = match perm.get("resource") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        patterns.iter().any(|p| p.split('/').any(|seg| seg == name))
    };
    let mut narrowed = loaded.value.clone();
    if let Some(passports) = narrowed.get_mut("passports").and_then(Value::as_array_mut) {
        for passport in passports {
            if let Some(perms) = passport
                .get_mut("permissions")
                .and_then(Value::as_array_mut)
            {
                perms.retain(|p| {
                    p.get("effect").and_then(Value::as_str) == Some("block") || names_it(p)
                });
            }
        }
    }
    match behalf_core::verify_once(&narrowed, request, now) {
        Ok(d) => d.allowed() || d.reason == behalf_core::Reason::RequiresApproval,
        Err(_) => false,
    }
}

/// (vendor, resource) of a URL: the host is the vendor and the path the resource. Anything a
/// URL parser could read as another host than this split (user info, backslashes, white space
/// or control characters) is refused.
pub fn url_parts(url: &str) -> Result<(String, Option<String>), String> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("the URL contains white space, a control character or `\\`".into());
    }
    let (scheme, rest) = url.split_once(':').ok_or("the URL has no scheme")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err("the URL has no valid scheme".into());
    }
    let Some(after) = rest.strip_prefix("//") else {
        // data:, mailto: — no host; the scheme stands for the vendor.
        return Ok((scheme, None));
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = after.get(..end).unwrap_or("");
    if authority.contains('@') {
        return Err("a URL with user info (`user@host`) is refused".into());
    }
    let host = if authority.starts_with('[') {
        authority
            .get(..=authority.find(']').ok_or("unclosed `[` in the host")?)
            .unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let path_end = after.find(['?', '#']).unwrap_or(after.len());
    let path = after.get(end..path_end.max(end)).unwrap_or("");
    let path = path.trim_matches('/');
    let resource = (!path.is_empty()).then(|| path.to_string());
    Ok((host.to_string(), resource))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_url_splits_into_host_and_path_and_ambiguous_ones_are_refused() {
        assert_eq!(
            url_parts("https://Example.com:8443/a/b?q=1#f").unwrap(),
            ("Example.com".into(), Some("a/b".into()))
        );
        assert_eq!(
            url_parts("http://127.0.0.1").unwrap(),
            ("127.0.0.1".into(), None)
        );
        assert_eq!(
            url_parts("data:text/plain,hi").unwrap(),
            ("data".into(), None)
        );
        assert!(url_parts("http://good.com@evil.com/").is_err());
        assert!(url_parts("http://evil.com\\@good.com/").is_err());
        assert!(url_parts("http://exa mple.com/").is_err());
        assert!(url_parts("http:///path").is_err());
    }

    #[test]
    fn long_argument_strings_are_replaced_by_their_hash() {
        let big = "x".repeat(MAX_PARAM_STRING + 1);
        let v = shrink(&json!({"content": big}));
        assert!(v["content"].as_str().unwrap().starts_with("sha256:"));
    }
}
