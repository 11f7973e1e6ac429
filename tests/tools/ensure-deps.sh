#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing.
# Runs as root on the CI machines; elsewhere it uses sudo if it must.
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(gcc)
# test certificates (make test-autobahn-tls, tests/c/api_test.c, make demo-tls)
command -v openssl >/dev/null || need+=(openssl)
# the cluster bus (core/tests/cluster.rs, tests/cluster): Debian's Redis
command -v redis-server >/dev/null || need+=(redis-server)
# memory checks at the C boundary (make test-valgrind, tests/reliability/valgrind.sh)
command -v valgrind >/dev/null || need+=(valgrind)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
