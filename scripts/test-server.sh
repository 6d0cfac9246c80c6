#!/usr/bin/env bash
# behalf serve (crate behalf-server): formatting, lints, the unit tests, the /v1 API end to end
# over HTTP (server/tests/api.rs: packets byte-equal to the embedded engine's for conformance
# vectors, every agent-key refusal, reads scoped to the key's agent, events, policy reload,
# health, metrics, TLS with a certificate made by rcgen), and the remote clients and the
# crash test (server/tests/remote.rs, when present). Every server binds 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
step "cargo fmt --check (behalf-server)"
cargo fmt -p behalf-server -- --check
step "clippy (behalf-server; lints deny unwrap/expect/panic/indexing)"
cargo clippy -p behalf-server --all-targets -- -D warnings
step "cargo test -p behalf-server"
cargo test -p behalf-server
