//! The server's own tool schemas, from its tools/list: which tools exist (exactly as named),
//! which arguments each declares, and which of them look like paths or URLs.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// One tool's `inputSchema`, reduced to what gating needs.
#[derive(Clone, Debug, Default)]
pub struct ToolSchema {
    /// Declared properties and their schemas.
    pub properties: Map<String, Value>,
    /// `additionalProperties` is `true` or a schema: undeclared arguments are admitted.
    pub extra_allowed: bool,
}

impl ToolSchema {
    pub fn from_tool(tool: &Value) -> ToolSchema {
        let schema = tool.get("inputSchema").unwrap_or(&Value::Null);
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // Absent counts as "not admitted": generated schemas omit it while their servers
        // strip or ignore extras, and an extra argument is how a decoy gets in.
        let extra_allowed = matches!(
            schema.get("additionalProperties"),
            Some(Value::Bool(true) | Value::Object(_))
        );
        ToolSchema {
            properties,
            extra_allowed,
        }
    }

    /// The first argument of a call that the schema does not declare.
    pub fn undeclared<'a>(&self, args: &'a Map<String, Value>) -> Option<&'a str> {
        if self.extra_allowed {
            return None;
        }
        args.keys()
            .find(|k| !self.properties.contains_key(k.as_str()))
            .map(String::as_str)
    }
}

/// The tools a server listed, by exact name.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: HashMap<String, ToolSchema>,
    /// The server said its tools changed (or nothing was listed yet): list again before denying.
    pub stale: bool,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog {
            tools: HashMap::new(),
            stale: true,
        }
    }

    /// Adds the tools of one tools/list result page.
    pub fn add_page(&mut self, result: &Value) {
        if let Some(tools) = result.get("tools").and_then(Value::as_array) {
            for t in tools {
                if let Some(name) = t.get("name").and_then(Value::as_str) {
                    self.tools
                        .insert(name.to_string(), ToolSchema::from_tool(t));
                }
            }
        }
    }
}

/// Words that, as a part of an argument's name, say it names a file or a URL.
const RESOURCE_WORDS: [&str; 20] = [
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filepath",
    "dir",
    "dirs",
    "directory",
    "directories",
    "folder",
    "url",
    "urls",
    "uri",
    "uris",
    "href",
    "source",
    "destination",
    "src",
    "dest",
];

const RESOURCE_FORMATS: [&str; 5] = ["uri", "uri-reference", "iri", "iri-reference", "url"];

/// Whether an argument names a file or URL, by its name or its schema's `format`.
pub fn names_a_resource(name: &str, schema: Option<&Value>) -> bool {
    let by_format = |s: &Value| {
        s.get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| RESOURCE_FORMATS.contains(&f))
    };
    if let Some(s) = schema {
        if by_format(s) || s.get("items").is_some_and(by_format) {
            return true;
        }
    }
    words(name)
        .iter()
        .any(|w| RESOURCE_WORDS.contains(&w.as_str()))
}

/// `repo_path` → [repo, path]; `outputFile` → [output, file]; `base-url` → [base, url].
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn path_and_url_arguments_are_recognized_by_name_or_format() {
        assert!(names_a_resource("path", None));
        assert!(names_a_resource("repo_path", None));
        assert!(names_a_resource("outputFile", None));
        assert!(names_a_resource("destination", None));
        assert!(names_a_resource(
            "data",
            Some(&json!({"type": "string", "format": "uri"}))
        ));
        assert!(names_a_resource(
            "links",
            Some(&json!({"items": {"format": "uri"}}))
        ));
        assert!(!names_a_resource("pattern", None));
        assert!(!names_a_resource(
            "message",
            Some(&json!({"type": "string"}))
        ));
        assert!(!names_a_resource("entityNames", None));
    }

    #[test]
    fn undeclared_arguments_are_found_unless_the_schema_admits_extras() {
        let t = json!({"name": "read_multiple_files", "inputSchema": {"type": "object",
            "properties": {"paths": {"type": "array"}}}});
        let s = ToolSchema::from_tool(&t);
        let args = json!({"paths": ["a"], "path": "decoy"});
        assert_eq!(s.undeclared(args.as_object().unwrap()), Some("path"));
        let open = json!({"inputSchema": {"properties": {}, "additionalProperties": true}});
        assert_eq!(
            ToolSchema::from_tool(&open).undeclared(args.as_object().unwrap()),
            None
        );
    }
}
