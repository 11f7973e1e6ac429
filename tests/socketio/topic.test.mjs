// One topic reaches WebSocket, SSE and Socket.IO (wsrt fronts only): a
// WebSocket on /broadcast, an SSE client on /events and a Socket.IO client
// in room "broadcast" are on the same core topic; a text message that
// another /broadcast WebSocket sends reaches each of them exactly once.
// The reference server has none of these routes: the check is skipped
// there, visibly.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { useServer, cleanup, connect, within, until, unique, WSRT_ONLY } from './helpers.mjs';

const srv = useServer();
const closers = [];
after(() => {
  for (const c of closers.splice(0)) c();
  cleanup();
});

async function ws(url) {
  const sock = new WebSocket(url);
  await within(5000, new Promise((resolve, reject) => {
    sock.once('open', resolve);
    sock.once('error', reject);
  }), `WebSocket ${url}`);
  closers.push(() => sock.terminate());
  return sock;
}

describe('one topic: WebSocket, SSE and Socket.IO', () => {
  it('a message sent on /broadcast reaches a /broadcast WebSocket, an /events stream and room "broadcast" once each', { skip: WSRT_ONLY }, async () => {
    const got = { ws: [], sse: [], sio: [] };

    const listener = await ws(`${srv.wsUrl}/broadcast`);
    listener.on('message', (data, isBinary) => { if (!isBinary) got.ws.push(data.toString()); });

    const es = new EventSource(`${srv.url}/events`);
    closers.push(() => es.close());
    es.addEventListener('message', (e) => got.sse.push(e.data));

    const s = await connect(srv.url);
    // The topic's text arrives as event "message" with the text; a trailing
    // recovery offset (a string) is allowed.
    s.on('message', (...args) => {
      assert.equal(typeof args[0], 'string', 'the text is the first argument');
      assert.ok(args.length === 1 || (args.length === 2 && typeof args[1] === 'string'), `message arguments ${JSON.stringify(args)}`);
      got.sio.push(args[0]);
    });
    assert.deepEqual(await s.timeout(5000).emitWithAck('join', 'broadcast'), { ok: true, room: 'broadcast' });

    const sender = await ws(`${srv.wsUrl}/broadcast`);
    const seen = (text) => ['ws', 'sse', 'sio'].every((k) => got[k].includes(text));

    // Until all three are subscribed (the SSE stream may take a moment),
    // probes; then the message, then an end marker.
    const probe = unique('probe');
    await within(15000, (async () => {
      for (let i = 0; !['ws', 'sse', 'sio'].every((k) => got[k].some((t) => t.startsWith(probe))); i++) {
        sender.send(`${probe}-${i}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    })(), 'every subscriber to see a probe');

    const hello = unique('hello');
    const end = unique('end');
    sender.send(hello);
    sender.send(end);
    await until(() => seen(end), 10000, 'the end marker at every subscriber');
    for (const k of ['ws', 'sse', 'sio']) {
      assert.equal(got[k].filter((t) => t === hello).length, 1, `${k} got "${hello}" exactly once`);
      assert.ok(got[k].indexOf(hello) < got[k].indexOf(end), `${k}: in order`);
    }
  });
});
