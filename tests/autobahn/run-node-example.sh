#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingclient against the Node example's /echo
# (examples/node/echo_server.mjs on the wsrt addon). Expects the addon built
# and linked (`make node-addon`, or `examples/run node` once).
# AUTOBAHN_EXCLUDE (JSON list) defaults to the compression groups 12 and 13.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exclude=${AUTOBAHN_EXCLUDE:-'["12.*","13.*"]'}
cases=${AUTOBAHN_CASES:-'["*"]'}

"$root/tests/autobahn/setup.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/.cache/autobahn/node-example.log"
mkdir -p "$(dirname "$log")"
PORT=$port node "$root/examples/node/echo_server.mjs" 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

status=0
"$root/tests/autobahn/run.sh" "ws://127.0.0.1:$port/echo" --agent wsrt-node \
  --cases "$cases" --exclude "$exclude" --outdir "$root/.cache/autobahn/reports/node" || status=$?

kill -TERM $server
if ! wait $server; then
  echo "Node example did not exit cleanly on SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
trap - EXIT
exit $status
