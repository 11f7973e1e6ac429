// Disconnect reasons, as the client sees them and as the server names them
// (read through `reasons` from another client). "ping timeout" is in
// heartbeat.test.mjs (it needs the short-heartbeat instance).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, autoCleanup, connect, disconnected, reasonsOf, RawSocket, sleep } from './helpers.mjs';

const srv = useServer();
autoCleanup();

describe('disconnect reasons', () => {
  it('disconnect-me: the client sees "io server disconnect", the server "server namespace disconnect"', async () => {
    const s = await connect(srv.url);
    const id = s.id;
    const reason = disconnected(s);
    s.emit('disconnect-me');
    assert.equal(await reason, 'io server disconnect');
    assert.equal(s.connected, false);
    assert.deepEqual(await reasonsOf(srv.url, id), ['server namespace disconnect']);
  });

  it('socket.disconnect(): the client sees "io client disconnect", the server "client namespace disconnect"', async () => {
    const s = await connect(srv.url);
    const id = s.id;
    const reason = disconnected(s);
    s.disconnect();
    assert.equal(await reason, 'io client disconnect');
    assert.deepEqual(await reasonsOf(srv.url, id), ['client namespace disconnect']);
  });

  it('leaving one namespace of a multiplexed connection is "client namespace disconnect" and keeps the rest', async () => {
    const s = await connect(srv.url);
    const custom = s.io.socket('/custom');
    await new Promise((resolve) => custom.once('connect', resolve));
    const id = s.id;
    s.disconnect(); // leaves `/`; /custom keeps the Engine.IO session open
    assert.deepEqual(await reasonsOf(srv.url, id), ['client namespace disconnect']);
    assert.equal(custom.connected, true);
    assert.equal(s.io.engine.readyState, 'open');
  });

  it('the client\'s transport dropped: the server says "transport close"', async () => {
    const s = await connect(srv.url);
    const id = s.id;
    const reason = disconnected(s);
    // Drops the TCP connection under the WebSocket: no close frame, no
    // Engine.IO close packet.
    s.io.engine.transport.ws._socket.destroy();
    assert.equal(await reason, 'transport close');
    assert.deepEqual(await reasonsOf(srv.url, id), ['transport close']);
  });

  it('a polling client that sends the Engine.IO close packet: "transport close" too', async () => {
    const s = await connect(srv.url, '/', { transports: ['polling'] });
    const id = s.id;
    s.io.engine.close(); // sends "1" on polling
    assert.deepEqual(await reasonsOf(srv.url, id), ['transport close']);
  });

  it('a malformed Engine.IO packet: the server closes the connection, reason "parse error"', async () => {
    const raw = await RawSocket.sio(srv.wsUrl);
    raw.send('x-not-an-engine-io-packet');
    await raw.whenClosed(5000, 'the close after a malformed Engine.IO packet');
    assert.deepEqual(await reasonsOf(srv.url, raw.sid), ['parse error']);
  });

  it('a malformed Socket.IO packet: the server closes the connection (socket.io names it "forced close")', async () => {
    // socket.io's parser throws, and the Client closes the Engine.IO socket
    // itself; the README's reason table records this.
    for (const bad of ['4abc', '42{}', '42abc["echo",1]', '42["echo"', '4' + '9["x"]']) {
      const raw = await RawSocket.sio(srv.wsUrl);
      raw.send(bad);
      await raw.whenClosed(5000, `the close after ${JSON.stringify(bad)}`);
      assert.deepEqual(await reasonsOf(srv.url, raw.sid), ['forced close'], `reason after ${JSON.stringify(bad)}`);
    }
  });

  it('others keep working while sockets come and go', async () => {
    const healthy = await connect(srv.url);
    for (let i = 0; i < 5; i++) {
      const s = await connect(srv.url);
      if (i % 2) s.disconnect(); else s.io.engine.transport.ws._socket.destroy();
    }
    await sleep(50);
    assert.equal(await healthy.timeout(5000).emitWithAck('echo', 'fine'), 'fine');
  });
});
