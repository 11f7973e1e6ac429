'use strict';
// wsrt for Node: WebSocket and Server-Sent Events on the native wsrt core.
//
// The core's readiness (its epoll descriptor and its timers) is watched by
// libuv on this thread. When it fires, one batch of events crosses into
// JavaScript: a Float64Array of (type, connection, fields) records plus one
// Buffer holding every payload of the batch. Replies sent from handlers are
// queued and written together (writev) when the batch is done; sends made
// elsewhere (timers, promises) are written at the end of the current
// microtask turn. No thread hops, no busy polling, no protocol code here.

const { NativeServer } = require('./wsrt.node');

const EV_OPEN = 1;
const EV_MESSAGE = 2;
const EV_PONG = 3;
const EV_CLOSE = 4;
const EV_SSE_OPEN = 5;
const EV_SSE_CLOSE = 6;
const EV_DRAIN = 7;
const EV_REQUEST = 8;
const STRIDE = 6;
const HEADER = 3;

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

const EMPTY = Buffer.alloc(0);

function closedError(kind, state) {
  const e = new Error(`wsrt: ${kind} is not open (readyState ${STATE_NAMES[state]})`);
  e.code = 'ERR_WSRT_CLOSED';
  return e;
}

function typeError(msg, code = 'ERR_INVALID_ARG_TYPE') {
  const e = new TypeError(`wsrt: ${msg}`);
  e.code = code;
  return e;
}

function rangeError(msg) {
  const e = new RangeError(`wsrt: ${msg}`);
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

function notRunning() {
  const e = new Error('wsrt: the server is not running (call listen() first)');
  e.code = 'ERR_WSRT_NOT_RUNNING';
  return e;
}

const MAX_TOPIC_BYTES = 1024;

/** Topics are 1-1024 bytes of UTF-8 (measured only when it could matter). */
function checkTopic(topic) {
  if (typeof topic !== 'string') throw typeError(`topic must be a string, not ${topic === null ? 'null' : typeof topic}`);
  const n = topic.length;
  if (n === 0 || n > MAX_TOPIC_BYTES || (n * 3 > MAX_TOPIC_BYTES && Buffer.byteLength(topic) > MAX_TOPIC_BYTES)) {
    throw rangeError(`topic must be 1-${MAX_TOPIC_BYTES} bytes of UTF-8, not ${n === 0 ? 'empty' : `${Buffer.byteLength(topic)} bytes`}`);
  }
}

// Shared by WebSocket and SseStream: a closed connection has left every
// topic, so it is in none and leaving one is a no-op.
function leaveTopic(c, topic) {
  checkTopic(topic);
  if (c.readyState === CLOSED) return false;
  return c._server._native.unsubscribe(c._slot, c._gen, topic);
}

function inTopic(c, topic) {
  checkTopic(topic);
  return c.readyState !== CLOSED && c._server._native.isSubscribed(c._slot, c._gen, topic);
}

const SLOW_POLICIES = { drop: 1, close: 2 };

function slowPolicy(v, name) {
  if (typeof v !== 'string') throw typeError(`${name} must be "close" or "drop", not ${v === null ? 'null' : typeof v}`);
  if (!Object.hasOwn(SLOW_POLICIES, v)) throw typeError(`${name} must be "close" or "drop", not ${JSON.stringify(v)}`, 'ERR_INVALID_ARG_VALUE');
  return v;
}

/** A Uint8Array over the same memory (never a copy). */
function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
    return new Uint8Array(data);
  }
  throw typeError('data must be a string, Buffer, ArrayBuffer or typed array');
}

/** An open WebSocket connection (handed to route handlers). */
class WebSocket {
  constructor(server, slot, gen, route, request, data) {
    this._server = server;
    this._slot = slot;
    this._gen = gen;
    this._route = route;
    /** Free for the application (initially what the upgrade hook returned as `data`). */
    this.data = data;
    this.readyState = OPEN;
    this.protocol = request.protocol || '';
    this.remoteAddress = request.remoteAddress;
    this.remotePort = request.remotePort;
    this.request = request;
  }

  /**
   * Sends a message: text for a string, binary for bytes, unless `isBinary`
   * (or `{ binary }`) says otherwise. Returns false when the send buffer
   * limit refused it (nothing was queued; `drain` follows). Throws on a
   * socket that is not open or on bytes sent as text that are not UTF-8.
   */
  send(data, isBinary) {
    if (this.readyState !== OPEN) throw closedError('WebSocket', this.readyState);
    let binary = isBinary;
    if (typeof binary !== 'boolean') binary = binary != null && typeof binary === 'object' ? binary.binary : undefined;
    const server = this._server;
    let ok;
    if (typeof data === 'string') {
      ok = binary === true
        ? server._send(this._slot, this._gen, Buffer.from(data), true)
        : server._sendText(this._slot, this._gen, data);
    } else {
      ok = server._send(this._slot, this._gen, toBytes(data), binary !== false);
    }
    if (!server._inDispatch) server._schedule();
    return ok;
  }

  /**
   * Joins `topic`: messages published to it reach this socket. Returns false
   * if it already was subscribed. A socket leaves its topics when it closes.
   */
  subscribe(topic) {
    if (this.readyState !== OPEN) throw closedError('WebSocket', this.readyState);
    checkTopic(topic);
    return this._server._native.subscribe(this._slot, this._gen, topic);
  }

  /** Leaves `topic`; false if it was not subscribed (or is closed). */
  unsubscribe(topic) {
    return leaveTopic(this, topic);
  }

  isSubscribed(topic) {
    return inTopic(this, topic);
  }

  /**
   * Publishes to `topic` for every subscriber but this socket (as in
   * uWebSockets.js); see `Server.publish` for the options and the result.
   */
  publish(topic, data, options) {
    return this._server._publishFrom(this, topic, data, options);
  }

  /** Sends a ping (payload up to 125 bytes); the answer comes to `pong`. */
  ping(data) {
    if (this.readyState !== OPEN) throw closedError('WebSocket', this.readyState);
    const bytes = data === undefined ? EMPTY : typeof data === 'string' ? Buffer.from(data) : toBytes(data);
    this._server._native.ping(this._slot, this._gen, bytes);
    this._server._schedule();
  }

  /**
   * Starts the close handshake (default 1000). The `close` handler runs when
   * it is done. Closing a socket that is already closing does nothing.
   */
  close(code = 1000, reason = '') {
    if (this.readyState !== OPEN) return;
    if (typeof code !== 'number' || !Number.isInteger(code)) throw typeError('close code must be an integer');
    if (typeof reason !== 'string') throw typeError('close reason must be a string');
    this._server._native.close(this._slot, this._gen, code, reason);
    this.readyState = CLOSING;
    this._server._schedule();
  }

  /** Bytes queued for this socket and not yet taken by the kernel. */
  getBufferedAmount() {
    if (this.readyState === CLOSED) return 0;
    try {
      return this._server._native.bufferedAmount(this._slot, this._gen);
    } catch {
      return 0;
    }
  }

  get bufferedAmount() {
    return this.getBufferedAmount();
  }
}

/** An open Server-Sent Events stream. */
class SseStream {
  constructor(server, slot, gen, route, request, data) {
    this._server = server;
    this._slot = slot;
    this._gen = gen;
    this._route = route;
    this.data = data;
    this.readyState = OPEN;
    this.request = request;
    this.remoteAddress = request.remoteAddress;
    this.remotePort = request.remotePort;
    /** The client's Last-Event-ID header (a reconnecting EventSource), or null. */
    this.lastEventId = request.headers['last-event-id'] ?? null;
  }

  /**
   * Sends one event. `data` may span lines; `options.event`, `options.id`
   * (no CR/LF/NUL) and `options.retry` (ms) are optional. Returns false when
   * the send buffer limit refused it.
   */
  send(data, options) {
    if (this.readyState !== OPEN) throw closedError('SSE stream', this.readyState);
    if (typeof data !== 'string') {
      if (data instanceof Uint8Array) data = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString();
      else throw typeError('SSE data must be a string');
    }
    let event, id, retry;
    if (options != null) {
      ({ event, id, retry } = options);
      if (event != null && typeof event !== 'string') throw typeError('SSE event must be a string');
      if (id != null) id = String(id);
      if (retry != null && !(Number.isInteger(retry) && retry >= 0 && retry <= 0xffffffff)) {
        throw typeError('SSE retry must be an integer number of milliseconds');
      }
    }
    const ok = this._server._native.sseSend(this._slot, this._gen, data, event ?? undefined, id ?? undefined, retry ?? undefined);
    if (!this._server._inDispatch) this._server._schedule();
    return ok;
  }

  /**
   * Joins `topic` and replays, from the topic's history (see
   * `Server.setTopicHistory`), every event published after the client's
   * last event id: by default the request's Last-Event-ID (what a
   * reconnecting EventSource sends); `options.lastEventId` overrides it
   * (null: replay nothing). Returns `{ replayed, missed }`: `replayed`
   * events were queued, in order, before anything published later; when
   * `missed` is true the history no longer covers that id (or it is not one
   * of this topic's ids), nothing was replayed, and the app should send the
   * client a snapshot of the current state. The stream is subscribed either
   * way (already subscribed: `{ replayed: 0, missed: false }`).
   */
  subscribe(topic, options) {
    if (this.readyState !== OPEN) throw closedError('SSE stream', this.readyState);
    checkTopic(topic);
    let last = this.lastEventId;
    if (options != null) {
      if (typeof options !== 'object') throw typeError('subscribe options must be an object');
      if (options.lastEventId !== undefined) {
        last = options.lastEventId;
        if (last !== null && typeof last !== 'string' && typeof last !== 'number') {
          throw typeError('lastEventId must be a string, a number or null');
        }
      }
    }
    const n = this._server._native.subscribeSince(this._slot, this._gen, topic, last == null ? undefined : String(last));
    if (!this._server._inDispatch) this._server._schedule();
    return n < 0 ? { replayed: 0, missed: true } : { replayed: n, missed: false };
  }

  /** Leaves `topic`; false if it was not subscribed (or is closed). */
  unsubscribe(topic) {
    return leaveTopic(this, topic);
  }

  isSubscribed(topic) {
    return inTopic(this, topic);
  }

  /** Sends a comment line (clients ignore it; proxies see traffic). */
  comment(text = '') {
    if (this.readyState !== OPEN) throw closedError('SSE stream', this.readyState);
    const ok = this._server._native.sseComment(this._slot, this._gen, String(text));
    if (!this._server._inDispatch) this._server._schedule();
    return ok;
  }

  /** Ends the stream (the `close` handler follows). */
  close() {
    if (this.readyState !== OPEN) return;
    this._server._native.close(this._slot, this._gen, 1000, '');
    this.readyState = CLOSING;
    this._server._schedule();
  }

  getBufferedAmount() {
    if (this.readyState === CLOSED) return 0;
    try {
      return this._server._native.bufferedAmount(this._slot, this._gen);
    } catch {
      return 0;
    }
  }
}

/** A request waiting for its route's upgrade hook. */
class Pending {
  constructor(gen) {
    this._gen = gen;
    this.data = undefined;
  }
}

function checkHandlers(path, behavior, allowed) {
  if (typeof path !== 'string' || !path.startsWith('/')) throw typeError('route path must be a string starting with "/"');
  if (behavior == null || typeof behavior !== 'object') throw typeError(`handlers for ${path} must be an object`);
  for (const [k, v] of Object.entries(behavior)) {
    if (!allowed.includes(k)) throw typeError(`unknown option "${k}" for route ${path} (known: ${allowed.join(', ')})`);
    if (k !== 'protocols' && v != null && typeof v !== 'function') throw typeError(`${k} for route ${path} must be a function`);
  }
}

function ms(v, name) {
  if (v == null) return undefined;
  if (typeof v !== 'number' || !(v >= 0)) throw typeError(`${name} must be a non-negative number of milliseconds`);
  return Math.ceil(v);
}

function count(v, name) {
  if (v == null) return undefined;
  if (!Number.isInteger(v) || v < 0) throw typeError(`${name} must be a non-negative integer`);
  return v;
}

/** An integer in [min, max], or undefined (the core's default). */
function intIn(v, name, min, max) {
  if (v == null) return undefined;
  if (typeof v !== 'number') throw typeError(`${name} must be an integer, not ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeError(`${name} must be an integer from ${min} to ${max}, not ${v}`);
  return v;
}

const DEFLATE_MODES = ['off', 'shared', 'per-connection'];
const DEFLATE_KEYS = ['mode', 'threshold', 'level', 'serverMaxWindowBits'];

/**
 * The `perMessageDeflate` option, checked and normalized: false/undefined or
 * "off" (the default), true (= "per-connection", as in ws), "shared",
 * "per-connection", or { mode (default "per-connection"), threshold, level,
 * serverMaxWindowBits }.
 */
function deflateOptions(v) {
  if (v == null || v === false) return { mode: 'off' };
  if (v === true) return { mode: 'per-connection' };
  const what = 'perMessageDeflate must be a boolean, "off", "shared", "per-connection" or an object';
  if (typeof v === 'string') {
    v = { mode: v };
  } else if (typeof v !== 'object' || Array.isArray(v)) {
    throw typeError(what);
  } else {
    for (const k of Object.keys(v)) {
      if (!DEFLATE_KEYS.includes(k)) throw typeError(`unknown perMessageDeflate option "${k}" (known: ${DEFLATE_KEYS.join(', ')})`);
    }
  }
  const mode = v.mode ?? 'per-connection';
  if (typeof mode !== 'string') throw typeError('perMessageDeflate.mode must be a string');
  if (!DEFLATE_MODES.includes(mode)) {
    throw typeError(`perMessageDeflate mode must be "off", "shared" or "per-connection", not ${JSON.stringify(mode)}`, 'ERR_INVALID_ARG_VALUE');
  }
  return {
    mode,
    threshold: intIn(v.threshold, 'perMessageDeflate.threshold', 0, Number.MAX_SAFE_INTEGER),
    level: intIn(v.level, 'perMessageDeflate.level', 0, 9),
    serverMaxWindowBits: intIn(v.serverMaxWindowBits, 'perMessageDeflate.serverMaxWindowBits', 9, 15),
  };
}

const OPTION_NAMES = [
  'host', 'port', 'maxMessageSize', 'maxHeadBytes', 'maxHeaders', 'handshakeTimeout', 'idleTimeout',
  'closeTimeout', 'maxBuffered', 'readPauseBuffered', 'overflow', 'sseKeepAlive', 'allowedOrigins',
  'maxConnections', 'perMessageDeflate', 'slowConsumerLimit', 'slowConsumerPolicy', 'onError',
];

class Server {
  /**
   * @param {object} [options] host (default 127.0.0.1), port (default 0:
   *   any), limits and timeouts, perMessageDeflate (see index.d.ts), onError.
   */
  constructor(options = {}) {
    if (options == null || typeof options !== 'object') throw typeError('options must be an object');
    for (const k of Object.keys(options)) {
      if (!OPTION_NAMES.includes(k)) throw typeError(`unknown option "${k}" (known: ${OPTION_NAMES.join(', ')})`);
    }
    this._options = options;
    this._deflate = deflateOptions(options.perMessageDeflate);
    this._slowLimit = intIn(options.slowConsumerLimit, 'slowConsumerLimit', 1024, Number.MAX_SAFE_INTEGER);
    this._slowPolicy = options.slowConsumerPolicy == null ? undefined : slowPolicy(options.slowConsumerPolicy, 'slowConsumerPolicy');
    /** Topic histories set before listen(), applied by it. */
    this._histories = new Map();
    this._pubOut = new Float64Array(4);
    this._onError = options.onError;
    if (this._onError != null && typeof this._onError !== 'function') throw typeError('onError must be a function');
    this._routes = [];
    this._byPath = new Map();
    this._native = null;
    this._conns = [];
    this._meta = new Float64Array(HEADER + STRIDE * 1024);
    this._inDispatch = false;
    this._scheduled = false;
    this._closing = null;
    this._closed = false;
    this._tick = () => {
      this._scheduled = false;
      this._dispatch();
    };
    /** Open WebSockets. */
    this.clients = new Set();
    /** Open SSE streams. */
    this.streams = new Set();
  }

  _addRoute(path, kind, behavior, extra) {
    if (this._native) throw new Error('wsrt: routes must be added before listen()');
    if (this._byPath.has(path)) throw typeError(`route ${path} is defined twice`);
    this._byPath.set(path, behavior);
    this._routes.push({ path, kind, ...extra });
    return this;
  }

  /**
   * A WebSocket endpoint. Handlers: upgrade(req) (optional, may be async:
   * returns undefined/true to accept, { protocol, data } to accept with a
   * subprotocol and user data, false or { status, body } to refuse),
   * open(ws, req), message(ws, data, isBinary), drain(ws), close(ws, code,
   * reason), pong(ws, data); protocols: the subprotocols spoken, in order of
   * preference (chosen automatically unless upgrade picks one).
   */
  ws(path, behavior = {}) {
    checkHandlers(path, behavior, ['upgrade', 'open', 'message', 'drain', 'close', 'pong', 'protocols']);
    const protocols = behavior.protocols;
    if (protocols != null && !(Array.isArray(protocols) && protocols.every((p) => typeof p === 'string'))) {
      throw typeError('protocols must be an array of strings');
    }
    return this._addRoute(path, 'websocket', behavior, {
      approve: typeof behavior.upgrade === 'function',
      subprotocols: protocols ?? [],
    });
  }

  /** A Server-Sent Events endpoint. Handlers: upgrade(req), open(stream, req), drain(stream), close(stream). */
  sse(path, behavior = {}) {
    checkHandlers(path, behavior, ['upgrade', 'open', 'drain', 'close']);
    return this._addRoute(path, 'sse', behavior, { approve: typeof behavior.upgrade === 'function' });
  }

  /** A fixed 200 response for GET/HEAD `path` (a page, a health check). */
  static(path, body, contentType = 'text/html; charset=utf-8') {
    if (typeof path !== 'string' || !path.startsWith('/')) throw typeError('route path must be a string starting with "/"');
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(toBytes(body));
    return this._addRoute(path, 'static', null, { contentType, body: bytes });
  }

  /**
   * Binds and starts serving (synchronously; throws if the address is
   * taken). `port` and `host` override the options. Returns the server.
   */
  listen(port, host) {
    if (this._native) throw new Error('wsrt: already listening');
    if (this._closed) throw new Error('wsrt: a closed server cannot listen again');
    const o = this._options;
    port = port ?? o.port ?? 0;
    host = host ?? o.host ?? '127.0.0.1';
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw typeError('port must be an integer 0-65535');
    if (typeof host !== 'string') throw typeError('host must be a string');
    if (o.overflow != null && o.overflow !== 'reject' && o.overflow !== 'close') {
      throw typeError('overflow must be "reject" or "close"');
    }
    const nativeOptions = {
      listen: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
      routes: this._routes,
      maxMessageSize: count(o.maxMessageSize, 'maxMessageSize'),
      maxHeadBytes: count(o.maxHeadBytes, 'maxHeadBytes'),
      maxHeaders: count(o.maxHeaders, 'maxHeaders'),
      handshakeTimeoutMs: ms(o.handshakeTimeout, 'handshakeTimeout'),
      idleTimeoutMs: ms(o.idleTimeout, 'idleTimeout'),
      closeTimeoutMs: ms(o.closeTimeout, 'closeTimeout'),
      maxBuffered: count(o.maxBuffered, 'maxBuffered'),
      readPauseBuffered: count(o.readPauseBuffered, 'readPauseBuffered'),
      overflow: o.overflow,
      sseKeepaliveMs: ms(o.sseKeepAlive, 'sseKeepAlive'),
      allowedOrigins: o.allowedOrigins,
      maxConnections: count(o.maxConnections, 'maxConnections'),
      deflateMode: this._deflate.mode,
      deflateThreshold: this._deflate.threshold,
      deflateLevel: this._deflate.level,
      deflateServerMaxWindowBits: this._deflate.serverMaxWindowBits,
      slowConsumerLimit: this._slowLimit,
      slowConsumerPolicy: this._slowPolicy,
    };
    const native = new NativeServer(nativeOptions);
    for (const [topic, h] of this._histories) native.setTopicHistory(topic, h.maxEvents, h.maxAgeMs);
    this._histories.clear();
    native.start(this._tick);
    this._native = native;
    this._pub = native.fastPublish();
    // The per-message calls, as plain functions bound to the native server.
    this._send = native.fastSend();
    this._sendText = native.fastSendText();
    this._host = host;
    return this;
  }

  /** The bound port (useful with port 0). */
  get port() {
    return this._native ? this._native.port : 0;
  }

  address() {
    if (!this._native) return null;
    return { address: this._host, family: this._host.includes(':') ? 'IPv6' : 'IPv4', port: this._native.port };
  }

  get listening() {
    return this._native !== null && this._closing === null;
  }

  /** Live connections in any phase (handshaking, open, closing). */
  get connectionCount() {
    return this._native ? this._native.connectionCount : 0;
  }

  /**
   * Sends `data` to every subscriber of `topic`, WebSocket and SSE alike,
   * encoded once in the core. A string goes out as text, bytes (Buffer,
   * typed array, ArrayBuffer; read in place, not copied) as binary, unless
   * `options` (or a boolean, as uWebSockets.js's isBinary) says otherwise.
   * Binary messages skip SSE streams (text only). Options: `exclude` (a
   * WebSocket or SseStream that does not get it), `onSlow` ("drop" or
   * "close": what to do with a subscriber over slowConsumerLimit, instead of
   * slowConsumerPolicy), `sseEvent` (the `event:` name SSE subscribers see).
   * Returns `{ delivered, dropped, closed, eventId }`: subscribers it was
   * queued for, slow ones skipped, slow ones closed (their close handlers
   * follow with 1008), and the SSE id when the topic keeps history (else
   * null).
   */
  publish(topic, data, options) {
    checkTopic(topic);
    return this._publishFrom(null, topic, data, options);
  }

  /** `publish` to every open WebSocket and SSE stream, subscribed or not. */
  publishAll(data, options) {
    return this._publishFrom(null, null, data, options);
  }

  _publishFrom(sender, topic, data, options) {
    if (sender !== null) checkTopic(topic);
    if (this._native === null) throw notRunning();
    let binary, exclude, onSlow, sseEvent;
    if (typeof options === 'boolean') {
      binary = options;
    } else if (options != null) {
      if (typeof options !== 'object') throw typeError('publish options must be a boolean (isBinary) or an object');
      ({ binary, exclude, onSlow, sseEvent } = options);
      if (binary != null && typeof binary !== 'boolean') throw typeError('binary must be a boolean');
    }
    if (typeof data === 'string') {
      binary = binary === true;
    } else {
      data = toBytes(data);
      binary = binary !== false;
    }
    let slow = 0;
    if (onSlow != null) slow = SLOW_POLICIES[slowPolicy(onSlow, 'onSlow')];
    if (sseEvent != null) {
      if (typeof sseEvent !== 'string') throw typeError('sseEvent must be a string');
      if (/[\r\n\0]/.test(sseEvent)) throw typeError('sseEvent must not contain CR, LF or NUL', 'ERR_INVALID_ARG_VALUE');
    }
    if (exclude == null) {
      exclude = sender;
    } else if (!((exclude instanceof WebSocket || exclude instanceof SseStream) && exclude._server === this)) {
      throw typeError('exclude must be a WebSocket or SseStream of this server');
    }
    const out = this._pubOut;
    this._pub(topic, data, binary, exclude === null ? undefined : exclude._slot, exclude === null ? 0 : exclude._gen, slow, sseEvent ?? undefined, out);
    if (!this._inDispatch) this._schedule();
    return { delivered: out[0], dropped: out[1], closed: out[2], eventId: out[3] < 0 ? null : String(out[3]) };
  }

  /** Live subscribers of `topic` (WebSockets and SSE streams). */
  subscriberCount(topic) {
    checkTopic(topic);
    return this._native === null ? 0 : this._native.subscriberCount(topic);
  }

  /**
   * Makes `topic` keep its last `maxEvents` events (0 turns history off and
   * forgets it), each at most `maxAgeMs` ms (0 or absent: no age limit), so
   * that an SSE stream subscribing with a Last-Event-ID gets what it missed.
   * Event ids (`publish(...).eventId`, SSE `id:`; below 2^53, so exact as
   * numbers too) increase across topics; an id of another server instance
   * counts as a miss. May be called before listen().
   */
  setTopicHistory(topic, options) {
    checkTopic(topic);
    if (options == null || typeof options !== 'object') throw typeError('setTopicHistory options must be an object { maxEvents, maxAgeMs }');
    const maxEvents = intIn(options.maxEvents, 'maxEvents', 0, Number.MAX_SAFE_INTEGER);
    if (maxEvents === undefined) throw typeError('maxEvents must be an integer');
    let maxAgeMs;
    if (options.maxAgeMs != null) {
      if (typeof options.maxAgeMs !== 'number') throw typeError(`maxAgeMs must be a number, not ${typeof options.maxAgeMs}`);
      if (!(options.maxAgeMs >= 0 && options.maxAgeMs <= Number.MAX_SAFE_INTEGER)) throw rangeError(`maxAgeMs must be a non-negative number of milliseconds, not ${options.maxAgeMs}`);
      maxAgeMs = Math.ceil(options.maxAgeMs);
    }
    if (this._native === null) {
      if (this._closed) throw notRunning();
      this._histories.set(topic, { maxEvents, maxAgeMs });
    } else {
      this._native.setTopicHistory(topic, maxEvents, maxAgeMs);
    }
    return this;
  }

  /**
   * Counters and gauges: connections, websockets, sseStreams, bufferedBytes
   * (queued, not yet taken by sockets), topics, and since start published
   * (publish calls), delivered, dropped and slowClosed (see `publish`).
   */
  stats() {
    if (this._native === null) throw notRunning();
    return this._native.stats();
  }

  /**
   * Graceful shutdown: stop accepting, close every WebSocket with 1001, end
   * every stream, answer pending upgrades 503; resolves once every
   * connection is gone (stragglers are dropped after closeTimeout).
   */
  close() {
    if (this._closing) return this._closing;
    if (!this._native) {
      this._closed = true;
      return Promise.resolve();
    }
    this._closing = new Promise((resolve) => {
      this._resolveClose = resolve;
    });
    this._native.beginShutdown();
    this._schedule();
    return this._closing;
  }

  /** Runs a dispatch at the end of this microtask turn (writes queued output). */
  _schedule() {
    if (!this._scheduled && !this._inDispatch) {
      this._scheduled = true;
      queueMicrotask(this._tick);
    }
  }

  _report(err) {
    if (this._onError) {
      try {
        this._onError(err);
        return;
      } catch (e) {
        err = e;
      }
    }
    process.nextTick(() => {
      throw err;
    });
  }

  _dispatch() {
    const native = this._native;
    if (native === null || this._inDispatch) return;
    let meta = this._meta;
    let n = native.poll(meta);
    if (n < 0) {
      meta = this._meta = new Float64Array(-n * 2);
      n = native.poll(meta);
    }
    const arena = meta[1] > 0 ? native.arena() : EMPTY;
    const requests = meta[2] > 0 ? native.requests() : null;
    let ri = 0;
    let firstError = null;
    const conns = this._conns;
    this._inDispatch = true;
    for (let i = 0, o = HEADER; i < n; i++, o += STRIDE) {
      const type = meta[o];
      const slot = meta[o + 1];
      const gen = meta[o + 2];
      try {
        if (type === EV_MESSAGE) {
          const ws = conns[slot];
          if (ws === undefined || ws._gen !== gen) continue;
          const start = meta[o + 3];
          const handler = ws._route.message;
          if (handler) handler(ws, arena.subarray(start, start + meta[o + 4]), meta[o + 5] === 1);
          continue;
        }
        switch (type) {
          case EV_OPEN: {
            const req = requests[ri++];
            const route = this._byPath.get(req.path);
            const prev = conns[slot];
            const data = prev instanceof Pending && prev._gen === gen ? prev.data : undefined;
            const ws = new WebSocket(this, slot, gen, route, req, data);
            conns[slot] = ws;
            this.clients.add(ws);
            if (route.open) route.open(ws, req);
            break;
          }
          case EV_CLOSE: {
            const ws = conns[slot];
            if (ws === undefined || ws._gen !== gen) break;
            conns[slot] = undefined;
            if (ws instanceof Pending) {
              ws.gone = true;
              break;
            }
            ws.readyState = CLOSED;
            this.clients.delete(ws);
            const rs = meta[o + 4];
            const reason = meta[o + 5] > 0 ? arena.toString('utf8', rs, rs + meta[o + 5]) : '';
            if (ws._route.close) ws._route.close(ws, meta[o + 3], reason);
            break;
          }
          case EV_PONG: {
            const ws = conns[slot];
            if (ws === undefined || ws._gen !== gen || !ws._route.pong) break;
            const start = meta[o + 3];
            ws._route.pong(ws, arena.subarray(start, start + meta[o + 4]));
            break;
          }
          case EV_DRAIN: {
            const c = conns[slot];
            if (c === undefined || c._gen !== gen || c instanceof Pending || !c._route.drain) break;
            c._route.drain(c);
            break;
          }
          case EV_SSE_OPEN: {
            const req = requests[ri++];
            const route = this._byPath.get(req.path);
            const prev = conns[slot];
            const data = prev instanceof Pending && prev._gen === gen ? prev.data : undefined;
            const stream = new SseStream(this, slot, gen, route, req, data);
            conns[slot] = stream;
            this.streams.add(stream);
            if (route.open) route.open(stream, req);
            break;
          }
          case EV_SSE_CLOSE: {
            const s = conns[slot];
            if (s === undefined || s._gen !== gen) break;
            conns[slot] = undefined;
            if (s instanceof Pending) {
              s.gone = true;
              break;
            }
            s.readyState = CLOSED;
            this.streams.delete(s);
            if (s._route.close) s._route.close(s);
            break;
          }
          case EV_REQUEST: {
            const req = requests[ri++];
            this._upgrade(slot, gen, req, this._byPath.get(req.path));
            break;
          }
          default:
            break;
        }
      } catch (e) {
        if (firstError === null) firstError = e;
      }
    }
    this._inDispatch = false;
    native.flush();
    if (this._resolveClose && native.isFinished()) this._finish();
    if (firstError !== null) this._report(firstError);
  }

  _finish() {
    const resolve = this._resolveClose;
    this._resolveClose = null;
    this._native.stop();
    this._native = null;
    this._closed = true;
    this._conns = [];
    resolve();
  }

  _upgrade(slot, gen, req, route) {
    const pending = new Pending(gen);
    this._conns[slot] = pending;
    let result;
    try {
      result = route.upgrade(req);
    } catch (e) {
      this._answer(slot, pending, { status: 500 });
      throw e;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(
        (r) => this._answer(slot, pending, r),
        (e) => {
          this._answer(slot, pending, { status: 500 });
          this._report(e);
        },
      );
    } else {
      this._answer(slot, pending, result);
    }
  }

  _answer(slot, pending, r) {
    if (pending.gone || this._conns[slot] !== pending || this._native === null) return;
    const native = this._native;
    try {
      if (r === undefined || r === null || r === true) {
        native.accept(slot, pending._gen, undefined);
      } else if (r === false) {
        native.reject(slot, pending._gen, 403, 'Forbidden');
      } else if (typeof r === 'number') {
        native.reject(slot, pending._gen, r, '');
      } else if (typeof r === 'object' && r.status !== undefined) {
        native.reject(slot, pending._gen, r.status, r.body ?? '');
      } else if (typeof r === 'object') {
        pending.data = r.data;
        native.accept(slot, pending._gen, r.protocol ?? undefined);
      } else {
        throw typeError('upgrade must return undefined, a boolean, { protocol, data } or { status, body }');
      }
    } catch (e) {
      // The client may have left meanwhile; anything else is the app's bug.
      if (e.code !== 'ERR_WSRT_CLOSED') {
        try {
          native.reject(slot, pending._gen, 500, '');
        } catch {
          // already answered or gone
        }
        this._report(e);
      }
    }
    this._schedule();
  }
}

/** `createServer(options)` is `new Server(options)`. */
function createServer(options) {
  return new Server(options);
}

module.exports = { Server, WebSocket, SseStream, createServer, OPEN, CLOSING, CLOSED };
// `import wsrt from "wsrt"` and TypeScript's default import see the same object.
module.exports.default = module.exports;
