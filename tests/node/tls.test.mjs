// TLS in the Node front against clients we did not write: `ws` (wss, SNI,
// client certificates), `eventsource` over https, and a raw socket
// speaking plain HTTP to a TLS port. Certificates are made at test time
// (certs.mjs, the `openssl` command) and trusted by passing the test CA.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import { Server } from 'wsrt';
import { within, listen, shut, cleanup, nextMessage, until, freePort, startExample } from './helpers.mjs';
import { CertDir, der } from './certs.mjs';

let certs, ca, caPem, local, other, local2, alice, mallory;

before(() => {
  certs = new CertDir();
  ca = certs.ca('ca');
  caPem = readFileSync(ca.cert);
  local = certs.leaf('localhost', ca, '/CN=localhost', 'DNS:localhost,IP:127.0.0.1');
  other = certs.leaf('other', ca, '/CN=other.test', 'DNS:other.test');
  local2 = certs.leaf('localhost2', ca, '/CN=localhost renewed', 'DNS:localhost,IP:127.0.0.1');
  alice = certs.leaf('alice', ca, '/O=Example/CN=alice');
  const rogue = certs.ca('rogue');
  mallory = certs.leaf('mallory', rogue, '/CN=mallory');
});
after(() => certs?.remove());
afterEach(cleanup);

/** A wss client, open; its TLS socket, and the DER of the certificate the server showed it. */
async function open(url, options = {}) {
  const ws = new WebSocket(url, { ca: caPem, ...options });
  let raw = null;
  let socket = null;
  ws.once('upgrade', (res) => {
    socket = res.socket;
    raw = socket.getPeerCertificate().raw;
  });
  await within(5000, new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), `wss open ${url}`);
  return { ws, raw, socket };
}

/** How a wss client that the server refuses ends: its error's code, or "closed". */
function refused(url, options = {}) {
  const ws = new WebSocket(url, { ca: caPem, ...options });
  return within(5000, new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the server accepted the client')));
    ws.once('error', (e) => resolve(e.code ?? e.message));
    ws.once('close', () => resolve('closed'));
  }), `the refusal of ${url}`);
}

/** An echo server on /echo whose opens record their requests. */
function echoServer(options, opens = []) {
  return listen((s) => {
    s.ws('/echo', {
      open(ws, req) {
        opens.push(req);
      },
      message(ws, data, isBinary) {
        ws.send(data, isBinary);
      },
    });
  }, options);
}

describe('TLS', () => {
  it('wss echoes text and 1 MiB of binary; the request tells the handshake; Buffers and PEM text are options', async () => {
    const opens = [];
    // The certificate's bytes (a Buffer) and the key's PEM text.
    const server = echoServer({ tlsCert: readFileSync(local.cert), tlsKey: readFileSync(local.key, 'utf8') }, opens);
    assert.equal(server.tlsPort, server.port);
    const { ws, raw } = await open(`wss://127.0.0.1:${server.port}/echo`, { servername: 'localhost' });
    assert.ok(raw.equals(der(local.cert)));
    ws.send('hello over tls \u2713');
    assert.deepEqual(await nextMessage(ws).then((m) => [m.isBinary, m.data.toString()]), [false, 'hello over tls \u2713']);
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
    ws.send(big);
    const back = await nextMessage(ws);
    assert.equal(back.isBinary, true);
    assert.equal(back.data.length, 1 << 20);
    assert.ok(back.data.equals(big));

    const tls = opens[0].tls;
    assert.equal(tls.version, 'TLSv1.3');
    assert.match(tls.cipher, /^TLS13_/);
    assert.equal(tls.serverName, 'localhost');
    assert.equal(tls.peerSubject, null);
    assert.equal(tls.peerCertificate, null);
    const [wsServer] = server.clients;
    assert.equal(wsServer.request.tls.serverName, 'localhost');
    assert.equal(server.stats().tlsHandshakes, 1);
    assert.equal(server.stats().tlsFailures, 0);

    // TLS 1.2 when the client goes no further, unless tlsMinVersion says 1.3.
    const { ws: old } = await open(`wss://127.0.0.1:${server.port}/echo`, { maxVersion: 'TLSv1.2' });
    assert.equal(opens[1].tls.version, 'TLSv1.2');
    assert.equal(opens[1].tls.serverName, null, 'no SNI for an IP address');
    old.close();
    ws.close();
    await shut(server);

    const strict = echoServer({ tlsCert: [local.cert], tlsKey: [local.key], tlsMinVersion: 'TLSv1.3' });
    assert.notEqual(await refused(`wss://127.0.0.1:${strict.port}/echo`, { maxVersion: 'TLSv1.2' }), null);
    await until(() => strict.stats().tlsFailures === 1, 'the refused handshake to be counted');
    assert.equal(strict.stats().tlsHandshakes, 0);
    await shut(strict);
  });

  it('a plain port and a tlsListen port side by side; plain connections have request.tls null', async () => {
    const opens = [];
    const server = echoServer({ tlsCert: local.cert, tlsKey: local.key, tlsListen: '127.0.0.1:0' }, opens);
    assert.equal(typeof server.tlsPort, 'number');
    assert.notEqual(server.tlsPort, server.port);
    const plain = new WebSocket(`ws://127.0.0.1:${server.port}/echo`);
    await within(5000, new Promise((resolve, reject) => {
      plain.once('open', resolve);
      plain.once('error', reject);
    }), 'the plain WebSocket');
    const { ws: secure } = await open(`wss://127.0.0.1:${server.tlsPort}/echo`, { servername: 'localhost' });
    assert.equal(opens[0].tls, null);
    assert.equal(opens[1].tls.serverName, 'localhost');
    for (const ws of [plain, secure]) {
      ws.send('both');
      assert.equal((await nextMessage(ws)).data.toString(), 'both');
      ws.close();
    }
    await shut(server);

    const none = echoServer({});
    assert.equal(none.tlsPort, null);
    assert.throws(() => none.reloadTls({ tlsCert: local.cert, tlsKey: local.key }), { code: 'ERR_WSRT_INVALID_ARGUMENT', message: /no TLS listener/ });
    await shut(none);
    assert.equal(new Server({ tlsCert: local.cert, tlsKey: local.key }).tlsPort, null, 'null before listen()');
  });

  it('SNI: the client\'s server name picks among two certificates', async () => {
    const opens = [];
    const server = echoServer({ tlsCert: [local.cert, other.cert], tlsKey: [local.key, other.key] }, opens);
    const url = `wss://127.0.0.1:${server.port}/echo`;
    const a = await open(url, { servername: 'other.test' });
    const b = await open(url, { servername: 'localhost' });
    const c = await open(url); // no name: the first
    assert.ok(a.raw.equals(der(other.cert)));
    assert.ok(b.raw.equals(der(local.cert)));
    assert.ok(c.raw.equals(der(local.cert)));
    assert.deepEqual(opens.map((r) => r.tls.serverName), ['other.test', 'localhost', null]);
    for (const x of [a, b, c]) x.ws.close();
    await shut(server);
  });

  it('client certificates: required refuses none and a stranger\'s, counts them; a signed one is verified and shown', async () => {
    const opens = [];
    const server = echoServer({ tlsCert: local.cert, tlsKey: local.key, tlsCa: ca.cert, tlsClientAuth: 'required' }, opens);
    const url = `wss://127.0.0.1:${server.port}/echo`;
    await refused(url);
    await until(() => server.stats().tlsFailures === 1, 'the handshake without a certificate to be counted');
    await refused(url, { cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) });
    await until(() => server.stats().tlsFailures === 2, 'the untrusted certificate to be counted');
    assert.equal(opens.length, 0);

    const { ws } = await open(url, { cert: readFileSync(alice.cert), key: readFileSync(alice.key), servername: 'localhost' });
    ws.send('it is alice');
    assert.equal((await nextMessage(ws)).data.toString(), 'it is alice');
    assert.equal(opens.length, 1);
    assert.equal(opens[0].tls.peerSubject, 'CN=alice,O=Example');
    assert.ok(Buffer.isBuffer(opens[0].tls.peerCertificate));
    assert.ok(opens[0].tls.peerCertificate.equals(der(alice.cert)));
    assert.deepEqual([server.stats().tlsHandshakes, server.stats().tlsFailures], [1, 2]);
    ws.close();

    // A reload of the certificate alone keeps the client-certificate settings.
    server.reloadTls({ tlsCert: local2.cert, tlsKey: local2.key });
    await refused(url);
    const renewed = await open(url, { cert: readFileSync(alice.cert), key: readFileSync(alice.key) });
    assert.ok(renewed.raw.equals(der(local2.cert)));
    assert.equal(opens[1].tls.peerSubject, 'CN=alice,O=Example');
    renewed.ws.close();
    await shut(server);
    opens.length = 0;

    // optional: without a certificate the request has no subject.
    const optional = echoServer({ tlsCert: local.cert, tlsKey: local.key, tlsCa: [caPem], tlsClientAuth: 'optional' }, opens);
    const anon = await open(`wss://127.0.0.1:${optional.port}/echo`);
    assert.equal(opens[0].tls.peerSubject, null);
    assert.equal(opens[0].tls.peerCertificate, null);
    anon.ws.close();
    await shut(optional);
  });

  it('reloadTls: new connections get the new certificate, open ones keep theirs; a bad reload throws and changes nothing', async () => {
    assert.throws(() => new Server({ tlsCert: local.cert, tlsKey: local.key }).reloadTls({ tlsCert: local.cert }), { code: 'ERR_WSRT_WRONG_STATE' });
    const server = echoServer({ tlsCert: local.cert, tlsKey: local.key });
    const url = `wss://127.0.0.1:${server.port}/echo`;
    const before = await open(url, { servername: 'localhost' });
    assert.ok(before.raw.equals(der(local.cert)));

    server.reloadTls({ tlsCert: readFileSync(local2.cert), tlsKey: local2.key });
    const after = await open(url, { servername: 'localhost' });
    assert.ok(after.raw.equals(der(local2.cert)));
    // The connection opened before goes on, with its certificate.
    before.ws.send('still here');
    assert.equal((await nextMessage(before.ws)).data.toString(), 'still here');
    assert.ok(before.socket.getPeerCertificate().raw.equals(der(local.cert)));

    const missing = certs.file('no-such-cert.pem');
    assert.throws(() => server.reloadTls({ tlsCert: missing, tlsKey: local.key }), (e) => {
      assert.equal(e.code, 'ERR_WSRT_IO');
      assert.match(e.message, /tlsCert/);
      assert.ok(e.message.includes(missing), e.message);
      return true;
    });
    assert.throws(() => server.reloadTls({ tlsCert: local.cert, tlsKey: other.key }), { message: /tlsKey #1 does not fit tlsCert #1/ });
    assert.throws(() => server.reloadTls({ tlsCert: [local.cert, other.cert] }), { message: /tlsCert and tlsKey pair up: 2 certificate\(s\) but 1 key\(s\)/ });
    assert.throws(() => server.reloadTls({ maxBuffered: 1 }), { name: 'TypeError', message: /a TLS reload takes the tls_\* options only, not "maxBuffered"/ });
    assert.throws(() => server.reloadTls({ tlsCert: local.cert, tlsKey: local.key, tlsListen: '127.0.0.1:1' }), { message: /tlsListen cannot change/ });
    assert.throws(() => server.reloadTls({ tlsCert: 42, tlsKey: local.key }), { name: 'TypeError', message: /tlsCert must be a string or a list of strings, not a number/ });
    const still = await open(url, { servername: 'localhost' });
    assert.ok(still.raw.equals(der(local2.cert)));
    for (const x of [before, after, still]) x.ws.close();
    await shut(server);
  });

  it('options: the core checks them, the front converts strings and bytes', async () => {
    assert.throws(() => new Server({ tlsClientAuth: 'yes' }), { name: 'RangeError', message: /tlsClientAuth/ });
    assert.throws(() => new Server({ tlsMinVersion: '1.1' }), { name: 'RangeError', message: /tlsMinVersion/ });
    assert.throws(() => new Server({ tlsCert: { path: 'x' } }), { name: 'TypeError', message: /tlsCert must be a string or a list of strings, not an object/ });
    assert.throws(() => new Server({ tlsKey: ['a', 5] }), { name: 'TypeError', message: /not a list with an item that is not a string or a Buffer/ });
    assert.throws(() => new Server({ tlsListen: ['a'] }), { name: 'TypeError', message: /tlsListen must be a string/ });
    // A Buffer is no number.
    assert.throws(() => new Server({ maxMessageSize: Buffer.from('5') }), { name: 'TypeError', message: /maxMessageSize must be a number, not an object/ });
    // Files are read when the server binds; errors name the option and the file.
    const s = new Server({ tlsCert: certs.file('absent.pem'), tlsKey: new Uint8Array(readFileSync(local.key)) });
    assert.throws(() => s.listen(0, '127.0.0.1'), { code: 'ERR_WSRT_IO', message: /tlsCert #1: cannot read .*absent\.pem/ });
    assert.throws(() => new Server({ tlsCa: ca.cert, tlsCert: local.cert, tlsKey: local.key }).listen(0), { message: /tlsCa verifies client certificates/ });
  });

  it('eventsource over https trusting the test CA receives events; the stream\'s request tells the handshake', async () => {
    const opens = [];
    const server = listen((s) => {
      s.sse('/sse', {
        open(stream, req) {
          opens.push([req.tls, stream.request.tls]);
          for (let i = 1; i <= 3; i++) stream.send(`tick ${i}`, { event: 'tick', id: String(i) });
        },
      });
    }, { tlsCert: local.cert, tlsKey: local.key });
    // eventsource takes a fetch: this one is node:https with the test CA.
    const fetchWithCa = (url, init) => new Promise((resolve, reject) => {
      const req = https.request(url, { method: 'GET', headers: init.headers, ca: caPem, signal: init.signal }, (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve(new Response(Readable.toWeb(res), { status: res.statusCode, headers }));
      });
      req.once('error', reject);
      req.end();
    });
    const es = new EventSource(`https://localhost:${server.port}/sse`, { fetch: fetchWithCa });
    try {
      const events = await within(5000, new Promise((resolve, reject) => {
        const got = [];
        es.onerror = (e) => reject(new Error(`EventSource error: ${e.message ?? e.code}`));
        es.addEventListener('tick', (e) => {
          got.push([e.data, e.lastEventId]);
          if (got.length === 3) resolve(got);
        });
      }), 'three events over https');
      assert.deepEqual(events, [['tick 1', '1'], ['tick 2', '2'], ['tick 3', '3']]);
    } finally {
      es.close();
    }
    assert.equal(opens.length, 1);
    assert.equal(opens[0][0].serverName, 'localhost');
    assert.equal(opens[0][1].version, 'TLSv1.3');
    await shut(server);
  });

  it('plain HTTP on the TLS port gets a 400 that says to use https, and is counted', async () => {
    const server = echoServer({ tlsCert: local.cert, tlsKey: local.key });
    const answer = await within(5000, new Promise((resolve, reject) => {
      const sock = net.connect(server.port, '127.0.0.1', () => {
        sock.write(`GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
      });
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => (text += d));
      sock.once('end', () => resolve(text));
      sock.once('error', reject);
    }), 'the answer to plain HTTP');
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(answer, /use https:\/\/ or wss:\/\//);
    await until(() => server.stats().tlsFailures === 1, 'the plain client to be counted');
    assert.equal(server.stats().tlsHandshakes, 0);
    await shut(server);
  });
});

describe('examples/node/echo_server.mjs with TLS_CERT and TLS_KEY', () => {
  it('refuses one without the other, and TLS_PORT without them (exit 2)', async () => {
    const cases = [
      [{ TLS_CERT: local.cert }, 'TLS_CERT and TLS_KEY go together (PEM file paths): TLS_CERT is set, TLS_KEY is not'],
      [{ TLS_KEY: local.key }, 'TLS_CERT and TLS_KEY go together (PEM file paths): TLS_KEY is set, TLS_CERT is not'],
      [{ TLS_PORT: String(await freePort()) }, 'TLS_PORT needs TLS_CERT and TLS_KEY'],
    ];
    for (const [env, message] of cases) {
      const child = startExample({ PORT: String(await freePort()), ...env });
      await assert.rejects(child, (e) => e.message.includes(`exited ({"code":2,"signal":null}): echo_server: ${message}\n`));
    }
  });

  it('TLS_PORT: plain on PORT, TLS beside it; SIGHUP reloads the files, a bad file is logged and the old certificate kept', async () => {
    const [port, tlsPort] = [await freePort(), await freePort()];
    const [cert, key] = [certs.file('live.pem'), certs.file('live.key')];
    copyFileSync(local.cert, cert);
    copyFileSync(local.key, key);
    const child = await startExample({ PORT: String(port), TLS_PORT: String(tlsPort), TLS_CERT: cert, TLS_KEY: key });
    try {
      assert.match(child.log(), new RegExp(`listening on https/wss 127\\.0\\.0\\.1:${tlsPort} and http/ws 127\\.0\\.0\\.1:${port} `));
      const plain = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      await within(5000, new Promise((resolve, reject) => {
        plain.once('open', resolve);
        plain.once('error', reject);
      }), 'the plain WebSocket');
      plain.send('plain');
      assert.equal((await nextMessage(plain)).data.toString(), 'plain');
      plain.close();
      const url = `wss://127.0.0.1:${tlsPort}/echo`;
      const first = await open(url, { servername: 'localhost' });
      assert.ok(first.raw.equals(der(local.cert)));

      copyFileSync(local2.cert, cert);
      copyFileSync(local2.key, key);
      child.kill('SIGHUP');
      await until(() => child.log().includes(`SIGHUP: TLS certificate reloaded from ${cert} (new connections use it)`), 'the reload to be logged');
      const second = await open(url, { servername: 'localhost' });
      assert.ok(second.raw.equals(der(local2.cert)));
      second.ws.send('renewed');
      assert.equal((await nextMessage(second.ws)).data.toString(), 'renewed');

      writeFileSync(cert, 'not a certificate\n');
      child.kill('SIGHUP');
      await until(() => child.log().includes('TLS reload failed'), 'the failed reload to be logged');
      assert.match(child.log(), /SIGHUP: TLS reload failed, keeping the current certificate: tlsCert #1: no CERTIFICATE in /);
      const third = await open(url, { servername: 'localhost' });
      assert.ok(third.raw.equals(der(local2.cert)));
      for (const x of [first, second, third]) x.ws.close();
      child.kill('SIGTERM');
      assert.deepEqual(await within(10000, child.exited, 'the example to exit'), { code: 0, signal: null });
    } finally {
      child.stop();
    }
  });
});
