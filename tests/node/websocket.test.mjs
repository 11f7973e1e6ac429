// The WebSocket side of the addon against the npm `ws` client.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Server } from 'wsrt';
import { within, deferred, listen, connect, closed, nextMessage, shut, cleanup } from './helpers.mjs';

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
        ws.send('opts', { binary: true });
      },
    }));
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/kinds`);
    const got = [];
    const done = deferred();
    ws.on('message', (data, isBinary) => {
      got.push([isBinary, [...data]]);
      if (got.length === 8) done.resolve();
    });
    await within(5000, done.promise, '8 messages');
    const b = (s) => [...Buffer.from(s)];
    assert.deepEqual(got, [
      [false, b('text')],
      [true, b('buf')],
      [true, [1, 2, 3, 4, 5, 6, 7, 8]],
      [true, [3, 4, 5, 6]],
      [true, [5, 6, 7, 8]],
      [false, b('as text')],
      [true, b('as binary')],
      [true, b('opts')],
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
        log.push(['open', req.path, req.query, req.headers['x-test'], ws.remoteAddress]);
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
        assert.equal(ws.getBufferedAmount(), 0);
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

  it('runs an async upgrade hook: subprotocol, user data, refusals', async () => {
    const server = listen((s) => s.ws('/auth', {
      protocols: ['v1.chat', 'v2.chat'],
      async upgrade(req) {
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

  it('answers 500 and reports the error when the upgrade hook throws', async () => {
    const reported = deferred();
    const server = listen((s) => s.ws('/boom', {
      upgrade() {
        throw new Error('hook failed');
      },
    }), { onError: (e) => reported.resolve(e) });
    const c = new WebSocket(`ws://127.0.0.1:${server.port}/boom`);
    c.on('error', () => {});
    const status = await within(5000, new Promise((resolve) => {
      c.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    }), 'refusal');
    assert.equal(status, 500);
    assert.equal((await within(5000, reported.promise, 'onError')).message, 'hook failed');
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

  it('throws clear errors: closed socket, bad text, bad close code, bad data', async () => {
    const errors = deferred();
    let kept;
    const server = listen((s) => s.ws('/e', {
      open(ws) {
        const caught = {};
        const grab = (name, fn) => {
          try {
            fn();
            caught[name] = null;
          } catch (e) {
            caught[name] = { code: e.code, message: e.message, isError: e instanceof Error };
          }
        };
        grab('badText', () => ws.send(Buffer.from([0xc3, 0x28]), false));
        grab('badCode', () => ws.close(1005));
        grab('longReason', () => ws.close(1000, 'x'.repeat(124)));
        grab('badData', () => ws.send(42));
        grab('bigPing', () => ws.ping(Buffer.alloc(126)));
        errors.resolve(caught);
        kept = ws;
      },
    }));
    const ws = await connect(`ws://127.0.0.1:${server.port}/e`);
    const caught = await within(5000, errors.promise, 'errors');
    assert.equal(caught.badText.code, 'ERR_WSRT_INVALID_ARGUMENT');
    assert.match(caught.badText.message, /not valid UTF-8/);
    assert.equal(caught.badCode.code, 'ERR_WSRT_INVALID_ARGUMENT');
    assert.match(caught.badCode.message, /close code/);
    assert.match(caught.longReason.message, /123 bytes/);
    assert.equal(caught.badData.code, 'ERR_INVALID_ARG_TYPE');
    assert.match(caught.bigPing.message, /125 bytes/);
    for (const v of Object.values(caught)) assert.equal(v.isError, true);

    ws.close();
    await closed(ws);
    await within(5000, (async () => {
      while (kept.readyState !== 3) await new Promise((r) => setTimeout(r, 10));
    })(), 'server-side close');
    assert.throws(() => kept.send('late'), { code: 'ERR_WSRT_CLOSED', message: /WebSocket is not open \(readyState CLOSED\)/ });
    assert.throws(() => kept.ping(), { code: 'ERR_WSRT_CLOSED' });
    kept.close(); // a no-op on a closed socket
    assert.equal(kept.getBufferedAmount(), 0);
    await shut(server);
  });

  it('reports a throwing handler to onError and keeps serving the batch', async () => {
    const reported = [];
    const server = listen((s) => s.ws('/t', {
      message(ws, data) {
        if (data.toString() === 'throw') throw new Error('handler bug');
        ws.send(data);
      },
    }), { onError: (e) => reported.push(e.message) });
    const ws = await connect(`ws://127.0.0.1:${server.port}/t`);
    ws.send('throw');
    ws.send('still here');
    assert.equal((await nextMessage(ws)).data.toString(), 'still here');
    assert.deepEqual(reported, ['handler bug']);
    ws.close();
    await closed(ws);
    await shut(server);
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
            refused.resolve({ i, buffered: ws.getBufferedAmount() });
            return;
          }
        }
      },
      drain: (ws) => drained.resolve(ws.getBufferedAmount()),
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

  it('close() shuts down gracefully: clients see 1001 and the promise resolves', async () => {
    const server = listen((s) => s.ws('/g', {}));
    const a = await connect(`ws://127.0.0.1:${server.port}/g`);
    const b = await connect(`ws://127.0.0.1:${server.port}/g`);
    const ca = closed(a);
    const cb = closed(b);
    await shut(server);
    assert.equal((await ca).code, 1001);
    assert.equal((await cb).code, 1001);
    assert.equal(server.listening, false);
    assert.equal(server.connectionCount, 0);
    assert.equal(await server.close(), undefined); // idempotent
  });

  it('throws a clear error when the port is taken or options are wrong', async () => {
    const a = listen((s) => s.ws('/x', {}));
    const b = new Server({ port: a.port });
    b.ws('/x', {});
    assert.throws(() => b.listen(), (e) => e instanceof Error && e.code === 'ERR_WSRT_IO' && /in use/i.test(e.message));
    assert.throws(() => new Server({ bogus: 1 }), { code: 'ERR_INVALID_ARG_TYPE', message: /unknown option "bogus"/ });
    assert.throws(() => new Server().ws('nope', {}), { message: /starting with "\/"/ });
    assert.throws(() => new Server().ws('/x', { mesage() {} }), { message: /unknown option "mesage"/ });
    assert.throws(() => new Server().ws('/x', {}).ws('/x', {}), { message: /defined twice/ });
    assert.throws(() => new Server({ maxMessageSize: -1 }).listen(), { message: /maxMessageSize/ });
    await shut(a);
  });
});
