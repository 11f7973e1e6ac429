// Socket.IO and Engine.IO through the Node API (server.io, server.engineio),
// against the stock socket.io-client 4.x: events, acknowledgements both ways
// with timeouts, binary arguments at any depth, rooms, middleware, disconnect
// reasons, connection state recovery, options reaching the handshake, and
// bad input to the API (wrong types: TypeError with a message; a closed
// socket: an error, never a crash). The protocol is the core's; this checks
// the conversion.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioc } from 'socket.io-client';
import { Server, Namespace, Socket } from 'wsrt';
import { within, deferred, listen, shut, cleanup } from './helpers.mjs';

const clients = new Set();

/** A socket.io-client socket to `nsp` of `server` (WebSocket only, no reconnection unless asked). */
function client(server, nsp = '/', options = {}) {
  const c = ioc(`http://127.0.0.1:${server.port}${nsp}`, { forceNew: true, reconnection: false, transports: ['websocket'], ...options });
  clients.add(c);
  return c;
}

/** The next `event` of `emitter` (its arguments), bounded. */
function next(emitter, event, ms = 5000) {
  return within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), `"${event}"`);
}

/** A connected client and the server's socket for it. */
async function connected(server, io, nsp = '/', options = {}) {
  const socket = next(io, 'connection');
  const c = client(server, nsp, options);
  await next(c, 'connect');
  return { c, s: (await socket)[0] };
}

/** Collects every `event` a client gets. */
function collect(c, event) {
  const got = [];
  c.on(event, (...args) => got.push(args));
  return got;
}

/** Resolves once `c` has had everything emitted to it before (per-socket order): a round trip through the server. */
async function settled(c) {
  await within(5000, c.emitWithAck('sync'), 'a sync round trip');
}

function sioServer(setup, options = {}) {
  let io;
  const server = listen((s) => {
    io = s.io();
    setup?.(io, s);
  }, options);
  io.on('connection', (socket) => socket.on('sync', (ack) => ack?.()));
  return { server, io };
}

describe('Socket.IO (socket.io-client)', () => {
  afterEach(async () => {
    for (const c of clients) c.close();
    clients.clear();
    await cleanup();
  });

  it('connection: id, namespace, handshake, rooms; events with an ack function only when asked', async () => {
    const { server, io } = sioServer();
    assert.ok(io instanceof Namespace);
    assert.equal(io.name, '/');
    const events = [];
    io.on('connection', (socket) => {
      socket.on('hello', (...args) => {
        events.push(args);
        if (typeof args[args.length - 1] === 'function') args[args.length - 1]('answered');
      });
    });
    const { c, s } = await connected(server, io, '/', { auth: { token: 't', n: [1] }, query: { room: 'lobby' }, extraHeaders: { 'x-test': 'yes' } });
    assert.ok(s instanceof Socket);
    assert.equal(s.id, c.id);
    assert.equal(s.nsp, io);
    assert.equal(s.nsp.name, '/');
    assert.deepEqual(s.handshake.auth, { token: 't', n: [1] });
    assert.equal(s.handshake.query.room, 'lobby');
    assert.equal(s.handshake.query.EIO, '4');
    assert.equal(s.handshake.headers['x-test'], 'yes');
    assert.equal(s.handshake.address, '127.0.0.1');
    assert.equal(s.recovered, false);
    assert.equal(s.connected, true);
    assert.deepEqual([...s.rooms], [s.id]);
    assert.equal(io.sockets.get(s.id), s);

    c.emit('hello', 1, 'two', { three: [3] }, null);
    const acked = await within(5000, c.emitWithAck('hello', 'with ack'), 'the ack');
    assert.equal(acked, 'answered');
    assert.equal(events.length, 2);
    assert.deepEqual(events[0], [1, 'two', { three: [3] }, null]);
    assert.equal(events[1][0], 'with ack');
    assert.equal(typeof events[1][1], 'function');
    events[1][1]('a second answer is ignored');
    await shut(server);
  });

  it('acks: client -> server, and server -> client with and without timeout', async () => {
    const { server, io } = sioServer((io) => io.on('connection', (socket) => {
      socket.on('add', (a, b, ack) => ack(a + b, 'sum'));
    }));
    const { c, s } = await connected(server, io);
    c.on('question', (q, ack) => ack(`${q}!`, 2));
    c.on('silent', () => {}); // never acknowledges

    assert.equal(await within(5000, c.emitWithAck('add', 2, 3), 'add'), 5);

    const plain = deferred();
    s.emit('question', 'plain', (...args) => plain.resolve(args));
    assert.deepEqual(await within(5000, plain.promise, 'plain ack'), ['plain!', 2]);

    const timed = deferred();
    s.timeout(5000).emit('question', 'timed', (err, ...args) => timed.resolve([err, ...args]));
    assert.deepEqual(await within(5000, timed.promise, 'timed ack'), [null, 'timed!', 2]);

    const late = deferred();
    s.timeout(100).emit('silent', (err, ...args) => late.resolve([err, args]));
    const [err, args] = await within(5000, late.promise, 'the timeout');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'operation has timed out');
    assert.deepEqual(args, []);

    assert.equal(await within(5000, s.emitWithAck('question', 'promise'), 'emitWithAck'), 'promise!');
    assert.equal(await within(5000, s.timeout(5000).emitWithAck('question', 'p2'), 'timeout emitWithAck'), 'p2!');
    await assert.rejects(within(5000, s.timeout(100).emitWithAck('silent'), 'the rejection'), { message: 'operation has timed out' });

    // Pending acks end with the socket.
    const pending = s.timeout(10000).emitWithAck('silent');
    const untimed = s.emitWithAck('silent');
    const cb = deferred();
    s.timeout(10000).emit('silent', (e) => cb.resolve(e));
    c.disconnect();
    await assert.rejects(within(5000, pending, 'the disconnection'), { message: 'socket has been disconnected' });
    await assert.rejects(within(5000, untimed, 'the disconnection'), { message: 'socket has been disconnected' });
    assert.equal((await within(5000, cb.promise, 'the callback')).message, 'socket has been disconnected');
    await shut(server);
  });

  it('one-string events and acks (read and encoded without JSON in JavaScript) keep every character; names stay apart', async () => {
    const seen = [];
    const { server, io } = sioServer((io) => io.on('connection', (socket) => {
      socket.onAny((name, ...args) => seen.push([name, ...args.filter((a) => typeof a !== 'function')]));
      socket.on('echo', (text, ack) => ack(text));
      socket.on('echo-twice', (text, ack) => {
        ack(text);
        ack('a second answer is ignored');
      });
      socket.on('echo-late', (text, ack) => setTimeout(() => ack(text), 5));
      socket.on('kind', (...args) => args.pop()(args.length, ...args.map((a) => typeof a)));
    }));
    const { c } = await connected(server, io);
    const texts = [
      'plain 32 bytes of payload, ascii',
      '',
      'quote " and backslash \\ and slash /',
      'controls \n\r\t\u0000\u001f\u007f end',
      'unicode é €  \u2028\u2029',
      'lone surrogates \ud800 and \udfff',
      'the replacement character \ufffd itself',
      '"]',
      'x'.repeat(70_000), // longer than the native side's first guess
    ];
    for (const t of texts) {
      assert.equal(await within(5000, c.emitWithAck('echo', t), 'echo'), t);
      assert.equal(await within(5000, c.emitWithAck('echo-twice', t), 'echo-twice'), t);
      assert.equal(await within(5000, c.emitWithAck('echo-late', t), 'echo-late'), t);
    }
    // Not one string: the JSON path, both ways.
    assert.deepEqual(await within(5000, c.emitWithAck('kind', 'a', 1), 'kind'), 2);
    const kinds = deferred();
    c.emit('kind', 'a', 1, null, { s: 'x' }, (...r) => kinds.resolve(r));
    assert.deepEqual(await within(5000, kinds.promise, 'kinds'), [4, 'string', 'number', 'object', 'object']);
    const one = deferred();
    c.emit('kind', 'only', (...r) => one.resolve(r));
    assert.deepEqual(await within(5000, one.promise, 'one'), [1, 'string']);
    // Many names, long ones and names past the native side's table, each to its own listeners.
    const names = [...Array.from({ length: 1100 }, (_, i) => `n${i}`), 'é'.repeat(40), 'long'.repeat(30), '7'];
    for (const n of names) c.emit(n, n);
    c.emit('n5', 'again');
    await settled(c);
    const got = seen.filter(([n]) => !['echo', 'echo-twice', 'echo-late', 'kind', 'sync'].includes(n));
    assert.deepEqual(got, [...names.map((n) => [n, n]), ['n5', 'again']]);
    await shut(server);
  });

  it('binary arguments at any depth, both ways (Buffers out, placeholders inside)', async () => {
    const big = Buffer.alloc(200 * 1024, 7);
    const { server, io } = sioServer((io) => io.on('connection', (socket) => {
      socket.on('bin', (...args) => {
        const ack = args.pop();
        socket.emit('got', args.length, Buffer.isBuffer(args[0]), Buffer.isBuffer(args[1].a), Buffer.isBuffer(args[1].list[1].deep));
        ack(...args);
      });
      socket.on('kinds', (ack) => {
        const ab = new Uint8Array([1, 2, 3]).buffer;
        ack(ab, new Uint16Array([258]), { view: new DataView(new Uint8Array([9]).buffer) }, 'text', [Buffer.from('x')]);
      });
    }));
    const { c } = await connected(server, io, '/', { transports: ['polling'] });
    const got = next(c, 'got');
    const payload = { a: big, list: ['s', { deep: Buffer.from('deep') }, Uint8Array.from([1, 2])], n: 1 };
    const back = await within(10000, c.timeout(10000).emitWithAck('bin', Buffer.from('top'), payload), 'binary echo');
    assert.deepEqual(await got, [2, true, true, true]);
    // The client's emitWithAck resolves with the first argument.
    assert.deepEqual(Buffer.from(back), Buffer.from('top'));

    const full = deferred();
    c.emit('bin', Buffer.from('top'), payload, (...args) => full.resolve(args));
    const [top, obj] = await within(10000, full.promise, 'the full ack');
    assert.deepEqual(Buffer.from(top), Buffer.from('top'));
    assert.deepEqual(Buffer.from(obj.a), big);
    assert.equal(obj.list[0], 's');
    assert.deepEqual(Buffer.from(obj.list[1].deep), Buffer.from('deep'));
    assert.deepEqual([...Buffer.from(obj.list[2])], [1, 2]);
    assert.equal(obj.n, 1);

    const kinds = deferred();
    c.emit('kinds', (...args) => kinds.resolve(args));
    const [ab, u16, { view }, text, [x]] = await within(5000, kinds.promise, 'kinds');
    assert.deepEqual([...Buffer.from(ab)], [1, 2, 3]);
    assert.equal(Buffer.from(u16).length, 2);
    assert.deepEqual([...Buffer.from(view)], [9]);
    assert.equal(text, 'text');
    assert.deepEqual(Buffer.from(x), Buffer.from('x'));
    await shut(server);
  });

  it('a batch of thousands of events with attachments (the batch array grows) arrives whole and in order', async () => {
    const got = [];
    const { server, io } = sioServer((io) => io.on('connection', (socket) => {
      socket.on('n', (i, b) => got.push([i, b[0], b.length]));
    }));
    const { c } = await connected(server, io);
    const N = 3000;
    for (let i = 0; i < N; i++) c.emit('n', i, Buffer.from([i & 0xff, 1, 2]));
    await settled(c);
    assert.equal(got.length, N);
    for (let i = 0; i < N; i++) assert.deepEqual(got[i], [i, i & 0xff, 3]);
    await shut(server);
  });

  it('rooms: join, leave, socket.rooms, to/except/broadcast, each member exactly once', async () => {
    const { server, io } = sioServer();
    const a = await connected(server, io);
    const b = await connected(server, io);
    const c = await connected(server, io);
    const got = { a: collect(a.c, 'm'), b: collect(b.c, 'm'), c: collect(c.c, 'm') };
    a.s.join('r');
    b.s.join(['r', 's']);
    assert.deepEqual([...a.s.rooms], [a.s.id, 'r']);
    assert.deepEqual(new Set(b.s.rooms), new Set([b.s.id, 'r', 's']));
    assert.equal(server.subscriberCount('r'), 2);
    assert.equal((await io.in('r').fetchSockets()).length, 2);

    a.s.to('r').emit('m', 'to r from a'); // b only
    io.to('r').emit('m', 'io to r'); // a, b
    io.to('r').except('s').emit('m', 'r except s'); // a
    io.to(c.s.id).emit('m', 'to c by id'); // c
    a.s.broadcast.emit('m', 'broadcast from a'); // b, c
    io.emit('m', 'everyone'); // a, b, c
    io.to('nobody').emit('m', 'nobody');
    b.s.leave('r');
    io.to('r').emit('m', 'r after b left'); // a
    await Promise.all([settled(a.c), settled(b.c), settled(c.c)]);
    const texts = (list) => list.map((args) => args[0]);
    assert.deepEqual(texts(got.a), ['io to r', 'r except s', 'everyone', 'r after b left']);
    assert.deepEqual(texts(got.b), ['to r from a', 'io to r', 'broadcast from a', 'everyone']);
    assert.deepEqual(texts(got.c), ['to c by id', 'broadcast from a', 'everyone']);

    // A topic published by the app reaches a room member as the event "message".
    const msg = next(a.c, 'message');
    server.publish('r', 'published');
    assert.deepEqual(await msg, ['published']);
    await shut(server);
  });

  it('middleware: in order, async, socket.data kept; next(err) refuses with message and data; a throw refuses too', async () => {
    const errors = [];
    const { server, io } = sioServer((io) => {
      io.use((socket, nextFn) => {
        socket.data.order = ['first'];
        setTimeout(nextFn, 10);
      });
      io.use(async (socket, nextFn) => {
        socket.data.order.push('second');
        if (socket.handshake.auth.token === 'bad') {
          const err = new Error('unauthorized');
          err.data = { reason: 'bad token' };
          return nextFn(err);
        }
        if (socket.handshake.auth.token === 'throw') throw new Error('boom');
        nextFn();
      });
      io.of('/admin').use((socket, nextFn) => nextFn(new Error('admins only')));
    }, { onError: (e) => errors.push(e) });
    const seen = deferred();
    io.on('connection', (socket) => seen.resolve(socket.data.order));
    const ok = client(server, '/', { auth: { token: 'good' } });
    await next(ok, 'connect');
    assert.deepEqual(await within(5000, seen.promise, 'connection'), ['first', 'second']);

    const bad = client(server, '/', { auth: { token: 'bad' } });
    const [err] = await next(bad, 'connect_error');
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, { reason: 'bad token' });

    const thrown = client(server, '/', { auth: { token: 'throw' } });
    assert.equal((await next(thrown, 'connect_error'))[0].message, 'boom');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, 'boom');

    const admin = client(server, '/admin');
    const [adminErr] = await next(admin, 'connect_error');
    assert.equal(adminErr.message, 'admins only');
    assert.equal(adminErr.data, undefined);

    const unknown = client(server, '/nowhere');
    assert.equal((await next(unknown, 'connect_error'))[0].message, 'Invalid namespace');
    assert.equal(io.sockets.size, 1);
    await shut(server);
  });

  it('namespaces: of() before listen, each with its own sockets and emits', async () => {
    let custom;
    const { server, io } = sioServer((io) => {
      custom = io.of('/custom');
      assert.equal(io.of('/custom'), custom);
      assert.equal(custom.of('/'), io);
    });
    const inCustom = deferred();
    custom.on('connect', (socket) => inCustom.resolve(socket));
    const root = await connected(server, io);
    const cc = client(server, '/custom');
    await next(cc, 'connect');
    const s = await within(5000, inCustom.promise, 'custom connection');
    assert.equal(s.nsp.name, '/custom');
    assert.equal(custom.sockets.size, 1);
    const rootGot = collect(root.c, 'n');
    const customGot = collect(cc, 'n');
    custom.emit('n', 'custom only');
    io.emit('n', 'root only');
    await settled(root.c);
    await within(5000, new Promise((resolve) => { const t = setInterval(() => customGot.length && resolve(clearInterval(t)), 5); }), 'custom event');
    assert.deepEqual(rootGot, [['root only']]);
    assert.deepEqual(customGot, [['custom only']]);
    await shut(server);
  });

  it('disconnect reasons on both sides', async () => {
    const { server, io } = sioServer();
    const reasons = [];
    io.on('connection', (socket) => socket.on('disconnect', (reason) => reasons.push(reason)));

    const one = await connected(server, io);
    const gone1 = next(one.s, 'disconnect');
    one.c.disconnect();
    assert.deepEqual(await gone1, ['client namespace disconnect']);
    assert.equal(one.s.connected, false);
    assert.equal(io.sockets.has(one.s.id), false);

    const two = await connected(server, io);
    const clientSide = next(two.c, 'disconnect');
    const gone2 = next(two.s, 'disconnect');
    two.s.disconnect();
    assert.equal((await clientSide)[0], 'io server disconnect');
    assert.deepEqual(await gone2, ['server namespace disconnect']);

    const three = await connected(server, io);
    const gone3 = next(three.s, 'disconnect');
    three.c.io.engine.close();
    assert.deepEqual(await gone3, ['transport close']);

    const four = await connected(server, io);
    const clientSide4 = next(four.c, 'disconnect');
    four.s.disconnect(true);
    await clientSide4;
    assert.equal(reasons.length, 4);
    await shut(server);
  });

  it('connection state recovery: same id and rooms after a dropped transport', async () => {
    const { server, io } = sioServer(undefined, { sioRecoveryWindowMs: 10000 });
    const first = deferred();
    const again = deferred();
    io.on('connection', (socket) => (socket.recovered ? again : first).resolve(socket));
    const c = client(server, '/', { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
    const s = await within(5000, first.promise, 'connection');
    s.join('kept');
    const hello = next(c, 'hello');
    s.emit('hello', 'carries an offset'); // the core adds the offset (socket.io-client hands it on as the last argument)
    const [text, offset] = await hello;
    assert.equal(text, 'carries an offset');
    assert.equal(typeof offset, 'string');
    c.io.engine.close();
    const s2 = await within(8000, again.promise, 'the recovered connection');
    assert.equal(s2.recovered, true);
    assert.equal(s2.id, s.id);
    assert.ok(s2.rooms.has('kept'));
    await shut(server);
  });

  it('bad input to the API: TypeError with a message for wrong types; a closed socket throws, never crashes', async () => {
    const errors = [];
    const { server, io } = sioServer((io) => io.on('connection', (socket) => {
      socket.on('throws', () => {
        throw new Error('handler failed');
      });
      socket.on('rejects', async () => {
        throw new Error('async handler failed');
      });
    }), { onError: (e) => errors.push(e) });
    const { c, s } = await connected(server, io);

    const typeErr = (re) => (e) => e instanceof TypeError && e.code === 'ERR_WSRT_INVALID_TYPE' && re.test(e.message);
    assert.throws(() => s.emit(42, 'x'), typeErr(/event name must be a string, not a number/));
    assert.throws(() => s.join(7), typeErr(/topic must be a string, not a number/));
    assert.throws(() => s.join(['ok', {}]), typeErr(/topic must be a string, not an object/));
    assert.throws(() => s.leave(null), typeErr(/topic must be a string, not null/));
    assert.throws(() => s.timeout('soon').emit('x', () => {}), typeErr(/timeout must be a number, not a string/));
    assert.throws(() => io.to(5).emit('x'), typeErr(/must be a string, not a number/));
    assert.throws(() => io.emit('x', () => {}), TypeError);
    assert.throws(() => s.broadcast.emit('x', 1, () => {}), TypeError);
    assert.throws(() => io.use('not a function'), /middleware must be a function, not string/);
    assert.throws(() => s.on('x', 5), /listener must be a function, not number/);
    assert.throws(() => io.on('connection'), /listener must be a function, not undefined/);
    assert.throws(() => s.emit('connect'), (e) => e instanceof RangeError && e.code === 'ERR_WSRT_INVALID_ARGUMENT' && /reserved/.test(e.message));
    assert.throws(() => s.join(''), (e) => e instanceof RangeError && e.code === 'ERR_WSRT_INVALID_ARGUMENT');
    assert.throws(() => s.timeout(-1).emit('x', () => {}), (e) => e instanceof RangeError && /timeout must be/.test(e.message));
    assert.throws(() => s.emit('x', Array.from({ length: 11 }, () => Buffer.from('b'))), RangeError);
    const cyclic = {};
    cyclic.self = cyclic;
    assert.throws(() => s.emit('x', cyclic), TypeError);
    assert.throws(() => io.of('/later'), (e) => e.code === 'ERR_WSRT_WRONG_STATE' && /before listen/.test(e.message));
    assert.throws(() => server.io('/other/'), (e) => e.code === 'ERR_WSRT_WRONG_STATE');
    assert.throws(() => new Server().io(7), typeErr(/path must be a string, not a number/));

    // Handlers that throw or reject: reported, the socket stays.
    c.emit('throws');
    c.emit('rejects');
    await settled(c);
    await within(5000, new Promise((resolve) => { const t = setInterval(() => errors.length >= 2 && resolve(clearInterval(t)), 5); }), 'the reports');
    assert.deepEqual(errors.map((e) => e.message).sort(), ['async handler failed', 'handler failed']);
    assert.equal(s.connected, true);

    // An ack kept past the socket's end, and calls on a closed socket.
    let keptAck;
    s.on('keep', (ack) => {
      keptAck = ack;
    });
    c.emit('keep', () => {});
    await settled(c);
    const gone = next(s, 'disconnect');
    c.disconnect();
    await gone;
    const closedErr = (e) => e instanceof Error && /^ERR_WSRT_(UNKNOWN_CONNECTION|CLOSED)$/.test(e.code);
    assert.throws(() => s.emit('x', 1), closedErr);
    assert.throws(() => s.emit('x', 1, () => {}), closedErr);
    assert.throws(() => s.join('room'), closedErr);
    assert.throws(() => keptAck('late'), closedErr);
    await assert.rejects(s.emitWithAck('x'), closedErr);
    assert.deepEqual([...s.rooms], []);
    assert.equal(s.disconnect(), s); // already gone: nothing to do

    // The server still serves.
    const again = await connected(server, io);
    assert.equal(again.s.connected, true);
    await shut(server);
  });

  it('options reach the Engine.IO handshake and the CORS answers', async () => {
    const server = listen((s) => s.io(), {
      sioPingIntervalMs: 1234,
      sioPingTimeoutMs: 567,
      sioMaxPayload: 4321,
      corsOrigins: ['http://a.example'],
      corsCredentials: true,
    });
    const res = await within(5000, fetch(`http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'http://a.example' } }), 'the handshake');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://a.example');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const body = await res.text();
    assert.equal(body[0], '0');
    const open = JSON.parse(body.slice(1));
    assert.equal(open.pingInterval, 1234);
    assert.equal(open.pingTimeout, 567);
    assert.equal(open.maxPayload, 4321);
    await shut(server);
  });
});

describe('Engine.IO (server.engineio)', () => {
  afterEach(cleanup);

  it('sessions open, echo text and binary, and close with a reason', async () => {
    const opened = deferred();
    const ended = deferred();
    const server = listen((s) => s.engineio('/engine.io/', {
      open: (session, req) => opened.resolve([session, req]),
      message: (session, data, isBinary) => session.send(isBinary ? data : `echo ${data}`, isBinary),
      close: (session, reason) => ended.resolve(reason),
    }));
    const base = `http://127.0.0.1:${server.port}/engine.io/?EIO=4&transport=polling`;
    const hs = await within(5000, fetch(base), 'the handshake');
    const { sid } = JSON.parse((await hs.text()).slice(1));
    const [session, req] = await within(5000, opened.promise, 'open');
    assert.equal(typeof session.id, 'bigint');
    assert.equal(req.path, '/engine.io/');
    assert.ok(server.sessions.has(session));
    const url = `${base}&sid=${sid}`;
    const post = await fetch(url, { method: 'POST', body: '4hello\x1ebAQID' });
    assert.equal(await post.text(), 'ok');
    const got = await within(5000, fetch(url), 'the echo');
    assert.equal(await got.text(), '4echo hello\x1ebAQID');
    assert.throws(() => session.send(5), TypeError);
    await fetch(url, { method: 'POST', body: '1' }); // close
    assert.equal(typeof await within(5000, ended.promise, 'close'), 'string');
    assert.ok(!server.sessions.has(session));
    assert.throws(() => server.engineio('/late/', {}), (e) => e.code === 'ERR_WSRT_WRONG_STATE');
    assert.throws(() => new Server().engineio('/e/', { nope() {} }), /unknown handler "nope"/);
    await shut(server);
  });
});
