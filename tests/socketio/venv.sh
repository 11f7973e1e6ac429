#!/usr/bin/env bash
# Makes .cache/sio-venv at the repository root with
# tests/socketio/requirements.txt (python-socketio and its test tools),
# the way every test venv here is made (tests/tools/venv.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec "$root/tests/tools/venv.sh" "$root/.cache/sio-venv" "$root/tests/socketio/requirements.txt"
