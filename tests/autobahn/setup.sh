#!/usr/bin/env bash
# Install Autobahn|Testsuite (`wstest`, Python 2.7 only) into <repo>/.cache/autobahn
# without a system-wide Python 2 install:
#
#   1. fetch CPython 2.7.18 (+ libssl1.1, libffi7) .debs from Debian 11 "bullseye"
#      with a private apt configuration (the system's apt sources are not touched),
#      and unpack them with `dpkg-deb -x` into .cache/autobahn/py27root;
#   2. make a Python 3 venv holding virtualenv==20.21.1 (last line that can
#      create 2.7 environments) and use it to create a 2.7 virtualenv;
#   3. pip-install autobahntestsuite==25.10.1 with its dependency set pinned to
#      versions that still support Python 2.7;
#   4. write the wrapper .cache/autobahn/bin/wstest (sets LD_LIBRARY_PATH).
#
# Idempotent: when the stamp file exists and `wstest --help` works, exits at once.
# Environment overrides (all optional):
#   AUTOBAHN_CACHE          install dir (default: <repo>/.cache/autobahn)
#   AUTOBAHN_DEBIAN_MIRROR  bullseye mirror   (default: http://deb.debian.org/debian)
#   AUTOBAHN_DEBIAN_SECURITY_MIRROR           (default: http://deb.debian.org/debian-security)
#   AUTOBAHN_NO_ACCEL=1     do not try to build the optional wsaccel/ujson speedups
#   PYTHON3                 python3 used for the helper venv (default: python3)
set -euo pipefail

RECIPE_VERSION=1

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${AUTOBAHN_CACHE:-$REPO_ROOT/.cache/autobahn}"
STAMP="$CACHE/.setup-done-v$RECIPE_VERSION"
PY27ROOT="$CACHE/py27root"
PY27="$PY27ROOT/usr/bin/python2.7"
PY27LIB="$PY27ROOT/usr/lib/x86_64-linux-gnu"
VENV3="$CACHE/venv3"
VENV27="$CACHE/venv27"
WSTEST="$CACHE/bin/wstest"
MIRROR="${AUTOBAHN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SEC_MIRROR="${AUTOBAHN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PYTHON3="${PYTHON3:-python3}"

log() { printf '[autobahn-setup] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- fast path
if [[ -f "$STAMP" && -x "$WSTEST" ]] && "$WSTEST" --help >/dev/null 2>&1; then
    log "already installed: $WSTEST"
    exit 0
fi

mkdir -p "$CACHE"
# serialize concurrent setups; re-check once we hold the lock
exec 9>"$CACHE/.setup.lock"
flock 9
if [[ -f "$STAMP" && -x "$WSTEST" ]] && "$WSTEST" --help >/dev/null 2>&1; then
    log "already installed: $WSTEST"
    exit 0
fi
log "installing Autobahn|Testsuite into $CACHE"
[[ "$(uname -m)" == x86_64 ]] || die "only x86_64 (amd64) is supported (uname -m: $(uname -m))"
rm -f "$STAMP"

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}
apt_install() { # bookworm packages from the system's own sources
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update (system sources)"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ------------------------------------------- 1. system (bookworm) prerequisites
# Shared libraries the bullseye python2.7 links against that bookworm still
# ships with the same soname, plus tools this script uses.
need=()
for p in libbz2-1.0 libcrypt1 libdb5.3 libexpat1 libncursesw6 libnsl2 libreadline8 \
         libsqlite3-0 libtinfo6 libtirpc3 zlib1g media-types debian-archive-keyring \
         ca-certificates gcc libc6-dev libexpat1-dev; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        need+=("$p")
    fi
done
if ! "$PYTHON3" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [[ "$PYTHON3" == python3 || "$PYTHON3" == /usr/bin/python3 ]]; then
        need+=(python3 python3-venv)
        PYTHON3=/usr/bin/python3
    else
        die "$PYTHON3 has no working venv/ensurepip module"
    fi
fi
if ((${#need[@]})); then apt_install "${need[@]}"; fi
[[ -f "$KEYRING" ]] || die "$KEYRING missing"

# ------------------------------------------------ 2. CPython 2.7 from bullseye
PY27_DEBS=(python2.7-minimal libpython2.7-minimal libpython2.7-stdlib python2.7
           libpython2.7 libpython2.7-dev libssl1.1 libffi7)
if [[ ! -f "$PY27ROOT/.complete" ]]; then
    APTDIR="$CACHE/apt"
    rm -rf "$APTDIR" "$PY27ROOT"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/empty" \
             "$APTDIR/debs"
    : >"$APTDIR/status"
    cat >"$APTDIR/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR bullseye main
deb [signed-by=$KEYRING] $SEC_MIRROR bullseye-security main
EOF
    APT_OPTS=(
        -o "Dir::Etc::sourcelist=$APTDIR/sources.list"
        -o "Dir::Etc::sourceparts=$APTDIR/empty"
        -o "Dir::Etc::preferences=$APTDIR/empty/none"
        -o "Dir::Etc::preferencesparts=$APTDIR/empty"
        -o "Dir::State::Lists=$APTDIR/lists"
        -o "Dir::State::status=$APTDIR/status"
        -o "Dir::Cache=$APTDIR/cache"
        -o "APT::Architecture=amd64"
        -o "APT::Architectures::=amd64"
        -o "Acquire::Languages=none"
        -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
        -o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
        -o "Acquire::Retries=3"
    )
    [[ "$(id -u)" == 0 ]] && APT_OPTS+=(-o "APT::Sandbox::User=root")
    log "apt-get update (private bullseye index in $APTDIR)"
    apt-get "${APT_OPTS[@]}" update -qq \
        || die "apt-get update for bullseye failed (mirror $MIRROR, $SEC_MIRROR)"
    log "downloading bullseye packages: ${PY27_DEBS[*]}"
    (cd "$APTDIR/debs" && apt-get "${APT_OPTS[@]}" download -qq "${PY27_DEBS[@]}") \
        || die "could not download bullseye packages from $MIRROR / $SEC_MIRROR; once bullseye" \
               "has left the regular mirrors set AUTOBAHN_DEBIAN_MIRROR=http://archive.debian.org/debian" \
               "and AUTOBAHN_DEBIAN_SECURITY_MIRROR=http://archive.debian.org/debian-security"
    log "unpacking into $PY27ROOT"
    mkdir -p "$PY27ROOT"
    for deb in "$APTDIR"/debs/*.deb; do
        dpkg-deb -x "$deb" "$PY27ROOT"
    done
    # not needed, 5 MB+ each
    rm -rf "$PY27ROOT/usr/share/doc" "$PY27ROOT/usr/share/man" \
           "$PY27ROOT"/usr/lib/python2.7/config-x86_64-linux-gnu/libpython2.7*.a \
           "$PY27LIB"/libpython2.7.a
    rm -rf "$APTDIR"
    touch "$PY27ROOT/.complete"
fi

export LD_LIBRARY_PATH="$PY27LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "checking the python2.7 interpreter"
"$PY27" -c 'import ssl, hashlib, ctypes, zlib, bz2, sqlite3, json, sys; sys.stderr.write("[autobahn-setup] %s, %s\n" % (sys.version.split()[0], ssl.OPENSSL_VERSION))' \
    || die "unpacked python2.7 is broken"

# --------------------------------------------- 3. virtualenv (py3) -> venv27
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off \
       PIP_NO_PYTHON_VERSION_WARNING=1 PIP_RETRIES=5
unset PIP_REQUIRE_VIRTUALENV PYTHONHOME PYTHONPATH VIRTUAL_ENV || true
# a venv27 whose interpreter no longer runs (e.g. the repo was moved) is rebuilt
if [[ -f "$VENV27/.complete" ]] && ! "$VENV27/bin/python" -c 'import os' >/dev/null 2>&1; then
    log "existing $VENV27 is broken; recreating it"
    rm -f "$VENV27/.complete"
fi
if [[ ! -f "$VENV27/.complete" && ! -x "$VENV3/bin/virtualenv" ]]; then
    log "creating python3 helper venv with virtualenv==20.21.1"
    rm -rf "$VENV3"
    "$PYTHON3" -m venv "$VENV3"
    "$VENV3/bin/python" -m pip install -q "virtualenv==20.21.1"
fi
if [[ ! -f "$VENV27/.complete" ]]; then
    log "creating python2.7 virtualenv $VENV27"
    rm -rf "$VENV27"
    "$VENV3/bin/virtualenv" -q --no-periodic-update --app-data "$CACHE/virtualenv-appdata" \
        -p "$PY27" "$VENV27"
    rm -rf "$CACHE/virtualenv-appdata"
fi
rm -rf "$VENV3" # only needed to create venv27 (saves ~40 MB)

# ------------------------------------------------ 4. autobahntestsuite + deps
CONSTRAINTS="$CACHE/constraints-py27.txt"
cat >"$CONSTRAINTS" <<'EOF'
# Python 2.7 compatible pins (autobahntestsuite 25.10.1 / autobahn 0.10.9 era)
autobahntestsuite==25.10.1
autobahn==0.10.9
Twisted==19.10.0
txaio==2.1.0
six==1.16.0
zope.interface==4.6.0
setuptools==44.0.0
incremental==16.10.1
constantly==15.1.0
attrs==21.4.0
Automat==20.2.0
hyperlink==21.0.0
idna==2.10
PyHamcrest==1.10.1
pyOpenSSL==19.1.0
cryptography==3.3.2
cffi==1.15.1
pycparser==2.21
enum34==1.1.10
ipaddress==1.0.23
service-identity==18.1.0
pyasn1==0.4.8
pyasn1-modules==0.2.8
Jinja2==2.11.3
MarkupSafe==1.1.1
Werkzeug==1.0.1
klein==17.10.0
unittest2==1.1.0
argparse==1.4.0
traceback2==1.4.0
linecache2==1.0.0
typing==3.10.0.0
wsaccel==0.6.3
ujson==1.35
EOF
PIP27=("$VENV27/bin/python" -m pip)
log "pip-installing autobahntestsuite dependencies (python 2.7)"
# autobahntestsuite pins autobahn[accelerate,twisted]; install its requirement
# list ourselves so the optional C speedups (wsaccel, ujson) cannot break setup.
"${PIP27[@]}" install -q -c "$CONSTRAINTS" \
    setuptools 'autobahn[twisted]' Twisted txaio six zope.interface incremental \
    pyOpenSSL cryptography Jinja2 MarkupSafe Werkzeug klein service-identity unittest2
if [[ "${AUTOBAHN_NO_ACCEL:-0}" != 1 ]]; then
    log "building optional speedups wsaccel + ujson (failure is not fatal)"
    # -fgnu89-inline: ujson 1.35 uses pre-C99 `inline` semantics; without it
    # gcc >= 5 builds a module that fails at import (undefined symbol).
    for pkg in wsaccel ujson; do
        if CFLAGS="-fgnu89-inline -I$PY27ROOT/usr/include/python2.7 -I$PY27ROOT/usr/include ${CFLAGS:-}" \
               "${PIP27[@]}" install -q -c "$CONSTRAINTS" "$pkg" >"$CACHE/build-$pkg.log" 2>&1 \
           && "$VENV27/bin/python" -c "import $pkg" >>"$CACHE/build-$pkg.log" 2>&1; then
            rm -f "$CACHE/build-$pkg.log"
            log "  $pkg ok"
        else
            log "  $pkg failed to build or import (see $CACHE/build-$pkg.log); continuing without it"
            "${PIP27[@]}" uninstall -q -y "$pkg" >/dev/null 2>&1 || true
        fi
    done
fi
"${PIP27[@]}" install -q --no-deps -c "$CONSTRAINTS" autobahntestsuite
"${PIP27[@]}" check >&2 || log "pip check reported issues (usually only the optional accelerate extras)"
touch "$VENV27/.complete"

# ------------------------------------------------------------- 5. wrapper
mkdir -p "$CACHE/bin"
cat >"$WSTEST" <<EOF
#!/bin/sh
# generated by tests/autobahn/setup.sh
LD_LIBRARY_PATH="$PY27LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
unset PYTHONHOME PYTHONPATH
exec "$VENV27/bin/python" "$VENV27/bin/wstest" "\$@"
EOF
chmod +x "$WSTEST"

log "verifying"
"$VENV27/bin/python" -c 'import ssl, hashlib, ctypes, zlib, twisted, autobahn, autobahntestsuite, sys
try:
    import wsaccel, ujson; acc = "yes"
except ImportError:
    acc = "no"
sys.stderr.write("[autobahn-setup] twisted %s, autobahn %s, autobahntestsuite %s, accelerate: %s\n" % (
    twisted.__version__, autobahn.__version__, autobahntestsuite.__version__, acc))'
"$WSTEST" --help >/dev/null || die "wstest --help failed"
touch "$STAMP"
log "done: $WSTEST ($(du -sh "$CACHE" | cut -f1))"
