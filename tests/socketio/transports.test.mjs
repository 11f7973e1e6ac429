// The stock socket.io-client (Node) on each way of reaching the server:
// HTTP long-polling upgraded to WebSocket, WebSocket only, and polling only
// (with a 64 KiB binary round trip, which polling carries as base64).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeWebSocket, NodeXHR } from 'engine.io-client';
import { useServer, autoCleanup, client, connected, once, bytes, payload } from './helpers.mjs';

const srv = useServer();
autoCleanup();

describe('transports', () => {
  it('starts on HTTP long-polling, upgrades to WebSocket, round trips before and after', async () => {
    // The WebSocket transport opens only when the test lets it, so that a
    // round trip provably happens on polling first.
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    class GatedWebSocket extends NodeWebSocket {
      doOpen() {
        gate.then(() => super.doOpen());
      }
    }
    const s = client(srv.url, '/', { transports: [NodeXHR, GatedWebSocket], upgrade: true });
    const upgrades = [];
    s.io.on('open', () => s.io.engine.on('upgrade', (t) => upgrades.push(t.name)));
    await connected(s);
    const engine = s.io.engine;
    assert.equal(engine.transport.name, 'polling');

    const before = await s.timeout(5000).emitWithAck('echo', 'before upgrade', { n: 1 });
    assert.equal(before, 'before upgrade');
    assert.equal(engine.transport.name, 'polling', 'the first round trip was on polling');
    assert.deepEqual(upgrades, []);

    const upgraded = once(engine, 'upgrade', 8000);
    release();
    const [t] = await upgraded;
    assert.equal(t.name, 'websocket');
    assert.equal(engine.transport.name, 'websocket');

    const back = await new Promise((resolve) => {
      s.timeout(5000).emit('echo', 'after upgrade', [1, 2, 3], (err, ...args) => resolve(err ?? args));
    });
    assert.deepEqual(back, ['after upgrade', [1, 2, 3]]);
    assert.deepEqual(upgrades, ['websocket'], 'exactly one upgrade');
    assert.equal(s.connected, true);
  });

  it('works on WebSocket only (no upgrade offered, no upgrade done)', async () => {
    const s = client(srv.url, '/', { transports: ['websocket'] });
    let upgraded = false;
    s.io.on('open', () => s.io.engine.on('upgrade', () => { upgraded = true; }));
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'websocket');
    const got = await s.timeout(5000).emitWithAck('echo', { hello: 'websocket', list: [true, null, 1.5] });
    assert.deepEqual(got, { hello: 'websocket', list: [true, null, 1.5] });
    const back = once(s, 'message-back');
    s.emit('message', 'plain', 42);
    assert.deepEqual(payload(await back, 2), ['plain', 42]);
    assert.equal(upgraded, false);
    assert.equal(s.io.engine.transport.name, 'websocket');
  });

  it('works on polling only, with a 64 KiB binary round trip carried as base64', async () => {
    // Spies on the raw polling responses (the transport's onData).
    const wire = [];
    class SpyXHR extends NodeXHR {
      onData(data) {
        wire.push(typeof data === 'string' ? data : Buffer.from(data).toString('latin1'));
        super.onData(data);
      }
    }
    const s = client(srv.url, '/', { transports: [SpyXHR] });
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'polling');

    const buf = bytes(64 * 1024, 7);
    const acked = await s.timeout(8000).emitWithAck('echo', buf);
    assert.ok(Buffer.isBuffer(acked), 'the ack carries a Buffer');
    assert.ok(acked.equals(buf), 'the 64 KiB came back identical (ack)');

    const back = once(s, 'message-back', 8000);
    s.emit('message', { label: 'bin', data: buf });
    const [obj] = payload(await back, 1);
    assert.equal(obj.label, 'bin');
    assert.ok(Buffer.isBuffer(obj.data) && obj.data.equals(buf), 'the 64 KiB came back identical (event)');

    // On polling the attachment travelled as a "b"-prefixed base64 packet.
    const b64 = 'b' + buf.toString('base64');
    const carried = wire.filter((w) => w.split('\x1e').includes(b64));
    assert.ok(carried.length >= 2, `two polling responses carried the buffer as base64 (found ${carried.length})`);
    assert.equal(s.io.engine.transport.name, 'polling');
  });
});
