// node tests/socketio/run.mjs FRONT [node] [python] [browser]
//
// Runs the Socket.IO end-to-end suite (README.md here) against FRONT
// (reference, c, python or node): starts the contract's server twice (the
// normal instance and the short-heartbeat one) through serve.sh, runs the
// chosen parts (all three by default) against them with SIO_FRONT, SIO_URL
// and SIO_SHORT_URL set, then stops both servers with SIGTERM, each of
// which must exit 0. Exits non-zero if any part or any server failed.
//   node     `node --test` on the *.test.mjs files but the browser one
//   python   pytest on test_python_client.py and test_python_polling.py, in .cache/sio-venv (venv.sh)
//   browser  `node --test browser.test.mjs` (Debian's chromium)
// The parts install nothing: `make -f tests/socketio/socketio.mk ...` does.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FRONTS, HERE, ROOT, SHORT_ENV, startServer } from './servers.mjs';

const [front, ...partsArg] = process.argv.slice(2);
const PARTS = ['node', 'python', 'browser'];
if (!FRONTS.includes(front) || partsArg.some((p) => !PARTS.includes(p))) {
  console.error(`usage: node tests/socketio/run.mjs ${FRONTS.join('|')} [${PARTS.join('] [')}]`);
  process.exit(2);
}
const parts = partsArg.length ? PARTS.filter((p) => partsArg.includes(p)) : PARTS;

const NODE_FILES = readdirSync(HERE).filter((f) => f.endsWith('.test.mjs') && f !== 'browser.test.mjs').sort();
const PYTHON = join(ROOT, '.cache', 'sio-venv', 'bin', 'python');

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: HERE, env, stdio: ['ignore', 'inherit', 'inherit'] });
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.once('error', (e) => { console.error(`${cmd}: ${e.message}`); resolve(127); });
    child.once('exit', (code, signal) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

const t0 = Date.now();
const secs = (t) => ((Date.now() - t) / 1000).toFixed(1);
console.log(`socketio: starting the ${front} server (normal and short-heartbeat instances)`);
let main;
let short;
try {
  main = await startServer(front, {}, 'main');
  short = await startServer(front, SHORT_ENV, 'short');
} catch (e) {
  console.error(`socketio: ${e.message}`);
  if (main) await main.stop();
  process.exit(1);
}
console.log(`socketio: ${front} listening on ${main.url} and ${short.url} (short heartbeat) after ${secs(t0)} s`);

const env = { ...process.env, SIO_FRONT: front, SIO_URL: main.url, SIO_SHORT_URL: short.url };
const results = [];
for (const part of parts) {
  const t = Date.now();
  let code;
  console.log(`\nsocketio: ${part} tests against ${front}`);
  if (part === 'node') {
    code = await run(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=60000', ...NODE_FILES], env);
  } else if (part === 'python') {
    if (!existsSync(PYTHON)) {
      console.error(`socketio: ${PYTHON} is missing: run tests/socketio/venv.sh (the make targets do)`);
      code = 1;
    } else {
      code = await run(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'test_python_client.py', 'test_python_polling.py'], env);
    }
  } else {
    code = await run(process.execPath, ['--test', '--test-timeout=120000', 'browser.test.mjs'], env);
  }
  results.push({ part, code, secs: secs(t) });
}

const servers = [];
for (const s of [main, short]) {
  const alive = s.alive();
  const status = await s.stop();
  const ok = alive && status.code === 0 && status.signal === null;
  servers.push({ name: s.name, ok, alive, status });
  if (!ok) {
    console.error(`socketio: the ${s.name} server ${alive ? `exited ${JSON.stringify(status)} on SIGTERM` : 'died during the tests'}; its log:\n${s.log()}`);
  }
}

console.log(`\nsocketio: ${front}: ${results.map((r) => `${r.part} ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`} in ${r.secs} s`).join(', ')}; `
  + `servers ${servers.every((s) => s.ok) ? 'stopped cleanly' : 'FAILED'}; total ${secs(t0)} s`);
process.exit(results.every((r) => r.code === 0) && servers.every((s) => s.ok) ? 0 : 1);
