// Native publish/subscribe from Node: topics joined by WebSockets and SSE
// streams, fan-out encoded once in the core, exclusion, publishAll, leaving
// topics, slow consumers (dropped or closed while a good client gets
// everything), and SSE reconnection with Last-Event-ID replay by real
// clients: the npm `eventsource` package and headless Chromium.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EventSource } from 'eventsource';
import { Server } from 'wsrt';
import { launchChromium, within, deferred, listen, connect, closed, nextMessage, shut, cleanup } from './helpers.mjs';


/** Polls `cond` (sync or async) until it is true, bounded. */
async function until(cond, what, ms = 10000) {
  await within(ms, (async () => {
    while (!(await cond())) await new Promise((r) => setTimeout(r, 10));
  })(), what);
}

/** Collects a `ws` client's messages as [isBinary, string]. */
function collect(ws) {
  const got = [];
  ws.on('message', (data, isBinary) => got.push([isBinary, Buffer.from(data).toString()]));
  return got;
}

/** Opens an EventSource and collects its message and snapshot events. */
function eventSource(url) {
  const es = new EventSource(url);
  const got = [];
  es.onmessage = (e) => got.push(['message', e.data, e.lastEventId]);
  for (const type of ['note', 'snapshot']) es.addEventListener(type, (e) => got.push([type, e.data, e.lastEventId]));
  return { es, got };
}

describe('publish/subscribe', () => {
  afterEach(cleanup);

  it('fans 2,000 messages out to 200 ws subscribers in order, none lost', async () => {
    const CLIENTS = 200;
    const MESSAGES = 2000;
    const server = listen((s) => s.ws('/fan', { open: (ws) => assert.equal(ws.subscribe('fan'), true) }));
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(`ws://127.0.0.1:${server.port}/fan`)));
    await until(() => server.subscriberCount('fan') === CLIENTS, 'every client subscribed');
    const counts = new Array(CLIENTS).fill(0);
    const errors = [];
    const done = deferred();
    let finished = 0;
    clients.forEach((ws, i) => ws.on('message', (data, isBinary) => {
      const want = `fan ${counts[i]} ${'.'.repeat(counts[i] % 50)}`;
      if (isBinary || data.toString() !== want) errors.push(`client ${i}: got ${data} instead of ${want}`);
      if (++counts[i] === MESSAGES && ++finished === CLIENTS) done.resolve();
    }));
    const before = server.stats();
    const results = [];
    for (let k = 0; k < MESSAGES; k++) {
      results.push(server.publish('fan', `fan ${k} ${'.'.repeat(k % 50)}`));
      if (k % 100 === 99) await new Promise((r) => setImmediate(r)); // let clients read meanwhile
    }
    await within(25000, done.promise, `${CLIENTS} x ${MESSAGES} messages`);
    assert.deepEqual(errors, []);
    assert.ok(results.every((r) => r.delivered === CLIENTS && r.dropped === 0 && r.closed === 0 && r.eventId === null));
    const after = server.stats();
    assert.equal(after.published - before.published, MESSAGES);
    assert.equal(after.delivered - before.delivered, CLIENTS * MESSAGES);
    assert.equal(after.slowClosed, 0);
    assert.equal(after.websockets, CLIENTS);
    for (const ws of clients) ws.close();
    await Promise.all(clients.map(closed));
    await shut(server);
  });

  it('ws.publish leaves out the sender; publish({ exclude }) leaves out whom it names', async () => {
    const byName = new Map();
    const server = listen((s) => s.ws('/room', {
      open(ws, req) {
        ws.data = req.query;
        byName.set(req.query, ws);
        ws.subscribe('room');
      },
      message(ws, data, isBinary) {
        ws.publish('room', data, isBinary);
      },
    }));
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => connect(`ws://127.0.0.1:${server.port}/room?${n}`)));
    await until(() => server.subscriberCount('room') === 3, 'three subscribers');
    // Without a cluster, the cluster's count is this server's.
    assert.equal(server.clusterSubscriberCount('room'), 3);
    const got = { a: collect(a), b: collect(b), c: collect(c) };
    a.send('from a');
    b.send(Buffer.from([1, 2, 3]));
    await until(() => got.c.length === 2 && got.a.length === 1 && got.b.length === 1, 'relayed messages');
    const r = server.publish('room', 'not to b', { exclude: byName.get('b') });
    assert.equal(r.delivered, 2);
    const end = server.publish('room', 'end');
    assert.equal(end.delivered, 3);
    await until(() => [got.a, got.b, got.c].every((g) => g.at(-1)?.[1] === 'end'), 'the end marker');
    // Order is kept per connection, so what is missing before "end" was never sent.
    assert.deepEqual(got.a, [[true, '\x01\x02\x03'], [false, 'not to b'], [false, 'end']]);
    assert.deepEqual(got.b, [[false, 'from a'], [false, 'end']]);
    assert.deepEqual(got.c, [[false, 'from a'], [true, '\x01\x02\x03'], [false, 'not to b'], [false, 'end']]);
    for (const ws of [a, b, c]) ws.close();
    await shut(server);
  });

  it('one topic reaches WebSocket and SSE subscribers; binary skips SSE; sseEvent names the event', async () => {
    const server = listen((s) => {
      s.ws('/w', { open: (ws) => ws.subscribe('mix') });
      s.sse('/s', { open: (stream) => assert.equal(stream.subscribe('mix'), true) });
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/w`);
    const wsGot = collect(ws);
    const { es, got } = eventSource(`http://127.0.0.1:${server.port}/s`);
    await until(() => server.subscriberCount('mix') === 2, 'a WebSocket and a stream subscribed');
    assert.equal(server.stats().sseStreams, 1);
    const results = [
      server.publish('mix', 'first\nof two lines', { sseEvent: 'note' }),
      server.publish('mix', new Uint8Array([0xde, 0xad])),
      server.publish('mix', new Uint16Array([0x6968]).buffer, false), // bytes sent as text: "hi"
      server.publish('mix', 'last'),
    ];
    assert.deepEqual(results.map((r) => r.delivered), [2, 1, 2, 2]);
    await until(() => got.length === 3 && wsGot.length === 4, 'the messages');
    assert.deepEqual(got, [['note', 'first\nof two lines', ''], ['message', 'hi', ''], ['message', 'last', '']]);
    assert.deepEqual(wsGot, [[false, 'first\nof two lines'], [true, '\xde\xad'], [false, 'hi'], [false, 'last']].map(
      ([bin, s]) => [bin, bin ? Buffer.from(s, 'latin1').toString() : s],
    ));
    es.close();
    ws.close();
    await shut(server);
  });

  it('publishAll reaches every open WebSocket and stream, subscribed or not', async () => {
    let sub = null;
    const server = listen((s) => {
      s.ws('/plain', {});
      s.ws('/sub', {
        open(ws) {
          sub = ws;
          ws.subscribe('t');
        },
      });
      s.sse('/s', {});
    });
    const plain = await connect(`ws://127.0.0.1:${server.port}/plain`);
    const subbed = await connect(`ws://127.0.0.1:${server.port}/sub`);
    const { es, got } = eventSource(`http://127.0.0.1:${server.port}/s`);
    await until(() => server.streams.size === 1 && sub !== null, 'the stream open');
    const gotPlain = collect(plain);
    const gotSub = collect(subbed);
    assert.equal(server.publishAll('to all').delivered, 3);
    assert.equal(server.publishAll(Buffer.from('bytes')).delivered, 2); // not the stream
    assert.equal(server.publishAll('not to sub', { exclude: sub }).delivered, 2);
    assert.equal(server.publish('t', 'topic only').delivered, 1);
    await until(() => gotPlain.length === 3 && gotSub.length === 3 && got.length === 2, 'the messages');
    assert.deepEqual(gotPlain, [[false, 'to all'], [true, 'bytes'], [false, 'not to sub']]);
    assert.deepEqual(gotSub, [[false, 'to all'], [true, 'bytes'], [false, 'topic only']]);
    assert.deepEqual(got.map((e) => e[1]), ['to all', 'not to sub']);
    es.close();
    plain.close();
    subbed.close();
    await shut(server);
  });

  it('unsubscribe and close leave topics; closed connections are unknown to the core', async () => {
    const conns = new Map();
    const gone = new Map();
    const server = listen((s) => {
      s.ws('/w', {
        open(ws, req) {
          conns.set(req.query, ws);
          assert.equal(ws.subscribe('x'), true);
          assert.equal(ws.subscribe('x'), false);
          ws.subscribe('y');
        },
        close(ws) {
          gone.get(ws.request.query)?.resolve();
        },
      });
      s.sse('/s', {
        open(stream) {
          conns.set('s', stream);
          stream.subscribe('x');
        },
        close() {
          gone.get('s')?.resolve();
        },
      });
    });
    const a = await connect(`ws://127.0.0.1:${server.port}/w?a`);
    const b = await connect(`ws://127.0.0.1:${server.port}/w?b`);
    const { es, got } = eventSource(`http://127.0.0.1:${server.port}/s`);
    await until(() => server.subscriberCount('x') === 3, 'three subscribers of x');
    const [wa, wb, stream] = ['a', 'b', 's'].map((k) => conns.get(k));
    const gotA = collect(a);
    assert.equal(server.subscriberCount('y'), 2);
    assert.equal(wa.isSubscribed('x'), true);
    assert.equal(wa.unsubscribe('x'), true);
    assert.equal(wa.unsubscribe('x'), false);
    assert.equal(wa.isSubscribed('x'), false);
    assert.equal(wa.isSubscribed('y'), true);
    assert.equal(wa.unsubscribe('never'), false);
    assert.equal(server.subscriberCount('x'), 2);
    assert.equal(server.publish('x', 'x after a left').delivered, 2);
    assert.equal(server.publish('y', 'y marker').delivered, 2);
    await until(() => gotA.length === 1 && got.length === 1, 'the marker');
    assert.deepEqual(gotA, [[false, 'y marker']]); // not "x after a left"
    assert.deepEqual(got.map((e) => e[1]), ['x after a left']);

    assert.equal(stream.unsubscribe('x'), true);
    assert.equal(stream.isSubscribed('x'), false);
    assert.equal(server.subscriberCount('x'), 1);

    gone.set('b', deferred());
    b.close();
    await within(5000, gone.get('b').promise, 'b to close');
    assert.equal(server.subscriberCount('x'), 0);
    assert.equal(server.subscriberCount('y'), 1);
    assert.equal(wb.isSubscribed('y'), false);
    assert.throws(() => wb.unsubscribe('y'), { code: 'ERR_WSRT_UNKNOWN_CONNECTION' });
    assert.throws(() => wb.subscribe('y'), { code: 'ERR_WSRT_UNKNOWN_CONNECTION' });
    assert.equal(server.publish('x', 'nobody').delivered, 0);
    assert.equal(server.stats().topics, 1); // only y is left

    gone.set('s', deferred());
    es.close();
    await within(5000, gone.get('s').promise, 'the stream to close');
    assert.throws(() => stream.subscribe('x'), { code: 'ERR_WSRT_UNKNOWN_CONNECTION' });
    a.close();
    await shut(server);
  });

  it("refuses bad arguments with the core's RangeError or TypeError", async () => {
    const type = (fn, message) => assert.throws(fn, (e) => e instanceof TypeError && e.code === 'ERR_WSRT_INVALID_TYPE' && message.test(e.message));
    const range = (fn, message) => assert.throws(fn, (e) => e instanceof RangeError && e.code === 'ERR_WSRT_INVALID_ARGUMENT' && message.test(e.message));
    range(() => new Server({ slowConsumerLimit: 1000 }), /slowConsumerLimit must be 0 \(no limit\) or 1024-/);
    type(() => new Server({ slowConsumerLimit: '1mb' }), /slowConsumerLimit must be a number, not a string/);
    range(() => new Server({ slowConsumerPolicy: 'block' }), /slowConsumerPolicy must be one of/);
    range(() => new Server({ slowConsumerPolicy: 0 }), /slowConsumerPolicy must be one of/);

    let ws = null;
    const server = listen((s) => s.ws('/w', { open: (w) => (ws = w) }), { slowConsumerLimit: 4096, slowConsumerPolicy: 'drop' });
    const client = await connect(`ws://127.0.0.1:${server.port}/w`);
    await until(() => ws !== null, 'open');
    type(() => server.publish(7, 'x'), /topic must be a string, not a number/);
    type(() => server.publish(null, 'x'), /topic must be a string, not null/);
    range(() => server.publish('', 'x'), /topic name must be 1-1024 bytes/);
    range(() => server.publish('x'.repeat(1025), 'x'), /topic/);
    range(() => server.publish('\u20ac'.repeat(342), 'x'), /not 1026/); // 1026 bytes
    assert.equal(server.publish('\u20ac'.repeat(341), 'x').delivered, 0); // 1023 bytes
    type(() => server.publish('t', 42), /data must be/);
    type(() => server.publish('t', 'x', 'binary'), /binary must be a boolean/);
    type(() => server.publish('t', 'x', { binary: 1 }), /binary must be a boolean/);
    range(() => server.publish('t', 'x', { onSlow: 'later' }), /must be one of/);
    range(() => server.publish('t', 'x', { sseEvent: 'a\nb' }), /SSE event name/);
    type(() => server.publish('t', 'x', { sseEvent: 3 }), /sseEvent must be a string/);
    type(() => server.publish('t', 'x', { exclude: {} }), /exclude must be a WebSocket/);
    type(() => server.publishAll('x', { exclude: 'me' }), /exclude must be a WebSocket/);
    range(() => server.publish('t', Buffer.from([0xff]), false), /not valid UTF-8/);
    type(() => ws.subscribe(['t']), /topic must be a string, not an object/);
    range(() => ws.subscribe(''), /topic name/);
    type(() => ws.isSubscribed(undefined), /topic must be a string, not undefined/);
    range(() => server.setTopicHistory('t', 5), /needs max_events or max_age/);
    range(() => server.setTopicHistory('t', {}), /needs max_events or max_age/);
    range(() => server.setTopicHistory('t', { maxEvents: 0, maxAgeMs: 0 }), /needs max_events or max_age/);
    range(() => server.setTopicHistory('t', { maxEvents: -1 }), /maxEvents/);
    range(() => server.setTopicHistory('t', { maxEvents: 1.5 }), /maxEvents/);
    range(() => server.setTopicHistory('t', { maxEvents: 1, maxAgeMs: -5 }), /maxAgeMs/);
    range(() => server.setTopicHistory('t', { maxAgeMs: 2 ** 31 }), /max_age/);
    type(() => server.setTopicHistory('t', { maxEvents: 1, maxAgeMs: '1s' }), /maxAgeMs must be a number/);
    // The failed calls left nothing behind.
    assert.deepEqual(server.stats(), {
      connections: 1, websockets: 1, sseStreams: 0, bufferedBytes: 0, topics: 0,
      published: 1, delivered: 0, dropped: 0, slowClosed: 0, tlsHandshakes: 0, tlsFailures: 0,
      clusterPublished: 0, clusterReceived: 0, clusterDropped: 0,
    });
    // One bound of the two is enough; clearing forgets the history.
    server.setTopicHistory('t', { maxAgeMs: 1000 }).setTopicHistory('u', { maxEvents: 3 });
    assert.equal(typeof server.publish('t', 'x').eventId, 'number');
    server.clearTopicHistory('t');
    assert.equal(server.publish('t', 'x').eventId, null);
    client.close();
    await shut(server);
  });

  it('resume replays from history by Last-Event-ID or an explicit id; reports misses', async () => {
    const opens = [];
    const server = new Server();
    server.sse('/s', {
      open(stream, req) {
        const q = new URLSearchParams(req.query);
        const topic = q.get('topic') ?? 'h';
        const r = q.has('id') ? stream.resume(topic, { lastEventId: Number(q.get('id')) })
          : q.has('null') ? stream.resume(topic, { lastEventId: null })
            : stream.resume(topic);
        opens.push(r);
      },
    }).listen().setTopicHistory('h', { maxEvents: 2, maxAgeMs: 60000 });
    try {
      const ids = ['h1', 'h2', 'h3'].map((t) => server.publish('h', t).eventId);
      assert.ok(ids.every((id) => Number.isSafeInteger(id)), String(ids));
      assert.ok(ids[0] < ids[1] && ids[1] < ids[2]);
      assert.equal(server.publish('no-history', 'x').eventId, null);
      const before = ids[0] - 1;
      const cases = [
        ['', ids[0], ['h2', 'h3'], { replayed: 2, missed: false }], // h1 fell out, but the client has it
        ['', ids[1], ['h3'], { replayed: 1, missed: false }],
        ['', ids[2], [], { replayed: 0, missed: false }],
        ['', before, [], { replayed: 0, missed: true }], // older than the history
        ['', 'banana', [], { replayed: 0, missed: true }],
        ['', ids[2] + 1000, [], { replayed: 0, missed: true }], // not issued yet
        ['?null', ids[1], ['h3'], { replayed: 1, missed: false }], // null: the client's own
        [`?id=${ids[1]}`, null, ['h3'], { replayed: 1, missed: false }],
        [`?id=${ids[2]}`, ids[0], [], { replayed: 0, missed: false }], // overrides the header
        ['?topic=no-history', ids[2], [], { replayed: 0, missed: true }],
      ];
      for (const [query, last, want, result] of cases) {
        const events = await sseEvents(server, `/s${query}`, last);
        assert.deepEqual(events.map((e) => e.data), want, `${query} ${last}`);
        assert.deepEqual(events.map((e) => e.id), want.map((d) => String(ids[Number(d[1]) - 1])));
        assert.deepEqual(opens.at(-1), result, `${query} ${last}`);
      }
      // Too old by age: the history forgets after maxAgeMs.
      server.setTopicHistory('aged', { maxEvents: 10, maxAgeMs: 50 });
      const aged = server.publish('aged', 'a1').eventId;
      server.publish('aged', 'a2');
      assert.deepEqual((await sseEvents(server, '/s?topic=aged', aged)).map((e) => e.data), ['a2']);
      await new Promise((r) => setTimeout(r, 120));
      assert.deepEqual(await sseEvents(server, '/s?topic=aged', aged), []);
      assert.deepEqual(opens.at(-1), { replayed: 0, missed: true });
    } finally {
      await shut(server);
    }
  });
});

/** Opens an SSE path (with a Last-Event-ID unless null) and returns the events that arrive in 300 ms. */
async function sseEvents(server, path, lastEventId) {
  const headers = lastEventId === null ? {} : { 'Last-Event-ID': String(lastEventId) };
  const res = await within(5000, fetch(`http://127.0.0.1:${server.port}${path}`, { headers }), 'the SSE response');
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  let text = '';
  const timer = setTimeout(() => reader.cancel(), 300);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  clearTimeout(timer);
  return text.split('\n\n').filter((block) => block.includes('data:')).map((block) => {
    const field = (name) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    return { id: field('id'), data: field('data') };
  });
}

// --- slow consumers ------------------------------------------------------

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A raw WebSocket client that completes the handshake and then stops reading. */
async function stalledClient(port, path) {
  const sock = net.connect(port, '127.0.0.1');
  let head = Buffer.alloc(0);
  const chunks = [];
  await within(5000, new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.once('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      sock.pause(); // from here on nothing is read: the kernel buffers fill up
      if (!head.subarray(0, 12).equals(Buffer.from('HTTP/1.1 101'))) reject(new Error(`handshake: ${head}`));
      if (head.length > end + 4) chunks.push(head.subarray(end + 4));
      resolve();
    };
    sock.on('data', onData);
  }), 'the raw handshake');
  sock.on('error', () => {});
  return { sock, chunks };
}

/** Splits unmasked server frames (no fragmentation) into payloads. */
function frames(buf) {
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    let len = buf[i + 1] & 0x7f;
    let h = 2;
    if (len === 126) { len = buf.readUInt16BE(i + 2); h = 4; }
    else if (len === 127) { len = Number(buf.readBigUInt64BE(i + 2)); h = 10; }
    if (i + h + len > buf.length) break;
    out.push({ opcode: buf[i] & 0x0f, fin: (buf[i] & 0x80) !== 0, payload: buf.subarray(i + h, i + h + len) });
    i += h + len;
  }
  return { out, rest: buf.subarray(i) };
}

const PAYLOAD = 64 * 1024;

/**
 * Publishes `count` 64 KiB binary messages (a sequence number first) to
 * "feed", pausing every 8 until the good client has them all, so that only
 * the stalled one falls behind. Returns the publish results.
 */
async function pump(server, good, seq0, count, options) {
  const msg = Buffer.alloc(PAYLOAD, 0x61);
  const results = [];
  for (let k = 0; k < count; k++) {
    msg.writeUInt32BE(seq0 + k, 0);
    results.push(server.publish('feed', msg, options));
    if (k % 8 === 7 || k === count - 1) await until(() => good.received === seq0 + k + 1, `the good client at ${seq0 + k + 1}`);
  }
  return results;
}

function goodClient(ws) {
  const state = { received: 0, errors: [] };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return; // markers
    if (data.length !== PAYLOAD || data.readUInt32BE(0) !== state.received) {
      state.errors.push(`message ${state.received}: seq ${data.readUInt32BE(0)}`);
    }
    state.received++;
  });
  return state;
}

describe('slow consumers', () => {
  const leftovers = [];
  afterEach(async () => {
    for (const s of leftovers.splice(0)) s.destroy?.() ?? s.terminate?.();
    await cleanup();
  });

  it('slowConsumerPolicy "drop": a stalled subscriber misses whole messages and stays open', async () => {
    const N = 640; // 40 MiB, more than any kernel buffers hold
    let closes = 0;
    const server = listen((s) => s.ws('/feed', {
      open: (ws) => ws.subscribe('feed'),
      close: () => closes++,
    }), { slowConsumerPolicy: 'drop' });
    const stalled = await stalledClient(server.port, '/feed');
    const ws = await connect(`ws://127.0.0.1:${server.port}/feed`);
    leftovers.push(stalled.sock, ws);
    const good = goodClient(ws);
    await until(() => server.subscriberCount('feed') === 2, 'two subscribers');
    const results = await pump(server, good, 0, N);
    assert.deepEqual(good.errors, []);
    assert.equal(good.received, N);
    const dropped = results.reduce((n, r) => n + r.dropped, 0);
    assert.ok(dropped > 0, 'the stalled client dropped nothing');
    assert.ok(results.every((r) => r.closed === 0 && r.delivered + r.dropped === 2));
    const stats = server.stats();
    assert.equal(stats.dropped, dropped);
    assert.equal(stats.slowClosed, 0);
    assert.ok(stats.bufferedBytes <= 1024 * 1024 + PAYLOAD + 64, `bufferedBytes ${stats.bufferedBytes}`);
    assert.equal(server.subscriberCount('feed'), 2);
    assert.equal(closes, 0);

    // Reading again, it finds whole messages in order with gaps, then, once
    // its queue is empty, gets new messages again.
    stalled.sock.on('data', (d) => stalled.chunks.push(d));
    stalled.sock.resume();
    await until(() => server.stats().bufferedBytes === 0, 'the stalled queue to drain', 20000);
    assert.equal(server.publish('feed', 'end').delivered, 2);
    let seqs = [];
    await until(() => {
      const { out } = frames(Buffer.concat(stalled.chunks));
      seqs = out;
      return out.at(-1)?.opcode === 1;
    }, 'the end marker on the stalled client', 20000);
    const bin = seqs.slice(0, -1);
    assert.equal(Buffer.from(seqs.at(-1).payload).toString(), 'end');
    assert.ok(bin.every((f) => f.fin && f.opcode === 2 && f.payload.length === PAYLOAD));
    const got = bin.map((f) => f.payload.readUInt32BE(0));
    assert.equal(got.length, N - dropped);
    assert.ok(got.every((v, i) => i === 0 || v > got[i - 1]), 'out of order');
    assert.ok(got.at(-1) < N);
    stalled.sock.destroy();
    ws.close();
    await shut(server);
  });

  it('the default policy closes a stalled subscriber (1008); onSlow "drop" overrides it per publish', async () => {
    let stalledWs = null;
    const closedWith = deferred();
    const server = listen((s) => s.ws('/feed', {
      open(ws, req) {
        ws.subscribe('feed');
        if (req.query === 'stalled') stalledWs = ws;
      },
      close(ws, code, reason) {
        if (ws === stalledWs) closedWith.resolve({ code, reason });
      },
    }));
    const stalled = await stalledClient(server.port, '/feed?stalled');
    const ws = await connect(`ws://127.0.0.1:${server.port}/feed`);
    leftovers.push(stalled.sock, ws);
    const good = goodClient(ws);
    await until(() => server.subscriberCount('feed') === 2 && stalledWs !== null, 'two subscribers');

    // Per publish: drop, so the stalled client stays.
    const dropping = await pump(server, good, 0, 640, { onSlow: 'drop' });
    const dropped = dropping.reduce((n, r) => n + r.dropped, 0);
    assert.ok(dropped > 0);
    assert.ok(dropping.every((r) => r.closed === 0));
    assert.equal(stalledWs.readyState, 1);
    assert.equal(server.subscriberCount('feed'), 2);

    // The configured policy (close) on the next publish that finds it over.
    const closing = await pump(server, good, 640, 16);
    assert.equal(closing.reduce((n, r) => n + r.closed, 0), 1);
    assert.equal(closing.find((r) => r.closed === 1).delivered, 1);
    const { code, reason } = await within(5000, closedWith.promise, 'the close handler');
    assert.equal(code, 1008);
    assert.match(reason, /slow consumer/);
    assert.equal(stalledWs.readyState, 3);
    assert.deepEqual(good.errors, []);
    assert.equal(good.received, 656);
    assert.equal(server.subscriberCount('feed'), 1);
    const stats = server.stats();
    assert.equal(stats.slowClosed, 1);
    assert.equal(stats.dropped, dropped);
    assert.equal(stats.websockets, 1);
    // The socket is gone: the stalled client finds the end of the stream.
    const ended = new Promise((resolve) => stalled.sock.once('close', resolve));
    stalled.sock.on('data', () => {});
    stalled.sock.resume();
    await within(20000, ended, 'the stalled socket to end');
    ws.close();
    await shut(server);
  });
});

// --- SSE reconnection with Last-Event-ID ---------------------------------

const FEED_PAGE = `<!doctype html><meta charset="utf-8"><title>wsrt pubsub test</title>
<script>
window.got = [];
const es = new EventSource('/feed');
es.onmessage = (e) => window.got.push(['message', e.data, e.lastEventId]);
es.addEventListener('snapshot', (e) => window.got.push(['snapshot', e.data, e.lastEventId]));
window.stop = () => es.close();
</script>`;

/**
 * A topic with `history` events of history behind /feed, whose open handler
 * sets retry 200 ms and subscribes with the request's Last-Event-ID (a
 * snapshot event on a miss), as examples/node/echo_server.mjs does.
 */
function feedServer(history) {
  const opens = [];
  let streamClosed = deferred();
  const server = listen((s) => {
    s.static('/', FEED_PAGE);
    s.sse('/feed', {
      open(stream) {
        stream.send('', { event: 'ready', retryMs: 200 });
        const r = stream.resume('feed');
        opens.push({ lastEventId: stream.lastEventId, ...r });
        if (r.missed) stream.send('history unavailable: start over', { event: 'snapshot' });
      },
      close() {
        streamClosed.resolve();
      },
    });
  }).setTopicHistory('feed', { maxEvents: history });
  return {
    server,
    opens,
    closeStream() {
      streamClosed = deferred();
      const [stream] = server.streams;
      stream.close();
      return within(5000, streamClosed.promise, 'the stream to close');
    },
  };
}

/**
 * Three live events; the server ends the stream; `away` events are published
 * while the client waits to reconnect; it reconnects by itself with the last
 * id it saw; two more live events. Returns what the client got and expected.
 */
async function reconnectScenario(client, history, away) {
  const { server, opens, closeStream } = feedServer(history);
  await client.open(`http://127.0.0.1:${server.port}`);
  await until(() => server.subscriberCount('feed') === 1, 'the first connection');
  const pub = (names) => names.map((n) => {
    const r = server.publish('feed', n);
    assert.equal(r.delivered, server.subscriberCount('feed'));
    return ['message', n, String(r.eventId)];
  });
  const first = pub(['e1', 'e2', 'e3']);
  await until(async () => (await client.got()).length === 3, 'the live events');
  await closeStream();
  assert.equal(server.subscriberCount('feed'), 0);
  const missed = pub(Array.from({ length: away }, (_, i) => `m${i + 1}`));
  await until(() => opens.length === 2, 'the client to reconnect', 10000);
  const live = pub(['l1', 'l2']);
  await until(async () => (await client.got()).some((e) => e[1] === 'l2'), 'the last live event');
  const got = await client.got();
  await client.close();
  assert.equal(opens.length, 2, 'reconnected more than once');
  assert.deepEqual(opens[0], { lastEventId: null, replayed: 0, missed: false });
  await shut(server);
  return { got, first, missed, live, opens };
}

function npmClient() {
  let c;
  return {
    async open(base) {
      c = eventSource(`${base}/feed`);
    },
    got: () => c.got,
    close: () => c.es.close(),
  };
}

describe('SSE reconnection replays from topic history', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    if (browser) await within(15000, browser.close(), 'chromium to exit');
  });
  afterEach(cleanup);

  function chromiumClient() {
    let page;
    return {
      async open(base) {
        page = await browser.newPage();
        await page.goto(`${base}/`, { timeout: 15000 });
      },
      got: () => page.evaluate(() => window.got),
      async close() {
        await page.evaluate(() => window.stop());
        await page.close();
      },
    };
  }

  for (const [name, make] of [['eventsource (npm)', npmClient], ['Chromium', chromiumClient]]) {
    it(`${name}: gets exactly the events it missed, once, in order, then live ones`, async () => {
      const { got, first, missed, live, opens } = await reconnectScenario(make(), 50, 5);
      assert.deepEqual(opens[1], { lastEventId: first[2][2], replayed: 5, missed: false });
      assert.deepEqual(got, [...first, ...missed, ...live]);
    });

    it(`${name}: a reconnect the history no longer covers gets a snapshot event, then live ones`, async () => {
      const { got, first, live, opens } = await reconnectScenario(make(), 3, 6);
      assert.deepEqual(opens[1], { lastEventId: first[2][2], replayed: 0, missed: true });
      assert.deepEqual(got.map((e) => e.slice(0, 2)), [
        ...first.map((e) => e.slice(0, 2)),
        ['snapshot', 'history unavailable: start over'],
        ...live.map((e) => e.slice(0, 2)),
      ]);
      assert.deepEqual(got.slice(-2), live);
    });
  }
});
