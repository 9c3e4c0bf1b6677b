#!/usr/bin/env bash
# Installs the harness's pinned npm packages (package-lock.json) into tools/rp2040/node_modules.
# Idempotent and quick when they are already there: npm runs only when the lock file changed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STAMP="$HERE/node_modules/.lock.sha256"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: the RP2040 harness needs Node.js 18+ and npm (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
want=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "installing the RP2040 harness's npm packages ..." >&2
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$STAMP"
fi
