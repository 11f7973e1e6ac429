#!/usr/bin/env bash
# Run Autobahn|Testsuite's fuzzingclient against a WebSocket server and summarize.
#
# usage: tests/autobahn/run.sh URL [--cases JSON_LIST] [--exclude JSON_LIST]
#                                  [--outdir DIR] [--agent NAME] [--timeout SECS]
#                                  [--ca PEM_FILE [--tls-name NAME]]
#
#   URL        ws:// or wss://host:port/path of the server under test (must already be running)
#   --cases    case patterns to run          (default: '["*"]')
#   --exclude  case patterns to skip         (default: '["12.*","13.*"]')
#   --outdir   report directory              (default: .cache/autobahn/reports/<agent>)
#   --agent    agent name used in the report (default: wsrt)
#   --timeout  kill wstest after SECS seconds, 0 = never (default: 3600)
#   --ca       wss:// only: wstest verifies the server's certificate against
#              this CA alone (without it, wss:// is not verified at all)
#   --tls-name the name the certificate must carry, also sent as SNI (default: localhost)
#
# Exit status: 0 if at least one case ran and none FAILED (behavior or
# behaviorClose), 1 otherwise, 2 on usage errors.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${AUTOBAHN_CACHE:-$REPO_ROOT/.cache/autobahn}"
export AUTOBAHN_CACHE="$CACHE"

usage() { sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; }
die_usage() { echo "run.sh: $*" >&2; usage >&2; exit 2; }

URL=""
CASES='["*"]'
EXCLUDE='["12.*","13.*"]'
OUTDIR=""
AGENT="wsrt"
TIMEOUT=3600
CA=""
TLS_NAME="localhost"
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --cases|--exclude|--outdir|--agent|--timeout|--ca|--tls-name)
            (($# >= 2)) || die_usage "$1 needs a value"
            case "$1" in
                --cases) CASES="$2" ;; --exclude) EXCLUDE="$2" ;; --outdir) OUTDIR="$2" ;;
                --agent) AGENT="$2" ;; --timeout) TIMEOUT="$2" ;;
                --ca) CA="$2" ;; --tls-name) TLS_NAME="$2" ;;
            esac
            shift 2 ;;
        --cases=*) CASES="${1#*=}"; shift ;;
        --exclude=*) EXCLUDE="${1#*=}"; shift ;;
        --outdir=*) OUTDIR="${1#*=}"; shift ;;
        --agent=*) AGENT="${1#*=}"; shift ;;
        --timeout=*) TIMEOUT="${1#*=}"; shift ;;
        --ca=*) CA="${1#*=}"; shift ;;
        --tls-name=*) TLS_NAME="${1#*=}"; shift ;;
        -*) die_usage "unknown option $1" ;;
        *) [[ -z "$URL" ]] || die_usage "more than one URL given"; URL="$1"; shift ;;
    esac
done
[[ -n "$URL" ]] || die_usage "missing URL"
[[ "$URL" =~ ^wss?:// ]] || die_usage "URL must start with ws:// or wss://"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die_usage "--timeout must be a number of seconds"
[[ "$AGENT" =~ ^[A-Za-z0-9._-]+$ && "$AGENT" != . && "$AGENT" != .. ]] || die_usage "--agent must match [A-Za-z0-9._-]+"
if [[ -n "$CA" ]]; then
    [[ "$URL" == wss://* ]] || die_usage "--ca is for wss:// URLs"
    [[ -r "$CA" ]] || die_usage "--ca: cannot read $CA"
    CA="$(cd "$(dirname "$CA")" && pwd)/$(basename "$CA")"
fi

DEFAULT_OUTDIR=0
if [[ -z "$OUTDIR" ]]; then
    OUTDIR="$CACHE/reports/$AGENT"
    DEFAULT_OUTDIR=1
fi
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"

# fresh report: a stale index.json must never be summarized
if ((DEFAULT_OUTDIR)); then
    find "$OUTDIR" -mindepth 1 -delete
else
    rm -f "$OUTDIR/index.json" "$OUTDIR/index.html"
fi

SPEC="$OUTDIR/fuzzingclient-spec.json"
python3 - "$SPEC" "$URL" "$AGENT" "$OUTDIR" "$CASES" "$EXCLUDE" "${CA:+$TLS_NAME}" <<'EOF' || exit 2
import json, sys
spec_path, url, agent, outdir, cases, exclude, tls_name = sys.argv[1:]
def patterns(name, text):
    try:
        v = json.loads(text)
    except ValueError as e:
        sys.exit(f"run.sh: --{name} is not valid JSON: {e}")
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        sys.exit(f"run.sh: --{name} must be a JSON list of strings, got {text!r}")
    return v
spec = {
    "options": {"failByDrop": False},
    "outdir": outdir,
    # "hostname": wstest verifies the certificate for that name (and sends
    # it as SNI) against OpenSSL's default trust, which SSL_CERT_FILE sets.
    "servers": [dict({"agent": agent, "url": url}, **({"hostname": tls_name} if tls_name else {}))],
    "cases": patterns("cases", cases),
    "exclude-cases": patterns("exclude", exclude),
    "exclude-agent-cases": {},
}
with open(spec_path, "w") as f:
    json.dump(spec, f, indent=2)
EOF

"$SCRIPT_DIR/setup.sh"
WSTEST="$CACHE/bin/wstest"

echo "[autobahn-run] spec: $SPEC"
echo "[autobahn-run] wstest -m fuzzingclient against $URL (agent $AGENT, cases $CASES, exclude $EXCLUDE)"
LOG="$OUTDIR/wstest.log"
if [[ -n "$CA" ]]; then
    # OpenSSL's default verify paths: this CA alone.
    export SSL_CERT_FILE="$CA" SSL_CERT_DIR="$OUTDIR/no-system-cas"
    echo "[autobahn-run] wstest verifies the certificate for \"$TLS_NAME\" against $CA"
fi
start=$(date +%s)
TIMEOUT_CMD=()
((TIMEOUT > 0)) && TIMEOUT_CMD=(timeout -k 10 "$TIMEOUT")
set +e
# full output goes to $LOG; print one progress line per case group
(cd "$OUTDIR" && exec "${TIMEOUT_CMD[@]}" "$WSTEST" -m fuzzingclient -s "$SPEC") 2>&1 \
    | tee "$LOG" \
    | awk '/^Running test case ID / { split($5, a, "."); if (a[1] != g) { g = a[1];
             printf "[autobahn-run] running case group %s (from %s)\n", g, $5; fflush() } }
           /^(Ok, will run|Connection to .* failed)/ { print "[autobahn-run] wstest: " $0; fflush() }'
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "[autobahn-run] wstest exited with status $rc after $((end - start)) s (log: $LOG)"
if ((rc == 124 || rc == 137)); then
    echo "[autobahn-run] ERROR: wstest killed by the ${TIMEOUT}s timeout" >&2
fi
expected=$(sed -n 's/^Ok, will run \([0-9]*\) test cases.*/\1/p' "$LOG" | head -n 1)
if [[ ! -f "$OUTDIR/index.json" ]]; then
    echo "[autobahn-run] ERROR: no $OUTDIR/index.json was written; last lines of the log:" >&2
    tail -n 30 "$LOG" >&2
    echo "autobahn: 0 passed, ${expected:-1} failed"
    exit 1
fi
echo "[autobahn-run] report: $OUTDIR/index.html"
echo
set +e
python3 "$SCRIPT_DIR/summarize.py" "$OUTDIR/index.json" --agent "$AGENT" ${expected:+--expected "$expected"}
src=$?
set -e
if ((rc != 0 && src == 0)); then
    echo "[autobahn-run] ERROR: wstest exited with status $rc" >&2
    exit 1
fi
exit "$src"
