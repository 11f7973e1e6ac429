#!/usr/bin/env bash
# tests/autobahn/run-example.sh FRONT: Autobahn|Testsuite's fuzzingclient
# against the /echo of FRONT's example server (c, python or node), started
# through `examples/run FRONT` (which builds what it needs, then execs the
# server, so the process we signal is the server itself).
#
# AUTOBAHN_EXCLUDE (JSON list) defaults to the compression groups 12 and 13;
# `make autobahn-full` sets it to [] and DEFLATE (off, shared,
# per-connection: the C example's compression mode) to run everything.
set -euo pipefail
front=${1:?usage: tests/autobahn/run-example.sh c|python|node}
root=$(cd "$(dirname "$0")/../.." && pwd)
exclude=${AUTOBAHN_EXCLUDE:-'["12.*","13.*"]'}
cases=${AUTOBAHN_CASES:-'["*"]'}

"$root/tests/autobahn/setup.sh"

agent=wsrt-$front${DEFLATE:+-deflate-$DEFLATE}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/.cache/autobahn/$agent.log"
mkdir -p "$(dirname "$log")"
PORT=$port DEFLATE=${DEFLATE:-off} "$root/examples/run" "$front" 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
# examples/run may build first: wait (bounded) for the port, or for the
# server to die.
for _ in $(seq 1 1200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "$front example exited before listening:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done

status=0
"$root/tests/autobahn/run.sh" "ws://127.0.0.1:$port/echo" --agent "$agent" \
  --cases "$cases" --exclude "$exclude" --outdir "$root/.cache/autobahn/reports/$agent" || status=$?

kill -TERM $server
if ! wait $server; then
  echo "$front example did not exit cleanly on SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
trap - EXIT
exit $status
