//! One closed set of error codes: every code the JS and Python wrappers raise, and every code a
//! conformance vector expects, is an `ErrorCode`; each serializes as its own text.

#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use behalf_core::ErrorCode;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The quoted text right after each `marker` in `text` (`"code"` after `code=`, for example).
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let trimmed = rest.trim_start();
        if let Some(body) = trimmed.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                out.push(body[..end].to_string());
            }
        }
    }
    out
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

#[test]
fn each_code_serializes_as_its_text_and_parses_back() {
    for code in ErrorCode::ALL {
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::Value::String(code.as_str().into())
        );
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
    }
    assert_eq!(ErrorCode::parse("bad_thing"), None);
}

#[test]
fn every_code_the_js_and_python_wrappers_raise_is_in_the_closed_set() {
    let mut found = Vec::new();
    for path in files("bindings-js/js", "mjs") {
        let text = std::fs::read_to_string(&path).unwrap();
        for marker in ["BehalfError(", "PolicyError(", "code:"] {
            found.extend(
                quoted_after(&text, marker)
                    .into_iter()
                    .map(|c| (path.clone(), c)),
            );
        }
    }
    for path in files("bindings-py/python/behalf", "py") {
        let text = std::fs::read_to_string(&path).unwrap();
        for marker in ["code=", "code ="] {
            found.extend(
                quoted_after(&text, marker)
                    .into_iter()
                    .map(|c| (path.clone(), c)),
            );
        }
    }
    assert!(
        found.iter().any(|(_, c)| c == "bad_option")
            && found.iter().any(|(_, c)| c == "missing_header"),
        "the scan missed codes it must see: {found:?}"
    );
    for (path, code) in &found {
        assert!(
            ErrorCode::parse(code).is_some(),
            "{}: `{code}` is not an ErrorCode",
            path.display()
        );
    }
}

#[test]
fn every_problem_code_a_vector_expects_is_in_the_closed_set() {
    let mut seen = 0;
    for path in files("tests/conformance", "json") {
        let text = std::fs::read_to_string(&path).unwrap();
        for code in quoted_after(&text, "\"code\":") {
            seen += 1;
            assert!(
                ErrorCode::parse(&code).is_some(),
                "{}: `{code}` is not an ErrorCode",
                path.display()
            );
        }
    }
    assert!(seen > 0, "no vector expects a problem code");
}
