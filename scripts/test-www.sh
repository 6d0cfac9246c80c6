#!/usr/bin/env bash
# The sandbox end to end: build it, serve it from localhost, drive it in Debian's headless
# chromium (playwright-core; never a downloaded browser). Screenshots: test-output/www/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-www.sh
www/build.sh
step "www: end-to-end tests in headless chromium"
rm -rf test-output/www
cd www
node --test --test-concurrency=1 tests/
echo "screenshots: $ROOT/test-output/www/"
