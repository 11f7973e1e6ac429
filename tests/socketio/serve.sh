#!/usr/bin/env bash
# tests/socketio/serve.sh FRONT: starts the server of the Socket.IO example
# contract (README.md here) for FRONT in the foreground, through exec, so the
# process the caller holds is the server itself and gets its SIGTERM.
#   FRONT=reference  tests/socketio/reference_server.mjs (official socket.io)
#   FRONT=c|python|node  examples/run FRONT (wsrt's example servers)
#   FRONT=rust  core/examples/sio_contract.rs (the contract on the Rust API)
# The caller sets PORT and, if it wants, SIO_PING_INTERVAL_MS,
# SIO_PING_TIMEOUT_MS and SIO_CONNECT_TIMEOUT_MS. This script sets
# WSRT_CHAT_PAGE and WSRT_SIO_CLIENT (after `npm ci` in examples/demo when
# the client script is missing). Build output goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
front=${1:-}
: "${PORT:?PORT is required}"
npm_ci() { (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) >&2; }

client="$root/examples/demo/node_modules/socket.io-client/dist/socket.io.min.js"
[ -f "$client" ] || npm_ci "$root/examples/demo"
export WSRT_CHAT_PAGE="$root/examples/demo/chat.html"
export WSRT_SIO_CLIENT="$client"

case "$front" in
  reference)
    [ -d "$root/tests/socketio/node_modules/socket.io" ] || npm_ci "$root/tests/socketio"
    exec node "$root/tests/socketio/reference_server.mjs"
    ;;
  c|python|node)
    exec "$root/examples/run" "$front"
    ;;
  rust)
    (cd "$root" && cargo build -q --release -p wsrt --example sio_contract) >&2
    exec "$root/target/release/examples/sio_contract"
    ;;
  *)
    echo "usage: tests/socketio/serve.sh reference|rust|c|python|node" >&2
    exit 2
    ;;
esac
