// Packaging: the CommonJS and ES module entries, the TypeScript typings, and
// the example server's contract (examples/node/echo_server.mjs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import * as esm from 'wsrt';
import esmDefault from 'wsrt';
import { within, closed, connect, nextMessage, freePort } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(import.meta.url);

describe('packaging', () => {
  it('CommonJS and ES module entries expose the same objects', () => {
    const cjs = require('wsrt');
    assert.equal(typeof cjs.Server, 'function');
    assert.equal(esm.Server, cjs.Server);
    assert.equal(esm.createServer, cjs.createServer);
    assert.equal(esmDefault.Server, cjs.Server);
    assert.equal(cjs.default, cjs);
    assert.deepEqual([esm.CONNECTING, esm.OPEN, esm.CLOSING, esm.CLOSED], [0, 1, 2, 3]);
    assert.deepEqual([cjs.CONNECTING, cjs.OPEN, cjs.CLOSING, cjs.CLOSED], [0, 1, 2, 3]);
  });

  it("index.d.ts's ServerOptions lists exactly the core's options (and host, port, onError)", () => {
    const native = require(path.join(path.dirname(require.resolve('wsrt')), 'wsrt.node'));
    const dts = readFileSync(path.join(path.dirname(require.resolve('wsrt')), 'index.d.ts'), 'utf8');
    const body = dts.slice(dts.indexOf('export interface ServerOptions {'));
    const typed = [...body.slice(0, body.indexOf('\n}')).matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]);
    assert.deepEqual(typed.sort(), [...native.optionNames(), 'host', 'port', 'onError'].sort());
  });

  it('the event numbers come from the core', () => {
    const native = require(path.join(path.dirname(require.resolve('wsrt')), 'wsrt.node'));
    assert.deepEqual(native.eventTypes(), {
      REQUEST: 1, OPEN: 2, MESSAGE: 3, PONG: 4, CLOSE: 5, SSE_OPEN: 6, SSE_CLOSE: 7, DRAIN: 8, WAKE: 9, SIO_EVENT: 10, SIO_ACK: 11,
    });
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

/** Reads SSE events from a fetch response until `n` have arrived. */
async function readEvents(res, n) {
  const reader = res.body.getReader();
  let text = '';
  await within(5000, (async () => {
    while ((text.match(/\n\n/g) || []).length < n) text += new TextDecoder().decode((await reader.read()).value);
  })(), `${n} events`);
  await reader.cancel();
  return text.split('\n\n').slice(0, n).map((block) => {
    const ev = { event: 'message', id: null, data: [] };
    for (const line of block.split('\n')) {
      const [k, v] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)];
      if (k === 'data') ev.data.push(v);
      else if (k === 'event' || k === 'id') ev[k] = v;
    }
    return { ...ev, data: ev.data.join('\n') };
  });
}

describe('examples/node/echo_server.mjs publish/subscribe', () => {
  it('/broadcast reaches every client (sender included); /events replays by Last-Event-ID or sends a snapshot', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(root, 'examples/node/echo_server.mjs')], {
      env: { ...process.env, PORT: String(port), HISTORY: '3' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    const clients = [];
    try {
      await within(10000, new Promise((resolve) => {
        const check = () => (log.includes('listening') ? resolve() : setTimeout(check, 20));
        check();
      }), 'the example to listen');
      const live = await within(5000, fetch(`http://127.0.0.1:${port}/events`), 'SSE response');
      assert.equal(live.status, 200);
      for (let i = 0; i < 2; i++) clients.push(await connect(`ws://127.0.0.1:${port}/broadcast`));
      const echo = await connect(`ws://127.0.0.1:${port}/echo`);
      clients.push(echo);
      const got = clients.map(() => []);
      clients.forEach((ws, i) => ws.on('message', (d, bin) => got[i].push([bin, d.toString()])));
      // Subscribed in the open handler, which runs before any later message is read.
      clients[0].send('from 0');
      await within(5000, (async () => { while (got[1].length < 1) await new Promise((r) => setTimeout(r, 10)); })(), 'the first relay');
      clients[1].send(Buffer.from('bin from 1'));
      clients[1].send('from 1');
      await within(5000, (async () => {
        while (got[0].length < 3 || got[1].length < 3) await new Promise((r) => setTimeout(r, 10));
      })(), 'the relays');
      const want = [[false, 'from 0'], [true, 'bin from 1'], [false, 'from 1']];
      assert.deepEqual(got[0], want);
      assert.deepEqual(got[1], want);
      assert.deepEqual(got[2], []); // /echo clients are not subscribed
      // The stream got the text ones (binary skips SSE), with ids.
      const evs = await readEvents(live, 2);
      assert.deepEqual(evs.map((e) => [e.event, e.data]), [['message', 'from 0'], ['message', 'from 1']]);
      assert.ok(evs.every((e) => /^[0-9]+$/.test(e.id)));
      // Resuming after the first: the second, then what came since.
      const again = await within(5000, fetch(`http://127.0.0.1:${port}/events`, { headers: { 'Last-Event-ID': evs[0].id } }), 'SSE resume');
      assert.deepEqual((await readEvents(again, 1)).map((e) => [e.id, e.data]), [[evs[1].id, 'from 1']]);
      // Four more: the first event is out of the 3-event history.
      for (let k = 0; k < 4; k++) clients[0].send(`more ${k}`);
      await within(5000, (async () => { while (got[0].length < 7) await new Promise((r) => setTimeout(r, 10)); })(), 'four more');
      const stale = await within(5000, fetch(`http://127.0.0.1:${port}/events`, { headers: { 'Last-Event-ID': evs[0].id } }), 'SSE stale resume');
      assert.deepEqual((await readEvents(stale, 1)).map((e) => [e.event, e.data]), [['snapshot', 'history unavailable: start over']]);
    } finally {
      for (const ws of clients) ws.terminate();
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

describe('tests/contract/server.mjs', () => {
  /** Starts the contract server with `options`; resolves with its first line and a line reader. */
  async function start(options) {
    const child = spawn(process.execPath, [path.join(root, 'tests/contract/server.mjs'), JSON.stringify(options)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = [];
    let buffered = '';
    child.stdout.on('data', (d) => {
      buffered += d;
      for (let i; (i = buffered.indexOf('\n')) >= 0; buffered = buffered.slice(i + 1)) lines.push(JSON.parse(buffered.slice(0, i)));
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const upTo = (n) => within(10000, (async () => {
      while (lines.length < n) await new Promise((r) => setTimeout(r, 10));
    })(), `${n} lines from the contract server`);
    await upTo(1);
    return { child, lines, upTo, exited };
  }

  it('reports refused options with the core\'s kind and message', async () => {
    for (const [options, kind] of [[{ idle_timeout_ms: -1 }, 'invalid_argument'], [{ idle_timeout_ms: 'x' }, 'invalid_type'], [{ deflate_window_bits: 0 }, 'invalid_argument']]) {
      const s = await start(options);
      assert.equal(s.lines[0].ok, false);
      assert.equal(s.lines[0].kind, kind);
      assert.match(s.lines[0].message, /^(idleTimeoutMs|deflateWindowBits) must be/);
      assert.equal(await s.exited, 0);
    }
  });

  it('serves with every timer and limit at 0, runs the probes, and reports STOPPED after close', async () => {
    const zeros = ['idle_timeout_ms', 'sse_keepalive_ms', 'handshake_timeout_ms', 'close_timeout_ms', 'max_connections', 'max_message_size'];
    const s = await start(Object.fromEntries(zeros.map((n) => [n, 0])));
    try {
      assert.equal(s.lines[0].ok, true);
      const base = `127.0.0.1:${s.lines[0].port}`;
      const ws = await connect(`ws://${base}/ws`);
      ws.send('echo me');
      assert.equal((await nextMessage(ws)).data.toString(), 'echo me');
      ws.close();
      await closed(ws);
      const res = await within(5000, fetch(`http://${base}/sse`), 'the SSE response');
      const reader = res.body.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: hello\n\n');
      await reader.cancel();
      const probe = await connect(`ws://${base}/probe`);
      probe.send('run');
      await s.upTo(11);
      assert.deepEqual(Object.fromEntries(s.lines.slice(1).map((l) => [l.probe, l.outcome])), {
        bad_utf8: 'invalid_argument', topic_2k: 'invalid_argument', topic_1k: 'ok', publish_2k: 'invalid_argument',
        close_code: 'invalid_argument', ping_126: 'invalid_argument', stale_send: 'unknown_connection',
        stale_state: 'CLOSED', close: 'ok', send_after_close: 'closed',
      });
      s.child.stdin.end();
      await s.upTo(12);
      assert.deepEqual(s.lines[11], { probe: 'after_close', outcome: 'stopped' });
      assert.equal(await within(10000, s.exited, 'the contract server to exit'), 0);
    } finally {
      s.child.kill('SIGKILL');
    }
  });
});
