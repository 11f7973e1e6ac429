// The core's options through `new Server({...})`: the one rule for zero
// (a timer or a limit of 0 is off: the server still listens and serves),
// out-of-range values (RangeError, ERR_WSRT_INVALID_ARGUMENT, naming the
// option), values of the wrong type (TypeError, ERR_WSRT_INVALID_TYPE),
// null and undefined as the default. The checks and messages are the core's.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Server } from 'wsrt';
import { within, listen, connect, closed, nextMessage, shut, cleanup } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require(require.resolve('wsrt').replace(/index\.js$/, 'wsrt.node'));
const NAMES = native.optionNames();

/** Options whose 0 is no value (docs/API.md: "refused"), and those that take strings (lists and tlsListen). */
const ZERO_REFUSED = ['deflateWindowBits', 'slowConsumerPolicy', 'tlsMinVersion'];
const LIST = ['allowedOrigins', 'corsOrigins', 'tlsCert', 'tlsKey', 'tlsCa', 'tlsListen', 'clusterRedisUrl'];

/** Serves one echo round trip and one SSE event, then shuts down. */
async function serves(options) {
  const server = listen((s) => {
    s.ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) });
    s.sse('/sse', { open: (stream) => stream.send('first') });
  }, options);
  const ws = await connect(`ws://127.0.0.1:${server.port}/echo`);
  ws.send('round trip');
  assert.equal((await nextMessage(ws)).data.toString(), 'round trip');
  ws.close();
  await closed(ws);
  const res = await within(5000, fetch(`http://127.0.0.1:${server.port}/sse`), 'the SSE response');
  const reader = res.body.getReader();
  assert.equal(new TextDecoder().decode((await within(5000, reader.read(), 'the first event')).value), 'data: first\n\n');
  await reader.cancel();
  await shut(server);
}

describe('options', () => {
  afterEach(cleanup);

  it('the schema names every option of this list', () => {
    assert.equal(NAMES.length, 34);
    for (const name of [...ZERO_REFUSED, ...LIST, 'sseKeepaliveMs', 'idleTimeoutMs', 'deflate']) assert.ok(NAMES.includes(name), name);
  });

  for (const name of NAMES.filter((n) => !ZERO_REFUSED.includes(n) && !LIST.includes(n))) {
    it(`${name}: 0 listens and serves`, () => serves({ [name]: 0 }));
  }

  it('every option that takes 0 at 0 at once listens and serves', () => {
    const zeros = NAMES.filter((n) => !ZERO_REFUSED.includes(n) && !LIST.includes(n));
    return serves(Object.fromEntries(zeros.map((n) => [n, 0])));
  });

  it('null and undefined are the default for every option', async () => {
    await serves(Object.fromEntries(NAMES.map((n) => [n, null])));
    await serves(Object.fromEntries(NAMES.map((n) => [n, undefined])));
  });

  it('0 is refused where it is no value: RangeError naming the option', () => {
    for (const name of ZERO_REFUSED) {
      assert.throws(() => new Server({ [name]: 0 }), (e) => e instanceof RangeError && e.code === 'ERR_WSRT_INVALID_ARGUMENT'
        && e.message.startsWith(`${name} must be`), name);
    }
  });

  it('out-of-range values throw RangeError with ERR_WSRT_INVALID_ARGUMENT naming the option', () => {
    const cases = {
      maxMessageSize: [-1, 2 ** 53, 1.5, NaN, Infinity],
      maxHeadBytes: [63, -1],
      maxHeaders: [65536, -3],
      handshakeTimeoutMs: [2 ** 31, -1, 0.5],
      idleTimeoutMs: [2 ** 31, -1],
      closeTimeoutMs: [2 ** 31],
      maxBuffered: [1023, 1],
      readPauseBuffered: [2 ** 53],
      overflowPolicy: ['drop', 2],
      sseKeepaliveMs: [2 ** 31, -1],
      maxConnections: [2 ** 24],
      deflate: ['gzip', 3],
      deflateThreshold: [2 ** 53, -1],
      deflateLevel: [10, -1],
      deflateWindowBits: [8, 16],
      slowConsumerLimit: [1023],
      slowConsumerPolicy: ['block', 3],
      sioPingIntervalMs: [2 ** 31, -1, 0.5],
      sioPingTimeoutMs: [2 ** 31, -1],
      sioConnectTimeoutMs: [2 ** 31, -1],
      sioUpgradeTimeoutMs: [2 ** 31, -5],
      sioMaxPayload: [2 ** 53, -1],
      sioRecoveryWindowMs: [2 ** 31, -1],
      corsCredentials: [2, -1],
      tlsClientAuth: ['yes', 3],
      tlsMinVersion: ['1.1', 'TLSv1.1', 11, 14],
      workers: [65, -1, 1.5],
    };
    assert.deepEqual(Object.keys(cases).sort(), NAMES.filter((n) => !LIST.includes(n)).sort());
    for (const [name, values] of Object.entries(cases)) {
      for (const value of values) {
        assert.throws(() => new Server({ [name]: value }), (e) => {
          assert.ok(e instanceof RangeError, `${name}: ${value}: ${e}`);
          assert.equal(e.code, 'ERR_WSRT_INVALID_ARGUMENT');
          assert.ok(e.message.startsWith(`${name} must be`), e.message);
          return true;
        }, `${name}: ${value}`);
      }
    }
  });

  it('values of the wrong type throw TypeError with ERR_WSRT_INVALID_TYPE naming the option', () => {
    const cases = [
      ['idleTimeoutMs', '5000', /idleTimeoutMs must be a number, not a string/],
      ['maxConnections', true, /maxConnections must be a number, not a boolean/],
      ['maxBuffered', { bytes: 1 }, /maxBuffered must be .*not an object/],
      ['sseKeepaliveMs', [1000], /sseKeepaliveMs must be a number, not a list/],
      ['deflate', true, /deflate must be a string, not a boolean/],
      ['slowConsumerPolicy', ['drop'], /slowConsumerPolicy must be a string, not a list/],
      ['allowedOrigins', [1], /allowedOrigins must be a string or a list of strings, not a list with an item that is not a string or a Buffer/],
      ['allowedOrigins', 7, /allowedOrigins must be a string or a list of strings, not a number/],
      ['sioPingIntervalMs', '25000', /sioPingIntervalMs must be a number, not a string/],
      ['sioMaxPayload', [1], /sioMaxPayload must be a number, not a list/],
      ['corsOrigins', ['*', 1], /corsOrigins must be a string or a list of strings, not a list with an item that is not a string/],
      ['tlsCert', 1, /tlsCert must be a string or a list of strings, not a number/],
      ['tlsKey', [Buffer.from('k'), {}], /tlsKey must be a string or a list of strings, not a list with an item that is not a string or a Buffer/],
      ['tlsCa', new Uint16Array(2), /tlsCa must be a string or a list of strings, not an object/],
      ['tlsListen', ['127.0.0.1:8443'], /tlsListen must be a string, not a list/],
      ['tlsClientAuth', true, /tlsClientAuth must be a string, not a boolean/],
      ['corsCredentials', 'yes', /corsCredentials must be a boolean, not a string/],
      ['idleTimeout', 1000, /unknown option "idleTimeout"/],
    ];
    for (const [name, value, message] of cases) {
      assert.throws(() => new Server({ [name]: value }), (e) => e instanceof TypeError && e.code === 'ERR_WSRT_INVALID_TYPE'
        && message.test(e.message), `${name}: ${JSON.stringify(value)}`);
    }
  });

  it('choices by name or by number; allowedOrigins (one string: a list of one) answers other origins 403', async () => {
    await serves({ deflate: 'per-connection', overflowPolicy: 1, slowConsumerPolicy: 'drop', deflateWindowBits: 9, tlsClientAuth: 'none' });
    const server = listen((s) => s.ws('/o', {}), { allowedOrigins: 'http://good.example' });
    const good = await connect(`ws://127.0.0.1:${server.port}/o`, undefined, { origin: 'http://good.example' });
    good.close();
    const status = await within(5000, new Promise((resolve) => {
      const c = new (require('ws'))(`ws://127.0.0.1:${server.port}/o`, { origin: 'http://evil.example' });
      c.on('error', () => {});
      c.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    }), 'refusal');
    assert.equal(status, 403);
    await shut(server);
  });

  it('idleTimeoutMs pings a silent peer after half of it and drops it after all of it', async () => {
    let pings = 0;
    const server = listen((s) => s.ws('/i', {}), { idleTimeoutMs: 300 });
    const ws = await connect(`ws://127.0.0.1:${server.port}/i`, undefined, { autoPong: false });
    ws.on('ping', () => pings++);
    const c = closed(ws);
    assert.equal((await c).code, 1006);
    assert.ok(pings >= 1, `pings: ${pings}`);
    await shut(server);
  });
});
