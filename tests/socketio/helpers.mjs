// Shared helpers of the Socket.IO end-to-end tests (README.md here).
//
// The server under test is chosen by SIO_FRONT (reference, c, python or
// node; default reference). `run.mjs` starts it once for the whole suite
// and passes SIO_URL (the normal instance) and SIO_SHORT_URL (the
// short-heartbeat instance); a test file run on its own starts what it needs
// itself through serve.sh and stops it (SIGTERM, exit 0) at the end.
// Everything listens on and connects to 127.0.0.1; every wait is bounded.
import assert from 'node:assert/strict';
import { before, after, afterEach } from 'node:test';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { FRONT, IS_REFERENCE, SHORT_ENV, sleep, startServer } from './servers.mjs';

export * from './servers.mjs';

/** A skip reason for checks of the wsrt-only routes, `false` elsewhere. */
export const WSRT_ONLY = IS_REFERENCE
  ? 'wsrt fronts only: the reference server (socket.io) has no /echo, /broadcast or /events routes'
  : false;

// ---------------------------------------------------------------- waiting

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function within(ms, promise, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `predicate()` is true (checked every 10 ms), bounded. */
export async function until(predicate, ms = 5000, what = 'a condition') {
  await within(ms, (async () => {
    while (!(await predicate())) await sleep(10);
  })(), what);
}

/** The arguments of the next `event` of an emitter (socket.io or Node style). */
export function once(emitter, event, ms = 5000) {
  return within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), `event "${event}"`);
}

/** Every `event` of a socket, as argument arrays, in order. */
export function collect(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
  return got;
}

/**
 * A server with connection state recovery appends the packet's offset (a
 * non-empty string) to every EVENT it sends without an ack id, and the stock
 * client hands it to the listener as one more argument. Checks that `args`
 * is `n` payload arguments plus that offset; returns the payload.
 */
export function payload(args, n = 1) {
  assert.equal(args.length, n + 1, `expected ${n} argument(s) and the recovery offset, got ${JSON.stringify(args)}`);
  const offset = args[n];
  assert.equal(typeof offset, 'string', 'the last argument is the recovery offset (a string)');
  assert.ok(offset.length > 0, 'the recovery offset is not empty');
  return args.slice(0, n);
}

/**
 * For a test file: `const srv = useServer()` (or `useServer({ short: true })`)
 * gives `srv.url` and `srv.wsUrl` in the tests. The URL comes from run.mjs
 * (SIO_URL / SIO_SHORT_URL) or from a server this file starts in `before`
 * and stops in `after`, where it must exit 0 on SIGTERM.
 */
export function useServer({ short = false } = {}) {
  const srv = { url: undefined, wsUrl: undefined };
  let own = null;
  before(async () => {
    const given = short ? process.env.SIO_SHORT_URL : process.env.SIO_URL;
    if (given) {
      srv.url = given.replace(/\/$/, '');
      srv.wsUrl = srv.url.replace(/^http/, 'ws');
      return;
    }
    own = await startServer(FRONT, short ? SHORT_ENV : {}, short ? 'short' : 'main');
    srv.url = own.url;
    srv.wsUrl = own.wsUrl;
  });
  after(async () => {
    if (!own) return;
    const wasAlive = own.alive();
    const status = await own.stop();
    assert.ok(wasAlive, `the server died during the tests:\n${own.log()}`);
    assert.deepEqual(status, { code: 0, signal: null }, `the server did not exit 0 on SIGTERM:\n${own.log()}`);
  });
  return srv;
}

// ---------------------------------------------------------------- stock client

const liveClients = new Set();
const liveRaw = new Set();

/** For afterEach: closes every client a test opened. */
export function cleanup() {
  for (const s of liveClients) {
    // Sockets of other namespaces on the same manager (Manager#socket) too:
    // the manager closes its connection once none is left.
    for (const other of Object.values(s.io.nsps ?? {})) other.disconnect();
    s.disconnect();
  }
  liveClients.clear();
  for (const r of liveRaw) r.terminate();
  liveRaw.clear();
}

/** Registers `cleanup` after each test of the file. */
export function autoCleanup() {
  afterEach(cleanup);
}

/**
 * A stock socket.io-client socket (a manager of its own, no reconnection,
 * WebSocket only unless `opts.transports` says otherwise), not yet waited on.
 */
export function client(base, nsp = '/', opts = {}) {
  const s = io(base + nsp, { forceNew: true, reconnection: false, transports: ['websocket'], timeout: 8000, ...opts });
  liveClients.add(s);
  return s;
}

/** Resolves when `socket` is connected; rejects with its connect_error. */
export function connected(socket, ms = 8000) {
  if (socket.connected) return Promise.resolve(socket);
  return within(ms, new Promise((resolve, reject) => {
    const onConnect = () => { socket.off('connect_error', onError); resolve(socket); };
    const onError = (err) => { socket.off('connect', onConnect); reject(err); };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  }), 'the Socket.IO connection');
}

/** The connect_error of a connection that must be refused. */
export function refused(socket, ms = 8000) {
  return within(ms, new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error(`connected (id ${socket.id}) but a refusal was expected`)));
    socket.once('connect_error', resolve);
  }), 'connect_error');
}

/** client() + connected(), with the `auth` event that every connection gets first. */
export async function connect(base, nsp = '/', opts = {}) {
  const s = client(base, nsp, opts);
  const auth = once(s, 'auth', 8000);
  await connected(s);
  s.authArgs = await auth;
  return s;
}

/** Resolves with the reason of the socket's next disconnect. */
export function disconnected(socket, ms = 8000) {
  return once(socket, 'disconnect', ms).then(([reason]) => reason);
}

/**
 * The server-side disconnect reasons recorded for `id` (via `reasons` from a
 * fresh client), once at least `n` of them are there.
 */
export async function reasonsOf(base, id, n = 1, ms = 8000) {
  const probe = await connect(base);
  try {
    let mine = [];
    await until(async () => {
      const all = await probe.timeout(4000).emitWithAck('reasons');
      assert.ok(Array.isArray(all), 'reasons acks an array');
      mine = all.filter((r) => r.id === id).map((r) => r.reason);
      return mine.length >= n;
    }, ms, `${n} server-side disconnect reason(s) of ${id}`);
    return mine;
  } finally {
    probe.disconnect();
  }
}

/** A unique name (room, nick) for a test. */
let seq = 0;
export function unique(prefix) {
  seq += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq}`;
}

/** Deterministic bytes (xorshift32) of length n. */
export function bytes(n, seed = 2463534242) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---------------------------------------------------------------- raw Engine.IO / Socket.IO

export const RS = '\x1e';

/**
 * A raw Engine.IO client over a `ws` WebSocket. Incoming frames are queued
 * (text as strings, binary as Buffers); pings ("2") are counted, never
 * queued, and answered with "3" while `autoPong` is true.
 */
export class RawSocket {
  constructor(url, { autoPong = true } = {}) {
    this.url = url;
    this.autoPong = autoPong;
    this.pings = 0;
    this.queue = [];
    this.waiters = [];
    this.pingWaiters = [];
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('error', () => {}); // the close event tells the tests what they need
    this.ws.on('message', (data, isBinary) => {
      const msg = isBinary ? Buffer.from(data) : data.toString();
      if (msg === '2') {
        this.pings += 1;
        if (this.autoPong && this.ws.readyState === WebSocket.OPEN) this.ws.send('3');
        this.pingWaiters.splice(0).forEach((w) => w());
        return;
      }
      const w = this.waiters.shift();
      if (w) w(msg); else this.queue.push(msg);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      // A refused upgrade (e.g. HTTP 400): ws emits error, then close.
      this.ws.once('error', reject);
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
    liveRaw.add(this);
  }

  /**
   * Resolves when the server refused the session: the upgrade was refused
   * or the WebSocket closed without ever sending a frame (no open packet).
   */
  async refused(ms = 5000) {
    const closed = await this.whenClosed(ms, `the refusal of ${this.url}`);
    assert.deepEqual(this.queue, [], `no frame before the close of ${this.url}`);
    return closed;
  }

  /** The next non-ping frame. */
  next(ms = 5000, what = 'a frame') {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    let waiter;
    const p = new Promise((resolve) => { waiter = resolve; this.waiters.push(resolve); });
    return within(ms, p, `${what} on ${this.url}`).catch((e) => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw e;
    });
  }

  /** Resolves at the next ping from the server. */
  nextPing(ms = 5000) {
    return within(ms, new Promise((resolve) => this.pingWaiters.push(resolve)), 'a ping');
  }

  /** Resolves with {code, reason} when the server closes the WebSocket. */
  whenClosed(ms = 5000, what = 'the server to close the WebSocket') {
    return within(ms, this.closed, what);
  }

  send(data) {
    this.ws.send(data);
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  terminate() {
    this.ws.terminate();
  }

  /** Opens a WebSocket-only Engine.IO session; `raw.handshake` is the open packet's JSON. */
  static async open(wsBase, path = '/socket.io/', opts = {}) {
    const raw = new RawSocket(`${wsBase}${path}?EIO=4&transport=websocket${opts.query ?? ''}`, opts);
    const first = await raw.next(5000, 'the open packet');
    assert.equal(typeof first, 'string');
    assert.equal(first[0], '0', `the first frame is an open packet: ${first}`);
    raw.handshake = JSON.parse(first.slice(1));
    return raw;
  }

  /**
   * Opens a session on /socket.io/ and connects namespace `/` with `auth`
   * (none when undefined). Sets `raw.sid` / `raw.pid` from the CONNECT reply
   * and `raw.auth` from the `auth` event (both checked for shape).
   */
  static async sio(wsBase, { auth, ...opts } = {}) {
    const raw = await RawSocket.open(wsBase, '/socket.io/', opts);
    raw.send(auth === undefined ? '40' : `40${JSON.stringify(auth)}`);
    const reply = await raw.next(5000, 'the CONNECT reply');
    assert.match(reply, /^40\{/, `CONNECT reply: ${reply}`);
    const data = JSON.parse(reply.slice(2));
    raw.connectData = data;
    raw.sid = data.sid;
    raw.pid = data.pid;
    const ev = await raw.next(5000, 'the auth event');
    assert.match(ev, /^42\[/, `auth event: ${ev}`);
    raw.authEvent = JSON.parse(ev.slice(2));
    return raw;
  }
}

/** Raw HTTP long-polling on an Engine.IO path. */
export class Polling {
  constructor(base, path = '/engine.io/') {
    this.base = base;
    this.path = path;
  }

  url(query = '') {
    return `${this.base}${this.path}?EIO=4&transport=polling${query}`;
  }

  /** GET without sid: the handshake. Returns {sid, handshake}. */
  async open() {
    const res = await this.fetch(this.url());
    assert.equal(res.status, 200, `handshake status (${res.body})`);
    assert.equal(res.body[0], '0', `handshake body ${res.body}`);
    const handshake = JSON.parse(res.body.slice(1));
    return { sid: handshake.sid, handshake };
  }

  /** A request, bounded; resolves with {status, body, headers}. */
  async fetch(url, init = {}, ms = 8000) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ms);
    try {
      const res = await fetch(url, { ...init, signal: ctl.signal });
      const body = await res.text();
      return { status: res.status, body, headers: res.headers };
    } catch (e) {
      if (ctl.signal.aborted) throw new Error(`${init.method ?? 'GET'} ${url}: no response within ${ms} ms`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  poll(sid, ms = 8000) {
    return this.fetch(this.url(`&sid=${encodeURIComponent(sid)}`), {}, ms);
  }

  post(sid, body, headers = {}) {
    return this.fetch(this.url(`&sid=${encodeURIComponent(sid)}`), {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers },
    });
  }

  /** Polls until `n` packets (pings answered and left out) have come; returns them. */
  async drain(sid, n, ms = 15000) {
    const got = [];
    await within(ms, (async () => {
      while (got.length < n) {
        const res = await this.poll(sid);
        assert.equal(res.status, 200, `poll status while draining (${res.body})`);
        for (const p of res.body.split(RS)) {
          if (p === '2') await this.post(sid, '3');
          else got.push(p);
        }
      }
    })(), `${n} packets from polling`);
    return got;
  }
}
