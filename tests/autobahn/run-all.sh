#!/usr/bin/env bash
# tests/autobahn/run-all.sh [RUN...]: the quick Autobahn runs of `make test`
# at once, each a run-example.sh with its own server, port and report
# directory. RUN: c, c-tls (the C example over wss://), python, node;
# default all four. wstest spends most of each case waiting on timers, so
# four runs side by side take about as long as the slowest one alone.
# Each run's output is printed whole when it ends; the exit status is 1 if
# any run failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=("$@")
((${#runs[@]})) || runs=(c c-tls python node)

# Once, before the runs: they share the wstest install.
"$root/tests/autobahn/setup.sh"

logdir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logdir"' EXIT
declare -A pid
start=$SECONDS
for run in "${runs[@]}"; do
  case "$run" in
    c|python|node) (exec "$root/tests/autobahn/run-example.sh" "$run") >"$logdir/$run" 2>&1 & ;;
    c-tls) (AUTOBAHN_TLS=1 exec "$root/tests/autobahn/run-example.sh" c) >"$logdir/$run" 2>&1 & ;;
    *) echo "run-all.sh: unknown run $run (c, c-tls, python, node)" >&2; exit 2 ;;
  esac
  pid[$run]=$!
done

status=0
summary=()
for run in "${runs[@]}"; do
  if wait "${pid[$run]}"; then result=passed; else result=FAILED; status=1; fi
  echo "===== autobahn $run: $result ====="
  cat "$logdir/$run"
  summary+=("$run $result")
done
echo "autobahn runs: ${summary[*]} ($((SECONDS - start)) s together)"
exit $status
