// The WebSocket side of the addon against the npm `ws` client.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Server } from 'wsrt';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { within, deferred, listen, connect, closed, nextMessage, shut, cleanup } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('WebSocket with the ws client', () => {
  afterEach(cleanup);

  it('echoes text and binary in order, with their types', async () => {
    const server = listen((s) => s.ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/echo`);
    const got = [];
    const all = deferred();
    ws.on('message', (data, isBinary) => {
      got.push([isBinary, Buffer.from(data)]);
      if (got.length === 200) all.resolve();
    });
    const sent = [];
    for (let i = 0; i < 200; i++) {
      if (i % 2) {
        const b = Buffer.alloc(i * 37, i & 0xff);
        ws.send(b);
        sent.push([true, b]);
      } else {
        const t = `message ${i} ✓ ${'x'.repeat(i * 11)}`;
        ws.send(t);
        sent.push([false, Buffer.from(t)]);
      }
    }
    await within(10000, all.promise, '200 echoes');
    assert.deepEqual(got, sent);
    ws.close();
    await closed(ws);
    await shut(server);
  });

  it('hands large messages over whole, between small ones, and they stay intact after later batches', async () => {
    // Messages of 32 KiB or more reach JavaScript in Buffers of their own,
    // the rest as views of the batch's Buffer: mixing both in one batch
    // must keep every payload in its place and in order.
    const kept = [];
    const server = listen((s) => s.ws('/echo', {
      message: (ws, data, isBinary) => {
        kept.push(data);
        ws.send(data, isBinary);
      },
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/echo`);
    const sizes = [10, 32 * 1024, 5, 48 * 1024 + 3, 64 * 1024, 1, 1 << 20, 100, 40 * 1024];
    const sent = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, n] of sizes.entries()) {
        const b = Buffer.alloc(n);
        for (let k = 0; k < n; k += 997) b[k] = (round * 31 + i + k) & 0xff;
        sent.push(b);
      }
    }
    const got = [];
    const all = deferred();
    ws.on('message', (data) => {
      got.push(Buffer.from(data));
      if (got.length === sent.length) all.resolve();
    });
    for (const b of sent) ws.send(b);
    await within(20000, all.promise, 'every echo');
    assert.equal(got.length, sent.length);
    got.forEach((b, i) => assert.ok(b.equals(sent[i]), `echo ${i} (${sent[i].length} B) differs`));
    // What the handler kept is still the message it was given.
    assert.equal(kept.length, sent.length);
    kept.forEach((b, i) => assert.ok(Buffer.from(b).equals(sent[i]), `kept message ${i} (${sent[i].length} B) changed`));
    // A large text message stays text.
    const text = 'é'.repeat(40 * 1024);
    const echoed = nextMessage(ws);
    ws.send(text);
    const { data, isBinary } = await echoed;
    assert.equal(isBinary, false);
    assert.equal(data.toString(), text);
    ws.close();
    await closed(ws);
  });

  it('sends strings, Buffers, ArrayBuffers, typed arrays and DataViews', async () => {
    const server = listen((s) => s.ws('/kinds', {
      open(ws) {
        const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
        ws.send('text');
        ws.send(Buffer.from('buf'));
        ws.send(bytes.buffer);
        ws.send(new Uint16Array(bytes.buffer, 2, 2));
        ws.send(new DataView(bytes.buffer, 4, 4));
        ws.send(Buffer.from('as text'), false);
        ws.send('as binary', true);
      },
    }));
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/kinds`);
    const got = [];
    const done = deferred();
    ws.on('message', (data, isBinary) => {
      got.push([isBinary, [...data]]);
      if (got.length === 7) done.resolve();
    });
    await within(5000, done.promise, '7 messages');
    const b = (s) => [...Buffer.from(s)];
    assert.deepEqual(got, [
      [false, b('text')],
      [true, b('buf')],
      [true, [1, 2, 3, 4, 5, 6, 7, 8]],
      [true, [3, 4, 5, 6]],
      [true, [5, 6, 7, 8]],
      [false, b('as text')],
      [true, b('as binary')],
    ]);
    ws.close();
    await closed(ws);
    await shut(server);
  });

  it('runs open/message/close handlers with per-socket data and the request', async () => {
    const log = [];
    const closedOnServer = deferred();
    const server = listen((s) => s.ws('/h', {
      open(ws, req) {
        ws.data = { n: 0 };
        log.push(['open', req.path, req.query, req.headers['x-test'], ws.request.remoteAddress]);
      },
      message(ws, data) {
        ws.data.n++;
        ws.send(`${ws.data.n}:${data}`);
      },
      close(ws, code, reason) {
        log.push(['close', code, reason, ws.data.n, ws.readyState]);
        closedOnServer.resolve();
      },
    }));
    assert.equal(server.clients.size, 0);
    const ws = await connect(`ws://127.0.0.1:${server.port}/h?room=1`, undefined, { headers: { 'X-Test': 'yes' } });
    ws.send('a');
    assert.equal((await nextMessage(ws)).data.toString(), '1:a');
    ws.send('b');
    assert.equal((await nextMessage(ws)).data.toString(), '2:b');
    assert.equal(server.clients.size, 1);
    ws.close(4001, 'done here');
    await closed(ws);
    await within(5000, closedOnServer.promise, 'server close handler');
    assert.deepEqual(log, [
      ['open', '/h', 'room=1', 'yes', '127.0.0.1'],
      ['close', 4001, 'done here', 2, 3],
    ]);
    assert.equal(server.clients.size, 0);
    await shut(server);
  });

  it('makes a WebSocket without an open handler at its first event, with its request read from the server', async () => {
    const seen = [];
    const closes = [];
    const server = listen((s) => s.ws('/lazy', {
      message(ws, data) {
        const r = ws.request;
        seen.push([ws, r.path, r.query, r.headers['x-test'], r.headers['sec-websocket-key'], r.remoteAddress, ws.protocol]);
        ws.send(data);
      },
      close(ws, code) {
        closes.push([ws, code, ws.request.query]);
      },
    }).ws('/quiet', {}).ws('/plain', { close: (ws) => closes.push([ws]) }));
    const a = await connect(`ws://127.0.0.1:${server.port}/lazy?n=1`, undefined, { headers: { 'X-Test': 'a' } });
    const b = await connect(`ws://127.0.0.1:${server.port}/lazy?n=2`, undefined, { headers: { 'X-Test': 'b' } });
    // `clients` lists every open WebSocket, made or not, also when a
    // reference to it is kept from before a connection opened.
    const all = server.clients;
    assert.equal(all.size, 2);
    const q = await connect(`ws://127.0.0.1:${server.port}/quiet`);
    assert.equal(all.size, 3);
    const quiet = [...all].find((ws) => ws.request.path === '/quiet');
    assert.equal(quiet.readyState, 1);
    assert.equal(typeof quiet.id, 'bigint');
    a.send('x');
    assert.equal((await nextMessage(a)).data.toString(), 'x');
    b.send('y');
    assert.equal((await nextMessage(b)).data.toString(), 'y');
    const [sa, sb] = [seen[0][0], seen[1][0]];
    assert.ok(all.has(sa) && all.has(sb), 'the objects made for clients are the ones events get');
    // The handshake's own headers are not kept.
    assert.deepEqual(seen.map((s) => s.slice(1)), [
      ['/lazy', 'n=1', 'a', undefined, '127.0.0.1', ''],
      ['/lazy', 'n=2', 'b', undefined, '127.0.0.1', ''],
    ]);
    a.close(4001);
    await closed(a);
    q.close();
    await closed(q);
    await within(5000, (async () => { while (server.clients.size > 1) await new Promise((r) => setTimeout(r, 10)); })(), 'closes');
    assert.deepEqual(closes, [[sa, 4001, 'n=1']]);
    // A closed connection's object keeps its request.
    assert.equal(sa.request.headers['x-test'], 'a');
    assert.equal(quiet.request.path, '/quiet');
    assert.equal(quiet.readyState, 3);
    // Never asked for while open: the close event brought it.
    const p = await connect(`ws://127.0.0.1:${server.port}/plain?k=9`);
    p.close();
    await closed(p);
    await within(5000, (async () => { while (closes.length < 2) await new Promise((r) => setTimeout(r, 10)); })(), 'close of /plain');
    assert.equal(closes[1][0].request.query, 'k=9');
    b.close();
    await closed(b);
    await shut(server);
  });

  it('leaves a WebSocket unmade through events its route does not handle (pongs, messages)', async () => {
    const server = listen((s) => s.ws('/p', { close: () => {} }).ws('/echo', { message: (ws, d) => ws.send(d) }));
    const p = await connect(`ws://127.0.0.1:${server.port}/p`);
    p.pong('unasked');
    p.send('nobody listens');
    // Bytes sent on another connection after these are read later.
    const e = await connect(`ws://127.0.0.1:${server.port}/echo`);
    e.send('sync');
    assert.equal((await nextMessage(e)).data.toString(), 'sync');
    // Internal: one WebSocket (on /p) is still not made.
    assert.equal(server._unmade, 1);
    assert.equal(server.clients.size, 2);
    assert.equal([...server.clients].length, 2);
    assert.equal(server._unmade, 0);
    p.close();
    e.close();
    await Promise.all([closed(p), closed(e)]);
    await shut(server);
  });

  it('serves ws.request in the batch that also reports the close', async () => {
    const errors = [];
    const seen = [];
    const done = deferred();
    const server = listen((s) => s.ws('/last', {
      message(ws, data) {
        seen.push([ws.request.query, String(data)]);
      },
      close(ws) {
        seen.push([ws.request.query, 'closed']);
        if (seen.filter(([, d]) => d === 'closed').length === 20) done.resolve();
      },
    }), { onError: (e) => errors.push(e) });
    // Each client's last message and its close frame go out together.
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(`ws://127.0.0.1:${server.port}/last?i=${i}`)));
    clients.forEach((ws, i) => {
      ws.send(`bye ${i}`);
      ws.close();
    });
    await within(5000, done.promise, 'every message and close');
    assert.deepEqual(errors, []);
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(seen.filter(([q]) => q === `i=${i}`).map(([, d]) => d), [`bye ${i}`, 'closed']);
    }
    await shut(server);
  });

  it('closes with the code and reason the app gives', async () => {
    const server = listen((s) => s.ws('/c', { message: (ws) => ws.close(4321, 'bye now') }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/c`);
    const c = closed(ws);
    ws.send('close me');
    assert.deepEqual(await c, { code: 4321, reason: 'bye now' });
    await shut(server);
  });

  it('pings and reports the pong; reports buffered amounts', async () => {
    const pong = deferred();
    const server = listen((s) => s.ws('/p', {
      open(ws) {
        assert.equal(ws.bufferedAmount, 0);
        ws.ping('are you there');
      },
      pong: (ws, data) => pong.resolve(data.toString()),
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/p`);
    assert.equal(await within(5000, pong.promise, 'pong'), 'are you there');
    ws.close();
    await closed(ws);
    await shut(server);
  });

  it('runs an async approve hook: subprotocol, user data, refusals', async () => {
    const server = listen((s) => s.ws('/auth', {
      protocols: ['v1.chat', 'v2.chat'],
      async approve(req) {
        await new Promise((r) => setTimeout(r, 20));
        const token = new URLSearchParams(req.query).get('token');
        if (token === 'nope') return { status: 401, body: 'bad token' };
        if (token === 'deny') return false;
        if (req.headers.origin === 'http://evil.example') return { status: 403 };
        return { protocol: req.protocols.includes('v2.chat') ? 'v2.chat' : undefined, data: { user: token } };
      },
      open: (ws) => ws.send(JSON.stringify({ user: ws.data.user, protocol: ws.protocol })),
    }));
    const base = `ws://127.0.0.1:${server.port}/auth`;
    const ws = new WebSocket(`${base}?token=alice`, ['v1.chat', 'v2.chat']);
    const first = nextMessage(ws);
    assert.deepEqual(JSON.parse((await first).data), { user: 'alice', protocol: 'v2.chat' });
    assert.equal(ws.protocol, 'v2.chat');
    ws.close();
    await closed(ws);

    const refused = (url, opts) => within(5000, new Promise((resolve, reject) => {
      const c = new WebSocket(url, opts);
      c.on('open', () => reject(new Error('should have been refused')));
      c.on('error', () => {});
      c.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
    }), 'refusal');
    assert.deepEqual(await refused(`${base}?token=nope`), { status: 401, body: 'bad token' });
    assert.equal((await refused(`${base}?token=deny`)).status, 403);
    assert.equal((await refused(`${base}?token=x`, { origin: 'http://evil.example' })).status, 403);
    await shut(server);
  });

  it('answers 500 and reports the error when the approve hook throws or rejects', async () => {
    const reported = [];
    const server = listen((s) => s.ws('/boom', {
      approve(req) {
        if (req.query === 'async') return Promise.reject(new Error('async hook failed'));
        throw new Error('hook failed');
      },
    }), { onError: (e, conn) => reported.push([e.message, typeof conn.id]) });
    for (const q of ['sync', 'async']) {
      const c = new WebSocket(`ws://127.0.0.1:${server.port}/boom?${q}`);
      c.on('error', () => {});
      const status = await within(5000, new Promise((resolve) => {
        c.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      }), 'refusal');
      assert.equal(status, 500);
    }
    assert.deepEqual(reported, [['hook failed', 'bigint'], ['async hook failed', 'bigint']]);
    await shut(server);
  });

  it('sends response headers: route headers, approve accepting and approve refusing', async () => {
    const server = listen((s) => {
      s.ws('/route', { headers: { 'X-Route': 'r1' } });
      s.ws('/approve', {
        headers: { 'X-Route': 'r2' },
        approve: (req) => (req.query === 'no'
          ? { status: 401, body: 'who?', headers: { 'WWW-Authenticate': 'Bearer', 'X-Why': 'no token' } }
          : { headers: { 'Set-Cookie': 'session=abc; HttpOnly' } }),
      });
    });
    const upgraded = (path) => within(5000, new Promise((resolve, reject) => {
      const c = new WebSocket(`ws://127.0.0.1:${server.port}${path}`);
      c.on('upgrade', (res) => {
        resolve(res.headers);
        c.close();
      });
      c.on('error', reject);
    }), `upgrade ${path}`);
    assert.equal((await upgraded('/route'))['x-route'], 'r1');
    const accepted = await upgraded('/approve');
    assert.equal(accepted['set-cookie'][0], 'session=abc; HttpOnly');
    assert.equal(accepted['x-route'], 'r2');
    const refused = await within(5000, new Promise((resolve) => {
      const c = new WebSocket(`ws://127.0.0.1:${server.port}/approve?no`);
      c.on('error', () => {});
      c.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
    }), 'refusal');
    assert.equal(refused.status, 401);
    assert.equal(refused.body, 'who?');
    assert.equal(refused.headers['www-authenticate'], 'Bearer');
    assert.equal(refused.headers['x-why'], 'no token');
    await shut(server);
  });

  it('answers 500 and reports the error when the approve hook returns something wrong', async () => {
    const reported = deferred();
    const server = listen((s) => s.ws('/boom', {
      approve: () => ({ status: 200 }),
    }), { onError: (e) => reported.resolve(e) });
    const c = new WebSocket(`ws://127.0.0.1:${server.port}/boom`);
    c.on('error', () => {});
    const status = await within(5000, new Promise((resolve) => {
      c.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    }), 'refusal');
    assert.equal(status, 500);
    const e = await within(5000, reported.promise, 'onError');
    assert.ok(e instanceof RangeError && e.code === 'ERR_WSRT_INVALID_ARGUMENT', String(e));
    assert.match(e.message, /400-599/);
    await shut(server);
  });

  it('closes oversized messages with 1009', async () => {
    const server = listen((s) => s.ws('/big', { message: (ws, d) => ws.send(d) }), { maxMessageSize: 1024 });
    const ws = await connect(`ws://127.0.0.1:${server.port}/big`);
    ws.send(Buffer.alloc(1000));
    assert.equal((await nextMessage(ws)).data.length, 1000);
    const c = closed(ws);
    ws.send(Buffer.alloc(1025));
    assert.equal((await c).code, 1009);
    await shut(server);
  });

  it('closes invalid UTF-8 text with 1007 and tells the app', async () => {
    const serverSaw = deferred();
    const server = listen((s) => s.ws('/utf8', {
      message: (ws, d) => ws.send(d),
      close: (ws, code) => serverSaw.resolve(code),
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/utf8`);
    const c = closed(ws);
    ws.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
    assert.equal((await c).code, 1007);
    assert.equal(await within(5000, serverSaw.promise, 'server close'), 1007);
    await shut(server);
  });

  it("throws the core's errors: bad text, close code, reason, data, ping; then closed, then unknown", async () => {
    const errors = deferred();
    const closing = deferred();
    let kept;
    const server = listen((s) => s.ws('/e', {
      open(ws) {
        const caught = {};
        const grab = (name, fn) => {
          try {
            fn();
            caught[name] = null;
          } catch (e) {
            caught[name] = { cls: e.constructor.name, code: e.code, message: e.message };
          }
        };
        grab('badText', () => ws.send(Buffer.from([0xc3, 0x28]), false));
        grab('badCode', () => ws.close(1005));
        grab('hugeCode', () => ws.close(70000));
        grab('longReason', () => ws.close(1000, 'x'.repeat(124)));
        grab('badData', () => ws.send(42));
        grab('badFlag', () => ws.send('x', 'yes'));
        grab('bigPing', () => ws.ping(Buffer.alloc(126)));
        errors.resolve(caught);
        kept = ws;
      },
      message(ws) {
        ws.close(4000, 'bye');
        // Between our close and the peer's answer: CLOSING, and sends fail.
        const state = ws.readyState;
        try {
          ws.send('after close');
        } catch (e) {
          closing.resolve([state, e.code]);
        }
      },
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/e`);
    const caught = await within(5000, errors.promise, 'errors');
    const range = (name, message) => {
      assert.equal(caught[name].cls, 'RangeError', name);
      assert.equal(caught[name].code, 'ERR_WSRT_INVALID_ARGUMENT', name);
      assert.match(caught[name].message, message, name);
    };
    range('badText', /not valid UTF-8/);
    range('badCode', /close code/);
    range('hugeCode', /close code/);
    range('longReason', /123 bytes/);
    range('bigPing', /125 bytes/);
    assert.deepEqual(caught.badData, { cls: 'TypeError', code: 'ERR_WSRT_INVALID_TYPE', message: 'data must be a string, Buffer or typed array, not a number' });
    assert.deepEqual(caught.badFlag, { cls: 'TypeError', code: 'ERR_WSRT_INVALID_TYPE', message: 'isBinary must be a boolean, not a string' });

    const c = closed(ws);
    ws.send('close now');
    assert.deepEqual(await within(5000, closing.promise, 'the server-side close'), [2, 'ERR_WSRT_CLOSED']);
    assert.equal((await c).code, 4000);
    await within(5000, (async () => {
      while (server.clients.size) await new Promise((r) => setTimeout(r, 10));
    })(), 'the close handler');
    // After the batch that reported its end, the id is unknown to the core.
    assert.equal(kept.readyState, 3);
    for (const call of [() => kept.send('late'), () => kept.ping(), () => kept.close(), () => kept.bufferedAmount]) {
      assert.throws(call, (e) => e.constructor === Error && e.code === 'ERR_WSRT_UNKNOWN_CONNECTION');
    }
    await shut(server);
  });

  it('reads readyState from the core: OPEN, CLOSING after close(), CLOSED in the close handler and after', async () => {
    const states = [];
    let kept;
    const done = deferred();
    const server = listen((s) => s.ws('/s', {
      open(ws) {
        kept = ws;
        states.push(['open', ws.readyState]);
      },
      message(ws) {
        ws.close();
        states.push(['closing', ws.readyState]);
      },
      close(ws) {
        states.push(['close', ws.readyState]);
        setTimeout(() => done.resolve(), 0);
      },
    }));
    const { CONNECTING, OPEN, CLOSING, CLOSED } = await import('wsrt');
    assert.deepEqual([CONNECTING, OPEN, CLOSING, CLOSED], [0, 1, 2, 3]);
    const ws = await connect(`ws://127.0.0.1:${server.port}/s`);
    ws.send('close me');
    await within(5000, done.promise, 'the close handler');
    assert.deepEqual(states, [['open', OPEN], ['closing', CLOSING], ['close', CLOSED]]);
    assert.equal(kept.readyState, CLOSED);
    assert.equal(typeof kept.id, 'bigint');
    await shut(server);
  });

  it('terminate() drops the connection at once: the client sees no close frame, the app 1006', async () => {
    const serverSaw = deferred();
    const server = listen((s) => s.ws('/t', {
      message: (ws) => ws.terminate(),
      close: (ws, code) => serverSaw.resolve(code),
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/t`);
    const c = closed(ws);
    ws.send('terminate me');
    assert.equal((await c).code, 1006);
    assert.equal(await within(5000, serverSaw.promise, 'the close handler'), 1006);
    await shut(server);
  });

  it('a handler that throws on every message reaches onError; the server and the connection go on', async () => {
    const reported = [];
    const server = listen((s) => s.ws('/t', {
      message(ws, data) {
        ws.send(data);
        throw new Error(`handler bug ${data}`);
      },
    }), { onError: (e, conn) => reported.push([e.message, conn.readyState]) });
    const ws = await connect(`ws://127.0.0.1:${server.port}/t`);
    for (let i = 0; i < 20; i++) {
      ws.send(String(i));
      assert.equal((await nextMessage(ws)).data.toString(), String(i));
    }
    assert.equal(reported.length, 20);
    assert.deepEqual(reported[19], ['handler bug 19', 1]);
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    await closed(ws);
    await shut(server);
  });

  it('by default a handler error is logged with console.error and the process lives on', async () => {
    const program = `
      import { Server } from 'wsrt';
      import WebSocket from 'ws';
      const server = new Server().ws('/t', { message(ws, d) { ws.send(d); throw new Error('bug ' + d); } }).listen();
      const ws = new WebSocket('ws://127.0.0.1:' + server.port + '/t');
      let n = 0;
      ws.on('open', () => ws.send(String(n)));
      ws.on('message', (d) => {
        if (++n < 5) return ws.send(String(n));
        ws.close();
        server.close().then(() => console.log('still alive after ' + n));
      });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: here, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'still alive after 5');
    assert.equal((r.stderr.match(/Error: bug \d/g) || []).length, 5, r.stderr);
  });

  it('signals backpressure with false and a drain event', async () => {
    const drained = deferred();
    const refused = deferred();
    let sock;
    const server = listen((s) => s.ws('/bp', {
      open(ws) {
        sock = ws;
      },
      message(ws) {
        // Fill the queue past maxBuffered while the client is not reading.
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 1000; i++) {
          if (!ws.send(chunk)) {
            refused.resolve({ i, buffered: ws.bufferedAmount });
            return;
          }
        }
      },
      drain: (ws) => drained.resolve(ws.bufferedAmount),
    }), { maxBuffered: 1 << 20 });
    const ws = await connect(`ws://127.0.0.1:${server.port}/bp`);
    ws._socket.pause();
    ws.send('go');
    const r = await within(5000, refused.promise, 'a refused send');
    assert.ok(r.buffered > 0 && r.buffered <= 1 << 20, `buffered ${r.buffered}`);
    let received = 0;
    ws.on('message', () => received++);
    ws._socket.resume();
    assert.equal(await within(8000, drained.promise, 'drain'), 0);
    assert.ok(sock.readyState === 1);
    ws.close();
    await closed(ws);
    assert.ok(received >= r.i - 1);
    await shut(server);
  });

  it('close() shuts down gracefully: clients see 1001, the promise resolves, later calls throw STOPPED', async () => {
    let kept;
    const server = listen((s) => s.ws('/g', { open: (ws) => (kept = ws) }));
    const a = await connect(`ws://127.0.0.1:${server.port}/g`);
    const b = await connect(`ws://127.0.0.1:${server.port}/g`);
    const ca = closed(a);
    const cb = closed(b);
    await shut(server);
    assert.equal((await ca).code, 1001);
    assert.equal((await cb).code, 1001);
    assert.equal(server.listening, false);
    assert.equal(server.stats().connections, 0);
    assert.equal(await server.close(), undefined); // idempotent
    const stopped = (fn) => assert.throws(fn, (e) => e.constructor === Error && e.code === 'ERR_WSRT_STOPPED' && /shut down/.test(e.message));
    stopped(() => server.publish('t', 'x'));
    stopped(() => server.publishAll('x'));
    stopped(() => server.setTopicHistory('t', { maxEvents: 1 }));
    stopped(() => kept.send('late'));
    stopped(() => kept.subscribe('t'));
    stopped(() => kept.close());
    assert.equal(kept.readyState, 3);
  });

  it('binds "localhost" and "::1"', async () => {
    for (const [host, url] of [['localhost', 'localhost'], ['::1', '[::1]']]) {
      const server = new Server().ws('/e', { message: (ws, d, bin) => ws.send(d, bin) }).listen(0, host);
      try {
        const ws = await connect(`ws://${url}:${server.port}/e`);
        ws.send(`hello ${host}`);
        assert.equal((await nextMessage(ws)).data.toString(), `hello ${host}`);
        if (host === '::1') assert.deepEqual(server.address(), { address: '::1', family: 'IPv6', port: server.port });
        ws.close();
        await closed(ws);
      } finally {
        await shut(server);
      }
    }
  });

  it("throws the core's errors for a taken port, unknown options, bad routes, calls before listen()", async () => {
    const a = listen((s) => s.ws('/x', {}));
    const b = new Server({ port: a.port });
    b.ws('/x', {});
    assert.throws(() => b.listen(), (e) => e.constructor === Error && e.code === 'ERR_WSRT_IO' && /in use/i.test(e.message));
    assert.throws(() => new Server({ bogus: 1 }), { name: 'TypeError', code: 'ERR_WSRT_INVALID_TYPE', message: /unknown option "bogus"/ });
    assert.throws(() => new Server().ws('nope', {}).listen(), { name: 'RangeError', code: 'ERR_WSRT_INVALID_ARGUMENT', message: /must start with '\/'/ });
    assert.throws(() => new Server().ws('/x', {}).ws('/x', {}).listen(), { name: 'RangeError', message: /defined twice/ });
    assert.throws(() => new Server().ws('/x', { headers: { 'Content-Length': '1' } }).listen(), { name: 'RangeError' });
    assert.throws(() => new Server().ws('/x', { mesage() {} }), { name: 'TypeError', message: /unknown handler "mesage"/ });
    assert.throws(() => new Server().ws('/x', { protocols: 'chat' }), { name: 'TypeError', message: /protocols must be an array of strings, not a string/ });
    assert.throws(() => new Server({ onError: 1 }), { name: 'TypeError', code: 'ERR_WSRT_INVALID_TYPE' });
    const idle = new Server();
    assert.throws(() => idle.publish('t', 'x'), { code: 'ERR_WSRT_WRONG_STATE', message: /listen\(\)/ });
    assert.throws(() => idle.stats(), { code: 'ERR_WSRT_WRONG_STATE' });
    assert.throws(() => idle.listen(70000), { name: 'RangeError', message: /port must be an integer from 0 to 65535, not 70000/ });
    await idle.close(); // never listened: nothing to do
    await shut(a);
  });
});
