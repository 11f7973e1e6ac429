// Bad input, by raw HTTP (fetch) and raw WebSocket (ws). Each check also
// proves that a healthy session opened before it keeps working after it.
// Engine.IO checks use /engine.io/ (the plain echo), Socket.IO ones
// /socket.io/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, connect, cleanup, RawSocket, Polling, RS, MAX_PAYLOAD, IS_REFERENCE, reasonsOf, sleep,
} from './helpers.mjs';

const srv = useServer();

// The healthy sessions: a stock Socket.IO client and a raw Engine.IO
// WebSocket, opened once; each test ends by checking both.
let healthy;
let healthyRaw;
let rounds = 0;
before(async () => {
  healthy = await connect(srv.url);
  healthyRaw = await RawSocket.open(srv.wsUrl, '/engine.io/');
});
after(cleanup);

async function stillHealthy() {
  rounds += 1;
  assert.equal(await healthy.timeout(5000).emitWithAck('echo', `healthy ${rounds}`), `healthy ${rounds}`);
  healthyRaw.send(`4healthy ${rounds}`);
  assert.equal(await healthyRaw.next(5000, 'the healthy Engine.IO echo'), `4healthy ${rounds}`);
}

const SESSION_UNKNOWN = { code: 1, message: 'Session ID unknown' };

async function sessionGone(poll, sid) {
  const res = await poll.poll(sid);
  assert.equal(res.status, 400, `the session is gone (poll status; body ${JSON.stringify(res.body)})`);
  assert.deepEqual(JSON.parse(res.body), SESSION_UNKNOWN);
}

describe('bad input (Engine.IO, /engine.io/)', () => {
  const poll = () => new Polling(srv.url, '/engine.io/');

  it('a malformed POST payload ("abc") ends the session', async () => {
    const p = poll();
    const { sid } = await p.open();
    const res = await p.post(sid, 'abc');
    // engine.io decodes the payload after answering "ok"; wsrt answers 400
    // (README.md, "Interpretations").
    assert.equal(res.status, IS_REFERENCE ? 200 : 400, `status of the malformed POST (${res.body})`);
    await sessionGone(p, sid);
    await stillHealthy();
  });

  it('an unknown sid is 400 {"code":1,"message":"Session ID unknown"} on GET, POST and WebSocket', async () => {
    const p = poll();
    for (const res of [await p.poll('no-such-sid'), await p.post('no-such-sid', '4x')]) {
      assert.equal(res.status, 400);
      assert.deepEqual(JSON.parse(res.body), SESSION_UNKNOWN);
    }
    await new RawSocket(`${srv.wsUrl}/engine.io/?EIO=4&transport=websocket&sid=no-such-sid`).refused();
    await stillHealthy();
  });

  it('a bad EIO version is 400 code 5, an unknown transport 400 code 0', async () => {
    const p = poll();
    const base = `${srv.url}/engine.io/`;
    for (const q of ['?EIO=5&transport=polling', '?EIO=3&transport=polling', '?EIO=abc&transport=polling', '?transport=polling']) {
      const res = await p.fetch(base + q);
      assert.equal(res.status, 400, q);
      assert.deepEqual(JSON.parse(res.body), { code: 5, message: 'Unsupported protocol version' }, q);
    }
    for (const q of ['?EIO=4&transport=abc', '?EIO=4', '?EIO=4&transport=']) {
      const res = await p.fetch(base + q);
      assert.equal(res.status, 400, q);
      assert.deepEqual(JSON.parse(res.body), { code: 0, message: 'Transport unknown' }, q);
    }
    // A handshake must be a GET.
    for (const method of ['POST', 'PUT']) {
      const res = await p.fetch(`${base}?EIO=4&transport=polling`, { method, body: '' });
      assert.equal(res.status, 400, method);
      assert.deepEqual(JSON.parse(res.body), { code: 2, message: 'Bad handshake method' }, method);
    }
    // The same refusals on a WebSocket: refused, or closed without an open packet.
    for (const q of ['?EIO=5&transport=websocket', '?transport=websocket', '?EIO=4']) {
      await new RawSocket(`${srv.wsUrl}/engine.io/${q}`).refused();
    }
    await stillHealthy();
  });

  it('a second concurrent GET is 400, the first gets the close packet, the session ends', async () => {
    const p = poll();
    const { sid } = await p.open();
    const first = p.poll(sid);
    await sleep(50); // let the first GET reach the server before the second
    const second = await p.poll(sid);
    assert.equal(second.status, 400);
    const res = await first;
    assert.equal(res.status, 200);
    assert.equal(res.body, '1', 'the pending GET ends with the close packet');
    await sessionGone(p, sid);
    await stillHealthy();
  });

  it('a POST over maxPayload is 413 and ends the session', async () => {
    const p = poll();
    const { sid } = await p.open();
    // One byte over: the message packet "4" plus 1,000,000 bytes of text.
    const res = await p.post(sid, '4' + 'x'.repeat(MAX_PAYLOAD));
    assert.equal(res.status, 413);
    await sessionGone(p, sid);
    // Exactly maxPayload is fine.
    const { sid: ok } = await p.open();
    const body = '4' + 'y'.repeat(MAX_PAYLOAD - 1);
    const fits = await p.post(ok, body);
    assert.equal(fits.status, 200);
    assert.equal(fits.body, 'ok');
    const [echoed] = await p.drain(ok, 1);
    assert.equal(echoed.length, body.length);
    assert.equal(echoed, body);
    await stillHealthy();
  });

  it('a flood of 5,000 packets in one POST is echoed in order across polls', async () => {
    const p = poll();
    const { sid } = await p.open();
    const n = 5000;
    const sent = Array.from({ length: n }, (_, i) => `4m${i}`);
    const res = await p.post(sid, sent.join(RS));
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
    const got = await p.drain(sid, n, 30000);
    assert.equal(got.length, n);
    assert.deepEqual(got, sent);
    await stillHealthy();
  });

  it('a WebSocket message over maxPayload closes that session with 1009', async () => {
    const raw = await RawSocket.open(srv.wsUrl, '/engine.io/');
    raw.send('4' + 'z'.repeat(MAX_PAYLOAD - 1)); // exactly maxPayload: fine
    assert.equal((await raw.next(8000, 'the echo of a maxPayload message')).length, MAX_PAYLOAD);
    raw.send('4' + 'z'.repeat(MAX_PAYLOAD));
    assert.equal((await raw.whenClosed(8000, 'the close after an oversized message')).code, 1009);
    await stillHealthy();
  });

  it('a malformed WebSocket frame ends that session only', async () => {
    for (const bad of ['abc', '', '9', '4'.repeat(0)]) {
      const raw = await RawSocket.open(srv.wsUrl, '/engine.io/');
      raw.send(bad);
      await raw.whenClosed(5000, `the close after ${JSON.stringify(bad)}`);
    }
    await stillHealthy();
  });
});

describe('bad input (Socket.IO, /socket.io/)', () => {
  const placeholder = (num) => ({ _placeholder: true, num });

  it('BINARY_EVENT announcing 2 attachments, then a text packet after one: the session is closed', async () => {
    const raw = await RawSocket.sio(srv.wsUrl);
    raw.send(`452-${JSON.stringify(['message', placeholder(0), placeholder(1)])}`);
    raw.send(Buffer.from([1, 2, 3]));
    raw.send('42["message","too early"]');
    await raw.whenClosed(5000, 'the close after a lying attachment count');
    assert.deepEqual(await reasonsOf(srv.url, raw.sid), ['forced close']);
    await stillHealthy();
  });

  it('a placeholder num past the attachment count: the session is closed', async () => {
    for (const bad of [placeholder(1), placeholder(-1), placeholder('0'), { _placeholder: true }]) {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send(`451-${JSON.stringify(['message', bad])}`);
      raw.send(Buffer.from([9]));
      await raw.whenClosed(5000, `the close after placeholder ${JSON.stringify(bad)}`);
    }
    await stillHealthy();
  });

  it('a binary frame with no BINARY_EVENT before it: the session is closed', async () => {
    const raw = await RawSocket.sio(srv.wsUrl);
    raw.send(Buffer.from([1, 2, 3]));
    await raw.whenClosed(5000, 'the close after a stray attachment');
    await stillHealthy();
  });

  it('a Socket.IO message over maxPayload: closed with 1009, reason "transport error"', async () => {
    const raw = await RawSocket.sio(srv.wsUrl);
    raw.send(`42${JSON.stringify(['message', 'x'.repeat(MAX_PAYLOAD)])}`);
    assert.equal((await raw.whenClosed(8000, 'the close after an oversized message')).code, 1009);
    assert.deepEqual(await reasonsOf(srv.url, raw.sid), ['transport error']);
    await stillHealthy();
  });

  it('an EVENT before any CONNECT, or a second CONNECT of a connected namespace: the session is closed', async () => {
    const early = await RawSocket.open(srv.wsUrl, '/socket.io/');
    early.send('42["echo",1]');
    await early.whenClosed(5000, 'the close after an event before CONNECT');
    const twice = await RawSocket.sio(srv.wsUrl);
    twice.send('40');
    await twice.whenClosed(5000, 'the close after a second CONNECT');
    await stillHealthy();
  });
});
