#!/usr/bin/env bash
# The PostgreSQL server the tuning tests start (tests/tuning/postgres.py): Debian's `postgresql` package,
# installed only when its binaries are absent (they live in /usr/lib/postgresql/<version>/bin, off PATH).
set -euo pipefail
if command -v initdb >/dev/null && command -v postgres >/dev/null; then
  exit 0
fi
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  exit 0
fi
"$(dirname "$0")/debian_package.sh" postgresql "the PostgreSQL storage test"
