// The Socket.IO v5 protocol's own expectations (the socket.io-protocol
// test-suite's checks, written here anew), on the wire with a raw `ws`
// client, against the contract's server. Connection state recovery is on,
// so two things differ from that suite: the CONNECT reply carries `pid`
// next to `sid`, and every EVENT the server sends without an ack id ends
// with one more argument, the packet's offset (a string).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, cleanup, RawSocket, Polling, RS } from './helpers.mjs';

const srv = useServer();
after(cleanup);

/** Parses an EVENT frame `42[...]` / `42/nsp,[...]`; checks and drops the trailing offset. */
function event(frame, prefix = '42') {
  assert.equal(typeof frame, 'string', 'a text frame');
  assert.ok(frame.startsWith(prefix), `${JSON.stringify(frame)} starts with ${prefix}`);
  const data = JSON.parse(frame.slice(prefix.length));
  assert.ok(Array.isArray(data) && data.length >= 2, `event payload ${frame}`);
  const offset = data.pop();
  assert.equal(typeof offset, 'string', `the offset ends the event ${frame}`);
  assert.ok(offset.length > 0);
  return data;
}

function connectReply(frame, prefix = '40') {
  assert.ok(frame.startsWith(prefix + '{'), `CONNECT reply ${JSON.stringify(frame)}`);
  const data = JSON.parse(frame.slice(prefix.length));
  assert.deepEqual(Object.keys(data).sort(), ['pid', 'sid']);
  assert.equal(typeof data.sid, 'string');
  assert.equal(typeof data.pid, 'string');
  return data;
}

const ph = (num) => ({ _placeholder: true, num });

describe('Socket.IO v5 protocol (/socket.io/)', () => {
  describe('handshake', () => {
    it('polling on /socket.io/: the open packet, CORS *', async () => {
      const p = new Polling(srv.url, '/socket.io/');
      const res = await p.fetch(p.url(), { headers: { Origin: 'http://elsewhere.example' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      const h = JSON.parse(res.body.slice(1));
      assert.deepEqual(h.upgrades, ['websocket']);
      assert.equal(h.maxPayload, 1000000);
    });

    it('a CORS preflight on /socket.io/ is allowed for any origin', async () => {
      const p = new Polling(srv.url, '/socket.io/');
      const res = await p.fetch(p.url(), {
        method: 'OPTIONS',
        headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'POST' },
      });
      assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    });
  });

  describe('connect', () => {
    it('to the main namespace', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('40');
      connectReply(await raw.next());
      assert.deepEqual(event(await raw.next()), ['auth', {}]);
    });

    it('to the main namespace with a payload', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('40{"token":"123"}');
      connectReply(await raw.next());
      assert.deepEqual(event(await raw.next()), ['auth', { token: '123' }]);
    });

    it('to a custom namespace, with and without a payload', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('40/custom,');
      connectReply(await raw.next(), '40/custom,');
      assert.deepEqual(event(await raw.next(), '42/custom,'), ['auth', {}]);
      const raw2 = await RawSocket.open(srv.wsUrl);
      raw2.send('40/custom,{"token":"abc"}');
      connectReply(await raw2.next(), '40/custom,');
      assert.deepEqual(event(await raw2.next(), '42/custom,'), ['auth', { token: 'abc' }]);
    });

    it('an unknown namespace gets CONNECT_ERROR {"message":"Invalid namespace"}', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('40/random');
      assert.equal(await raw.next(), '44/random,{"message":"Invalid namespace"}');
    });

    it('a refused `/` gets CONNECT_ERROR with message and data', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('40{"token":"bad"}');
      const frame = await raw.next();
      assert.ok(frame.startsWith('44{'), frame);
      assert.deepEqual(JSON.parse(frame.slice(2)), { message: 'unauthorized', data: { reason: 'bad token' } });
    });

    it('an invalid handshake closes the connection', async () => {
      const raw = await RawSocket.open(srv.wsUrl);
      raw.send('4abc');
      await raw.whenClosed();
    });
  });

  describe('disconnect', () => {
    it('from the main namespace; the connection stays and can CONNECT again', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send('41');
      // A round trip on another namespace: once it is back, the server has
      // handled the DISCONNECT (a CONNECT of `/` racing it is a protocol
      // error for socket.io).
      raw.send('40/custom,');
      connectReply(await raw.next(), '40/custom,');
      event(await raw.next(), '42/custom,');
      raw.send('40');
      const again = connectReply(await raw.next());
      assert.notEqual(again.sid, raw.sid, 'a new socket');
      assert.deepEqual(event(await raw.next()), ['auth', {}]);
    });

    it('connect then disconnect a custom namespace; the main one keeps working', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send('40/custom');
      connectReply(await raw.next(), '40/custom,');
      event(await raw.next(), '42/custom,');
      raw.send('41/custom');
      raw.send('42["message","message to main namespace"]');
      assert.deepEqual(event(await raw.next()), ['message-back', 'message to main namespace']);
    });
  });

  describe('message', () => {
    it('a plain-text EVENT', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send('42["message",1,"2",{"3":[true]}]');
      assert.deepEqual(event(await raw.next()), ['message-back', 1, '2', { 3: [true] }]);
    });

    it('a BINARY_EVENT with two attachments', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send(`452-${JSON.stringify(['message', ph(0), ph(1)])}`);
      raw.send(Uint8Array.from([1, 2, 3]));
      raw.send(Uint8Array.from([4, 5, 6]));
      assert.deepEqual(event(await raw.next(), '452-'), ['message-back', ph(0), ph(1)]);
      assert.deepEqual([...(await raw.next())], [1, 2, 3]);
      assert.deepEqual([...(await raw.next())], [4, 5, 6]);
    });

    it('a plain-text EVENT with an ack id gets an ACK with that id (no offset)', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await raw.next(), '43456[1,"2",{"3":[false]}]');
    });

    it('a BINARY_EVENT with an ack id gets a BINARY_ACK', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send(`452-789${JSON.stringify(['message-with-ack', ph(0), ph(1)])}`);
      raw.send(Uint8Array.from([1, 2, 3]));
      raw.send(Uint8Array.from([4, 5, 6]));
      assert.equal(await raw.next(), `462-789${JSON.stringify([ph(0), ph(1)])}`);
      assert.deepEqual([...(await raw.next())], [1, 2, 3]);
      assert.deepEqual([...(await raw.next())], [4, 5, 6]);
    });

    it('the server\'s own question carries an ack id and the client\'s ACK answers it', async () => {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send('427["ask",{"q":1}]');
      const q = await raw.next();
      const m = /^42(\d+)(\[.*\])$/.exec(q);
      assert.ok(m, `an EVENT with an ack id: ${q}`);
      assert.deepEqual(JSON.parse(m[2]), ['question', { q: 1 }], 'no offset on an event that asks for an ack');
      raw.send(`43${m[1]}["yes",2]`);
      assert.equal(await raw.next(), '437[{"ok":true,"answer":["yes",2]}]');
    });

    it('on polling, attachments travel as base64 packets of the same payload', async () => {
      const p = new Polling(srv.url, '/socket.io/');
      const { sid } = await p.open();
      assert.equal((await p.post(sid, '40')).body, 'ok');
      const [conn, auth] = await p.drain(sid, 2);
      connectReply(conn, '40');
      event(auth);
      const body = `451-${JSON.stringify(['message', ph(0)])}${RS}bAQIDBA==`;
      assert.equal((await p.post(sid, body)).body, 'ok');
      const [head, attachment] = await p.drain(sid, 2);
      assert.deepEqual(event(head, '451-'), ['message-back', ph(0)]);
      assert.equal(attachment, 'bAQIDBA==');
    });
  });
});
