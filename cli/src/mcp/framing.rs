//! Frames on stdio: newline-delimited JSON-RPC, read as bytes so a frame that is not UTF-8
//! never ends the session, written whole under one lock so frames never interleave.

use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde_json::Value;

/// Protocol versions this proxy and `mcp serve` speak, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const LATEST_PROTOCOL: &str = "2025-06-18";

/// The version `mcp serve` answers an initialize with: the client's, if known, else ours.
pub fn negotiate(params: &Value) -> &'static str {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    PROTOCOL_VERSIONS
        .iter()
        .find(|v| Some(**v) == asked)
        .copied()
        .unwrap_or(LATEST_PROTOCOL)
}

/// JSON-RPC batches exist in 2025-03-26 and earlier; 2025-06-18 removed them.
pub fn batches_allowed(version: Option<&str>) -> bool {
    matches!(version, Some("2024-11-05" | "2025-03-26"))
}

/// One side's output stream; a frame is written and flushed under one lock.
pub struct Out<W: Write> {
    inner: Mutex<W>,
}

impl<W: Write> Out<W> {
    pub fn new(w: W) -> Out<W> {
        Out {
            inner: Mutex::new(w),
        }
    }

    pub fn send(&self, v: &Value) -> bool {
        self.send_bytes(v.to_string().as_bytes())
    }

    /// Writes one frame (without its newline) followed by a newline.
    pub fn send_bytes(&self, frame: &[u8]) -> bool {
        let mut w = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        w.write_all(frame)
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush())
            .is_ok()
    }
}

/// Reads the next frame: its bytes without the line ending; `None` at end of input.
pub fn read_frame(input: &mut impl BufRead, buf: &mut Vec<u8>) -> Option<()> {
    buf.clear();
    match input.read_until(b'\n', buf) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            Some(())
        }
    }
}

/// A frame as JSON. Invalid UTF-8 is read with replacement characters, because that is how a
/// lenient peer (Node's SDK) would read it too, and what it would read is what must be checked.
pub fn parse_lossy(frame: &[u8]) -> Option<Value> {
    match std::str::from_utf8(frame) {
        Ok(text) => serde_json::from_str(text).ok(),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(frame)).ok(),
    }
}

/// Why a frame could not be read as one JSON message.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    NotJson,
    /// The frame repeats a key (`params.arguments.path`): a last-wins reader and a first-wins
    /// reader would see two different messages, so behalf reads neither.
    DuplicateKey(String),
}

/// A frame as JSON, read like `parse_lossy` but refusing an object that repeats a key.
pub fn parse_strict(frame: &[u8]) -> Result<Value, FrameError> {
    let text = String::from_utf8_lossy(frame);
    match behalf_core::json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(behalf_core::json::JsonTextError::DuplicateKey { path, .. }) => {
            Err(FrameError::DuplicateKey(path))
        }
        Err(_) => Err(FrameError::NotJson),
    }
}

/// The key under which a request id is remembered (its JSON text: `1` and `"1"` differ).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_frame_that_is_not_utf8_is_still_read_and_parsed_as_a_peer_would() {
        let mut input: &[u8] = b"{\"id\":1,\"x\":\"\xff\"}\r\nnext\n";
        let mut buf = Vec::new();
        read_frame(&mut input, &mut buf).unwrap();
        let v = parse_lossy(&buf).unwrap();
        assert_eq!(v["x"], "\u{fffd}");
        read_frame(&mut input, &mut buf).unwrap();
        assert_eq!(buf, b"next");
        assert!(read_frame(&mut input, &mut buf).is_none());
    }

    #[test]
    fn a_frame_that_repeats_a_key_is_refused_with_the_key_path() {
        let frame = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"ok.txt","path":"secret/key"}}}"#;
        assert_eq!(
            parse_strict(frame),
            Err(FrameError::DuplicateKey("params.arguments.path".into()))
        );
        assert_eq!(parse_strict(b"{"), Err(FrameError::NotJson));
        assert!(parse_strict(b"{\"id\":1,\"x\":\"\xff\"}").is_ok());
    }

    #[test]
    fn batches_follow_the_negotiated_version() {
        assert!(batches_allowed(Some("2025-03-26")));
        assert!(!batches_allowed(Some("2025-06-18")));
        assert!(!batches_allowed(Some("2025-11-25")));
        assert!(!batches_allowed(None));
    }
}
