#!/usr/bin/env bash
# The C library installed as users install it, then used with cargo and
# rustc out of PATH (tests/packaging/without-rust.sh):
#   1. `make install PREFIX=<tmp>`, and the example server built with
#      `pkg-config --cflags --libs wsrt` from that prefix, dynamically and
#      (`--static`) statically; each answers a WebSocket client;
#   2. the release tarball (argument 1) unpacked elsewhere: its wsrt.pc is
#      relocatable, the same build and round trip work from it;
#   3. `make install DESTDIR=... PREFIX=/usr` stages under DESTDIR with
#      /usr written into wsrt.pc, and `make uninstall` removes every file.
# SONAME, version macros and wsrt_version() are checked on the way.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$root/tests/packaging/c
norust=$root/tests/packaging/without-rust.sh
client=$root/.cache/venv/bin/python
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
tmp=$(mktemp -d /tmp/wsrt-pkg-c.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test-packaging-c: $*" >&2; exit 1; }

free_port() { "$client" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve_and_check BINARY: start the example, wait for its port, round trip.
serve_and_check() {
  local bin=$1 port log
  port=$(free_port)
  log=$tmp/server.$port.log
  PORT=$port "$norust" "$bin" 2>"$log" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q "listening on 127.0.0.1:$port" "$log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; fail "$bin exited before listening"; }
    sleep 0.05
  done
  grep -q "wsrt $version listening" "$log" || { cat "$log" >&2; fail "$bin did not report wsrt $version listening"; }
  "$norust" "$client" "$here/roundtrip.py" "$port"
  kill -TERM "$server_pid"
  wait "$server_pid" || fail "$bin did not exit 0 on SIGTERM"
  server_pid=
}

# build_and_check PREFIX LABEL: pkg-config from PREFIX only, then the example
# linked dynamically and statically, each run and answered.
build_and_check() {
  local prefix=$1 label=$2 out=$tmp/$2
  mkdir -p "$out"
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig
  [ "$(pkg-config --modversion wsrt)" = "$version" ] || fail "$label: wsrt.pc says $(pkg-config --modversion wsrt), not $version"
  local src=("$root/examples/c/echo_server.c" "$root/examples/c/sio_contract.c")
  # shellcheck disable=SC2046
  "$norust" cc -std=c11 -Wall -Wextra -Werror -O2 "${src[@]}" -o "$out/echo_dynamic" \
    $(pkg-config --cflags --libs wsrt) -pthread -Wl,-rpath,"$prefix/lib"
  readelf -d "$out/echo_dynamic" | grep -q 'NEEDED.*\[libwsrt.so.0\]' || fail "$label: dynamic build does not need libwsrt.so.0"
  # The linker prefers the .so when both are there; -Bstatic around -lwsrt
  # picks the archive, and Libs.private (--static) supplies what it needs.
  # shellcheck disable=SC2046
  "$norust" cc -std=c11 -Wall -Wextra -Werror -O2 "${src[@]}" -o "$out/echo_static" \
    $(pkg-config --cflags wsrt) \
    $(pkg-config --static --libs wsrt | sed 's/-lwsrt/-Wl,-Bstatic -lwsrt -Wl,-Bdynamic/') -pthread
  ! readelf -d "$out/echo_static" | grep -q 'libwsrt' || fail "$label: static build still needs libwsrt.so"
  # shellcheck disable=SC2046
  "$norust" cc -std=c11 -Wall -Wextra -Werror "$here/version_check.c" -o "$out/version_check" \
    $(pkg-config --cflags --libs wsrt) -Wl,-rpath,"$prefix/lib"
  [ "$("$norust" "$out/version_check")" = "$version" ] || fail "$label: version_check"
  serve_and_check "$out/echo_dynamic"
  serve_and_check "$out/echo_static"
  unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
  echo "test-packaging-c: $label: pkg-config build, dynamic and static, round trips ok"
}

check_tree() {
  local prefix=$1
  for f in lib/libwsrt.so."$version" lib/libwsrt.so.0 lib/libwsrt.so lib/libwsrt.a include/wsrt.h lib/pkgconfig/wsrt.pc; do
    [ -e "$prefix/$f" ] || fail "$prefix/$f is missing"
  done
  readelf -d "$prefix/lib/libwsrt.so.$version" | grep -q 'SONAME.*\[libwsrt.so.0\]' || fail "SONAME is not libwsrt.so.0"
  [ "$(readlink "$prefix/lib/libwsrt.so.0")" = "libwsrt.so.$version" ] || fail "libwsrt.so.0 link"
  [ "$(readlink "$prefix/lib/libwsrt.so")" = "libwsrt.so.0" ] || fail "libwsrt.so link"
  grep -q "^#define WSRT_VERSION \"$version\"" "$prefix/include/wsrt.h" || fail "wsrt.h has no WSRT_VERSION $version"
  ! readelf -S "$prefix/lib/libwsrt.so.$version" | grep -q '\.debug_info' || fail "libwsrt.so carries debug info"
}

# 1. make install into a prefix.
make -s -C "$root" install PREFIX="$tmp/prefix" >/dev/null
check_tree "$tmp/prefix"
grep -qx "prefix=$tmp/prefix" "$tmp/prefix/lib/pkgconfig/wsrt.pc" || fail "installed wsrt.pc does not name its prefix"
PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig pkg-config --static --libs wsrt | grep -q -- '-lpthread -lm -ldl' \
  || fail "wsrt.pc has no Libs.private for the static library"
build_and_check "$tmp/prefix" install
# The README's C quick-start compiles, as written, against the install.
sed -n '/^## C quick-start/,/^## /p' "$root/README.md" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' > "$tmp/quickstart.c"
[ -s "$tmp/quickstart.c" ] || fail "no C snippet under the README's C quick-start"
# shellcheck disable=SC2046
"$norust" cc -std=c11 -Wall -Wextra -Werror "$tmp/quickstart.c" -o "$tmp/quickstart" \
  $(PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig pkg-config --cflags --libs wsrt) \
  || fail "the README's C quick-start does not compile"

# 2. The tarball, unpacked and used where it lands.
mkdir -p "$tmp/unpacked"
tar -C "$tmp/unpacked" -xzf "$tarball"
top="$tmp/unpacked/wsrt-$version-linux-$(uname -m)"
check_tree "$top"
for f in README.md LICENSE-MIT LICENSE-APACHE CHANGELOG.md; do [ -s "$top/$f" ] || fail "tarball lacks $f"; done
[ "$(tar -tzf "$tarball" | grep -cv "^wsrt-$version-linux-$(uname -m)/")" = 0 ] || fail "tarball has files outside its top directory"
mv "$top" "$tmp/moved"   # relocatable: nothing in it names where it was built
build_and_check "$tmp/moved" tarball

# 3. DESTDIR staging and uninstall.
make -s -C "$root" install DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
check_tree "$tmp/stage/usr"
grep -qx "prefix=/usr" "$tmp/stage/usr/lib/pkgconfig/wsrt.pc" || fail "DESTDIR leaked into wsrt.pc"
make -s -C "$root" uninstall DESTDIR="$tmp/stage" PREFIX=/usr >/dev/null
left=$(find "$tmp/stage" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
echo "test-packaging-c: ok (wsrt $version: make install, tarball, DESTDIR, uninstall)"
