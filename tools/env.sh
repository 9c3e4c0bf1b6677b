# Sourced by tools/run, tools/test and tools/bench: create or reuse .venv with the pinned tools.
# Idempotent: pip runs only when tools/requirements.txt changed since the last install.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
REQ="$ROOT/tools/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is required (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setting up $VENV ..."
  "$PY" -m venv "$VENV" || {
    echo "error: '$PY -m venv' failed; on Debian: apt-get install python3-venv" >&2
    exit 1
  }
fi
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "installing pinned tools into .venv ..."
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
. "$ROOT/tools/thirdparty.sh"  # mosquitto + MQTT client sdists for host_tests/test_mqtt.py
