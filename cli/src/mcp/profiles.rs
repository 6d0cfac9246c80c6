//! Tool profiles: which arguments of which tool (or prompt) name resources, how each becomes a
//! vendor and resource, and which action the call is. Built-in profiles for the reference
//! servers are compiled in; a user's file (`--profile`) has the same format
//! (`schema/mcp-profile.schema.json`, docs/mcp.md).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{exit, CliError, Result};

/// The built-in profiles, by the `--server` name that picks them.
const BUILTIN: [(&str, &str); 5] = [
    ("filesystem", include_str!("profiles/filesystem.json")),
    ("git", include_str!("profiles/git.json")),
    ("fetch", include_str!("profiles/fetch.json")),
    ("memory", include_str!("profiles/memory.json")),
    ("everything", include_str!("profiles/everything.json")),
];

/// How an argument's value names a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A file path: made absolute, resolved against the server's roots, symlinks followed.
    Path,
    /// A URL: its host is the vendor, its path the resource.
    Url,
    /// A resource URI of the server: `scheme/authority/path` under the server's vendor.
    Uri,
    /// A plain name: `prefix` + the value, under the server's vendor.
    Name,
}

/// What the proxy filters out of a tool's result (filesystem listings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Lines `[FILE] name` / `[DIR] name` of the listed directory.
    Listing,
    /// A JSON tree of `{name, type, children}` below the given directory.
    Tree,
    /// One full path per line.
    Search,
}

#[derive(Clone, Debug)]
pub struct ResourceArg {
    /// An argument name, or a path into it: `entities[].name` (each element's `name`).
    pub argument: String,
    pub kind: Kind,
    /// For paths: relative values are resolved against this argument's value.
    pub base: Option<String>,
    /// For names: the resource is `prefix` + value.
    pub prefix: String,
}

#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// The action (default: the tool's name).
    pub action: Option<String>,
    pub resources: Vec<ResourceArg>,
    /// Arguments that look like paths or URLs but are not resources (a glob, a branch name).
    pub plain: Vec<String>,
    pub output: Option<Output>,
}

#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// The vendor of requests that name no host (default: the `--server` name).
    pub vendor: Option<String>,
    /// Paths resolve against the server's directories; listings are filtered.
    pub filesystem: bool,
    pub tools: HashMap<String, Rule>,
    pub prompts: HashMap<String, Rule>,
}

pub fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _)| *n == name)
}

/// The built-in profile for a server name, if there is one.
pub fn builtin(name: &str) -> Option<Profile> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let v: Value = serde_json::from_str(text).ok()?;
    parse(&v, &format!("the built-in `{name}` profile")).ok()
}

pub fn print_builtin(name: &str) -> Result<u8> {
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => {
            print!("{text}");
            Ok(exit::OK)
        }
        None => Err(
            CliError::usage(format!("no built-in profile `{name}`")).hint(format!(
                "built-in profiles: {}",
                BUILTIN.map(|(n, _)| n).join(", ")
            )),
        ),
    }
}

/// A user's profile file; `extends` names a built-in profile whose tools it adds to.
pub fn load(path: &Path) -> Result<Profile> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::data(format!("cannot read the profile {name}: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::data(format!("the profile {name} is not valid JSON")).detail(format!(
            "{name}:{}:{}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    parse(&v, &name)
}

fn parse(v: &Value, name: &str) -> Result<Profile> {
    let bad = |what: String| {
        CliError::data(format!("{name}: {what}"))
            .hint("see docs/mcp.md (tool profiles) or `behalf mcp profile filesystem`")
    };
    let Value::Object(top) = v else {
        return Err(bad("a profile must be a JSON object".into()));
    };
    let mut profile = match top.get("extends") {
        None => Profile::default(),
        Some(Value::String(base)) => {
            builtin(base).ok_or_else(|| bad(format!("extends: no built-in profile `{base}`")))?
        }
        Some(_) => return Err(bad("extends must be a built-in profile's name".into())),
    };
    for (k, v) in top {
        match k.as_str() {
            "$schema" | "description" | "extends" => {}
            "vendor" => {
                profile.vendor = Some(
                    v.as_str()
                        .ok_or_else(|| bad("vendor must be a string".into()))?
                        .to_string(),
                )
            }
            "filesystem" => {
                profile.filesystem = v
                    .as_bool()
                    .ok_or_else(|| bad("filesystem must be true or false".into()))?
            }
            "tools" | "prompts" => {
                let Value::Object(rules) = v else {
                    return Err(bad(format!("{k} must be an object of name → rule")));
                };
                for (tool, rule) in rules {
                    let rule = parse_rule(rule, &format!("{k}.{tool}")).map_err(bad)?;
                    let table = if k == "tools" {
                        &mut profile.tools
                    } else {
                        &mut profile.prompts
                    };
                    table.insert(tool.clone(), rule);
                }
            }
            "default" | "params" => {
                return Err(bad(format!(
                    "`{k}` belongs to the old one-argument map format; write a profile with \
                     `tools` → `resources` instead"
                )))
            }
            other => return Err(bad(format!("unknown key `{other}`"))),
        }
    }
    Ok(profile)
}

fn parse_rule(v: &Value, at: &str) -> std::result::Result<Rule, String> {
    let Value::Object(m) = v else {
        return Err(format!("{at} must be an object"));
    };
    let mut rule = Rule::default();
    for (k, v) in m {
        match k.as_str() {
            "action" => {
                rule.action = Some(
                    v.as_str()
                        .ok_or_else(|| format!("{at}.action must be a string"))?
                        .to_string(),
                )
            }
            "resources" => {
                let Value::Array(items) = v else {
                    return Err(format!("{at}.resources must be a list"));
                };
                for (i, item) in items.iter().enumerate() {
                    rule.resources
                        .push(parse_resource(item, &format!("{at}.resources[{i}]"))?);
                }
            }
            "plain" => {
                rule.plain = v
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|s| s.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| format!("{at}.plain must list argument names"))?
            }
            "output" => {
                rule.output = Some(match v.as_str() {
                    Some("listing") => Output::Listing,
                    Some("tree") => Output::Tree,
                    Some("search") => Output::Search,
                    _ => return Err(format!("{at}.output must be listing, tree or search")),
                })
            }
            "resource" => {
                return Err(format!(
                    "{at}.resource: `{{argument}}` templates were replaced by `resources`, a \
                     list of {{\"argument\": NAME, \"kind\": \"path\"}}"
                ))
            }
            other => {
                return Err(format!(
                    "{at}: unknown key `{other}` (a rule has action, resources, plain, output)"
                ))
            }
        }
    }
    Ok(rule)
}

fn parse_resource(v: &Value, at: &str) -> std::result::Result<ResourceArg, String> {
    let Value::Object(m) = v else {
        return Err(format!("{at} must be an object"));
    };
    let text = |k: &str| -> std::result::Result<Option<String>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}.{k} must be a string")),
        }
    };
    for k in m.keys() {
        if !matches!(k.as_str(), "argument" | "kind" | "base" | "prefix") {
            return Err(format!(
                "{at}: unknown key `{k}` (a resource has argument, kind, base, prefix)"
            ));
        }
    }
    let argument = text("argument")?.ok_or_else(|| format!("{at}.argument is required"))?;
    let kind = match text("kind")?.as_deref() {
        Some("path") => Kind::Path,
        Some("url") => Kind::Url,
        Some("uri") => Kind::Uri,
        Some("name") => Kind::Name,
        _ => return Err(format!("{at}.kind must be path, url, uri or name")),
    };
    Ok(ResourceArg {
        argument,
        kind,
        base: text("base")?,
        prefix: text("prefix")?.unwrap_or_default(),
    })
}

/// Every value an argument path names: `paths` (a string or each element of a list),
/// `entities[].name` (each element's `name`). Missing parts name nothing.
pub fn values_at<'a>(args: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = vec![args];
    for part in path.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for v in current {
            if let Some(child) = v.get(key) {
                match (each, child) {
                    (true, Value::Array(items)) => next.extend(items.iter()),
                    _ => next.push(child),
                }
            }
        }
        current = next;
    }
    // A list at the end names each of its elements.
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

/// The top-level argument an argument path starts with (`entities[].name` → `entities`).
pub fn top_argument(path: &str) -> &str {
    let first = path.split('.').next().unwrap_or(path);
    first.strip_suffix("[]").unwrap_or(first)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_profile_parses() {
        for (name, _) in BUILTIN {
            assert!(builtin(name).is_some(), "{name}");
        }
        let fs = builtin("filesystem").unwrap();
        assert!(fs.filesystem);
        let mv = &fs.tools["move_file"];
        assert_eq!(
            mv.resources.len(),
            2,
            "source and destination are both resources"
        );
        assert_eq!(
            fs.tools["read_multiple_files"].resources[0].argument,
            "paths"
        );
    }

    #[test]
    fn argument_paths_reach_into_lists_and_objects() {
        let args =
            json!({"paths": ["a", "b"], "entities": [{"name": "x"}, {"name": "y"}], "path": "p"});
        assert_eq!(values_at(&args, "paths"), vec![&json!("a"), &json!("b")]);
        assert_eq!(
            values_at(&args, "entities[].name"),
            vec![&json!("x"), &json!("y")]
        );
        assert_eq!(values_at(&args, "path"), vec![&json!("p")]);
        assert!(values_at(&args, "missing").is_empty());
        assert_eq!(top_argument("entities[].name"), "entities");
    }

    #[test]
    fn the_old_template_map_is_refused_with_the_way_forward() {
        let old = json!({"tools": {"read_file": {"resource": "{path}"}}});
        let e = parse(&old, "old.json").unwrap_err();
        assert!(e.message.contains("resources"), "{}", e.message);
        let unknown = json!({"tools": {"x": {"resources": [{"argument": "p", "kind": "file"}]}}});
        assert!(parse(&unknown, "u.json").is_err());
    }

    #[test]
    fn a_user_profile_extends_a_builtin_one() {
        let v = json!({"extends": "filesystem", "tools": {"copy_file": {"resources": [
            {"argument": "source", "kind": "path"}, {"argument": "destination", "kind": "path"}]}}});
        let p = parse(&v, "mine.json").unwrap();
        assert!(p.filesystem);
        assert!(p.tools.contains_key("read_file"));
        assert_eq!(p.tools["copy_file"].resources.len(), 2);
    }
}
