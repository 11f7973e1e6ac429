// Connection state recovery: a client whose transport drops comes back
// with the same id and rooms, and gets what it missed exactly once. First
// with the stock client, then on the wire (what the client sends, what the
// server answers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, autoCleanup, client, connect, connected, once, collect, payload, unique, until, reasonsOf, RawSocket,
} from './helpers.mjs';

const srv = useServer();
autoCleanup();

describe('connection state recovery', () => {
  it('the stock client recovers its id, its rooms and the missed room message, once', async () => {
    const room = unique('rec');
    const a = client(srv.url, '/', {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
    });
    const msgs = collect(a, 'room-msg');
    await connected(a);
    assert.equal(a.recovered, false, 'a first connection is not a recovery');
    const id = a.id;
    assert.deepEqual(await a.timeout(5000).emitWithAck('join', room), { ok: true, room });

    const b = await connect(srv.url);
    b.roomMsgs = collect(b, 'room-msg');
    await b.timeout(5000).emitWithAck('join', room);
    b.emit('to-room', { room, msg: 'before' });
    await until(() => msgs.length === 1, 5000, 'the first room message at a');

    // Hold the reconnection until the message a misses has been sent.
    a.io.reconnection(false);
    const down = once(a, 'disconnect');
    a.io.engine.transport.ws._socket.destroy();
    assert.equal((await down)[0], 'transport close');
    assert.deepEqual(await reasonsOf(srv.url, id), ['transport close']);

    b.emit('to-room', { room, msg: 'missed' });
    await until(() => b.roomMsgs.length === 2, 5000, 'the missed message at b (the server sent it)');

    a.io.reconnection(true);
    const up = once(a, 'connect', 10000);
    a.connect();
    await up;
    assert.equal(a.recovered, true, 'socket.recovered');
    assert.equal(a.id, id, 'same socket id');
    assert.deepEqual(await a.timeout(5000).emitWithAck('whoami'), { id, rooms: [room] });

    // A barrier through the room: everything before it has arrived.
    b.emit('to-room', { room, msg: 'after' });
    await until(() => msgs.some((m) => m[0].msg === 'after'), 5000, 'the message after recovery');
    assert.deepEqual(msgs.map((m) => payload(m, 1)[0].msg), ['before', 'missed', 'after']);
  });

  it('a recovery skips the middlewares (a token now "bad" is let back in), a fresh connection does not', async () => {
    const room = unique('mw');
    const a = client(srv.url, '/', { transports: ['websocket'], auth: { token: 'good' } });
    const msgs = collect(a, 'room-msg');
    await connected(a);
    const id = a.id;
    // A broadcast gives the client an offset to present (the stock client
    // does not always keep the one of the first event, the connection
    // handler's "auth", with the reference server either).
    await a.timeout(5000).emitWithAck('join', room);
    const b = await connect(srv.url);
    b.emit('to-room', { room, msg: 'offset' });
    await until(() => msgs.length === 1, 5000, 'the room message at a');
    a.io.reconnection(false);
    const down = once(a, 'disconnect');
    a.io.engine.transport.ws._socket.destroy();
    await down;
    assert.deepEqual(await reasonsOf(srv.url, id), ['transport close']);
    a.auth = { token: 'bad' };
    const up = once(a, 'connect', 8000);
    a.connect();
    await up;
    assert.equal(a.recovered, true);
    assert.equal(a.id, id);
    // Without a session to recover, the same auth is refused.
    const fresh = client(srv.url, '/', { transports: ['websocket'], auth: { token: 'bad' } });
    const [err] = await once(fresh, 'connect_error', 8000);
    assert.equal(err.message, 'unauthorized');
  });

  it('a client disconnect is not recoverable: a new id, no rooms', async () => {
    const a = await connect(srv.url);
    const id = a.id;
    await a.timeout(5000).emitWithAck('join', unique('gone'));
    a.disconnect();
    const up = once(a, 'connect', 8000);
    a.connect();
    await up;
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
    assert.deepEqual((await a.timeout(5000).emitWithAck('whoami')).rooms, []);
  });

  it('on the wire: CONNECT {pid, offset} restores the session, the missed event carries a new offset', async () => {
    const room = unique('wire');
    const a = await RawSocket.sio(srv.wsUrl);
    // The CONNECT reply carries the private session id next to the sid.
    assert.deepEqual(Object.keys(a.connectData).sort(), ['pid', 'sid']);
    assert.equal(typeof a.sid, 'string');
    assert.equal(typeof a.pid, 'string');
    assert.notEqual(a.pid, a.sid);
    // The auth event ends with the offset of this packet.
    assert.equal(a.authEvent[0], 'auth');
    assert.deepEqual(a.authEvent[1], {});
    const offset = a.authEvent[2];
    assert.equal(typeof offset, 'string');
    assert.equal(a.authEvent.length, 3);
    a.send(`421${JSON.stringify(['join', room])}`);
    assert.equal(await a.next(), `431[${JSON.stringify({ ok: true, room })}]`);
    a.terminate();
    assert.deepEqual(await reasonsOf(srv.url, a.sid), ['transport close']);

    const b = await connect(srv.url);
    b.emit('to-room', { room, msg: 'while away' });
    await b.timeout(5000).emitWithAck('echo'); // b's packets are handled in order

    const again = await RawSocket.open(srv.wsUrl);
    again.send(`40${JSON.stringify({ pid: a.pid, offset })}`);
    // The missed event and the CONNECT reply, in either order (the
    // reference sends the missed packets first; the client buffers them).
    const frames = [await again.next(), await again.next()];
    const connectFrame = frames.find((f) => f.startsWith('40'));
    const missedFrame = frames.find((f) => f.startsWith('42'));
    assert.ok(connectFrame && missedFrame, `CONNECT and the missed event: ${JSON.stringify(frames)}`);
    assert.deepEqual(JSON.parse(connectFrame.slice(2)), { sid: a.sid, pid: a.pid });
    const missed = JSON.parse(missedFrame.slice(2));
    assert.equal(missed.length, 3);
    assert.deepEqual(missed.slice(0, 2), ['room-msg', { room, msg: 'while away' }]);
    assert.equal(typeof missed[2], 'string');
    assert.notEqual(missed[2], offset);
    // Then the connection handler's auth event: handshake.auth is what the
    // CONNECT carried, pid and offset included.
    const auth = JSON.parse((await again.next()).slice(2));
    assert.deepEqual(auth.slice(0, 2), ['auth', { pid: a.pid, offset }]);
    again.send('422["whoami"]');
    assert.equal(await again.next(), `432[${JSON.stringify({ id: a.sid, rooms: [room] })}]`);
  });

  it('an unknown pid or offset is a fresh connection, not an error', async () => {
    const raw = await RawSocket.sio(srv.wsUrl, { auth: { pid: 'no-such-session', offset: 'no-such-offset' } });
    assert.equal(typeof raw.sid, 'string');
    assert.equal(typeof raw.pid, 'string');
    assert.notEqual(raw.pid, 'no-such-session');
    raw.send('421["whoami"]');
    assert.equal(await raw.next(), `431[${JSON.stringify({ id: raw.sid, rooms: [] })}]`);
  });
});
