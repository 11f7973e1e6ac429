#!/usr/bin/env bash
# Installs what the benchmark needs into .cache/bench (never committed):
# the peers' Node and Python packages, matplotlib for the chart, and the
# load generator and Rust peer builds. Idempotent: a stamp per part records
# the pinned versions it installed, so a second run does nothing.
# Prints one line per part; a part that fails to install is reported and
# skipped (the runner then leaves that peer out), never fatal.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/bench"
mkdir -p "$cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Pinned versions (the republished uWebSockets.js is a third-party binary:
# pinned exactly and used only here).
NODE_PKGS="ws@8.23.0 bufferutil@4.1.0 uwebsockets@3.0.6"
PY_PKGS="websockets==17.4 uvloop==0.23.0 picows==2.3.1 matplotlib==3.11.2"

stamp_ok() { [[ -f "$cache/$1.stamp" && "$(cat "$cache/$1.stamp")" == "$2" ]]; }

part_node() {
  stamp_ok node "$NODE_PKGS" && { echo "setup: node peers ready"; return 0; }
  command -v npm >/dev/null || { echo "setup: node peers SKIPPED (no npm)"; return 1; }
  mkdir -p "$cache/node"
  [[ -f "$cache/node/package.json" ]] || echo '{"private":true}' > "$cache/node/package.json"
  if (cd "$cache/node" && npm install --no-save --loglevel=error $NODE_PKGS >"$cache/node-install.log" 2>&1); then
    echo "$NODE_PKGS" > "$cache/node.stamp"; echo "setup: node peers installed ($NODE_PKGS)"
  else
    echo "setup: node peers FAILED (see $cache/node-install.log)"; return 1
  fi
}

part_python() {
  stamp_ok python "$PY_PKGS" && { echo "setup: python peers ready"; return 0; }
  if [[ ! -x "$cache/venv/bin/python" ]]; then
    python3 -m venv "$cache/venv" >"$cache/venv.log" 2>&1 || { echo "setup: python venv FAILED (see $cache/venv.log)"; return 1; }
  fi
  if "$cache/venv/bin/pip" install -q --disable-pip-version-check $PY_PKGS >"$cache/pip-install.log" 2>&1; then
    echo "$PY_PKGS" > "$cache/python.stamp"; echo "setup: python peers installed ($PY_PKGS)"
  else
    echo "setup: python peers FAILED (see $cache/pip-install.log)"; return 1
  fi
}

part_rust() {
  # Its own workspace and target dir, so it never joins ours.
  if CARGO_TARGET_DIR="$cache/rust-tokio-target" cargo build -q --release \
      --manifest-path "$root/bench/peers/rust-tokio/Cargo.toml" >"$cache/rust-build.log" 2>&1; then
    echo "setup: rust-tokio peer built"
  else
    echo "setup: rust-tokio peer FAILED (see $cache/rust-build.log)"; return 1
  fi
}

case "${1:-all}" in
  node) part_node ;;
  python) part_python ;;
  rust) part_rust ;;
  all) part_node; part_python; part_rust; true ;;
esac
