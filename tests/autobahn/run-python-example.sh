#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingclient against the Python example's /echo
# (examples/python/echo_server.py, started through `examples/run python`,
# which builds and installs the package into .cache/pyenv if needed).
# AUTOBAHN_EXCLUDE (JSON list) defaults to the compression groups 12 and 13.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exclude=${AUTOBAHN_EXCLUDE:-'["12.*","13.*"]'}
cases=${AUTOBAHN_CASES:-'["*"]'}

"$root/tests/autobahn/setup.sh"
# Build before timing the start-up wait below.
"$root/tests/python-binding/venv.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/.cache/autobahn/python-example.log"
mkdir -p "$(dirname "$log")"
PORT=$port "$root/examples/run" python 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

status=0
"$root/tests/autobahn/run.sh" "ws://127.0.0.1:$port/echo" --agent wsrt-python \
  --cases "$cases" --exclude "$exclude" --outdir "$root/.cache/autobahn/reports/python" || status=$?

kill -TERM $server
if ! wait $server; then
  echo "Python example did not exit cleanly on SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
trap - EXIT
exit $status
