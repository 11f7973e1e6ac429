// Namespaces: `/custom` echoes its auth, an unknown namespace and a bad
// token are refused with the contract's CONNECT_ERROR, and one connection
// multiplexes `/` and `/custom`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, autoCleanup, client, connect, connected, refused, once, payload } from './helpers.mjs';

const srv = useServer();
autoCleanup();

describe('namespaces', () => {
  it('`/` sends `auth` with handshake.auth: {} without auth, the object otherwise', async () => {
    const plain = await connect(srv.url);
    assert.deepEqual(payload(plain.authArgs, 1), [{}]);
    const withAuth = await connect(srv.url, '/', { auth: { token: 'good', n: 1, nested: { x: [1] } } });
    assert.deepEqual(payload(withAuth.authArgs, 1), [{ token: 'good', n: 1, nested: { x: [1] } }]);
  });

  it('`/custom` with auth gets its auth back', async () => {
    const s = await connect(srv.url, '/custom', { auth: { token: 'abc', who: 'custom' } });
    assert.deepEqual(payload(s.authArgs, 1), [{ token: 'abc', who: 'custom' }]);
    assert.equal(s.nsp, '/custom');
    assert.equal(typeof s.id, 'string');
  });

  it('`/nope` is refused with "Invalid namespace"', async () => {
    const s = client(srv.url, '/nope');
    const err = await refused(s);
    assert.equal(err.message, 'Invalid namespace');
    assert.equal(s.connected, false);
  });

  it('`/` with {token: "bad"} is refused: "unauthorized", data.reason "bad token"', async () => {
    const s = client(srv.url, '/', { auth: { token: 'bad' } });
    const err = await refused(s);
    assert.equal(err.message, 'unauthorized');
    assert.deepEqual(err.data, { reason: 'bad token' });
    assert.equal(s.connected, false);
    // The refusal concerns `/` only: the same token is fine on /custom.
    const c = await connect(srv.url, '/custom', { auth: { token: 'bad' } });
    assert.deepEqual(payload(c.authArgs, 1), [{ token: 'bad' }]);
  });

  it('one connection multiplexes `/` and `/custom`; leaving one keeps the other', async () => {
    const main = client(srv.url, '/');
    const mainAuth = once(main, 'auth');
    await connected(main);
    await mainAuth;
    // Manager#socket opens the namespace at once (autoConnect): no connect()
    // here, a second CONNECT for a connected namespace is a protocol error.
    const custom = main.io.socket('/custom', { auth: { via: 'same manager' } });
    const customAuth = once(custom, 'auth');
    await connected(custom);
    assert.deepEqual(payload(await customAuth, 1), [{ via: 'same manager' }]);
    assert.equal(main.io, custom.io, 'one manager');
    assert.notEqual(main.id, custom.id, 'one socket id per namespace');
    // The unknown namespace on the same connection is refused without
    // harming the others.
    const nope = main.io.socket('/nope');
    assert.equal((await refused(nope)).message, 'Invalid namespace');
    custom.disconnect();
    assert.equal(await main.timeout(5000).emitWithAck('echo', 'still'), 'still');
    assert.equal(main.connected, true);
  });
});
