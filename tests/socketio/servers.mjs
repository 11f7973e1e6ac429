// Starting and stopping the server of the Socket.IO example contract
// (README.md here) for the tests: serve.sh FRONT on a free loopback port.
// Used by helpers.mjs (the test files) and run.mjs (the suite runner).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const HERE = fileURLToPath(new URL('.', import.meta.url));
export const HOST = '127.0.0.1';
export const FRONTS = ['reference', 'rust', 'c', 'python', 'node'];
export const FRONT = process.env.SIO_FRONT || 'reference';
if (!FRONTS.includes(FRONT)) throw new Error(`SIO_FRONT=${FRONT}: expected one of ${FRONTS.join(', ')}`);
export const IS_REFERENCE = FRONT === 'reference';

/** The contract's constants. */
export const MAX_PAYLOAD = 1_000_000;
export const DEFAULT_PING_INTERVAL = 25000;
export const DEFAULT_PING_TIMEOUT = 20000;
/** The short-heartbeat instance. */
export const SHORT = { pingInterval: 300, pingTimeout: 200, connectTimeout: 1000 };
export const SHORT_ENV = {
  SIO_PING_INTERVAL_MS: String(SHORT.pingInterval),
  SIO_PING_TIMEOUT_MS: String(SHORT.pingTimeout),
  SIO_CONNECT_TIMEOUT_MS: String(SHORT.connectTimeout),
};

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Starts the contract's server for `front` on a free port through serve.sh,
 * waits until it listens. `env` adds the SIO_* settings. The first start of
 * a wsrt front may build it, hence the long bound there.
 */
export async function startServer(front = FRONT, env = {}, name = 'server') {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `wsrt-sio-${front}-`));
  const logPath = join(dir, `${name}.log`);
  const logFd = openSync(logPath, 'w');
  const childEnv = { ...process.env };
  for (const k of ['SIO_PING_INTERVAL_MS', 'SIO_PING_TIMEOUT_MS', 'SIO_CONNECT_TIMEOUT_MS', 'SIO_URL', 'SIO_SHORT_URL']) {
    delete childEnv[k];
  }
  Object.assign(childEnv, env, { PORT: String(port) });
  const proc = spawn(join(HERE, 'serve.sh'), [front], { cwd: ROOT, env: childEnv, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exit = null;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { exit = { code, signal }; resolve(exit); }));
  const log = () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } };
  const limit = front === 'reference' ? 30000 : 900000;
  const deadline = Date.now() + limit;
  for (;;) {
    if (exit) throw new Error(`${front} ${name} exited (${JSON.stringify(exit)}) before listening:\n${log()}`);
    if (await portOpen(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${front} ${name} not listening on ${port} after ${limit} ms:\n${log()}`);
    }
    await sleep(50);
  }
  return {
    front,
    name,
    port,
    url: `http://${HOST}:${port}`,
    wsUrl: `ws://${HOST}:${port}`,
    proc,
    log,
    alive: () => exit === null,
    /** SIGTERM; resolves with the exit status ({code, signal}); SIGKILL after 8 s. */
    async stop() {
      if (exit === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => { if (exit === null) proc.kill('SIGKILL'); }, 8000);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
}
