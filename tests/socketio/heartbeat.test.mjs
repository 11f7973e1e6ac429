// Heartbeat, on the short-heartbeat instance (ping every 300 ms, 200 ms to
// answer, 1 s to send a CONNECT): pings come and answered ones keep a
// session, a client that stops answering is closed by the server ("ping
// timeout"), and a session that never connects a namespace is closed too.
// No timing is asserted: each check waits for an event, generously bounded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, autoCleanup, connect, once, reasonsOf, RawSocket, Polling, SHORT, MAX_PAYLOAD, within,
} from './helpers.mjs';

const short = useServer({ short: true });
autoCleanup();

describe('heartbeat (short-heartbeat instance)', () => {
  it('the handshake announces the instance\'s settings', async () => {
    for (const path of ['/engine.io/', '/socket.io/']) {
      const raw = await RawSocket.open(short.wsUrl, path);
      assert.deepEqual(Object.keys(raw.handshake).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
      assert.equal(raw.handshake.pingInterval, SHORT.pingInterval);
      assert.equal(raw.handshake.pingTimeout, SHORT.pingTimeout);
      assert.equal(raw.handshake.maxPayload, MAX_PAYLOAD);
      assert.deepEqual(raw.handshake.upgrades, [], 'nothing to upgrade to from WebSocket');
      raw.terminate();
    }
  });

  it('a raw WebSocket client that answers pings keeps its session (/engine.io/ and /socket.io/)', async () => {
    const eio = await RawSocket.open(short.wsUrl, '/engine.io/', { autoPong: true });
    const sio = await RawSocket.sio(short.wsUrl);
    await within(10000, (async () => {
      while (eio.pings < 4 || sio.pings < 4) await Promise.race([eio.nextPing(), sio.nextPing()]);
    })(), 'four pings on each session');
    assert.ok(eio.isOpen && sio.isOpen, 'both still open after four answered pings');
    eio.send('4still here');
    assert.equal(await eio.next(), '4still here');
    sio.send('421["echo","ok"]');
    assert.equal(await sio.next(), '431["ok"]');
  });

  it('a raw client that connects `/` and never answers pings is closed: "ping timeout"', async () => {
    const raw = await RawSocket.sio(short.wsUrl, { autoPong: false });
    await raw.nextPing(5000);
    await raw.whenClosed(8000, 'the server to close a client that does not answer pings');
    assert.ok(raw.pings >= 1);
    assert.deepEqual(await reasonsOf(short.url, raw.sid), ['ping timeout']);
  });

  it('a raw /engine.io/ WebSocket that never answers is closed too', async () => {
    const raw = await RawSocket.open(short.wsUrl, '/engine.io/', { autoPong: false });
    await raw.whenClosed(8000, 'the server to close a silent Engine.IO session');
    assert.ok(raw.pings >= 1, 'a ping came before the close');
  });

  it('polling: pings arrive on GET, pongs go by POST; a silent session ends (next poll 400)', async () => {
    const poll = new Polling(short.url, '/engine.io/');
    const { sid } = await poll.open();
    for (let i = 0; i < 3; i++) {
      const res = await poll.poll(sid);
      assert.equal(res.status, 200);
      assert.equal(res.body, '2', 'a GET returns the ping');
      const pong = await poll.post(sid, '3');
      assert.equal(pong.status, 200);
      assert.equal(pong.body, 'ok');
    }
    // Now silent: the poll brings a ping, no pong goes back.
    const { sid: silent } = await poll.open();
    let last;
    await within(8000, (async () => {
      for (;;) {
        last = await poll.poll(silent);
        if (last.status !== 200) return;
        assert.ok(['2', '1', '6'].some((p) => last.body.split('\x1e').includes(p)), `poll body ${JSON.stringify(last.body)}`);
      }
    })(), 'the silent polling session to end');
    assert.equal(last.status, 400);
    assert.deepEqual(JSON.parse(last.body), { code: 1, message: 'Session ID unknown' });
    // A new session works as usual.
    const { sid: fresh } = await poll.open();
    assert.equal((await poll.post(fresh, '4fine')).status, 200);
    assert.deepEqual(await poll.drain(fresh, 1), ['4fine']);
  });

  it('a session that never sends a CONNECT is closed (connect timeout)', async () => {
    const raw = await RawSocket.open(short.wsUrl, '/socket.io/', { autoPong: true });
    await raw.whenClosed(8000, 'the server to close a session without a namespace');
  });

  it('the stock client lives across many pings', async () => {
    const s = await connect(short.url);
    const pings = [];
    s.io.on('ping', () => pings.push(1));
    await within(10000, (async () => {
      while (pings.length < 5) await once(s.io, 'ping', 5000);
    })(), 'five pings');
    assert.equal(s.connected, true);
    assert.equal(await s.timeout(5000).emitWithAck('echo', 'alive'), 'alive');
  });
});
