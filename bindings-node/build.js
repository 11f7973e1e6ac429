#!/usr/bin/env node
// Builds the addon with cargo into ./wsrt.node (run by `npm install` and
// examples/run; a no-op cargo build is quick). Environment: CARGO, and
// CARGO_TARGET_DIR (default: the repository's target/), WSRT_NODE_PROFILE
// ("release", the default, or "debug").
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const repo = path.resolve(here, '..');
if (!fs.existsSync(path.join(repo, 'core', 'Cargo.toml'))) {
  console.error('wsrt: build.js needs the wsrt source tree (core/ beside bindings-node/)');
  process.exit(1);
}
const targetDir = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
const profile = process.env.WSRT_NODE_PROFILE || 'release';
const args = ['build', '--manifest-path', path.join(here, 'Cargo.toml')];
if (profile === 'release') args.push('--release');
const r = spawnSync(process.env.CARGO || 'cargo', args, {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, CARGO_TARGET_DIR: targetDir, CARGO_TERM_PROGRESS_WHEN: 'never' },
});
if (r.error) {
  console.error(`wsrt: cannot run cargo (${r.error.message}); install the Rust toolchain`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status || 1);

const built = path.join(targetDir, profile, 'libwsrt_node.so');
const dest = path.join(here, 'wsrt.node');
// Replace by rename, never rewrite in place: a running process has the old
// file mapped, and truncating it under that process crashes it.
const tmp = `${dest}.${process.pid}.tmp`;
fs.copyFileSync(built, tmp);
fs.renameSync(tmp, dest);
