#!/usr/bin/env node
// Stages the npm package in a directory of its own and packs it (make
// dist-node), so the repository keeps its layout:
//   node bindings-node/pack.js ADDON STAGE_DIR DIST_DIR
// ADDON is the release build of the addon; it goes in stripped as
// prebuilds/<platform>/wsrt.node. Every other file comes from package.json's
// `files`, looked up in bindings-node/ first, then at the repository root
// (the licences, core/ and core/proto/). The Cargo manifests are rewritten
// for their place in the package: path dependencies point inside it, the
// core crates' `x.workspace = true` fields take the root workspace's values
// and their dev-dependencies go (their tests are not shipped, and a
// dev-dependency would not be in the shipped Cargo.lock).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { platformKey } = require('./loader.js');

const [addon, stage, dist] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!dist) {
  console.error('usage: node bindings-node/pack.js ADDON STAGE_DIR DIST_DIR');
  process.exit(2);
}
const here = __dirname;
const repo = path.resolve(here, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));

fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(stage, { recursive: true });
for (const entry of [...pkg.files, 'package.json', 'README.md']) {
  if (entry === 'prebuilds/') continue;
  const from = [here, repo].map((dir) => path.join(dir, entry)).find((p) => fs.existsSync(p));
  if (!from) throw new Error(`pack.js: "${entry}" (package.json files) is neither in bindings-node/ nor at the repository root`);
  fs.cpSync(from, path.join(stage, entry), { recursive: true });
}

// The root workspace's [workspace.package] fields (key = "value" lines).
function workspacePackage() {
  const text = fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8');
  const section = text.split(/^\[workspace\.package\]$/m)[1].split(/^\[/m)[0];
  return Object.fromEntries([...section.matchAll(/^([\w-]+)\s*=\s*(".*")\s*$/gm)].map((m) => [m[1], m[2]]));
}

function rewriteManifest(rel, edit) {
  const file = path.join(stage, rel);
  const text = edit(fs.readFileSync(file, 'utf8'));
  if (/\{[^}]*workspace\s*=\s*true/.test(text)) throw new Error(`pack.js: ${rel} inherits a dependency from the workspace`);
  for (const m of text.matchAll(/path\s*=\s*"([^"]+)"/g)) {
    const target = path.resolve(path.dirname(file), m[1]);
    if (!target.startsWith(stage + path.sep) || !fs.existsSync(path.join(target, 'Cargo.toml'))) {
      throw new Error(`pack.js: ${rel}: path dependency "${m[1]}" is not inside the package`);
    }
  }
  fs.writeFileSync(file, text);
}

rewriteManifest('Cargo.toml', (text) => text.replace(/path\s*=\s*"\.\.\/([^"]+)"/g, 'path = "$1"'));
const inherited = workspacePackage();
for (const rel of ['core/Cargo.toml', 'core/proto/Cargo.toml']) {
  rewriteManifest(rel, (text) =>
    text
      .replace(/^([\w-]+)\.workspace\s*=\s*true[ \t]*$/gm, (line, key) => {
        if (!(key in inherited)) throw new Error(`pack.js: ${rel}: ${key} is not in [workspace.package]`);
        return `${key} = ${inherited[key]}`;
      })
      .replace(/^\[dev-dependencies\]\n(?:(?!\[).*\n?)*/m, ''),
  );
}

const prebuiltDir = path.join(stage, 'prebuilds', platformKey());
fs.mkdirSync(prebuiltDir, { recursive: true });
const prebuilt = path.join(prebuiltDir, 'wsrt.node');
fs.copyFileSync(addon, prebuilt);
// The release profile keeps line tables for the repository's profilers;
// users get the binary without them (a sixth of the size).
execFileSync('strip', ['--strip-unneeded', prebuilt]);

fs.mkdirSync(dist, { recursive: true });
const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dist], { cwd: stage, encoding: 'utf8' });
const [{ filename, size, entryCount }] = JSON.parse(out);
console.log(`${path.join(path.relative(process.cwd(), dist) || '.', filename)}: ${entryCount} files, ${size} bytes`);
