#!/usr/bin/env bash
# tests/autobahn/run-example.sh FRONT: Autobahn|Testsuite's fuzzingclient
# against the /echo of FRONT's example server (c, python or node), started
# through `examples/run FRONT` (which builds what it needs, then execs the
# server, so the process we signal is the server itself).
#
# AUTOBAHN_EXCLUDE (JSON list) defaults to the compression groups 12 and 13;
# `make autobahn-full` sets it to [] and DEFLATE (off, shared,
# per-connection: the C example's compression mode) to run everything.
#
# AUTOBAHN_TLS=1: the same over wss://. A throw-away CA and a certificate
# for localhost/127.0.0.1 are made with the openssl CLI in a temporary
# directory; the example gets them as TLS_CERT/TLS_KEY (its PORT speaks
# TLS) and wstest verifies the server's certificate against that CA.
set -euo pipefail
front=${1:?usage: tests/autobahn/run-example.sh c|python|node}
root=$(cd "$(dirname "$0")/../.." && pwd)
exclude=${AUTOBAHN_EXCLUDE:-'["12.*","13.*"]'}
cases=${AUTOBAHN_CASES:-'["*"]'}

"$root/tests/autobahn/setup.sh"

tls=${AUTOBAHN_TLS:-0}
agent=wsrt-$front${DEFLATE:+-deflate-$DEFLATE}
scheme=ws
tls_args=()
certs=""
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$certs" ]; then rm -rf "$certs"; fi
}
trap cleanup EXIT
if [ "$tls" = 1 ]; then
  agent=$agent-tls
  scheme=wss
  certs=$(mktemp -d)
  (
    cd "$certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
      -subj "/CN=wsrt autobahn test CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout key.pem -out server.csr
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
      -extfile ext.cnf -out cert.pem
  ) 2>"$certs/openssl.log" || { echo "openssl could not make the test certificates:" >&2; cat "$certs/openssl.log" >&2; exit 1; }
  export TLS_CERT=$certs/cert.pem TLS_KEY=$certs/key.pem
  tls_args=(--ca "$certs/ca.pem" --tls-name localhost)
elif [ "$tls" != 0 ]; then
  echo "AUTOBAHN_TLS must be 0 or 1, not $tls" >&2
  exit 2
else
  unset TLS_CERT TLS_KEY TLS_PORT
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/.cache/autobahn/$agent.log"
mkdir -p "$(dirname "$log")"
PORT=$port DEFLATE=${DEFLATE:-off} "$root/examples/run" "$front" 2>"$log" &
server=$!
# examples/run may build first: wait (bounded) for the port, or for the
# server to die.
for _ in $(seq 1 1200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "$front example exited before listening:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done

status=0
"$root/tests/autobahn/run.sh" "$scheme://127.0.0.1:$port/echo" --agent "$agent" "${tls_args[@]}" \
  --cases "$cases" --exclude "$exclude" --outdir "$root/.cache/autobahn/reports/$agent" || status=$?

kill -TERM $server
if ! wait $server; then
  server=""
  echo "$front example did not exit cleanly on SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
server=""
exit $status
