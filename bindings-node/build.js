#!/usr/bin/env node
// Builds the native addon with cargo into ./wsrt.node. Two places it runs:
// - a checkout (core/ beside bindings-node/): `make node-addon` and
//   examples/run; the target directory is the repository's target/;
// - an installed package (core/ inside it): the loader, when no prebuilt
//   binary fits, or by hand as `npx wsrt-build`; the target directory is a
//   cache shared by every project (crates are compiled once per machine),
//   the lockfile is the one shipped, and wsrt.node goes to the cache
//   directory when the package directory is read-only.
// Environment: CARGO, CARGO_TARGET_DIR, WSRT_NODE_PROFILE ("release", the
// default, or "debug").
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { platformKey, cacheDir } = require('./loader.js');

const here = __dirname;
const inPackage = fs.existsSync(path.join(here, 'core', 'Cargo.toml'));
const repo = path.resolve(here, '..');
if (!inPackage && !fs.existsSync(path.join(repo, 'core', 'Cargo.toml'))) {
  console.error('wsrt: build.js needs the Rust sources (core/ in the package, or beside bindings-node/ in a checkout)');
  process.exit(1);
}
const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
const targetDir =
  process.env.CARGO_TARGET_DIR || (inPackage ? path.join(cacheRoot, 'wsrt', 'cargo-target') : path.join(repo, 'target'));
const profile = process.env.WSRT_NODE_PROFILE || 'release';
const args = ['build', '--manifest-path', path.join(here, 'Cargo.toml')];
if (profile === 'release') args.push('--release');
if (inPackage) args.push('--locked');
const env = { ...process.env, CARGO_TARGET_DIR: targetDir, CARGO_TERM_PROGRESS_WHEN: 'never' };
// Rust links musl programs statically by default, and a static C runtime
// cannot be a shared library that Node loads.
if (platformKey().endsWith('-musl') && !env.RUSTFLAGS) env.RUSTFLAGS = '-C target-feature=-crt-static';
// A user's build is like the prebuilt binary: no line tables (the
// repository's profile keeps them for its profilers), stripped.
if (inPackage) {
  env.CARGO_PROFILE_RELEASE_DEBUG ??= '0';
  env.CARGO_PROFILE_RELEASE_STRIP ??= 'symbols';
}
if (inPackage) console.error(`wsrt: cargo ${args.join(' ')} (target directory ${targetDir})`);
const r = spawnSync(process.env.CARGO || 'cargo', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
if (r.error) {
  console.error(`wsrt: cannot run cargo (${r.error.message}); install the Rust toolchain (https://rustup.rs)`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status || 1);

const built = path.join(targetDir, profile, 'libwsrt_node.so');
let destDir = here;
try {
  fs.accessSync(here, fs.constants.W_OK);
} catch {
  destDir = cacheDir();
  fs.mkdirSync(destDir, { recursive: true });
}
const dest = path.join(destDir, 'wsrt.node');
// Replace by rename, never rewrite in place: a running process has the old
// file mapped, and truncating it under that process crashes it.
const tmp = `${dest}.${process.pid}.tmp`;
fs.copyFileSync(built, tmp);
fs.renameSync(tmp, dest);
if (inPackage) console.error(`wsrt: built ${dest}`);
