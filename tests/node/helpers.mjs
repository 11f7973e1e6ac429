// Shared helpers for the Node addon tests: every wait is bounded, every
// server listens on 127.0.0.1 port 0.
import { Server } from 'wsrt';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

/** Debian's chromium (never a downloaded one); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches headless Chromium for a test suite (with `extraArgs`, switches of its own); close it in `after`. */
export async function launchChromium(extraArgs = []) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make test-node\` (it installs Debian's chromium)`);
  // Loaded here: it takes seconds, which suites without a browser skip.
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

/** A free port on 127.0.0.1 (for a child process to listen on). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Runs examples/node/echo_server.mjs with `env`; resolves once it logs
 * that it listens. `child.log()` is its stderr so far, `child.exited` its
 * { code, signal }; `stop()` kills it if it still runs.
 */
export async function startExample(env) {
  const script = fileURLToPath(new URL('../../examples/node/echo_server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  child.log = () => log;
  child.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.stop = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  let exit = null;
  child.exited.then((e) => (exit = e));
  await within(10000, new Promise((resolve, reject) => {
    const check = () => {
      if (log.includes('listening')) resolve();
      else if (exit !== null) reject(new Error(`the example exited (${JSON.stringify(exit)}): ${log}`));
      else setTimeout(check, 10);
    };
    check();
  }), 'the example to listen').catch((e) => {
    child.stop();
    throw e;
  });
  return child;
}

/** Polls `f` (bounded, by timer) until it returns something truthy. */
export function until(f, what, ms = 5000) {
  return within(ms, new Promise((resolve) => {
    const check = () => (f() ? resolve() : setTimeout(check, 5));
    check();
  }), what);
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
