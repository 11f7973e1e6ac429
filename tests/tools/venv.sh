#!/usr/bin/env bash
# venv.sh [VENV REQUIREMENTS]: creates the venv VENV (default .cache/venv at
# the repository root) and installs REQUIREMENTS (default
# tests/python/requirements.txt) into it, only when that file changed since
# the last successful install (a stamp keeps its hash). Idempotent; quiet on
# success.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.cache/venv}
req=${2:-$root/tests/python/requirements.txt}
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' 2>/dev/null \
    && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() {
    echo "venv.sh: $1" >&2
    cat "$log" >&2
    exit 1
}

# A broken or half-made venv (no python, no pip) is made anew.
if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; }; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" >"$log" 2>&1; then
        # Debian's python3 has no ensurepip without python3-venv.
        rm -rf "$venv"
        "$root/tests/tools/ensure-deps.sh" >>"$log" 2>&1 || fail "cannot install python3-venv"
        "$python" -m venv "$venv" >>"$log" 2>&1 || fail "$python -m venv failed"
    fi
fi

rm -f "$stamp"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q --no-input \
    -r "$req" >"$log" 2>&1 || fail "pip install -r $req failed"
echo "$want" >"$stamp"
