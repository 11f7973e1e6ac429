// Shared helpers for the Node addon tests: every wait is bounded, every
// server listens on 127.0.0.1 port 0.
import { Server } from 'wsrt';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** Debian's chromium (never a downloaded one); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches headless Chromium for a test suite; close it in `after`. */
export async function launchChromium() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make test-node\` (it installs Debian's chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function within(ms, promise, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise plus its resolve/reject. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const live = new Set();

/** Builds a server with `setup(server)`, listens on an ephemeral port. */
export function listen(setup, options = {}) {
  const server = new Server({ host: '127.0.0.1', port: 0, ...options });
  setup(server);
  server.listen();
  live.add(server);
  return server;
}

/** For afterEach: closes servers a failed test left running. */
export async function cleanup() {
  const left = [...live].filter((s) => s.listening);
  live.clear();
  await within(10000, Promise.all(left.map((s) => s.close())), 'leftover servers to close');
}

/** Opens a `ws` client and waits for it to be open. */
export async function connect(url, protocols, options) {
  const ws = new WebSocket(url, protocols, options);
  await within(5000, new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  }), `WebSocket open ${url}`);
  return ws;
}

/** Resolves with { code, reason } when a `ws` client closes. */
export function closed(ws) {
  return within(8000, new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  }), 'WebSocket close');
}

/** Resolves with the next message of a `ws` client as { data, isBinary }. */
export function nextMessage(ws) {
  return within(5000, new Promise((resolve) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
  }), 'a message');
}

/** Closes the server, bounded. */
export function shut(server) {
  return within(10000, server.close(), 'server.close()');
}
