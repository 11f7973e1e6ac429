#!/usr/bin/env bash
# Makes .cache/pyenv at the repository root: a venv with the pinned test and
# build requirements (tests/python-binding/requirements.txt) and the `wsrt`
# package built from bindings-python/ with `pip install` (maturin as the
# PEP 517 backend). Each step runs again only when its inputs changed (a
# stamp keeps their hash). Idempotent; quiet on success.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${WSRT_PYENV:-$root/.cache/pyenv}
req="$root/tests/python-binding/requirements.txt"
python=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# Cargo output of the extension lands under the root target/ (git-ignored,
# removed by `make clean`), not inside bindings-python/.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/bindings-python}
export CARGO_TERM_PROGRESS_WHEN=never

log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() {
    echo "python-binding venv: $1" >&2
    tail -n 60 "$log" >&2
    exit 1
}

# 1. The venv itself (a broken or half-made one is made anew).
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

# 2. Pinned requirements.
want=$(sha256sum "$req" | cut -d' ' -f1)
stamp="$venv/.requirements.sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -f "$stamp"
    "$venv/bin/python" -m pip install -q -r "$req" >"$log" 2>&1 || fail "pip install -r $req failed"
    echo "$want" >"$stamp"
fi

# 3. The package, rebuilt when its sources or the core's changed.
want=$(cd "$root" && find bindings-python/src bindings-python/python bindings-python/Cargo.toml \
        bindings-python/Cargo.lock bindings-python/pyproject.toml core/src core/proto/src core/Cargo.toml \
        core/proto/Cargo.toml \
        -type f ! -name '*.pyc' ! -name '*.so' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
stamp="$venv/.wsrt-package.sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
    || ! "$venv/bin/python" -c 'import wsrt' >/dev/null 2>&1; then
    rm -f "$stamp"
    # maturin comes pinned from the requirements: no isolated build env to
    # download on every install.
    PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps \
        "$root/bindings-python" >"$log" 2>&1 || fail "pip install ./bindings-python failed"
    echo "$want" >"$stamp"
fi
