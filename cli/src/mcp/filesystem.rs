//! Paths as a filesystem server will use them: made absolute against the server's roots, `.`
//! and `..` folded, symlinks followed (the deepest existing parent for a path not made yet), so
//! behalf checks the file the server will touch, not the spelling the model chose. And the
//! filters that take entries under blocked paths out of listings, trees and searches.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// The directories a server was started with: every argument of its command that is an
/// existing directory (server-filesystem takes its allowed directories that way).
pub fn roots_from_command(command: &[String]) -> Vec<PathBuf> {
    command
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| PathBuf::from(expand_home(a)))
        .filter(|p| p.is_dir())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
}

/// The directories of a client's `roots/list` answer (`file://` URIs only).
pub fn roots_from_list(result: &Value) -> Vec<PathBuf> {
    result
        .get("roots")
        .and_then(Value::as_array)
        .map(|roots| {
            roots
                .iter()
                .filter_map(|r| r.get("uri").and_then(Value::as_str))
                .filter_map(file_uri_path)
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// The path of a `file://` URI (percent-escapes decoded), if it is one.
pub fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let bytes = percent_decode(path)?;
    String::from_utf8(bytes).ok().map(PathBuf::from)
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

fn expand_home(p: &str) -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    if p == "~" {
        home
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else {
        p.to_string()
    }
}

/// `.` dropped and `..` folded without touching the disk, as Node's `path.resolve` does.
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

fn within_any(p: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| p.starts_with(r))
}

/// The absolute, symlink-free path a server will act on for `value`.
/// `base`: relative values resolve against it; else against the roots, as server-filesystem
/// does (the first root that keeps the path inside a root, else the first root); else `cwd`.
pub fn resolve(
    value: &str,
    base: Option<&Path>,
    roots: &[PathBuf],
    cwd: &Path,
) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("the path is empty".into());
    }
    if value.contains('\0') {
        return Err("the path contains NUL".into());
    }
    let expanded = PathBuf::from(expand_home(value.trim()));
    let absolute = if expanded.is_absolute() {
        lexical(&expanded)
    } else if let Some(b) = base {
        lexical(&b.join(&expanded))
    } else if let Some(first) = roots.first() {
        roots
            .iter()
            .map(|r| lexical(&r.join(&expanded)))
            .find(|c| within_any(c, roots))
            .unwrap_or_else(|| lexical(&first.join(&expanded)))
    } else {
        lexical(&cwd.join(&expanded))
    };
    follow_links(&absolute)
}

/// Canonicalizes a path; for one that does not exist yet, its deepest existing ancestor.
fn follow_links(absolute: &Path) -> Result<PathBuf, String> {
    if let Ok(real) = std::fs::canonicalize(absolute) {
        return Ok(real);
    }
    let mut missing: Vec<&OsStr> = Vec::new();
    let mut at = absolute;
    loop {
        if std::fs::symlink_metadata(at).is_ok() {
            // It exists (perhaps a link to nowhere): it must resolve, or nobody can say where.
            let real = std::fs::canonicalize(at).map_err(|e| {
                format!(
                    "`{}` exists but cannot be resolved ({e}); a dangling or looping symlink",
                    at.display()
                )
            })?;
            let mut out = real;
            for part in missing.iter().rev() {
                if part.to_str().is_none_or(|s| !s.is_ascii()) {
                    // server-filesystem maps a missing non-ASCII name to an existing entry of
                    // the same NFC form, so its spelling does not tell which file it would be.
                    return Err(format!(
                        "`{}` does not exist and is not plain ASCII; the server may resolve it \
                         to an existing entry with an equivalent Unicode spelling, so behalf \
                         cannot tell which file it names",
                        part.to_string_lossy()
                    ));
                }
                out.push(part);
            }
            return Ok(out);
        }
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                at = parent;
            }
            _ => return Err(format!("no part of `{}` exists", absolute.display())),
        }
    }
}

/// The name of behalf's own file or directory a path is or lies under, if any:
/// `behalf.json`, `.mcp.json`, `.behalf` anywhere, and this project's policy and state paths.
pub fn protected_name(
    path: &Path,
    policy: Option<&Path>,
    state_dir: Option<&Path>,
) -> Option<String> {
    for c in path.components() {
        if let Component::Normal(s) = c {
            for name in ["behalf.json", ".mcp.json", ".behalf"] {
                if s == name {
                    return Some(name.to_string());
                }
            }
        }
    }
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_string());
    if let Some(p) = policy {
        if path == p {
            return name_of(p);
        }
    }
    if let Some(d) = state_dir {
        if path.starts_with(d) {
            return name_of(d);
        }
    }
    None
}

/// Where a listed entry really is (a symlink's target), for the check.
fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The listing's text with the lines of hidden entries taken out. `dir` is the resolved
/// directory; a line that names no entry of it is taken out too (it cannot be checked).
pub fn filter_listing(
    text: &str,
    dir: &Path,
    hidden: &mut dyn FnMut(&Path) -> bool,
) -> (String, bool) {
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut kept = Vec::new();
    let mut withheld = false;
    let mut summary = false;
    for line in text.split('\n') {
        let rest = line
            .strip_prefix("[FILE] ")
            .or_else(|| line.strip_prefix("[DIR] "));
        match rest {
            Some(rest) => {
                // The longest entry name the line starts with, followed by padding or a size.
                let entry = entries
                    .iter()
                    .filter(|e| {
                        rest.strip_prefix(e.as_str())
                            .is_some_and(|tail| tail.is_empty() || tail.starts_with(' '))
                    })
                    .max_by_key(|e| e.len());
                match entry {
                    Some(e) if !hidden(&real(&dir.join(e))) => kept.push(line.to_string()),
                    _ => withheld = true,
                }
            }
            None if line.is_empty() => kept.push(String::new()),
            None if line.starts_with("Total: ") || line.starts_with("Combined size: ") => {
                summary = true;
                if !withheld {
                    kept.push(line.to_string());
                }
            }
            None => withheld = true,
        }
    }
    if withheld {
        // Totals would count what was withheld.
        kept.retain(|l| !l.starts_with("Total: ") && !l.starts_with("Combined size: "));
        while kept.last().is_some_and(String::is_empty) {
            kept.pop();
        }
        if summary {
            kept.push(String::new());
        }
        kept.push("(behalf withheld entries that the policy blocks)".into());
    }
    (kept.join("\n"), withheld)
}

/// A `directory_tree` JSON text without the hidden entries (and all below them).
pub fn filter_tree(
    text: &str,
    root: &Path,
    hidden: &mut dyn FnMut(&Path) -> bool,
) -> (String, bool) {
    fn walk(items: &mut Vec<Value>, dir: &Path, hidden: &mut dyn FnMut(&Path) -> bool) -> bool {
        let mut withheld = false;
        items.retain_mut(|item| {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                withheld = true;
                return false;
            };
            let here = dir.join(name);
            if name.contains('/') || name == ".." || hidden(&real(&here)) {
                withheld = true;
                return false;
            }
            if let Some(Value::Array(children)) = item.get_mut("children") {
                withheld |= walk(children, &here, hidden);
            }
            true
        });
        withheld
    }
    let Ok(Value::Array(mut items)) = serde_json::from_str::<Value>(text) else {
        return (
            "(behalf withheld a directory tree it could not check)".into(),
            true,
        );
    };
    let withheld = walk(&mut items, root, hidden);
    let out = serde_json::to_string_pretty(&Value::Array(items)).unwrap_or_default();
    (out, withheld)
}

/// `search_files` output (one full path per line) without the hidden paths.
pub fn filter_search(text: &str, hidden: &mut dyn FnMut(&Path) -> bool) -> (String, bool) {
    if text == "No matches found" {
        return (text.to_string(), false);
    }
    let mut withheld = false;
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| {
            let p = Path::new(line);
            let keep = p.is_absolute() && !hidden(&real(p));
            withheld |= !keep;
            keep
        })
        .collect();
    if kept.is_empty() {
        ("No matches found".into(), withheld)
    } else {
        (kept.join("\n"), withheld)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!("behalf-fs-{}", fastrand::u64(..)));
        std::fs::create_dir_all(d.join("data/secrets")).unwrap();
        std::fs::write(d.join("data/secrets/key.txt"), "k").unwrap();
        std::fs::write(d.join("data/hello.txt"), "h").unwrap();
        std::fs::canonicalize(d).unwrap()
    }

    #[test]
    fn spellings_of_one_path_resolve_to_that_path() {
        let d = scratch();
        let data = d.join("data");
        let roots = vec![data.clone()];
        let want = data.join("secrets/key.txt");
        for spelling in [
            format!("{}/secrets/key.txt", data.display()),
            format!("{}//secrets///key.txt", data.display()),
            format!("{}/./secrets/./key.txt", data.display()),
            format!("{}/hello.txt/../secrets/key.txt", data.display()),
            "secrets/key.txt".into(),
            "./secrets/key.txt".into(),
            "nothing/../secrets/key.txt".into(),
        ] {
            assert_eq!(
                resolve(&spelling, None, &roots, &d).unwrap(),
                want,
                "{spelling}"
            );
        }
    }

    #[test]
    fn symlinks_are_followed_for_files_directories_and_paths_not_made_yet() {
        let d = scratch();
        let data = d.join("data");
        std::os::unix::fs::symlink(data.join("secrets"), data.join("link")).unwrap();
        std::os::unix::fs::symlink(data.join("secrets/key.txt"), data.join("key-link")).unwrap();
        let roots = vec![data.clone()];
        assert_eq!(
            resolve("link/key.txt", None, &roots, &d).unwrap(),
            data.join("secrets/key.txt")
        );
        assert_eq!(
            resolve("key-link", None, &roots, &d).unwrap(),
            data.join("secrets/key.txt")
        );
        assert_eq!(
            resolve("link/new/file.txt", None, &roots, &d).unwrap(),
            data.join("secrets/new/file.txt")
        );
        std::os::unix::fs::symlink(data.join("nowhere"), data.join("dangling")).unwrap();
        assert!(resolve("dangling", None, &roots, &d).is_err());
    }

    #[test]
    fn a_missing_non_ascii_name_is_refused_because_the_server_may_map_it_elsewhere() {
        let d = scratch();
        let roots = vec![d.join("data")];
        assert!(resolve("\u{212a}ey.txt", None, &roots, &d).is_err());
        assert!(resolve("secre\u{0301}ts/x", None, &roots, &d).is_err());
    }

    #[test]
    fn behalf_own_files_are_protected_wherever_they_are() {
        assert_eq!(
            protected_name(Path::new("/a/behalf.json"), None, None).as_deref(),
            Some("behalf.json")
        );
        assert_eq!(
            protected_name(Path::new("/a/.behalf/state.db"), None, None).as_deref(),
            Some(".behalf")
        );
        assert_eq!(
            protected_name(Path::new("/a/.mcp.json"), None, None).as_deref(),
            Some(".mcp.json")
        );
        assert_eq!(
            protected_name(Path::new("/a/p.json"), Some(Path::new("/a/p.json")), None).as_deref(),
            Some("p.json")
        );
        assert_eq!(protected_name(Path::new("/a/hello.txt"), None, None), None);
    }

    #[test]
    fn listings_lose_the_lines_of_hidden_entries_and_anything_unchecked() {
        let d = scratch();
        let data = d.join("data");
        let mut hidden = |p: &Path| p.ends_with("secrets");
        let (out, withheld) = filter_listing(
            "[FILE] hello.txt\n[DIR] secrets\nsneaky",
            &data,
            &mut hidden,
        );
        assert!(withheld);
        assert!(
            out.contains("hello.txt") && !out.contains("secrets") && !out.contains("sneaky"),
            "{out}"
        );
        let sized = "[DIR] secrets                        \n[FILE] hello.txt                             1 B\n\nTotal: 1 files, 1 directories\nCombined size: 1 B";
        let (out, _) = filter_listing(sized, &data, &mut hidden);
        assert!(
            out.contains("hello.txt") && !out.contains("secrets") && !out.contains("Total"),
            "{out}"
        );
        let tree = r#"[{"name":"hello.txt","type":"file"},{"name":"secrets","type":"directory","children":[{"name":"key.txt","type":"file"}]}]"#;
        let (out, _) = filter_tree(tree, &data, &mut hidden);
        assert!(
            out.contains("hello.txt") && !out.contains("secrets") && !out.contains("key.txt"),
            "{out}"
        );
        let mut hidden = |p: &Path| p.starts_with(data.join("secrets"));
        let found = format!(
            "{}\n{}",
            data.join("hello.txt").display(),
            data.join("secrets/key.txt").display()
        );
        let (out, _) = filter_search(&found, &mut hidden);
        assert!(
            out.contains("hello.txt") && !out.contains("key.txt"),
            "{out}"
        );
    }
}
