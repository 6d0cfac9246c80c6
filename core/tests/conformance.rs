//! Runs every vector file of tests/conformance through the native core, and writes the
//! relabelled packets to target/conformance/native.json for the other runtimes' differential
//! checks.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // test code may index and panic

use std::path::PathBuf;

use behalf_core::conformance::run_file;
use serde_json::{json, Map, Value};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

#[test]
fn every_conformance_vector_passes_natively() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(!files.is_empty(), "no vector files in {:?}", vectors_dir());
    let mut failures = Vec::new();
    let mut total = 0;
    let mut packets = Map::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let file: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}: not valid JSON: {e}", path.display()));
                continue;
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let report = run_file(&file);
        for case in &report.cases {
            total += 1;
            packets.insert(format!("{name}/{}", case.name), json!(case.packets));
            for f in &case.failures {
                failures.push(format!("{name} / {}: {f}", case.name));
            }
        }
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/conformance");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("native.json"), Value::Object(packets).to_string());
    println!("{total} conformance cases in {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
