// The Engine.IO v4 protocol's own expectations (the engine.io-protocol
// test-suite's checks, written here anew) against /engine.io/ (the echo):
// handshake, messages on both transports, close, upgrade. The heartbeat
// expectations need the short-heartbeat instance: heartbeat.test.mjs; the
// refusals (bad EIO, transport, method, sid): bad-input.test.mjs.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, cleanup, RawSocket, Polling, RS, MAX_PAYLOAD, DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, IS_REFERENCE, sleep, within,
} from './helpers.mjs';

const srv = useServer();
after(cleanup);

const PATH = '/engine.io/';
const poll = () => new Polling(srv.url, PATH);

function checkHandshake(h, upgrades) {
  assert.deepEqual(Object.keys(h).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof h.sid, 'string');
  assert.ok(h.sid.length > 0);
  assert.deepEqual(h.upgrades, upgrades);
  assert.equal(h.pingInterval, DEFAULT_PING_INTERVAL);
  assert.equal(h.pingTimeout, DEFAULT_PING_TIMEOUT);
  assert.equal(h.maxPayload, MAX_PAYLOAD);
}

describe('Engine.IO v4 protocol (/engine.io/)', () => {
  describe('handshake', () => {
    it('polling: 200, an open packet offering the websocket upgrade, CORS *', async () => {
      const res = await poll().fetch(`${srv.url}${PATH}?EIO=4&transport=polling`, { headers: { Origin: 'http://elsewhere.example' } });
      assert.equal(res.status, 200);
      assert.equal(res.body[0], '0');
      checkHandshake(JSON.parse(res.body.slice(1)), ['websocket']);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    });

    it('WebSocket: the open packet offers no upgrade', async () => {
      const raw = await RawSocket.open(srv.wsUrl, PATH);
      checkHandshake(raw.handshake, []);
    });

    it('every session gets its own sid', async () => {
      const sids = new Set();
      for (let i = 0; i < 20; i++) sids.add((await poll().open()).sid);
      assert.equal(sids.size, 20);
    });
  });

  describe('messages on polling', () => {
    it('one text packet: POST answers "ok", the GET returns it', async () => {
      const p = poll();
      const { sid } = await p.open();
      const res = await p.post(sid, '4hello');
      assert.equal(res.status, 200);
      assert.equal(res.body, 'ok');
      const got = await p.poll(sid);
      assert.equal(got.status, 200);
      assert.equal(got.body, '4hello');
    });

    it('several text packets in one payload come back in one payload', async () => {
      const p = poll();
      const { sid } = await p.open();
      assert.equal((await p.post(sid, `4test1${RS}4test2${RS}4test3`)).body, 'ok');
      assert.equal((await p.poll(sid)).body, `4test1${RS}4test2${RS}4test3`);
    });

    it('text and base64 binary packets: "b"-prefixed base64 back', async () => {
      const p = poll();
      const { sid } = await p.open();
      assert.equal((await p.post(sid, `4hello${RS}bAQIDBA==`)).body, 'ok');
      assert.equal((await p.poll(sid)).body, `4hello${RS}bAQIDBA==`);
    });

    it('UTF-8 text keeps its characters', async () => {
      const p = poll();
      const { sid } = await p.open();
      const text = '4€ é ✓ 𝄞 日本';
      assert.equal((await p.post(sid, text)).body, 'ok');
      assert.equal((await p.poll(sid)).body, text);
    });
  });

  describe('messages on WebSocket', () => {
    it('a text packet is echoed', async () => {
      const raw = await RawSocket.open(srv.wsUrl, PATH);
      raw.send('4hello');
      assert.equal(await raw.next(), '4hello');
    });

    it('a binary frame is echoed as a binary frame, bytes as sent', async () => {
      const raw = await RawSocket.open(srv.wsUrl, PATH);
      raw.send(Uint8Array.from([1, 2, 3, 4]));
      const got = await raw.next();
      assert.ok(Buffer.isBuffer(got), 'binary frame');
      assert.deepEqual([...got], [1, 2, 3, 4]);
    });

    it('an invalid packet closes the WebSocket', async () => {
      const raw = await RawSocket.open(srv.wsUrl, PATH);
      raw.send('abc');
      await raw.whenClosed();
    });
  });

  describe('close', () => {
    it('polling: a close packet ends the pending GET with a noop, then the session is gone', async () => {
      const p = poll();
      const { sid } = await p.open();
      const pending = p.poll(sid);
      await sleep(50); // the GET is held by the server
      const res = await p.post(sid, '1');
      assert.equal(res.status, 200);
      const got = await pending;
      assert.equal(got.status, 200);
      assert.equal(got.body, '6');
      const after = await p.poll(sid);
      assert.equal(after.status, 400);
    });

    it('WebSocket: a close packet closes the connection', {
      skip: IS_REFERENCE && 'engine.io ignores a client\'s close packet on WebSocket (only its ping timeout ends that session); README.md, "Interpretations"',
    }, async () => {
      const raw = await RawSocket.open(srv.wsUrl, PATH);
      raw.send('1');
      await raw.whenClosed();
    });
  });

  describe('upgrade', () => {
    async function upgrade() {
      const p = poll();
      const { sid } = await p.open();
      const ws = new RawSocket(`${srv.wsUrl}${PATH}?EIO=4&transport=websocket&sid=${encodeURIComponent(sid)}`);
      await ws.opened;
      return { p, sid, ws };
    }

    it('probe, noop to the pending GET, upgrade; then messages flow on the WebSocket', async () => {
      const { p, sid, ws } = await upgrade();
      ws.send('2probe');
      assert.equal(await ws.next(), '3probe');
      const pending = await p.poll(sid);
      assert.equal(pending.status, 200);
      assert.equal(pending.body, '6', 'the GET is ended by a noop');
      ws.send('5');
      ws.send('4hello');
      assert.equal(await ws.next(), '4hello');
    });

    it('packets queued on polling before the upgrade are not lost', async () => {
      const { p, sid, ws } = await upgrade();
      assert.equal((await p.post(sid, '4queued')).body, 'ok');
      ws.send('2probe');
      assert.equal(await ws.next(), '3probe');
      ws.send('5');
      ws.send('4after');
      // "4queued" comes either on the last poll or on the WebSocket, once.
      const polled = await p.poll(sid);
      const onPoll = polled.status === 200 ? polled.body.split(RS).filter((x) => x === '4queued') : [];
      const seen = [];
      for (;;) {
        const f = await ws.next();
        seen.push(f);
        if (f === '4after') break;
      }
      const onWs = seen.filter((x) => x === '4queued');
      assert.equal(onPoll.length + onWs.length, 1, `"4queued" exactly once (poll ${JSON.stringify(polled.body)}, ws ${JSON.stringify(seen)})`);
    });

    it('after the upgrade, HTTP requests with the same sid are refused', async () => {
      const { p, sid, ws } = await upgrade();
      ws.send('2probe');
      ws.send('5');
      assert.equal(await ws.next(), '3probe');
      const res = await p.poll(sid);
      assert.equal(res.status, 400);
      ws.send('4hello');
      assert.equal(await ws.next(), '4hello');
    });

    it('after the upgrade, a second WebSocket with the same sid is opened and closed at once, the session untouched', async () => {
      const { sid, ws } = await upgrade();
      ws.send('2probe');
      ws.send('5');
      assert.equal(await ws.next(), '3probe');
      const second = new RawSocket(`${srv.wsUrl}${PATH}?EIO=4&transport=websocket&sid=${encodeURIComponent(sid)}`);
      // The handshake completes (as the reference server and the official
      // protocol test-suite have it), then the server closes it.
      await within(5000, second.opened, 'the second WebSocket to open');
      await second.refused();
      ws.send('4hello');
      assert.equal(await ws.next(), '4hello');
    });
  });
});
