// Packaging: the CommonJS and ES module entries, the TypeScript typings, and
// the example server's contract (examples/node/echo_server.mjs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import net from 'node:net';
import WebSocket from 'ws';
import * as esm from 'wsrt';
import esmDefault from 'wsrt';
import { within, closed, connect, nextMessage } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe('packaging', () => {
  it('CommonJS and ES module entries expose the same objects', () => {
    const cjs = require('wsrt');
    assert.equal(typeof cjs.Server, 'function');
    assert.equal(esm.Server, cjs.Server);
    assert.equal(esm.createServer, cjs.createServer);
    assert.equal(esmDefault.Server, cjs.Server);
    assert.equal(cjs.default, cjs);
    assert.deepEqual([esm.OPEN, esm.CLOSING, esm.CLOSED], [1, 2, 3]);
  });

  it('the TypeScript definitions type-check an ESM and a CommonJS program', () => {
    const tsc = path.join(here, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'types', 'tsconfig.json')], {
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });
});

describe('examples/node/echo_server.mjs', () => {
  it('echoes, streams ticks with Last-Event-ID resume, exits 0 on SIGTERM after closing with 1001', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(root, 'examples/node/echo_server.mjs')], {
      env: { ...process.env, PORT: String(port), SSE_INTERVAL_MS: '30' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      await within(10000, new Promise((resolve) => {
        const check = () => (log.includes('listening') ? resolve() : setTimeout(check, 20));
        check();
      }), 'the example to listen');
      const ws = await connect(`ws://127.0.0.1:${port}/echo`);
      ws.send('ping text');
      assert.deepEqual(await nextMessage(ws).then((m) => [m.isBinary, m.data.toString()]), [false, 'ping text']);
      ws.send(Buffer.from([0, 1, 2, 255]));
      assert.deepEqual(await nextMessage(ws).then((m) => [m.isBinary, [...m.data]]), [true, [0, 1, 2, 255]]);

      const res = await within(5000, fetch(`http://127.0.0.1:${port}/sse`, { headers: { 'Last-Event-ID': '41' } }), 'SSE response');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /text\/event-stream/);
      const reader = res.body.getReader();
      let text = '';
      await within(5000, (async () => {
        while ((text.match(/\n\n/g) || []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
      })(), 'two ticks');
      const first = text.split('\n\n')[0];
      assert.match(first, /^event: tick\nid: 42\ndata: tick 42\ndata: \d{13}$/m);
      await reader.cancel();

      const wsClosed = closed(ws);
      child.kill('SIGTERM');
      assert.equal((await wsClosed).code, 1001);
      assert.deepEqual(await within(10000, exited, 'the example to exit'), { code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('native conversions', () => {
  it('a message handler sees a Buffer it may keep after the batch', async () => {
    const { Server } = require('wsrt');
    const kept = [];
    const server = new Server().ws('/k', {
      message(ws, data) {
        kept.push(data);
        if (kept.length === 3) ws.close();
      },
    }).listen();
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/k`);
    ws.on('open', () => ['one', 'two', 'three'].forEach((m) => ws.send(m)));
    await closed(ws);
    assert.ok(kept.every((b) => Buffer.isBuffer(b)));
    assert.deepEqual(kept.map(String), ['one', 'two', 'three']);
    await within(5000, server.close(), 'close');
  });
});
