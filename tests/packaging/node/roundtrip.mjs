// Starts an echo server script from an installed project and checks it with
// a stock `ws` client: a text and a binary message come back the same, with
// their type; the server loaded the native file expected; SIGTERM stops it
// cleanly.
//   node roundtrip.mjs WS_MODULE_DIR SERVER_SCRIPT EXPECTED_NATIVE
// Run with the project as the working directory. ROUNDTRIP_TIMEOUT_S
// (default 60) bounds the whole check; a first load that builds needs more.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import assert from 'node:assert/strict';

const [wsDir, script, expectedNative] = process.argv.slice(2);
const { WebSocket } = createRequire(`${wsDir}/`)('ws');

// A group of its own, so that a timeout also stops a build it started.
const server = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
const killAll = () => {
  try {
    process.kill(-server.pid, 'SIGKILL');
  } catch {}
};
const exited = once(server, 'exit');
const timeoutS = Number(process.env.ROUNDTRIP_TIMEOUT_S || 60);
const timer = setTimeout(() => {
  console.error(`roundtrip: ${script} did not answer in ${timeoutS} s`);
  killAll();
  process.exit(1);
}, timeoutS * 1000);
try {
  let out = '';
  server.stdout.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^listening (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
  });
  const native = /^native (.*)$/m.exec(out)[1];
  assert.equal(native, expectedNative, `${script} loaded ${native}`);

  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  await once(ws, 'open');
  const text = 'héllo wsrt ✓';
  const binary = randomBytes(70_000); // past the 16-bit frame length
  const replies = [];
  ws.on('message', (data, isBinary) => replies.push({ data, isBinary }));
  ws.send(text);
  ws.send(binary);
  while (replies.length < 2) await once(ws, 'message');
  assert.deepEqual(replies[0], { data: Buffer.from(text), isBinary: false });
  assert.equal(replies[1].isBinary, true);
  assert.ok(replies[1].data.equals(binary), 'binary echo differs');
  ws.close(1000);
  await once(ws, 'close');

  server.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.equal(code, 0, `${script} exit ${code} ${signal ?? ''}`);
  console.log(`ok ${script}: port ${port}, text and binary echoed, native ${native}`);
} finally {
  clearTimeout(timer);
  if (server.exitCode === null) killAll();
}
