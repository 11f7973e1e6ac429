#!/usr/bin/env bash
# The npm package as a user gets it (make test-packaging-node): install
# dist/wsrt-<version>.tgz offline into empty projects outside the
# repository, with no Rust toolchain, and use it from ES modules, CommonJS
# and TypeScript; then force the build from the Rust sources the package
# ships and use that. Needs tests/node's node_modules (ws, typescript,
# @types/node). Fails, never skips, when anything is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml")
tarball="$repo/dist/wsrt-$version.tgz"
without_rust="$repo/tests/packaging/without-rust.sh"
node_tests="$repo/tests/node"
tsc="$node_tests/node_modules/typescript/bin/tsc"
fail() { echo "test-packaging-node: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

[ -n "$version" ] || fail "no version in $repo/Cargo.toml"
[ -f "$tarball" ] || fail "$tarball is missing (make dist-node)"
[ -f "$node_tests/node_modules/ws/package.json" ] || fail "tests/node/node_modules/ws is missing (cd tests/node && npm ci)"
[ -f "$tsc" ] || fail "tests/node/node_modules/typescript is missing (cd tests/node && npm ci)"
command -v cargo >/dev/null || fail "cargo is needed for the build-from-source part"

tmp=$(realpath "$(mktemp -d /tmp/wsrt-node-packaging.XXXXXX)")
trap 'rm -rf "$tmp"' EXIT
# A cache of our own: nothing can come from an earlier download.
export npm_config_cache="$tmp/npm-cache" npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step "tarball contents"
tar tzf "$tarball" | sed 's|^package/||' | sort > "$tmp/files"
for f in package.json README.md LICENSE-MIT LICENSE-APACHE index.js index.mjs index.d.ts index.d.mts loader.js build.js \
  prebuilds/linux-x64-gnu/wsrt.node Cargo.toml Cargo.lock build.rs src/lib.rs \
  core/Cargo.toml core/src/lib.rs core/proto/Cargo.toml core/proto/src/lib.rs; do
  grep -qxF "$f" "$tmp/files" || fail "$f is not in the tarball"
done
if grep -E '(^|/)(tests?|target|node_modules|examples)/|^wsrt\.node$|\.tmp$' "$tmp/files"; then fail "the tarball carries the files above"; fi
tar xzf "$tarball" -C "$tmp" package/package.json
node -e '
  const p = require(process.argv[1]);
  const want = { version: process.argv[2], license: "MIT OR Apache-2.0" };
  for (const [k, v] of Object.entries(want)) if (p[k] !== v) throw new Error(`package.json ${k}: ${p[k]}, expected ${v}`);
  if (p.scripts && Object.keys(p.scripts).some((s) => /^(pre|post)?install$/.test(s))) throw new Error("the package has an install script");
  if (p.dependencies && Object.keys(p.dependencies).length) throw new Error("the package has runtime dependencies");
' "$tmp/package/package.json" "$version"
echo "$(wc -l < "$tmp/files") files, $(stat -c %s "$tarball") bytes"

# An empty project, then `npm install --offline TARBALL` without Rust.
install_project() {
  local dir=$1
  mkdir -p "$dir"
  printf '{ "name": "%s", "version": "1.0.0", "private": true }\n' "$(basename "$dir")" > "$dir/package.json"
  (cd "$dir" && "$without_rust" npm install --offline --foreground-scripts "$tarball") > "$dir.install.log" 2>&1 ||
    { cat "$dir.install.log"; fail "npm install --offline in $dir"; }
  cat "$dir.install.log"
  if grep -Ei 'install-scripts|allowScripts|cargo' "$dir.install.log"; then fail "npm's install output above names install scripts or cargo"; fi
  [ "$(node -p 'require(process.argv[1]).version' "$dir/node_modules/wsrt/package.json")" = "$version" ] || fail "installed version"
}

step "install without Rust (project app)"
app="$tmp/app"
install_project "$app"
cp "$here/echo.mjs" "$here/echo.cjs" "$here/types.mts" "$here/types.cts" "$app/"
prebuilt="$app/node_modules/wsrt/prebuilds/linux-x64-gnu/wsrt.node"

step "ES module and CommonJS echo servers, without Rust, against ws"
(cd "$app" && "$without_rust" node "$here/roundtrip.mjs" "$node_tests" echo.mjs "$prebuilt")
(cd "$app" && "$without_rust" node "$here/roundtrip.mjs" "$node_tests" echo.cjs "$prebuilt")

step "TypeScript: import (types.mts) and require (types.cts)"
cat > "$app/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "module": "node16", "moduleResolution": "node16", "target": "es2022",
    "types": ["node"], "typeRoots": ["$node_tests/node_modules/@types"], "skipLibCheck": false
  },
  "files": ["types.mts", "types.cts"]
}
JSON
(cd "$app" && "$without_rust" node "$tsc" -p tsconfig.json --listFiles) > "$tmp/tsc.log" || { cat "$tmp/tsc.log"; fail "tsc"; }
for d in index.d.mts index.d.ts; do
  grep -qxF "$app/node_modules/wsrt/$d" "$tmp/tsc.log" || { cat "$tmp/tsc.log"; fail "tsc did not read wsrt's $d"; }
done
echo "tsc --noEmit: both files check against node_modules/wsrt/index.d.mts and index.d.ts"

step "the build from the shipped sources (project src-app)"
src_app="$tmp/src-app"
install_project "$src_app"
cp "$here/echo.mjs" "$src_app/"
pkg="$src_app/node_modules/wsrt"
# Without Rust, forcing the build fails with an error that says why.
if (cd "$src_app" && WSRT_BUILD_FROM_SOURCE=1 "$without_rust" node -e "require('wsrt')") > "$tmp/forced.log" 2>&1; then
  fail "WSRT_BUILD_FROM_SOURCE=1 without cargo loaded something"
fi
grep -q "no native addon for linux-x64-gnu" "$tmp/forced.log" && grep -q "cannot run cargo" "$tmp/forced.log" ||
  { cat "$tmp/forced.log"; fail "forced build without cargo: unclear error"; }
# No prebuilt binary for this platform and no Rust: the error names the platform.
mv "$pkg/prebuilds" "$pkg/prebuilds.off"
if (cd "$src_app" && "$without_rust" node -e "require('wsrt')") > "$tmp/missing.log" 2>&1; then
  fail "without a prebuilt binary and without cargo, wsrt loaded"
fi
grep -q "ERR_WSRT_NO_NATIVE_ADDON" "$tmp/missing.log" && grep -q "no prebuilt binary for linux-x64-gnu" "$tmp/missing.log" ||
  { cat "$tmp/missing.log"; fail "no prebuilt, no cargo: unclear error"; }
grep -m1 "Error: wsrt:" "$tmp/missing.log"
# With cargo: the first load builds, then the echo round trip runs on that
# build. The target directory is the checkout's, and the profile is matched
# to `make node-addon`'s (line tables kept, not stripped) so that the
# crates.io crates compiled there are reused: only the package's own three
# crates compile, from the package's paths (checked below).
export CARGO_TARGET_DIR="$repo/target" CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_PROFILE_RELEASE_STRIP=none
start=$SECONDS
(cd "$src_app" && ROUNDTRIP_TIMEOUT_S=1200 node "$here/roundtrip.mjs" "$node_tests" echo.mjs "$pkg/wsrt.node") 2> "$tmp/build.log" ||
  { cat "$tmp/build.log"; fail "first load with the build from source"; }
cat "$tmp/build.log"
echo "first load with the build: $((SECONDS - start)) s"
# It built the package's own files: cargo compiled the three crates at
# their places in the package, and nothing from the repository's sources.
for crate in "wsrt-proto v$version ($pkg/core/proto)" "wsrt v$version ($pkg/core)" "wsrt-node v$version ($pkg)"; do
  grep -qF "Compiling $crate" "$tmp/build.log" || fail "cargo did not compile $crate"
done
if grep -E "$repo/(core|bindings-node)" "$tmp/build.log"; then fail "the build used the repository's sources"; fi
cargo metadata --locked --offline --no-deps --format-version 1 --manifest-path "$pkg/Cargo.toml" |
  node -e '
    const { packages } = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const outside = packages.map((p) => p.manifest_path).filter((m) => !m.startsWith(process.argv[1] + "/"));
    if (packages.length !== 3 || outside.length) throw new Error(`crates outside the package: ${outside}`);
  ' "$pkg"
grep -q "no prebuilt binary for linux-x64-gnu; building the native addon" "$tmp/build.log" || fail "no message before the build"
# The explicit command rebuilds (a no-op for cargo) and the same build loads.
(cd "$src_app" && npx --offline --no-install wsrt-build) 2>&1 | tail -2
(cd "$src_app" && "$without_rust" node "$here/roundtrip.mjs" "$node_tests" echo.mjs "$pkg/wsrt.node")
echo "test-packaging-node: all passed"
