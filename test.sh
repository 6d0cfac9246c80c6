#!/usr/bin/env bash
# Runs every test of behalf: the core (conformance vectors, properties, unit tests), then each
# runtime's suite (scripts/test-*.sh), the README's runnable snippets, and the distributable
# files installed without Rust. Installs what it needs first. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

scripts/setup.sh

suites=(core store js py cli server dashboard webhooks www readme dist)
passed=0
failed=0
failed_names=()
for suite in "${suites[@]}"; do
  script="scripts/test-$suite.sh"
  [ -x "$script" ] || continue
  step "suite: $suite"
  if "$script"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$suite")
  fi
done

echo
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
