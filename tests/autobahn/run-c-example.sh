#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingclient against the C example's /echo.
# AUTOBAHN_EXCLUDE (JSON list) defaults to the compression groups 12 and 13;
# `make autobahn-full` sets it to [] and DEFLATE (off, shared,
# per-connection: the example's compression mode) to run everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exclude=${AUTOBAHN_EXCLUDE:-'["12.*","13.*"]'}
cases=${AUTOBAHN_CASES:-'["*"]'}

"$root/tests/autobahn/setup.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/.cache/autobahn/c-example.log"
mkdir -p "$(dirname "$log")"
agent=wsrt-c${DEFLATE:+-deflate-$DEFLATE}
PORT=$port DEFLATE=${DEFLATE:-off} "$root/build/examples/echo_server" 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

status=0
"$root/tests/autobahn/run.sh" "ws://127.0.0.1:$port/echo" --agent "$agent" \
  --cases "$cases" --exclude "$exclude" --outdir "$root/.cache/autobahn/reports/$agent" || status=$?

kill -TERM $server
if ! wait $server; then
  echo "C example did not exit cleanly on SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
trap - EXIT
exit $status
