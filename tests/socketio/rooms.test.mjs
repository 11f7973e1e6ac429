// Rooms and broadcast. Counts are read after a barrier: a later message
// that every client gets (a `to-room` to a room all of them joined), so
// whatever a client should have got before it has arrived.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, autoCleanup, connect, collect, payload, unique, until } from './helpers.mjs';

const srv = useServer();
autoCleanup();

async function join(s, room) {
  const res = await s.timeout(5000).emitWithAck('join', room);
  assert.deepEqual(res, { ok: true, room });
}

async function whoami(s) {
  return s.timeout(5000).emitWithAck('whoami');
}

/** N connected clients that all joined `all`, with their room-msg and broadcast-msg lists. */
async function clients(n, all) {
  const list = [];
  for (let i = 0; i < n; i++) {
    const s = await connect(srv.url);
    s.roomMsgs = collect(s, 'room-msg');
    s.broadcasts = collect(s, 'broadcast-msg');
    await join(s, all);
    list.push(s);
  }
  return list;
}

/** Sends a barrier through `all` from `from` and waits until every client has it. */
async function barrier(from, everyone, all) {
  const tag = unique('barrier');
  from.emit('to-room', { room: all, msg: tag });
  await until(() => everyone.every((s) => s.roomMsgs.some(([m]) => m.room === all && m.msg === tag)), 8000,
    'the barrier at every client');
}

/** The room-msg payloads of `s` for `room`, offsets checked. */
function roomMsgs(s, room) {
  return s.roomMsgs.map((args) => payload(args, 1)[0]).filter((m) => m.room === room).map((m) => m.msg);
}

describe('rooms', () => {
  it('a to-room message reaches each member exactly once and no one else', async () => {
    const all = unique('all');
    const room = unique('r');
    const [a, b, c] = await clients(3, all);
    await join(a, room);
    await join(b, room);
    // Joining twice changes nothing.
    await join(b, room);
    assert.deepEqual((await whoami(a)).rooms, [all, room].sort());
    assert.deepEqual(await whoami(c), { id: c.id, rooms: [all] });

    a.emit('to-room', { room, msg: 'to members' });
    c.emit('to-room', { room, msg: 'from a non-member' });
    await barrier(a, [a, b, c], all);
    await barrier(c, [a, b, c], all);
    // Two senders: their messages may come in either order.
    assert.deepEqual(roomMsgs(a, room).sort(), ['from a non-member', 'to members']);
    assert.deepEqual(roomMsgs(b, room).sort(), ['from a non-member', 'to members']);
    assert.deepEqual(roomMsgs(c, room), []);
  });

  it('a room nobody joined delivers to nobody', async () => {
    const all = unique('all');
    const [a, b] = await clients(2, all);
    a.emit('to-room', { room: unique('empty'), msg: 'void' });
    await barrier(a, [a, b], all);
    for (const s of [a, b]) assert.deepEqual(s.roomMsgs.map((x) => payload(x, 1)[0].msg).filter((m) => m === 'void'), []);
  });

  it('broadcast reaches every other socket of `/`, never the sender', async () => {
    const all = unique('all');
    const [a, b, c] = await clients(3, all);
    const tag = unique('hello');
    a.emit('broadcast', { tag });
    await barrier(b, [a, b, c], all);
    const mine = (s) => s.broadcasts.map((x) => payload(x, 1)[0]).filter((m) => m.tag === tag);
    assert.equal(mine(a).length, 0, 'the sender gets none');
    assert.equal(mine(b).length, 1, 'b gets exactly one');
    assert.equal(mine(c).length, 1, 'c gets exactly one');
  });

  it('a socket that leaves a room gets no more of it; leave acks when asked', async () => {
    const all = unique('all');
    const room = unique('r');
    const [a, b] = await clients(2, all);
    await join(a, room);
    await join(b, room);
    a.emit('to-room', { room, msg: 'one' });
    await barrier(a, [a, b], all);

    assert.deepEqual(await b.timeout(5000).emitWithAck('leave', room), { ok: true, room });
    assert.deepEqual((await whoami(b)).rooms, [all]);
    a.emit('to-room', { room, msg: 'two' });
    await barrier(a, [a, b], all);
    assert.deepEqual(roomMsgs(a, room), ['one', 'two']);
    assert.deepEqual(roomMsgs(b, room), ['one']);

    // leave without an ack: no answer, but it takes effect (whoami comes after it).
    a.emit('leave', room);
    assert.deepEqual((await whoami(a)).rooms, [all]);
    b.emit('to-room', { room, msg: 'three' });
    await barrier(b, [a, b], all);
    assert.deepEqual(roomMsgs(a, room), ['one', 'two']);
  });

  it('whoami lists the rooms sorted, without the socket\'s own id', async () => {
    const s = await connect(srv.url);
    const names = ['zeta', 'alpha', 'Mid', 'beta'].map((n) => unique(n));
    for (const n of names) await join(s, n);
    const me = await whoami(s);
    assert.equal(me.id, s.id);
    assert.deepEqual(me.rooms, [...names].sort());
    assert.ok(!me.rooms.includes(s.id));
  });
});
