#!/usr/bin/env bash
# The headless browser of lab-demo's page tests (tests/browser.py): Debian's `chromium` package, installed only
# when no chromium is on PATH. Playwright (extras/demo.txt) drives it by its path; its own download is not used.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
"$(dirname "$0")/debian_package.sh" chromium "lab-demo's browser tests"
