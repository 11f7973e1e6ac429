'use strict';
// Finds the native addon and loads it, in this order:
//   1. a local build: wsrt.node beside this file (what build.js writes in a
//      checkout, or `npx wsrt-build` in an installed package), then the same
//      name in the cache directory (where build.js writes when this
//      directory is read-only);
//   2. the prebuilt binary for this platform: prebuilds/<platform>/wsrt.node;
//   3. a build from the Rust sources the package ships (build.js), run here
//      at first load, so the package needs no install script.
// WSRT_BUILD_FROM_SOURCE=1 skips the prebuilt binaries and always runs the
// build (cargo makes it a no-op when nothing changed).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const packageDir = __dirname;

// glibc and musl binaries do not load into each other's processes. The C
// library mapped into this process says which one runs Node (a read of
// /proc/self/maps, well under a millisecond); Node's report, which names
// the glibc it runs on and nothing on musl, answers otherwise (~10 ms).
function libc() {
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    if (/\/ld-musl-[^/\s]*\.so/.test(maps)) return 'musl';
    if (/\/libc\.so\.6$/m.test(maps)) return 'gnu';
  } catch {
    // no /proc: ask the report
  }
  const report = process.report;
  const excluded = report.excludeNetwork;
  report.excludeNetwork = true; // the report otherwise resolves host names
  try {
    return report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl';
  } finally {
    report.excludeNetwork = excluded;
  }
}

let key;
// "linux-x64-gnu", "linux-arm64-musl", "darwin-arm64": the directory name
// of a prebuilt binary.
function platformKey() {
  key ??= [process.platform, process.arch, process.platform === 'linux' ? libc() : ''].filter(Boolean).join('-');
  return key;
}

// Where a build goes when the package directory is read-only (a global
// install): one directory per version and platform.
function cacheDir() {
  const { version } = require('./package.json');
  const root = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(root, 'wsrt', `${version}-${platformKey()}`);
}

function localBuilds() {
  return [path.join(packageDir, 'wsrt.node'), path.join(cacheDir(), 'wsrt.node')];
}

function canBuild() {
  return fs.existsSync(path.join(packageDir, 'Cargo.toml'));
}

// Runs build.js in a child process (cargo's output goes to stderr, never to
// the application's stdout) and returns the error text, or null.
function build(reason) {
  console.error(`wsrt: ${reason}; building the native addon from the package's Rust sources (cargo, a few minutes)`);
  const r = spawnSync(process.execPath, [path.join(packageDir, 'build.js')], { stdio: ['ignore', 2, 2] });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : `build.js exited with ${r.status ?? r.signal}`;
}

function load() {
  const key = platformKey();
  const prebuilt = path.join(packageDir, 'prebuilds', key, 'wsrt.node');
  const forced = process.env.WSRT_BUILD_FROM_SOURCE === '1';
  if (!forced) {
    const found = [...localBuilds(), prebuilt].find((file) => fs.existsSync(file));
    if (found) return require(found);
  }
  let why;
  if (!canBuild()) {
    why = 'this copy of the package has no Rust sources to build from';
  } else {
    const failure = build(forced ? 'WSRT_BUILD_FROM_SOURCE=1' : `no prebuilt binary for ${key}`);
    const built = localBuilds().find((file) => fs.existsSync(file));
    if (!failure && built) return require(built);
    why = `the build from source failed (${failure || 'no wsrt.node was written'}); it needs cargo and a C linker, https://rustup.rs`;
  }
  const shipped = prebuiltKeys().join(', ') || 'none';
  const err = new Error(`wsrt: no native addon for ${key} (prebuilt binaries here: ${shipped}), and ${why}`);
  err.code = 'ERR_WSRT_NO_NATIVE_ADDON';
  throw err;
}

function prebuiltKeys() {
  try {
    return fs.readdirSync(path.join(packageDir, 'prebuilds'));
  } catch {
    return [];
  }
}

module.exports = { load, platformKey, cacheDir };
