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

use behalf_core::conformance::{run_file, run_file_by_fields};
use serde_json::{json, Map, Value};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn vector_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(!files.is_empty(), "no vector files in {:?}", vectors_dir());
    files
}

/// Packets with a made-up request id that the runner left as made (it relabels only where the
/// request gave none: an invalid `requestId` is replaced by a random one).
fn unlabelled(mut packets: Value) -> Value {
    for p in packets.as_array_mut().into_iter().flatten() {
        if let Some(id) = p.get_mut("requestId") {
            let made = id.as_str().is_some_and(|s| {
                s.len() == 20
                    && s.starts_with("req_")
                    && s[4..].bytes().all(|c| c.is_ascii_alphanumeric())
            });
            if made {
                *id = json!("req_*");
            }
        }
    }
    packets
}

/// The bindings' fast path (`Engine::verify_fields`, string fields as text) decides every
/// vector exactly as `verify` does: the same packets, byte for byte after relabelling ids.
#[test]
fn every_conformance_vector_passes_field_by_field_with_the_same_packets() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in vector_files() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let file: Value = serde_json::from_str(&text).expect("vector files are JSON");
        let (whole, by_fields) = (run_file(&file), run_file_by_fields(&file));
        for (a, b) in whole.cases.iter().zip(&by_fields.cases) {
            cases += 1;
            for f in &b.failures {
                failures.push(format!("{} / {}: {f}", path.display(), b.name));
            }
            if unlabelled(json!(a.packets)) != unlabelled(json!(b.packets)) {
                failures.push(format!(
                    "{} / {}: packets differ from verify's:\n{}\n{}",
                    path.display(),
                    b.name,
                    json!(a.packets),
                    json!(b.packets)
                ));
            }
        }
    }
    assert!(cases > 100, "only {cases} cases ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_conformance_vector_passes_natively() {
    let files = vector_files();
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
