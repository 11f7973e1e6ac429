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

# Node peers: bench/peers/package.json pins the packages (ws, bufferutil,
# uwebsockets: the republished uWebSockets.js is a third-party binary,
# pinned exactly and used only here; socket.io 4.8 with engine.io 6.6 on
# that ws, and the same uwebsockets for io.attachApp) and
# bench/peers/package-lock.json the whole tree; `npm ci` installs exactly
# that into .cache/bench/node. After changing package.json:
#   (cd bench/peers && npm install --package-lock-only)
# and commit both.
LOCK="$root/bench/peers/package-lock.json"
PY_PKGS="websockets==17.4 uvloop==0.23.0 picows==2.3.1 matplotlib==3.11.2"
# python-socketio (bench/peers/py_socketio.py), a part of its own so that a
# failure leaves the WebSocket peers alone, with the servers py_socketio.py
# can run it on (aiohttp is the one the runner uses; see that file).
SIO_PY_PKGS="python-socketio==5.18.1 python-engineio==4.15.1 aiohttp==3.14.5 uvicorn==0.55.0 httptools==0.9.0 tornado==6.6.1"

stamp_ok() { [[ -f "$cache/$1.stamp" && "$(cat "$cache/$1.stamp")" == "$2" ]]; }

# The installed version of each package the peers name, one line.
node_versions() {
  (cd "$cache/node" && node -e '
    const deps = Object.keys(require("./package.json").dependencies);
    console.log(deps.map((d) => d + "@" + require("./node_modules/" + d + "/package.json").version).join(" "));')
}

part_node() {
  local lock_sum
  lock_sum=$(sha256sum "$LOCK" | cut -c1-16)
  stamp_ok node-lock "$lock_sum" && [[ -d "$cache/node/node_modules/socket.io" ]] &&
    { echo "setup: node peers ready"; return 0; }
  command -v npm >/dev/null || { echo "setup: node peers SKIPPED (no npm)"; return 1; }
  mkdir -p "$cache/node"
  cp "$root/bench/peers/package.json" "$LOCK" "$cache/node/"
  if (cd "$cache/node" && npm ci --loglevel=error --no-audit --no-fund >"$cache/node-install.log" 2>&1); then
    echo "$lock_sum" > "$cache/node-lock.stamp"
    # What run.py records as the peers' versions.
    node_versions | tr ' ' '\n' | grep -E '^(ws|bufferutil|uwebsockets)@' | paste -sd' ' > "$cache/node.stamp"
    node_versions | tr ' ' '\n' | grep -E '^(socket|engine)\.io' | paste -sd' ' > "$cache/socketio-node.stamp"
    echo "setup: node peers installed ($(node_versions))"
  else
    rm -f "$cache/node-lock.stamp"
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

part_socketio_python() {
  stamp_ok socketio-python "$SIO_PY_PKGS" && { echo "setup: python-socketio ready"; return 0; }
  stamp_ok python "$PY_PKGS" || part_python || return 1
  if "$cache/venv/bin/pip" install -q --disable-pip-version-check $SIO_PY_PKGS >"$cache/socketio-pip-install.log" 2>&1; then
    echo "$SIO_PY_PKGS" > "$cache/socketio-python.stamp"; echo "setup: python-socketio installed ($SIO_PY_PKGS)"
  else
    echo "setup: python-socketio FAILED (see $cache/socketio-pip-install.log)"; return 1
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
  socketio) part_node; part_socketio_python; true ;;
  all) part_node; part_python; part_socketio_python; part_rust; true ;;
esac
