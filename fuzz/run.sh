#!/usr/bin/env bash
# Runs each libFuzzer target for SECS seconds and prints, per target, the
# executions, the coverage reached and what was found.
#   fuzz/run.sh BIN_DIR SECS TARGET...
# The seed corpus (fuzz/corpus/<target>) is read, never written: what the
# fuzzer adds goes to target/fuzz/corpus/<target>, crashes to
# target/fuzz/artifacts/<target>/. Copy a crash into
# fuzz/regressions/<target>/ to make it a test.
# FUZZ_ARGS adds libFuzzer options (e.g. FUZZ_ARGS=-jobs=2).
set -u
bin_dir=$1 secs=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/fuzz
summary=()
failed=0
for t in "$@"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
    log=$work/logs/$t.log
    echo "== $t: ${secs}s"
    # -max_len: room for a handshake and a few frames; -timeout: a single
    # input taking 10 s is a hang; -rss_limit_mb: a leak or a bomb.
    t0=$(date +%s)
    "$bin_dir/$t" "$work/corpus/$t" "$root/fuzz/corpus/$t" \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    found=$(ls "$work/artifacts/$t" 2>/dev/null | wc -l)
    if [ "$rc" -ne 0 ]; then
        failed=1
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5
        echo "   log: $log"
    fi
    summary+=("$(printf '%-14s %6ss %12s execs  cov %-6s ft %-7s corpus %-12s artifacts %s%s' \
        "$t" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found" \
        "$([ "$rc" -ne 0 ] && echo "  FAILED (exit $rc)")")")
done
echo
echo "fuzz summary (artifacts under $work/artifacts/<target>/)"
printf '%s\n' "${summary[@]}"
exit $failed
