// Socket.IO over TLS: the stock socket.io-client (Node) reaches the front's
// example started with TLS_CERT/TLS_KEY, on long-polling over https, on the
// upgrade to wss, and on WebSocket alone; a client that does not trust the
// certificate is refused. The certificate comes from a CA made for this run
// with the openssl CLI; nothing is committed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoCleanup, client, connected, FRONT, IS_REFERENCE, refused, startServer, until } from './helpers.mjs';

autoCleanup();

/** A CA and a server certificate for 127.0.0.1, as PEM files in `dir`. */
function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=wsrt test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'key.pem', '-out', 'server.csr');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'ext.cnf', '-out', 'cert.pem');
  return { ca: readFileSync(join(dir, 'ca.pem')), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

const SKIP = IS_REFERENCE || FRONT === 'rust'
  ? 'wsrt example servers only: they take TLS_CERT/TLS_KEY (the contract servers of the reference and Rust fronts do not)'
  : false;

describe('Socket.IO over TLS', { skip: SKIP }, () => {
  let server;
  let certs;
  before(async () => {
    certs = makeCertificates(mkdtempSync(join(tmpdir(), 'wsrt-sio-tls-')));
    server = await startServer(FRONT, { TLS_CERT: certs.cert, TLS_KEY: certs.key }, 'tls');
  });
  after(async () => {
    if (!server) return;
    const wasAlive = server.alive();
    const status = await server.stop();
    assert.ok(wasAlive, `the TLS server died during the tests:\n${server.log()}`);
    assert.deepEqual(status, { code: 0, signal: null }, `the TLS server did not exit 0 on SIGTERM:\n${server.log()}`);
  });
  const url = () => `https://127.0.0.1:${server.port}`;

  it('long-polling over https, then the upgrade to wss', async () => {
    const c = client(url(), '/', { ca: certs.ca, transports: ['polling', 'websocket'] });
    // The session opens on polling (the upgrade may be over by the time
    // the socket reports connected).
    let first;
    c.io.once('open', () => { first = c.io.engine.transport.name; });
    const s = await connected(c);
    assert.equal(first, 'polling');
    assert.equal(await s.timeout(5000).emitWithAck('echo', 'once opened'), 'once opened');
    await until(() => s.io.engine.transport.name === 'websocket', 8000, 'the upgrade to WebSocket');
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const back = await s.timeout(5000).emitWithAck('echo', { text: 'é✓', bytes });
    assert.equal(back.text, 'é✓');
    assert.deepEqual(Buffer.from(back.bytes), bytes);
  });

  it('long-polling alone, and WebSocket alone', async () => {
    const polling = await connected(client(url(), '/', { ca: certs.ca, transports: ['polling'] }));
    const big = 'x'.repeat(200_000);
    assert.equal(await polling.timeout(8000).emitWithAck('echo', big), big);
    const ws = await connected(client(url(), '/', { ca: certs.ca, transports: ['websocket'] }));
    assert.equal(await ws.timeout(5000).emitWithAck('echo', 'over wss'), 'over wss');
  });

  it('a client that does not trust the certificate is refused', async () => {
    const err = await refused(client(url(), '/', { transports: ['websocket'] }));
    assert.ok(err instanceof Error);
  });
});
