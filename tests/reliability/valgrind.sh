#!/usr/bin/env bash
# tests/reliability/valgrind.sh: memory checks at the C boundary
# (`make test-valgrind`; tests/reliability/README.md).
#
#   1. tests/c/api_test.c, built with -g, under valgrind memcheck: every
#      section of the C API test, TLS included, and the one that frees a
#      server with connections open, bytes queued and events borrowed.
#   2. The C example (build/examples/echo_server) under valgrind, driven by
#      valgrind_example.py, once with DEFLATE=off and once with
#      DEFLATE=per-connection, stopped by SIGTERM with connections open.
#
# Each run must report no error at all (invalid reads and writes,
# uninitialised values, bad frees) and no definitely lost block:
# --errors-for-leak-kinds=definite and --error-exitcode make either fail the
# run. "Still reachable" blocks (Rust's std keeps a few for the process's
# life) are not errors. valgrind.supp holds the few explained false
# positives. Logs go to build/reliability/.
#
# Expects `make lib examples` and tests/tools/venv.sh done (the make target
# does both) and valgrind installed (tests/tools/ensure-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build/reliability"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (tests/tools/ensure-deps.sh)" >&2; exit 1; }

vg=(--tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --error-exitcode=97 --num-callers=40 --suppressions="$here/valgrind.supp")
status=0
start=$SECONDS

report() { # report NAME RC LOG [OUTPUT]
    local name=$1 rc=$2 log=$3 output=${4:-}
    local summary
    summary=$( (grep -h "ERROR SUMMARY" "$log" || echo "no ERROR SUMMARY in the log") | tail -1 | sed 's/^==[0-9]*== //')
    local leaks
    leaks=$( (grep -h "definitely lost:\|no leaks are possible" "$log" || true) | tail -1 | sed 's/^==[0-9]*== *//')
    if [ "$rc" -eq 0 ]; then
        echo "test-valgrind: $name: ok ($summary; $leaks)"
    else
        status=1
        echo "test-valgrind: $name: FAILED (exit $rc; $summary; $leaks); valgrind log: $log" >&2
        sed -n '/^==[0-9]*== [A-Z]/,/^==[0-9]*== $/p' "$log" | head -150 >&2
        [ -z "$output" ] || grep -h "^not ok" "$output" >&2 || true
    fi
}

# 1. The C API test. Built like `make test-c` builds it, with -g for the
# stack traces; the library is the release build (it has debug info).
cc -std=c11 -Wall -Wextra -Werror -pedantic -O1 -g "$root/tests/c/api_test.c" -o "$out/api_test" \
    -I"$root/build/include" -L"$root/build/lib" -lwsrt -lpthread -Wl,-rpath,"$root/build/lib"
rc=0
timeout 150 valgrind "${vg[@]}" --log-file="$out/api_test.valgrind.log" "$out/api_test" >"$out/api_test.out" 2>&1 || rc=$?
tail -1 "$out/api_test.out" | sed 's/^/test-valgrind: api_test: /'
report "api_test" "$rc" "$out/api_test.valgrind.log" "$out/api_test.out"

# 2. The C example, in both deflate modes that differ in what they allocate.
for deflate in off per-connection; do
    rc=0
    timeout 150 "$root/.cache/venv/bin/python" "$here/valgrind_example.py" "$deflate" "${vg[@]}" \
        --log-file="$out/echo_server-$deflate.valgrind.log" >"$out/echo_server-$deflate.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || cat "$out/echo_server-$deflate.out" >&2
    report "echo_server DEFLATE=$deflate" "$rc" "$out/echo_server-$deflate.valgrind.log"
done

echo "test-valgrind: $((SECONDS - start)) s"
exit $status
