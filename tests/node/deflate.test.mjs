// permessage-deflate (RFC 7692) through the addon, against the npm `ws`
// client: what is negotiated in each mode, byte-identical round trips of
// text and binary from empty to 1 MiB, what reaches the wire (counted on the
// client's own socket), the tuning options, declined offers, bad options,
// and the example server's DEFLATE variable. Chromium's side is in
// browser.test.mjs.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import WebSocket from 'ws';
import { Server } from 'wsrt';
import { within, deferred, listen, closed, shut, cleanup, freePort } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = path.resolve(here, '../../examples/node/echo_server.mjs');

// The ws client's deflate options, spelled out (its defaults could change):
// offer context takeover both ways with client_max_window_bits, and
// compress every message we send (threshold 0), so the server's inflater
// is exercised as much as its deflater.
const CLIENT_DEFLATE = {
  threshold: 0,
  serverNoContextTakeover: false,
  clientMaxWindowBits: true,
  zlibDeflateOptions: { level: 6 },
};

function echoServer(options = {}) {
  return listen((s) => s.ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) }), options);
}

/** `Sec-WebSocket-Extensions` of a response as [{ name, params }] ([] when absent). */
function parseExtensions(header) {
  if (header == null) return [];
  return header.split(',').map((ext) => {
    const [name, ...params] = ext.split(';').map((p) => p.trim());
    const out = {};
    for (const p of params) {
      const [k, v] = p.split('=');
      out[k.trim()] = v === undefined ? true : v.trim().replace(/^"|"$/g, '');
    }
    return { name, params: out };
  });
}

/** Opens a ws client; resolves with it and the extensions the server answered. */
async function open(port, clientDeflate = CLIENT_DEFLATE) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: clientDeflate });
  let header;
  ws.once('upgrade', (res) => {
    header = res.headers['sec-websocket-extensions'];
  });
  await within(5000, new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 'WebSocket open');
  return { ws, extensions: parseExtensions(header) };
}

/**
 * Sends one message, waits for its echo; returns the echo and the bytes the
 * client read and wrote on its socket for the pair (frame headers included).
 */
async function roundTrip(ws, data, binary) {
  const read0 = ws._socket.bytesRead;
  const written0 = ws._socket.bytesWritten;
  const echo = within(10000, new Promise((resolve) => {
    ws.once('message', (d, isBinary) => resolve({ data: Buffer.from(d), isBinary }));
  }), `the echo of a ${Buffer.byteLength(data)}-byte message`);
  ws.send(data, { binary });
  const got = await echo;
  return { ...got, read: ws._socket.bytesRead - read0, written: ws._socket.bytesWritten - written0 };
}

async function bye(ws) {
  const c = closed(ws);
  ws.close(1000);
  assert.equal((await c).code, 1000);
}

/** ASCII JSON-ish text of exactly `n` bytes (compresses well). */
function jsonText(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += JSON.stringify({ seq: i, user: `user${i % 17}`, text: 'hello there, how are you?' }) + '\n';
  return s.slice(0, n);
}

/** A repetitive binary pattern of `n` bytes. */
function patternBytes(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i % 251) ^ ((i >> 8) & 0x0f);
  return b;
}

/** Text that deflate alone cannot shrink much (base64 of random bytes). */
function randomText(n) {
  return randomBytes(Math.ceil((n * 3) / 4)).toString('base64').slice(0, n);
}

/** Header bytes of an unmasked server frame carrying `n` payload bytes. */
function serverHeader(n) {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

const SIZES = [0, 1, 100, 255, 256, 257, 1000, 4096, 65535, 65536, 100_000, 1 << 20];

for (const mode of ['shared', 'per-connection']) {
  describe(`deflate: '${mode}' with the ws client`, () => {
    afterEach(cleanup);

    it('negotiates permessage-deflate with the parameters of the mode', async () => {
      const server = echoServer({ deflate: mode });
      const { ws, extensions } = await open(server.port);
      assert.equal(ws.extensions, 'permessage-deflate');
      const expected = mode === 'shared'
        // One compressor for everybody: no context takeover either way.
        ? { server_no_context_takeover: true, client_no_context_takeover: true }
        // Context takeover as offered: nothing to restrict.
        : {};
      assert.deepEqual(extensions, [{ name: 'permessage-deflate', params: expected }]);
      await bye(ws);
      await shut(server);
    });

    it('round-trips text and binary from 0 bytes to 1 MiB byte for byte, in order', async () => {
      const server = echoServer({ deflate: mode });
      const { ws } = await open(server.port);
      const sent = [];
      for (const n of SIZES) {
        sent.push([false, Buffer.from(jsonText(n))]);
        sent.push([true, patternBytes(n)]);
        sent.push([true, randomBytes(n)]);
      }
      sent.push([false, Buffer.from('✓ héllo wörld → ☃ '.repeat(20000))]);
      sent.push([false, Buffer.from(randomText(300_000))]);
      const got = [];
      const all = deferred();
      ws.on('message', (data, isBinary) => {
        got.push([isBinary, Buffer.from(data)]);
        if (got.length === sent.length) all.resolve();
      });
      // Pipelined: every message is in flight before the first echo.
      for (const [binary, data] of sent) ws.send(binary ? data : data.toString(), { binary });
      await within(60000, all.promise, `${sent.length} echoes`);
      assert.equal(got.length, sent.length);
      for (let i = 0; i < sent.length; i++) {
        assert.equal(got[i][0], sent[i][0], `message ${i}: type`);
        assert.equal(got[i][1].length, sent[i][1].length, `message ${i}: length`);
        assert.ok(got[i][1].equals(sent[i][1]), `message ${i} (${sent[i][1].length} bytes) differs`);
      }
      await bye(ws);
      await shut(server);
    });

    it('puts fewer bytes on the wire for compressible messages, none saved below the threshold', async () => {
      const server = echoServer({ deflate: mode });
      const { ws } = await open(server.port);
      for (const [n, binary] of [[10_000, false], [64 * 1024, true], [1 << 20, false]]) {
        const data = binary ? patternBytes(n) : jsonText(n);
        const r = await roundTrip(ws, data, binary);
        assert.equal(r.isBinary, binary);
        assert.ok(r.data.equals(Buffer.from(data)), `${n}-byte echo differs`);
        // The server's frame is compressed well below its payload ...
        assert.ok(r.read < n / 4, `${n}-byte echo took ${r.read} bytes on the wire`);
        // ... and so was ours, which the server had to inflate to echo it.
        assert.ok(r.written < n / 4, `${n}-byte message took ${r.written} bytes on the wire`);
      }
      // The default threshold is 256 bytes: 255 go out as they are (the
      // exact frame size), 256 compressed.
      const below = await roundTrip(ws, jsonText(255), false);
      assert.equal(below.data.toString(), jsonText(255));
      assert.equal(below.read, 255 + serverHeader(255));
      const at = await roundTrip(ws, jsonText(256), false);
      assert.equal(at.data.toString(), jsonText(256));
      assert.ok(at.read < 200, `a compressible 256-byte echo took ${at.read} bytes`);
      // Incompressible data still round-trips (and grows by a few bytes at most).
      const rnd = randomBytes(50_000);
      const r = await roundTrip(ws, rnd, true);
      assert.ok(r.data.equals(rnd));
      assert.ok(r.read < 50_000 + 100, `random 50 KB echo took ${r.read} bytes`);
      await bye(ws);
      await shut(server);
    });

    it(mode === 'shared'
      ? 'starts every message from an empty window (no context takeover)'
      : 'keeps the context between messages (context takeover)', async () => {
      const server = echoServer({ deflate: mode });
      const { ws } = await open(server.port);
      // 4000 bytes deflate cannot shrink on their own, sent twice: with
      // context takeover the second is one back-reference.
      const text = randomText(4000);
      const first = await roundTrip(ws, text, false);
      const second = await roundTrip(ws, text, false);
      assert.equal(first.data.toString(), text);
      assert.equal(second.data.toString(), text);
      assert.ok(first.read > 3000, `first echo: ${first.read} bytes`);
      if (mode === 'shared') {
        assert.ok(second.read > 3000, `second echo: ${second.read} bytes (context kept?)`);
        assert.ok(second.written > 3000, `client reused its context: ${second.written} bytes`);
      } else {
        assert.ok(second.read < 200, `second echo: ${second.read} bytes (context lost?)`);
        // The client kept its context too, and the server inflated that.
        assert.ok(second.written < 200, `second message: ${second.written} bytes`);
      }
      await bye(ws);
      await shut(server);
    });

    it('a ws client with perMessageDeflate: false gets no compression and still works', async () => {
      const server = echoServer({ deflate: mode });
      const { ws, extensions } = await open(server.port, false);
      assert.equal(ws.extensions, '');
      assert.deepEqual(extensions, []);
      const data = jsonText(20_000);
      const r = await roundTrip(ws, data, false);
      assert.equal(r.isBinary, false);
      assert.equal(r.data.toString(), data);
      assert.equal(r.read, 20_000 + serverHeader(20_000));
      const bin = patternBytes(70_000);
      const b = await roundTrip(ws, bin, true);
      assert.ok(b.isBinary && b.data.equals(bin));
      assert.equal(b.read, 70_000 + serverHeader(70_000));
      await bye(ws);
      await shut(server);
    });
  });
}

describe('deflate off', () => {
  afterEach(cleanup);

  for (const [label, options] of [['by default', {}], ["'off'", { deflate: 'off' }], ['null', { deflate: null }], ['undefined', { deflate: undefined }]]) {
    it(`${label}: the client's offer is declined and messages go uncompressed`, async () => {
      const server = echoServer(options);
      const { ws, extensions } = await open(server.port);
      assert.equal(ws.extensions, '');
      assert.deepEqual(extensions, []);
      const data = jsonText(30_000);
      const r = await roundTrip(ws, data, false);
      assert.equal(r.data.toString(), data);
      assert.equal(r.read, 30_000 + serverHeader(30_000));
      // The client may not compress either.
      assert.ok(r.written >= 30_000, `client wrote ${r.written} bytes`);
      await bye(ws);
      await shut(server);
    });
  }
});

describe('deflate options', () => {
  afterEach(cleanup);

  it('per-connection honours a client asking for no context takeover', async () => {
    const server = echoServer({ deflate: 'per-connection' });
    const { ws, extensions } = await open(server.port, { ...CLIENT_DEFLATE, serverNoContextTakeover: true, clientNoContextTakeover: true });
    assert.deepEqual(extensions, [{
      name: 'permessage-deflate',
      params: { server_no_context_takeover: true, client_no_context_takeover: true },
    }]);
    const text = randomText(4000);
    await roundTrip(ws, text, false);
    const second = await roundTrip(ws, text, false);
    assert.equal(second.data.toString(), text);
    assert.ok(second.read > 3000, `second echo: ${second.read} bytes (server kept its context)`);
    await bye(ws);
    await shut(server);
  });

  it('deflateThreshold: shorter messages go out uncompressed', async () => {
    const server = echoServer({ deflate: 'shared', deflateThreshold: 8192 });
    const { ws } = await open(server.port);
    const below = await roundTrip(ws, jsonText(8191), false);
    assert.equal(below.data.toString(), jsonText(8191));
    assert.equal(below.read, 8191 + serverHeader(8191));
    const at = await roundTrip(ws, jsonText(8192), false);
    assert.equal(at.data.toString(), jsonText(8192));
    assert.ok(at.read < 2000, `8192 bytes at the threshold took ${at.read}`);
    await bye(ws);
    await shut(server);
  });

  it('deflateThreshold 0 (no limit) compresses even an empty message', async () => {
    const server = echoServer({ deflate: 'per-connection', deflateThreshold: 0 });
    const { ws } = await open(server.port);
    const empty = await roundTrip(ws, '', false);
    assert.equal(empty.isBinary, false);
    assert.equal(empty.data.length, 0);
    // An empty deflate block (00 on its own): a 1-byte compressed payload.
    assert.equal(empty.read, 3);
    const tiny = await roundTrip(ws, Buffer.from('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), true);
    assert.equal(tiny.data.toString(), 'a'.repeat(50));
    assert.ok(tiny.read < 50, `50 a's took ${tiny.read} bytes`);
    await bye(ws);
    await shut(server);
  });

  it('deflateLevel 0 stores (no smaller on the wire, still valid deflate)', async () => {
    const server = echoServer({ deflate: 'shared', deflateLevel: 0 });
    const { ws, extensions } = await open(server.port);
    assert.equal(extensions[0]?.name, 'permessage-deflate');
    const data = jsonText(50_000);
    const r = await roundTrip(ws, data, false);
    assert.equal(r.data.toString(), data);
    assert.ok(r.read >= 50_000, `level 0 echo took ${r.read} bytes`);
    await bye(ws);
    await shut(server);
  });

  it('deflateWindowBits: a small window cannot reach back to the previous message', async () => {
    const server = echoServer({ deflate: 'per-connection', deflateWindowBits: 10 });
    // A client that asks for at most 12 bits is answered with our 10.
    const asking = await open(server.port, { ...CLIENT_DEFLATE, serverMaxWindowBits: 12 });
    assert.deepEqual(asking.extensions, [{ name: 'permessage-deflate', params: { server_max_window_bits: '10' } }]);
    await bye(asking.ws);
    const { ws } = await open(server.port);
    const text = randomText(4000);
    await roundTrip(ws, text, false);
    const second = await roundTrip(ws, text, false);
    assert.equal(second.data.toString(), text);
    assert.ok(second.read > 3000, `second echo: ${second.read} bytes through a 1 KiB window`);
    // Within the window, repetition still compresses.
    const short = await roundTrip(ws, 'abcdefgh'.repeat(500), false);
    assert.ok(short.read < 200, `repetitive 4000 bytes took ${short.read}`);
    await bye(ws);
    await shut(server);
  });

  it('a compressed message that inflates past maxMessageSize closes with 1009', async () => {
    const server = listen((s) => s.ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) }), {
      deflate: 'shared',
      maxMessageSize: 10_000,
    });
    const { ws } = await open(server.port);
    const ok = await roundTrip(ws, 'z'.repeat(10_000), false);
    assert.equal(ok.data.length, 10_000);
    const c = closed(ws);
    const w0 = ws._socket.bytesWritten;
    ws.send('z'.repeat(1_000_000));
    assert.equal((await c).code, 1009);
    // It was a few kilobytes on the wire (a megabyte once inflated).
    const written = ws._socket.bytesWritten - w0;
    assert.ok(written > 0 && written < 20_000, `wrote ${written} bytes`);
    await shut(server);
  });

  it("shared mode: a ws client that refuses client_no_context_takeover fails its handshake", async () => {
    const server = echoServer({ deflate: 'shared' });
    await assert.rejects(open(server.port, { ...CLIENT_DEFLATE, clientNoContextTakeover: false }), /Sec-WebSocket-Extensions/);
    await shut(server);
  });

  it("bad values throw the core's RangeError or TypeError from the constructor", async () => {
    const cases = [
      [{ deflate: 3 }, RangeError, /deflate must be one of "off" \(0\), "shared" \(1\), "per-connection" \(2\), not 3/],
      [{ deflate: 'gzip' }, RangeError, /deflate must be one of .*"shared".*, not "gzip"/],
      [{ deflate: 'Shared' }, RangeError, /not "Shared"/],
      [{ deflate: true }, TypeError, /deflate must be a string, not a boolean/],
      [{ deflate: ['shared'] }, TypeError, /deflate must be a string, not a list/],
      [{ deflateLevel: '6' }, TypeError, /deflateLevel must be a number, not a string/],
      [{ deflateLevel: 10 }, RangeError, /deflateLevel must be 0-9, not 10/],
      [{ deflateLevel: -1 }, RangeError, /deflateLevel must be 0-9, not -1/],
      [{ deflateLevel: 1.5 }, RangeError, /deflateLevel must be a whole number, not 1.5/],
      [{ deflateWindowBits: 8 }, RangeError, /deflateWindowBits must be 9-15, not 8/],
      [{ deflateWindowBits: 0 }, RangeError, /deflateWindowBits must be 9-15, not 0/],
      [{ deflateWindowBits: 16 }, RangeError, /deflateWindowBits must be 9-15/],
      [{ deflateThreshold: -1 }, RangeError, /deflateThreshold must be/],
      [{ deflateThreshold: NaN }, RangeError, /deflateThreshold must be a whole number, not NaN/],
      [{ perMessageDeflate: true }, TypeError, /unknown option "perMessageDeflate"/],
    ];
    for (const [options, type, message] of cases) {
      assert.throws(() => new Server(options), (e) => {
        assert.ok(e instanceof type, `${JSON.stringify(options)}: ${e.constructor.name} ${e.message}`);
        assert.equal(e.code, type === RangeError ? 'ERR_WSRT_INVALID_ARGUMENT' : 'ERR_WSRT_INVALID_TYPE');
        assert.match(e.message, message);
        return true;
      }, JSON.stringify(options));
    }
    // The good ones are accepted (and bind).
    const good = [{ deflate: 'off' }, { deflate: null }, { deflate: 'shared' }, { deflate: 'per-connection' }, { deflate: 2 },
      { deflate: 'shared', deflateThreshold: 0, deflateLevel: 9, deflateWindowBits: 9 }, { deflateLevel: 0 }];
    for (const options of good) {
      const s = new Server(options).ws('/x').listen();
      assert.ok(s.port > 0);
      await shut(s);
    }
  });
});

/** Runs the example with `env`; resolves with { child, log(), exited }. */
async function runExample(env) {
  const port = await freePort();
  const child = spawn(process.execPath, [EXAMPLE], {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, port, log: () => log, exited };
}

describe('examples/node/echo_server.mjs and DEFLATE', () => {
  for (const [value, params] of [
    ['shared', { server_no_context_takeover: true, client_no_context_takeover: true }],
    ['per-connection', {}],
    ['off', null],
  ]) {
    it(`DEFLATE=${value}`, async () => {
      const ex = await runExample({ DEFLATE: value });
      try {
        await within(10000, new Promise((resolve, reject) => {
          const check = () => (ex.log().includes('listening') ? resolve() : setTimeout(check, 20));
          ex.exited.then((r) => reject(new Error(`exited ${JSON.stringify(r)}: ${ex.log()}`)));
          check();
        }), 'the example to listen');
        const { ws, extensions } = await open(ex.port);
        assert.deepEqual(extensions, params === null ? [] : [{ name: 'permessage-deflate', params }]);
        const data = jsonText(100_000);
        const r = await roundTrip(ws, data, false);
        assert.equal(r.data.toString(), data);
        if (params === null) assert.equal(r.read, 100_000 + serverHeader(100_000));
        else assert.ok(r.read < 25_000, `echo took ${r.read} bytes`);
        const c = closed(ws);
        ex.child.kill('SIGTERM');
        assert.equal((await c).code, 1001);
        assert.deepEqual(await within(10000, ex.exited, 'the example to exit'), { code: 0, signal: null });
      } finally {
        ex.child.kill('SIGKILL');
      }
    });
  }

  it('an invalid DEFLATE is refused on stderr with a non-zero exit', async () => {
    const ex = await runExample({ DEFLATE: 'yes' });
    try {
      const r = await within(10000, ex.exited, 'the example to exit');
      assert.notEqual(r.code, 0);
      assert.match(ex.log(), /deflate must be one of .*"per-connection".*, not "yes"/);
      assert.doesNotMatch(ex.log(), /listening/);
    } finally {
      ex.child.kill('SIGKILL');
    }
  });
});
