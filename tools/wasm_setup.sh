#!/usr/bin/env bash
# Installs the official MicroPython WebAssembly builds the version matrix runs on
# (@micropython/micropython-webassembly-pyscript, one npm alias per release in
# tools/wasm/package.json, pinned by its package-lock.json) into build/wasm/ with `npm ci`.
# Idempotent: does nothing when the installed set matches the lock. Prints the directory that
# holds one package per release (mp-<version>/micropython.mjs). Exit status 3: no node/npm.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/tools/wasm"
DIR="$ROOT/build/wasm"
STAMP="$DIR/.installed.sha256"
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "wasm_setup: $tool not found" >&2; exit 3; }
done
want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ] || [ ! -d "$DIR/node_modules" ]; then
  echo "wasm_setup: installing the MicroPython WebAssembly builds into $DIR ..." >&2
  mkdir -p "$DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$STAMP"
fi
echo "$DIR/node_modules"
