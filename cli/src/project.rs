//! Where the policy and the state live, how the policy is loaded (with errors that name the
//! file, line and JSON path), and the clock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use behalf_core::time::{parse_rfc3339, Millis};
use behalf_core::{Policy, PolicyError};
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::store::Store;

pub const POLICY_FILE: &str = "behalf.json";
pub const STATE_DIR: &str = ".behalf";

/// The current time: `BEHALF_NOW` (RFC 3339, for tests) or the system clock.
pub fn now() -> Result<Millis> {
    match std::env::var("BEHALF_NOW") {
        Ok(text) if !text.is_empty() => parse_rfc3339(&text).ok_or_else(|| {
            CliError::usage(format!("BEHALF_NOW=`{text}` is not an RFC 3339 time"))
                .hint("write it like 2026-11-26T11:00:00Z, or unset it to use the clock")
        }),
        _ => {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| {
                    CliError::new(
                        crate::error::exit::SOFTWARE,
                        "the system clock is before 1970",
                    )
                })?;
            Ok(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        }
    }
}

/// The policy file and the state directory of one project.
#[derive(Clone, Debug)]
pub struct Project {
    pub policy_path: PathBuf,
    pub state_dir: PathBuf,
    /// The last policy loaded, by its text: a long-running process (the MCP proxy) reads the
    /// file on every call, so an edit counts at once, but compiles it only when it changed.
    last: Arc<Mutex<Option<Loaded>>>,
}

impl Project {
    /// `--policy` / `BEHALF_POLICY`, else `behalf.json` in the current directory or a parent.
    pub fn locate(policy: Option<&Path>, state_dir: Option<&Path>) -> Result<Project> {
        let policy_path = match policy {
            Some(p) => p.to_path_buf(),
            None => find_upwards()?,
        };
        let state_dir = match state_dir {
            Some(d) => d.to_path_buf(),
            None => policy_path
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."))
                .join(STATE_DIR),
        };
        Ok(Project {
            policy_path,
            state_dir,
            last: Arc::default(),
        })
    }

    pub fn display(&self) -> String {
        self.policy_path.display().to_string()
    }

    pub fn read_text(&self) -> Result<String> {
        std::fs::read_to_string(&self.policy_path).map_err(|e| {
            CliError::config(format!("cannot read {}: {e}", self.display()))
                .hint("run `behalf init` to write a starter policy, or pass --policy FILE")
        })
    }

    /// Reads and validates the policy; every problem is listed with its line and path.
    pub fn load(&self) -> Result<Loaded> {
        let text = self.read_text()?;
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(loaded) = last.as_ref().filter(|l| l.text == text) {
            return Ok(loaded.clone());
        }
        let loaded = Loaded::from_text(&self.display(), text)?;
        *last = Some(loaded.clone());
        Ok(loaded)
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&self.state_dir)
    }
}

fn find_upwards() -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    let mut dir: Option<&Path> = Some(&cwd);
    while let Some(d) = dir {
        let candidate = d.join(POLICY_FILE);
        if candidate.is_file() {
            // Relative to the current directory when it is here, for shorter messages.
            return Ok(if d == cwd {
                PathBuf::from(POLICY_FILE)
            } else {
                candidate
            });
        }
        dir = d.parent();
    }
    Err(CliError::config(format!(
        "no {POLICY_FILE} in {} or any parent directory",
        cwd.display()
    ))
    .hint("run `behalf init` to write a starter policy, or pass --policy FILE"))
}

/// A policy that loaded: its text, JSON value and compiled form.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub text: String,
    pub value: Value,
    /// Compiled once and shared by every engine made from it.
    pub policy: Arc<Policy>,
}

impl Loaded {
    pub fn from_text(file: &str, text: String) -> Result<Loaded> {
        let value: Value = behalf_core::json::from_str(&text).map_err(|e| match e {
            behalf_core::json::JsonTextError::Syntax {
                message,
                line,
                column,
            } => CliError::config(format!("{file} is not valid JSON"))
                .detail(format!("{file}:{line}:{column}: {message}"))
                .hint("fix the JSON syntax at that line (a missing comma or quote is the usual cause)"),
            behalf_core::json::JsonTextError::DuplicateKey { path, key } => {
                CliError::config(format!("{file} repeats the key `{key}` at `{path}`"))
                    .hint("keep one of the two: readers disagree on which copy counts")
            }
        })?;
        match Policy::from_value(&value) {
            Ok(policy) => Ok(Loaded {
                text,
                value,
                policy: Arc::new(policy),
            }),
            Err(e) => Err(policy_error(file, &text, &e)),
        }
    }
}

/// Formats every problem of a rejected policy as `file:line: path: message (code)` + hint.
pub fn policy_error(file: &str, text: &str, e: &PolicyError) -> CliError {
    let lines = locate_lines(text);
    let n = e.problems.len();
    let mut err = CliError::config(format!(
        "{file} is not a valid policy ({n} problem{}); nothing was loaded",
        if n == 1 { "" } else { "s" }
    ));
    for p in &e.problems {
        let line = line_of(&lines, &p.path);
        let at = if p.path.is_empty() { "$" } else { &p.path };
        err = err.detail(format!("{file}:{line}: {at}: {} ({})", p.message, p.code));
        if !p.hint.is_empty() {
            err = err.detail(format!("    fix: {}", p.hint));
        }
    }
    err.hint(format!("edit {file}, then run `behalf check`"))
}

/// The line of a path, or of its nearest ancestor that exists in the text.
fn line_of(lines: &HashMap<String, usize>, path: &str) -> usize {
    let mut p = path.to_string();
    loop {
        if let Some(&l) = lines.get(&p) {
            return l;
        }
        match p.rfind(['.', '[']) {
            Some(i) => p.truncate(i),
            None => return lines.get("").copied().unwrap_or(1),
        }
    }
}

/// Maps each JSON path in `text` (`passports[0].permissions[2].when.env`) to the 1-based
/// line where its value starts. Tolerant: on malformed text it returns what it found.
pub fn locate_lines(text: &str) -> HashMap<String, usize> {
    enum Frame {
        Object { path: String, key: Option<String> },
        Array { path: String, index: usize },
    }
    let mut out = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    // The path of the value that starts next.
    let current = |stack: &Vec<Frame>| -> String {
        match stack.last() {
            None => String::new(),
            Some(Frame::Object { path, key }) => {
                let k = key.clone().unwrap_or_default();
                if path.is_empty() {
                    k
                } else {
                    format!("{path}.{k}")
                }
            }
            Some(Frame::Array { path, index }) => format!("{path}[{index}]"),
        }
    };
    let mut expect_key = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => line += 1,
            b' ' | b'\t' | b'\r' | b':' => {}
            b',' => {
                if let Some(Frame::Array { index, .. }) = stack.last_mut() {
                    *index += 1;
                } else {
                    expect_key = true;
                }
            }
            b'{' => {
                let path = current(&stack);
                out.entry(path.clone()).or_insert(line);
                stack.push(Frame::Object { path, key: None });
                expect_key = true;
            }
            b'[' => {
                let path = current(&stack);
                out.entry(path.clone()).or_insert(line);
                stack.push(Frame::Array { path, index: 0 });
                expect_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\\' {
                        i += 2;
                        continue;
                    }
                    if c == b'"' {
                        break;
                    }
                    if c == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                let s = text.get(start..i.min(text.len())).unwrap_or("");
                if expect_key {
                    if let Some(Frame::Object { key, .. }) = stack.last_mut() {
                        *key = Some(
                            serde_json::from_str(&format!("\"{s}\""))
                                .unwrap_or_else(|_| s.to_string()),
                        );
                    }
                    expect_key = false;
                } else {
                    out.entry(current(&stack)).or_insert(line);
                }
            }
            _ => {
                // A scalar: record where it starts, skip to its end.
                out.entry(current(&stack)).or_insert(line);
                while let Some(&c) = bytes.get(i + 1) {
                    if matches!(c, b',' | b'}' | b']' | b'\n' | b' ' | b'\t' | b'\r') {
                        break;
                    }
                    i += 1;
                }
            }
        }
        i += 1;
    }
    out
}

/// Writes a file whole or not at all (a temporary file renamed over it): the policy file is
/// never left half-written.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "behalf.json".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let fail =
        |e: std::io::Error| CliError::config(format!("cannot write {}: {e}", path.display()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_map_to_the_lines_where_their_values_start() {
        let text = "{\n  \"version\": 1,\n  \"passports\": [\n    {\n      \"id\": \"p\",\n      \"permissions\": [\n        {\"id\": \"a\", \"when\": {\"env\": \"x\"}}\n      ]\n    }\n  ]\n}\n";
        let lines = locate_lines(text);
        assert_eq!(lines.get("version"), Some(&2));
        assert_eq!(lines.get("passports[0].id"), Some(&5));
        assert_eq!(lines.get("passports[0].permissions[0].when.env"), Some(&7));
        assert_eq!(
            line_of(&lines, "passports[0].permissions[0].when.env.in[0]"),
            7
        );
    }
}

#[cfg(test)]
mod load_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_policy_is_compiled_once_until_its_file_changes() {
        let dir = std::env::temp_dir().join(format!("behalf-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("behalf.json");
        let policy = |agent: &str| {
            format!(
                r#"{{"version": 1, "passports": [{{"id": "p", "agent": "{agent}", "permissions": []}}]}}"#
            )
        };
        std::fs::write(&file, policy("a")).unwrap();
        let project = Project::locate(Some(&file), Some(&dir)).unwrap();
        let first = project.load().unwrap();
        let again = project.load().unwrap();
        assert!(
            Arc::ptr_eq(&first.policy, &again.policy),
            "recompiled an unchanged file"
        );
        std::fs::write(&file, policy("b")).unwrap();
        let edited = project.load().unwrap();
        assert!(!Arc::ptr_eq(&first.policy, &edited.policy));
        assert!(
            edited.policy.passport_for("b").is_some(),
            "the edit was not picked up"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
