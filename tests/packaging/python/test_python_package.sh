#!/usr/bin/env bash
# The Python release artefacts in dist/ (made by `make dist-python`), used as
# a user would use them, outside the repository:
#   1. the wheel: its tags and metadata (abi3, version, licence), a stripped
#      .so; installed with pip into a fresh venv with no Rust toolchain
#      reachable (tests/packaging/without-rust.sh), next to the stock
#      `websockets` client; the stubs and py.typed on disk; `wsrt.__version__`
#      is the root Cargo.toml's; an echo server from the install answers a
#      text and a binary message;
#   2. the sdist: unpacked on its own and built into a wheel with Rust (the
#      cargo log must show the crates compiled from the unpacked tree, none
#      from the repository), installed into the fresh venv that built it,
#      same checks and round trip.
# Fails (never skips) when an artefact or a tool is missing.
# Environment: PY_DIST_ENV (a venv with the pinned maturin, default
# .cache/pydist), CARGO_TARGET_DIR (default target/packaging: crates.io
# dependencies are compiled once across runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
without_rust="$root/tests/packaging/without-rust.sh"
dist_env=${PY_DIST_ENV:-$root/.cache/pydist}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/packaging}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 CARGO_TERM_PROGRESS_WHEN=never
unset PYTHONPATH VIRTUAL_ENV

fail() { echo "test-packaging-python: FAIL: $*" >&2; exit 1; }
step() { echo "test-packaging-python [${SECONDS}s]: $*"; }

[ -x "$dist_env/bin/maturin" ] || fail "no pinned maturin in $dist_env (make test-packaging-python makes it)"
version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' \
    "$root/Cargo.toml")
shopt -s nullglob
wheels=("$root"/dist/wsrt-"$version"-cp39-abi3-manylinux_*_x86_64.whl)
shopt -u nullglob
[ ${#wheels[@]} -eq 1 ] || fail "want one dist/wsrt-$version-cp39-abi3-manylinux_*_x86_64.whl, found ${#wheels[@]} (run make dist-python)"
wheel=${wheels[0]}
sdist="$root/dist/wsrt-$version.tar.gz"
[ -f "$sdist" ] || fail "no $sdist (run make dist-python)"

tmp=$(mktemp -d /tmp/wsrt-python-package.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# The user's files: a ten-line echo server and a websockets client.
cat >"$tmp/echo_server.py" <<'EOF'
import asyncio, wsrt

server = wsrt.Server("127.0.0.1", 0)  # port 0: a free port, printed below

@server.websocket("/echo").on_message
def echo(ws, message):
    ws.send(message)

async def main():
    async with server:
        print(server.port, flush=True)
        await asyncio.Event().wait()  # until the test kills it

asyncio.run(main())
EOF
cat >"$tmp/echo_client.py" <<'EOF'
import asyncio, sys
from websockets.asyncio.client import connect

async def main(port):
    async with connect(f"ws://127.0.0.1:{port}/echo", max_size=None) as ws:
        for message in ["héllo, wsrt ✓", bytes(range(256)) * 64, "x" * 70_000]:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            if type(echoed) is not type(message) or echoed != message:
                sys.exit(f"echo mismatch: sent {type(message).__name__} of {len(message)}, "
                         f"got {type(echoed).__name__} of {len(echoed)}")
    print("round trip ok: text, binary, 70 kB text")

asyncio.run(main(int(sys.argv[1])))
EOF

# round_trip VENV: the echo server from VENV's wsrt, the client against it.
round_trip() {
    local venv=$1 port=
    (cd "$tmp" && exec "$without_rust" "$venv/bin/python" echo_server.py >"$tmp/server.out" 2>"$tmp/server.err") &
    server_pid=$!
    for _ in $(seq 100); do
        port=$(head -n1 "$tmp/server.out" 2>/dev/null || true)
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.err" >&2; fail "echo server exited"; }
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$tmp/server.err" >&2; fail "echo server printed no port in 10 s"; }
    (cd "$tmp" && "$without_rust" "$venv/bin/python" echo_client.py "$port") || fail "round trip against $venv failed"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# check_install VENV: imports the installed package (not the repository's),
# with its version, stubs, py.typed and licences on disk.
check_install() {
    (cd "$tmp" && "$without_rust" "$1/bin/python" - "$version") <<'EOF' || fail "installed package check in $1"
import pathlib, sys, sysconfig
import wsrt

want = sys.argv[1]
site = pathlib.Path(sysconfig.get_paths()["platlib"]).resolve()
pkg = pathlib.Path(wsrt.__file__).resolve().parent
assert pkg == site / "wsrt", f"wsrt imported from {pkg}, not from {site}"
assert wsrt.__version__ == want, f"wsrt.__version__ {wsrt.__version__!r} != root Cargo.toml's {want!r}"
names = {p.name for p in pkg.iterdir()}
for need in ("__init__.py", "_wsrt.pyi", "py.typed", "_wsrt.abi3.so"):
    assert need in names, f"{need} missing from {pkg}: {sorted(names)}"
licences = {p.name for p in site.glob(f"wsrt-{want}.dist-info/licenses/*")}
assert licences == {"LICENSE-MIT", "LICENSE-APACHE"}, f"licence files in dist-info: {licences}"
print(f"installed wsrt {wsrt.__version__} at {pkg}: stubs, py.typed, licences present")
EOF
}

step "wheel $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"
python3 - "$wheel" "$version" "$tmp" <<'EOF' || fail "wheel metadata"
import email.parser, pathlib, subprocess, sys, zipfile

wheel, version, tmp = sys.argv[1:]
info = f"wsrt-{version}.dist-info"
with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    meta = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
    tags = email.parser.Parser().parsestr(zf.read(f"{info}/WHEEL").decode())
    so = zf.extract("wsrt/_wsrt.abi3.so", tmp)
for need in ("wsrt/__init__.py", "wsrt/_wsrt.pyi", "wsrt/py.typed",
             f"{info}/licenses/LICENSE-MIT", f"{info}/licenses/LICENSE-APACHE"):
    assert need in names, f"{need} missing from the wheel"
tag = tags.get_all("Tag")
assert len(tag) == 1 and tag[0].startswith("cp39-abi3-manylinux_") and tag[0].endswith("_x86_64"), tag
assert tags["Root-Is-Purelib"] == "false", tags["Root-Is-Purelib"]
assert meta["Name"] == "wsrt" and meta["Version"] == version, (meta["Name"], meta["Version"])
assert meta["License-Expression"] == "MIT OR Apache-2.0", meta["License-Expression"]
assert set(meta.get_all("License-File")) == {"LICENSE-MIT", "LICENSE-APACHE"}, meta.get_all("License-File")
assert meta["Requires-Python"] == ">=3.9", meta["Requires-Python"]
assert meta["Description-Content-Type"].startswith("text/markdown"), meta["Description-Content-Type"]
assert "pip install wsrt" in meta.get_payload(), "the README is not the long description"
urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
for key in ("Repository", "Documentation", "Changelog"):
    assert urls.get(key, "").startswith("https://github.com/wsrt/wsrt"), (key, urls)
sections = subprocess.run(["readelf", "-S", "-W", so], check=True, capture_output=True, text=True).stdout
assert ".debug_" not in sections and ".symtab" not in sections, "the shipped .so is not stripped"
print(f"wheel: {tag[0]}, version {version}, {meta['License-Expression']}, stubs, licences, stripped .so")
EOF

step "install the wheel into a fresh venv without Rust"
"$without_rust" python3 -m venv "$tmp/venv"
"$without_rust" "$tmp/venv/bin/python" -m pip install -q "$wheel" -r "$here/client-requirements.txt" \
    || fail "pip install of the wheel"
check_install "$tmp/venv"
round_trip "$tmp/venv"

step "build the sdist on its own (with Rust), target dir $CARGO_TARGET_DIR"
mkdir "$tmp/sdist"
tar -xzf "$sdist" -C "$tmp/sdist"
src="$tmp/sdist/wsrt-$version"
for need in pyproject.toml README.md LICENSE-MIT LICENSE-APACHE Cargo.toml bindings-python/Cargo.toml \
    bindings-python/Cargo.lock core/Cargo.toml core/src/lib.rs core/proto/Cargo.toml core/proto/src/lib.rs \
    python/wsrt/__init__.py python/wsrt/_wsrt.pyi python/wsrt/py.typed; do
    [ -f "$src/$need" ] || fail "the sdist has no $need"
done
# The sdist's own pinned-maturin venv (no build isolation: no unpinned
# backend fetched); -v so that pip shows cargo's "Compiling" lines.
python3 -m venv "$tmp/build"
"$tmp/build/bin/python" -m pip install -q -r "$here/build-requirements.txt" || fail "pip install maturin"
(cd "$tmp" && PATH="$tmp/build/bin:$PATH" "$tmp/build/bin/python" -m pip wheel -v --no-build-isolation --no-deps \
    -w "$tmp/sdist-wheel" "$src" >"$tmp/sdist-build.log" 2>&1) \
    || { tail -n 40 "$tmp/sdist-build.log" >&2; fail "the sdist does not build"; }
# Proof the build used the unpacked sdist: each local crate was compiled from
# it, none from the repository.
for crate in "wsrt-proto v$version ($src/core/proto)" "wsrt v$version ($src/core)" \
    "wsrt-python v$version ($src/bindings-python)"; do
    grep -qF "Compiling $crate" "$tmp/sdist-build.log" || { grep Compiling "$tmp/sdist-build.log" >&2 || true
        fail "the sdist build did not compile $crate"; }
done
if grep -F "Compiling" "$tmp/sdist-build.log" | grep -qF "($root/"; then
    fail "the sdist build compiled sources from the repository"
fi
shopt -s nullglob
built=("$tmp"/sdist-wheel/wsrt-"$version"-cp39-abi3-*.whl)
shopt -u nullglob
[ ${#built[@]} -eq 1 ] || fail "the sdist build made no abi3 wheel"
step "sdist built $(basename "${built[0]}")"
# Into the build venv (made by this run; it holds only maturin besides).
"$tmp/build/bin/python" -m pip install -q "${built[0]}" -r "$here/client-requirements.txt" \
    || fail "pip install of the sdist's wheel"
check_install "$tmp/build"
round_trip "$tmp/build"
step "ok"
