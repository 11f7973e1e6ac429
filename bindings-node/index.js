'use strict';
// wsrt for Node: WebSocket, Server-Sent Events, Engine.IO and Socket.IO on
// the native wsrt core.
//
// libuv watches the core on this thread; each time it is ready, one batch
// of events crosses into JavaScript as a Float64Array of flat records and
// one Buffer of payloads. Replies from handlers go out together (writev)
// after the batch; sends made elsewhere, at the end of the microtask turn.
// Options, checks, event numbers, states and errors are the core's: this
// file routes events to handlers and calls to the core (API: index.d.ts).

// The prebuilt binary for this platform, a local build, or a build from the
// shipped sources at first load (loader.js).
const native = require('./loader.js').load();

const { NativeServer, RECORD_STRIDE: STRIDE, RECORD_HEADER: HEADER, CONNECTING, OPEN, CLOSING, CLOSED } = native;
const { EXTENSION_SLOTS: EXT, ENDPOINT_ENGINEIO, ENDPOINT_SOCKETIO } = native;
const EV = native.eventTypes();
const MESSAGE = EV.MESSAGE;
const EMPTY = Buffer.alloc(0);
const WS_HANDLERS = ['approve', 'open', 'message', 'drain', 'close', 'pong', 'protocols', 'headers'];
const SSE_HANDLERS = ['approve', 'open', 'drain', 'close', 'headers'];
const EIO_HANDLERS = ['approve', 'open', 'message', 'drain', 'close', 'headers'];
/** The ack id's halves of an event the client wants no acknowledgement for (the core's NO_ACK). */
const NO_ACK_HALF = 0xffffffff;
/** What an ack callback gets when no answer came (AckOutcome 1 and 2), in the reference server's words. */
const ACK_ERRORS = [undefined, 'operation has timed out', 'socket has been disconnected'];

/** A Uint8Array over an ArrayBuffer or any view (no copy); anything else as it is, for the core to take or refuse. */
function bytes(data) {
  if (ArrayBuffer.isView(data)) return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return data instanceof ArrayBuffer || data instanceof SharedArrayBuffer ? new Uint8Array(data) : data;
}

function typeError(message) {
  return Object.assign(new TypeError(message), { code: 'ERR_WSRT_INVALID_TYPE' });
}

/** What WebSocket and SseStream share: a connection of the core. */
class Connection {
  constructor(server, lo, hi, route, request, data) {
    this._server = server;
    this._lo = lo;
    this._hi = hi;
    this._route = route;
    this._id = undefined;
    // A WebSocket's or stream's request stays in the core until it is
    // asked for (an idle connection holds no copy of it here).
    this._req = request;
    this.data = data;
  }

  /** The core's id of the connection (a bigint). */
  get id() {
    return (this._id ??= native.connectionId(this._lo, this._hi));
  }

  /** The request that opened it (kept by the server while it is open, and read from there on first use). */
  get request() {
    return (this._req ??= this._server._native.connectionRequest(this.id));
  }

  /** Calls the core on this connection (output goes out with the batch, or at the end of this microtask turn). */
  _call(method, a, b, c, d) {
    const r = this._server._native[method](this.id, a, b, c, d);
    this._server._schedule();
    return r;
  }

  get readyState() {
    return this._server._native.state(this.id);
  }

  get bufferedAmount() {
    return this._server._native.bufferedAmount(this.id);
  }

  terminate() {
    this._call('terminate');
  }

  /** Its end was reported (a request the client left before it was answered). */
  _end() {
    this._gone = true;
  }
}
// subscribe(topic), unsubscribe(topic), isSubscribed(topic)
for (const method of ['subscribe', 'unsubscribe', 'isSubscribed']) {
  Connection.prototype[method] = function topicCall(topic) {
    return this._call(method, topic);
  };
}

class WebSocket extends Connection {
  send(data, isBinary) {
    const server = this._server;
    // A string is text and bytes are binary unless `isBinary` says
    // otherwise (the core checks that it is a boolean).
    const text = typeof data === 'string';
    const binary = isBinary === undefined ? !text : isBinary;
    const ok = text
      ? server._sendText(this._lo, this._hi, data, binary)
      : server._send(this._lo, this._hi, bytes(data), binary);
    if (!server._inDispatch) server._schedule();
    return ok;
  }

  publish(topic, data, options) {
    return this._server._publish(false, topic, data, options, this);
  }

  ping(data = EMPTY) {
    this._call('ping', bytes(data));
  }

  close(code = 1000, reason = '') {
    this._call('close', code, reason);
  }

  _end(code, reason) {
    this._server._clients.delete(this);
    settle(this._server, this._route.close?.(this, code, reason), this);
  }
}

class SseStream extends Connection {
  send(data, options) {
    return this._call('sseSend', data, options?.event, options?.id, options?.retryMs);
  }

  comment(text = '') {
    return this._call('sseComment', text);
  }

  close() {
    this._call('close', 1000, '');
  }

  resume(topic, options) {
    return this._call('resume', topic, options?.lastEventId);
  }

  get lastEventId() {
    return this.request.lastEventId ?? null;
  }

  _end() {
    this._server.streams.delete(this);
    settle(this._server, this._route.close?.(this), this);
  }
}

/** A plain Engine.IO session (long-polling or WebSocket underneath: the core's). */
class EngineIoSession extends Connection {
  send(data, isBinary) {
    return WebSocket.prototype.send.call(this, data, isBinary);
  }

  /** Ends the session (the client sees a close packet). */
  close() {
    this._call('close', 1000, '');
  }

  _end(code, reason) {
    this._server.sessions.delete(this);
    settle(this._server, this._route.close?.(this, reason), this);
  }
}


// ---------------------------------------------------------------------------
// Socket.IO. The protocol, namespaces' membership, rooms (core topics), acks
// and their timeouts are the core's; this part turns arguments into the
// core's JSON text plus attachments and back, and routes events to the
// application's listeners.

/** A binary value: sent as an attachment. */
function isBinary(v) {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer;
}

/** Whether `v` holds a binary value anywhere (a cycle ends the search: JSON.stringify then refuses it). */
function hasBinary(v, depth = 0) {
  if (typeof v !== 'object' || v === null || depth > 64) return false;
  if (isBinary(v)) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasBinary(v[i], depth + 1)) return true;
    return false;
  }
  for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && hasBinary(v[k], depth + 1)) return true;
  return false;
}

/**
 * Arguments as the core takes them: [JSON array text, attachments], each
 * binary value (at any depth) replaced by a placeholder for its attachment.
 */
function encodeArgs(args) {
  if (!hasBinary(args)) return [JSON.stringify(args), undefined];
  const attachments = [];
  const json = JSON.stringify(args, function replace(key, value) {
    const raw = this[key]; // before toJSON (Buffer has one)
    if (!isBinary(raw)) return value;
    attachments.push(bytes(raw));
    return { _placeholder: true, num: attachments.length - 1 };
  });
  return [json, attachments];
}

/** An event's arguments from its record: the JSON array, with its attachments (views of the batch's Buffer) put back. */
function decodeArgs(arena, start, end, meta, x) {
  const text = arena.toString('utf8', start, end);
  const count = meta[x + 7];
  if (count === 0) return text === '' ? [] : JSON.parse(text);
  const attachments = new Array(count);
  for (let j = 0, a = x + EXT; j < count; j++, a += 2) attachments[j] = arena.subarray(meta[a], meta[a] + meta[a + 1]);
  return JSON.parse(text, (key, value) => {
    if (value !== null && typeof value === 'object' && value._placeholder === true && Number.isInteger(value.num)) {
      const b = attachments[value.num];
      if (b !== undefined) return b;
    }
    return value;
  });
}

function checkListener(fn, what) {
  if (typeof fn !== 'function') throw typeError(`${what} must be a function, not ${fn === null ? 'null' : typeof fn}`);
}

/** Listeners by event name (what socket.io's sockets and namespaces are, without Node's EventEmitter rules). */
class Listeners {
  constructor() {
    this._listeners = new Map();
  }

  on(event, listener) {
    checkListener(listener, 'listener');
    const list = this._listeners.get(event);
    if (list === undefined) this._listeners.set(event, [listener]);
    else list.push(listener);
    return this;
  }

  addListener(event, listener) {
    return this.on(event, listener);
  }

  once(event, listener) {
    checkListener(listener, 'listener');
    const once = (...args) => {
      this.off(event, once);
      return listener(...args);
    };
    once.listener = listener;
    return this.on(event, once);
  }

  off(event, listener) {
    const list = this._listeners.get(event);
    if (list === undefined) return this;
    const i = list.findIndex((f) => f === listener || f.listener === listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this._listeners.delete(event);
    return this;
  }

  removeListener(event, listener) {
    return this.off(event, listener);
  }

  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear();
    else this._listeners.delete(event);
    return this;
  }

  listeners(event) {
    return (this._listeners.get(event) ?? []).map((f) => f.listener ?? f);
  }

  listenerCount(event) {
    return this._listeners.get(event)?.length ?? 0;
  }
}

/** What a handler returned: a promise that rejects goes to the server's error hook, as a throw does. */
function settle(server, r, conn) {
  if (r !== undefined && r !== null && typeof r.then === 'function') r.then(undefined, (e) => server._report(e, conn));
}

/** Calls each listener; what one throws or rejects goes to the server's error hook. */
function fire(server, list, self, args, conn) {
  if (list === undefined) return;
  for (const f of list.length === 1 ? list : list.slice()) {
    try {
      settle(server, f.apply(self, args), conn);
    } catch (e) {
      server._report(e, conn);
    }
  }
}

/** A Socket.IO route (`server.io(path)`) and its namespaces. */
class SocketIoRoute {
  constructor(server, path) {
    this.server = server;
    this.path = path;
    this.namespaces = new Map();
  }

  of(name) {
    let nsp = this.namespaces.get(name);
    if (nsp === undefined) {
      this.server._native.addNamespace(this.path, name); // the core checks it
      nsp = new Namespace(this, name);
      this.namespaces.set(name, nsp);
    }
    return nsp;
  }
}

/** Emits to many sockets of a namespace: the rooms to reach, the rooms to skip, a socket to skip. Immutable. */
class BroadcastOperator {
  constructor(nsp, rooms, exceptRooms, except) {
    this._nsp = nsp;
    this._rooms = rooms;
    this._exceptRooms = exceptRooms;
    this._except = except;
  }

  /** Also the sockets in `room` (a name or an array of names). */
  to(room) {
    return new BroadcastOperator(this._nsp, this._rooms.concat(room), this._exceptRooms, this._except);
  }

  in(room) {
    return this.to(room);
  }

  /** Never the sockets in `room` (a name or an array of names). */
  except(room) {
    return new BroadcastOperator(this._nsp, this._rooms, this._exceptRooms.concat(room), this._except);
  }

  /** Emits `event` with `args` (Buffers at any depth are sent as binary). Acknowledgements are not available when broadcasting. */
  emit(event, ...args) {
    if (typeof args[args.length - 1] === 'function') throw typeError('acknowledgements are not supported when broadcasting (emit to one socket for an ack)');
    const [json, attachments] = encodeArgs(args);
    const server = this._nsp.server;
    server._native.broadcast(this._nsp.name, this._rooms, this._exceptRooms, this._except?._cid, event, json, attachments);
    server._schedule();
    return true;
  }

  /** The connected sockets this operator reaches (rooms read from the core). */
  fetchSockets() {
    const rooms = this._rooms;
    const except = this._exceptRooms;
    const out = [];
    for (const socket of this._nsp.sockets.values()) {
      if (socket === this._except) continue;
      if (rooms.length === 0 && except.length === 0) {
        out.push(socket);
        continue;
      }
      const mine = socket.rooms;
      if ((rooms.length === 0 || rooms.some((r) => mine.has(r))) && !except.some((r) => mine.has(r))) out.push(socket);
    }
    return Promise.resolve(out);
  }

  _each(f) {
    this.fetchSockets().then((list) => {
      for (const s of list) f(s);
    });
  }

  socketsJoin(room) {
    this._each((s) => s.join(room));
  }

  socketsLeave(room) {
    this._each((s) => s.leave(room));
  }

  disconnectSockets(close = false) {
    this._each((s) => s.disconnect(close));
  }
}

/** A namespace: its middleware, its `connection` listeners, its connected sockets. */
class Namespace extends Listeners {
  constructor(route, name) {
    super();
    this._route = route;
    this.server = route.server;
    this.name = name;
    /** Connected sockets by id. */
    this.sockets = new Map();
    this._middleware = [];
  }

  /** Another namespace of the same Socket.IO route (added before `listen`). */
  of(name) {
    return this._route.of(name);
  }

  /** Middleware: `fn(socket, next)` runs for each connection to this namespace, in order; `next(err)` refuses it (the client's `connect_error` gets `err.message` and `err.data`). */
  use(fn) {
    checkListener(fn, 'middleware');
    this._middleware.push(fn);
    return this;
  }

  /** `connection` (alias `connect`): `(socket) => ...` */
  on(event, listener) {
    return super.on(event === 'connect' ? 'connection' : event, listener);
  }

  off(event, listener) {
    return super.off(event === 'connect' ? 'connection' : event, listener);
  }

  to(room) {
    return new BroadcastOperator(this, [], [], undefined).to(room);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    return new BroadcastOperator(this, [], [], undefined).except(room);
  }

  /** Emits to every socket of the namespace. */
  emit(event, ...args) {
    return new BroadcastOperator(this, [], [], undefined).emit(event, ...args);
  }

  fetchSockets() {
    return new BroadcastOperator(this, [], [], undefined).fetchSockets();
  }

  socketsJoin(room) {
    new BroadcastOperator(this, [], [], undefined).socketsJoin(room);
  }

  socketsLeave(room) {
    new BroadcastOperator(this, [], [], undefined).socketsLeave(room);
  }

  disconnectSockets(close = false) {
    new BroadcastOperator(this, [], [], undefined).disconnectSockets(close);
  }

  /** Runs the middleware for a socket awaiting approval, then accepts or refuses it. */
  _run(socket) {
    const fns = this._middleware;
    const server = this.server;
    let i = 0;
    const step = (err) => {
      if (socket._answered || socket._gone) return;
      if (err !== undefined && err !== null) return socket._answer(err);
      if (i === fns.length) return socket._answer(null);
      const fn = fns[i++];
      let called = false;
      const next = (e) => {
        if (called) return;
        called = true;
        step(e);
      };
      try {
        const r = fn(socket, next);
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
          r.then(undefined, (e) => {
            server._report(e, socket);
            next(e instanceof Error ? e : new Error(String(e)));
          });
        }
      } catch (e) {
        server._report(e, socket);
        next(e instanceof Error ? e : new Error(String(e)));
      }
    };
    step(null);
  }
}

function parseAuth(text) {
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** A Socket.IO socket: one client in one namespace. */
class Socket extends Listeners {
  constructor(nsp, lo, hi, req, auth) {
    super();
    this._server = nsp.server;
    this._lo = lo;
    this._hi = hi;
    this._cid = native.connectionId(lo, hi);
    this.nsp = nsp;
    /** The id the client knows (`socket.id` there). */
    this.id = this._server._native.socketId(this._cid);
    this.handshake = {
      headers: req.headers,
      time: new Date().toString(),
      address: req.remoteAddress,
      xdomain: req.headers.origin !== undefined,
      secure: false,
      issued: Date.now(),
      url: req.query === '' ? req.path : `${req.path}?${req.query}`,
      query: Object.fromEntries(new URLSearchParams(req.query)),
      auth: parseAuth(auth),
    };
    this.request = req;
    /** Free for the application. */
    this.data = {};
    this.connected = false;
    /** Whether connection state recovery brought this socket back (its id and rooms, and the packets it missed). */
    this.recovered = false;
    this._any = [];
    this._acks = new Map(); // ack id -> [callback, withError]
    this._answered = false;
    this._gone = false;
  }

  get disconnected() {
    return !this.connected;
  }

  /** The rooms of the socket (the core's topics), its own id first as in socket.io. */
  get rooms() {
    const rooms = new Set();
    if (!this.connected) return rooms;
    rooms.add(this.id);
    for (const r of this._server._native.topics(this._cid)) rooms.add(r);
    return rooms;
  }

  /** Emits `event` to this socket's client; a function as the last argument gets the client's acknowledgement `(...args)`. */
  emit(event, ...args) {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    this._emit(event, args, cb, false, undefined);
    return true;
  }

  /** The acknowledgement's first argument (rejects if the socket disconnects first). */
  emitWithAck(event, ...args) {
    return this._emitWithAck(event, args, undefined);
  }

  /** Emits with an acknowledgement due within `ms`: `.emit(…, (err, ...args) => …)`, `.emitWithAck(…)`. */
  timeout(ms) {
    return new TimedEmit(this, ms);
  }

  _emit(event, args, cb, withError, timeout) {
    const [json, attachments] = encodeArgs(args);
    const server = this._server;
    const id = server._native.emit(this._cid, event, json, attachments, cb !== undefined, timeout);
    if (cb !== undefined) this._acks.set(id, [cb, withError]);
    server._schedule();
  }

  _emitWithAck(event, args, timeout) {
    return new Promise((resolve, reject) => {
      this._emit(event, args, (err, res) => (err ? reject(err) : resolve(res)), true, timeout);
    });
  }

  /** Emits to every socket of the namespace in `room` but this one. */
  to(room) {
    return new BroadcastOperator(this.nsp, [], [], this).to(room);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    return new BroadcastOperator(this.nsp, [], [], this).except(room);
  }

  /** Emits to every other socket of the namespace. */
  get broadcast() {
    return new BroadcastOperator(this.nsp, [], [], this);
  }

  /** Joins a room (or each of an array of rooms). */
  join(rooms) {
    const native = this._server._native;
    if (Array.isArray(rooms)) for (const r of rooms) native.subscribe(this._cid, r);
    else native.subscribe(this._cid, rooms);
    this._server._schedule();
  }

  leave(room) {
    this._server._native.unsubscribe(this._cid, room);
    this._server._schedule();
  }

  /** Disconnects the socket ("server namespace disconnect"); with `close`, the client's whole connection. */
  disconnect(close = false) {
    if (!this.connected) return this;
    const native = this._server._native;
    if (close) native.terminate(this._cid);
    else native.close(this._cid, 1000, '');
    this._server._schedule();
    return this;
  }

  /** `listener(event, ...args)` for every event from the client, before its own listeners. */
  onAny(listener) {
    checkListener(listener, 'listener');
    this._any.push(listener);
    return this;
  }

  prependAny(listener) {
    checkListener(listener, 'listener');
    this._any.unshift(listener);
    return this;
  }

  offAny(listener) {
    this._any = listener === undefined ? [] : this._any.filter((f) => f !== listener);
    return this;
  }

  listenersAny() {
    return this._any.slice();
  }

  /** The middleware's verdict. */
  _answer(err) {
    this._answered = true;
    const server = this._server;
    try {
      if (err === null) {
        server._native.accept(this._cid);
      } else {
        const message = err instanceof Error ? err.message : String(err);
        const data = err?.data === undefined ? undefined : JSON.stringify(err.data);
        server._native.rejectSocket(this._cid, message, data);
      }
    } catch (e) {
      server._report(e, this);
    }
    server._schedule();
  }

  _open(recovered) {
    this.connected = true;
    this.recovered = recovered;
    if (recovered) this.id = this._server._native.socketId(this._cid);
    this.nsp.sockets.set(this.id, this);
    fire(this._server, this.nsp._listeners.get('connection'), this.nsp, [this], this);
  }

  _onEvent(name, args, ackLo, ackHi) {
    if (ackLo !== NO_ACK_HALF || ackHi !== NO_ACK_HALF) {
      let done = false;
      args.push((...res) => {
        if (done) return;
        done = true;
        this._server._ack(this, ackLo, ackHi, res);
      });
    }
    if (this._any.length > 0) fire(this._server, this._any, this, [name, ...args], this);
    fire(this._server, this._listeners.get(name), this, args, this);
  }

  _onAck(id, code, arena, start, end, meta, x) {
    const entry = this._acks.get(id);
    if (entry === undefined) return;
    this._acks.delete(id);
    const [cb, withError] = entry;
    if (code === 0) {
      const args = decodeArgs(arena, start, end, meta, x);
      if (withError) cb(null, ...args);
      else cb(...args);
    } else if (withError) {
      cb(new Error(ACK_ERRORS[code] ?? 'no acknowledgement'));
    }
  }

  _end(_code, reason) {
    if (!this.connected) {
      this._gone = true; // left while awaiting approval
      return;
    }
    this.connected = false;
    if (this.nsp.sockets.get(this.id) === this) this.nsp.sockets.delete(this.id);
    const server = this._server;
    fire(server, this._listeners.get('disconnecting'), this, [reason], this);
    fire(server, this._listeners.get('disconnect'), this, [reason], this);
    // Acks still awaited end with the socket.
    const acks = [...this._acks.values()];
    this._acks.clear();
    for (const [cb, withError] of acks) {
      if (!withError) continue;
      try {
        cb(new Error(ACK_ERRORS[2]));
      } catch (e) {
        server._report(e, this);
      }
    }
  }
}

/** `socket.timeout(ms)`: emits whose acknowledgement is due within `ms`. */
class TimedEmit {
  constructor(socket, ms) {
    this._socket = socket;
    this._ms = ms;
  }

  /** The last argument, a function, gets `(err, ...args)`: err an Error when the time ran out or the socket disconnected. */
  emit(event, ...args) {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    this._socket._emit(event, args, cb, true, this._ms);
    return true;
  }

  emitWithAck(event, ...args) {
    return this._socket._emitWithAck(event, args, this._ms);
  }
}

/** The handler an event of a WebSocket goes to. */
const HANDLER_OF = { [EV.MESSAGE]: 'message', [EV.PONG]: 'pong', [EV.DRAIN]: 'drain', [EV.CLOSE]: 'close' };

/**
 * `server.clients`: the open WebSockets. Those not made yet (see
 * `Server._make`) count in `size` and are made when it is iterated.
 */
class Clients extends Set {
  constructor(server) {
    super();
    this._server = server;
  }

  get size() {
    return super.size + this._server._unmade;
  }

  [Symbol.iterator]() {
    this._server._makeAll();
    return super[Symbol.iterator]();
  }

  values() {
    this._server._makeAll();
    return super.values();
  }

  keys() {
    this._server._makeAll();
    return super.keys();
  }

  entries() {
    this._server._makeAll();
    return super.entries();
  }

  forEach(callback, thisArg) {
    this._server._makeAll();
    return super.forEach(callback, thisArg);
  }
}

class Server {
  constructor(options) {
    const { host, port, onError, ...coreOptions } = options ?? {};
    if (onError != null && typeof onError !== 'function') throw typeError(`onError must be a function, not ${typeof onError}`);
    this._native = new NativeServer(coreOptions);
    this._host = host;
    this._port = port;
    this._onError = onError ?? ((err) => console.error(err));
    this._routes = new Map();
    this._io = new Map(); // Socket.IO routes by path
    this._sioNames = []; // event names by the number the native side gives them
    this._conns = []; // by the core's connection index (a route's number: made on first use)
    this._routeList = []; // handlers by the native side's route number
    this._ids = new Float64Array(2048); // by connection index: the id's halves of each one not made yet
    this._unmade = 0;
    this._meta = new Float64Array(HEADER + STRIDE * 1024);
    this._send = this._native.fastSend();
    this._sendText = this._native.fastSendText();
    this._ackJson = this._native.fastAck();
    this._ackString = this._native.fastAckString();
    this._inDispatch = false;
    this._scheduled = false;
    this._closing = null;
    this._resolveClose = null;
    this._closed = false;
    this._tick = () => {
      this._scheduled = false;
      this._dispatch();
    };
    this._clients = new Clients(this);
    /** Open SSE streams. */
    this.streams = new Set();
    /** Open plain Engine.IO sessions. */
    this.sessions = new Set();
  }

  _route(kind, path, handlers, known) {
    for (const [k, v] of Object.entries(handlers)) {
      if (!known.includes(k)) throw typeError(`unknown handler "${k}" for ${path} (known: ${known.join(', ')})`);
      if (k !== 'protocols' && k !== 'headers' && typeof v !== 'function') throw typeError(`${k} for ${path} must be a function`);
    }
    this._routeList[this._native.route(kind, path, handlers)] = handlers;
    this._routes.set(path, handlers);
    return this;
  }

  /** Open WebSockets (those not made yet are made now). */
  get clients() {
    return this._clients;
  }

  /** Makes every WebSocket not made yet (`clients` is iterated). */
  _makeAll() {
    const conns = this._conns;
    const ids = this._ids;
    for (let i = 0; this._unmade > 0 && i < conns.length; i++) {
      if (typeof conns[i] === 'number') this._make(i, conns[i], undefined, ids[2 * i], ids[2 * i + 1]);
    }
  }

  /**
   * A WebSocket opened on a route without an `open` handler is made when
   * something needs its object: an event of `type` its route handles, or
   * (`type` undefined) the iteration of `clients`. Meanwhile its slot holds
   * the route's number and `_ids` its id. A close nobody handles makes
   * nothing; an event of another connection (a wake's index 0) neither.
   */
  _make(index, routeNumber, type, lo, hi) {
    const ids = this._ids;
    if (ids[2 * index] !== lo || ids[2 * index + 1] !== hi) return undefined;
    const route = this._routeList[routeNumber];
    if (type !== undefined && route[HANDLER_OF[type]] === undefined) {
      if (type === EV.CLOSE) {
        this._conns[index] = undefined;
        this._unmade--;
      }
      return undefined;
    }
    this._unmade--;
    const c = new WebSocket(this, lo, hi, route, undefined, undefined);
    c.protocol = '';
    this._conns[index] = c;
    this._clients.add(c);
    return c;
  }

  /** Waits with a WebSocket's object until its first event (see `_make`). */
  _defer(index, lo, hi, routeNumber) {
    let ids = this._ids;
    if (ids.length < 2 * index + 2) {
      ids = new Float64Array(Math.max(2 * index + 2, 2 * ids.length));
      ids.set(this._ids);
      this._ids = ids;
    }
    ids[2 * index] = lo;
    ids[2 * index + 1] = hi;
    this._conns[index] = routeNumber;
    this._unmade++;
  }

  ws(path, handlers = {}) {
    return this._route(0, path, handlers, WS_HANDLERS);
  }

  sse(path, handlers = {}) {
    return this._route(1, path, handlers, SSE_HANDLERS);
  }

  /** Plain Engine.IO sessions at `path` (handlers as for `ws`: approve, open, message, drain, close, headers). */
  engineio(path, handlers = {}) {
    return this._route(3, path, handlers, EIO_HANDLERS);
  }

  /** Socket.IO at `path`: its namespace "/" (more with `of`). */
  io(path = '/socket.io/') {
    let io = this._io.get(path);
    if (io === undefined) {
      this._native.route(4, path, {});
      io = new SocketIoRoute(this, path);
      this._io.set(path, io);
    }
    return io.of('/');
  }

  static(path, body, contentType = 'text/html; charset=utf-8', headers) {
    this._native.route(2, path, { headers }, bytes(body), contentType);
    return this;
  }

  listen(port, host) {
    this._native.listen(host ?? this._host ?? '127.0.0.1', port ?? this._port ?? 0, this._tick);
    return this;
  }

  get port() {
    return this._native.address()?.port ?? 0;
  }

  address() {
    return this._native.address();
  }

  /** The port TLS is spoken on (`port` itself, or `tlsListen`'s), or null without TLS or before listen(). */
  get tlsPort() {
    return this._native.tlsAddress()?.port ?? null;
  }

  /** Replaces the TLS settings `options` names (tlsCert, tlsKey, tlsCa, tlsClientAuth, tlsMinVersion; the others stay) for new connections; open ones keep theirs. */
  reloadTls(options) {
    this._native.reloadTls(options);
  }

  get listening() {
    return this._native.address() !== null && this._closing === null;
  }

  publish(topic, data, options) {
    return this._publish(false, topic, data, options, null);
  }

  publishAll(data, options) {
    return this._publish(true, undefined, data, options, null);
  }

  _publish(all, topic, data, options, sender) {
    const o = typeof options === 'object' && options !== null ? options : { binary: options }; // or isBinary
    const ex = o.exclude ?? sender;
    const r = this._native.publish(all, topic, bytes(data), o.binary, ex instanceof Connection ? ex.id : ex, o.onSlow, o.sseEvent);
    this._schedule();
    return r;
  }

  subscriberCount(topic) {
    return this._native.subscriberCount(topic);
  }

  clusterSubscriberCount(topic) {
    return this._native.clusterSubscriberCount(topic);
  }

  setTopicHistory(topic, options) {
    this._native.setTopicHistory(topic, options?.maxEvents, options?.maxAgeMs);
    return this;
  }

  clearTopicHistory(topic) {
    this._native.clearTopicHistory(topic);
    return this;
  }

  stats() {
    return this._native.stats();
  }

  close() {
    this._closing ??= new Promise((resolve) => {
      this._resolveClose = resolve;
      this._native.flush(true); // begins the shutdown
      this._schedule();
    });
    return this._closing;
  }

  /** Acknowledges event `ackLo`/`ackHi` of `socket` with the arguments `res`. */
  _ack(socket, ackLo, ackHi, res) {
    // One string (the common answer) is encoded by the native side, unless
    // it may hold a lone surrogate: then JSON.stringify's escape is kept.
    if (res.length !== 1 || typeof res[0] !== 'string' || !this._ackString(socket._lo, socket._hi, ackLo, ackHi, res[0])) {
      const [json, attachments] = encodeArgs(res);
      this._ackJson(socket._lo, socket._hi, ackLo, ackHi, json, attachments);
    }
    if (!this._inDispatch) this._schedule();
  }

  /** Runs a dispatch at the end of this microtask turn (it writes what was queued). */
  _schedule() {
    if (!this._scheduled && !this._inDispatch && !this._closed) {
      this._scheduled = true;
      queueMicrotask(this._tick);
    }
  }

  _report(err, conn) {
    try {
      this._onError(err, conn);
    } catch (e) {
      console.error(e);
    }
  }

  _dispatch() {
    const native = this._native;
    if (this._inDispatch || this._closed) return;
    if (this._resolveClose !== null && native.finished()) return this._finish();
    let meta = this._meta;
    let n = native.poll(meta);
    if (n < 0) {
      meta = this._meta = new Float64Array(-n * 2);
      n = native.poll(meta);
    }
    const arena = meta[1] > 0 ? native.arena() : EMPTY;
    const own = meta[3] > 0 ? native.ownBuffers() : null;
    const conns = this._conns;
    const sioNames = this._sioNames;
    this._inDispatch = true;
    for (let i = 0, o = HEADER; i < n; i++, o += STRIDE) {
      const type = meta[o];
      const index = meta[o + 1];
      const lo = meta[o + 2];
      const hi = meta[o + 3];
      const start = meta[o + 4];
      const end = start + meta[o + 5];
      let c = conns[index];
      if (typeof c === 'number') c = this._make(index, c, type, lo, hi);
      if (c !== undefined && (c._lo !== lo || c._hi !== hi)) c = undefined;
      try {
        if (type === MESSAGE) {
          // Not made: its route has no `message` handler.
          if (c === undefined) continue;
          // A large message comes in a Buffer of its own (start -1 - its place).
          const data = start >= 0 ? arena.subarray(start, end) : own[-1 - start];
          const r = c._route.message?.(c, data, meta[o + 6] === 0);
          if (r !== undefined) settle(this, r, c);
          continue;
        }
        switch (type) {
          case EV.SIO_EVENT: {
            const x = meta[o + 6];
            const number = meta[x + 8];
            let name = number >= 0 ? sioNames[number] : undefined;
            if (name === undefined) {
              name = arena.toString('utf8', meta[x + 2], meta[x + 2] + meta[x + 3]);
              if (number >= 0) sioNames[number] = name;
            }
            // One string without escapes (the common case): no JSON.parse.
            const args = meta[x + 6] === 1 ? [arena.toString('utf8', start + 2, end - 2)] : decodeArgs(arena, start, end, meta, x);
            c._onEvent(name, args, meta[x + 4], meta[x + 5]);
            break;
          }
          case EV.SIO_ACK: {
            const x = meta[o + 6];
            // After the socket's close (acks it waited for end with it).
            if (c !== undefined) c._onAck(meta[x + 4] + meta[x + 5] * 0x100000000, meta[x + 6], arena, start, end, meta, x);
            break;
          }
          case EV.REQUEST: {
            const req = native.batchRequest(i);
            const x = meta[o + 6];
            if (meta[x] === ENDPOINT_SOCKETIO) {
              const nsp = this._io.get(req.path).namespaces.get(arena.toString('utf8', meta[x + 2], meta[x + 2] + meta[x + 3]));
              c = conns[index] = new Socket(nsp, lo, hi, req, arena.toString('utf8', start, end));
              nsp._run(c);
              break;
            }
            // Waiting for `approve`: a bare Connection, CONNECTING.
            c = conns[index] = new Connection(this, lo, hi, this._routes.get(req.path), req, undefined);
            this._approve(c, req);
            break;
          }
          case EV.OPEN:
          case EV.SSE_OPEN: {
            const endpoint = type === EV.OPEN ? meta[meta[o + 6]] : -1;
            if (endpoint === ENDPOINT_SOCKETIO) {
              const x = meta[o + 6];
              if (!(c instanceof Socket)) {
                const req = native.batchRequest(i);
                const nsp = this._io.get(req.path).namespaces.get(arena.toString('utf8', meta[x + 2], meta[x + 2] + meta[x + 3]));
                c = conns[index] = new Socket(nsp, lo, hi, req, arena.toString('utf8', start, end));
              }
              c._open(meta[x + 1] === 1);
              break;
            }
            const routeNumber = native.batchRoute(i);
            const route = this._routeList[routeNumber];
            if (endpoint === ENDPOINT_ENGINEIO) {
              const req = native.batchRequest(i);
              c = conns[index] = new EngineIoSession(this, lo, hi, route, req, undefined);
              this.sessions.add(c);
              settle(this, route.open?.(c, req), c);
              break;
            }
            const ws = type === EV.OPEN;
            if (ws && route.open === undefined && start === end && c?.data === undefined) {
              this._defer(index, lo, hi, routeNumber);
              break;
            }
            c = conns[index] = new (ws ? WebSocket : SseStream)(this, lo, hi, route, undefined, c?.data);
            if (ws) c.protocol = arena.toString('utf8', start, end);
            (ws ? this._clients : this.streams).add(c);
            // The handler's `req` is made for it; the object reads its own
            // from the core if asked.
            if (route.open !== undefined) settle(this, route.open(c, native.batchRequest(i)), c);
            break;
          }
          case EV.PONG:
            if (c !== undefined) settle(this, c._route.pong?.(c, arena.subarray(start, end)), c);
            break;
          case EV.DRAIN:
            if (c !== undefined) settle(this, c._route?.drain?.(c), c);
            break;
          case EV.CLOSE:
          case EV.SSE_CLOSE:
            conns[index] = undefined;
            // The core forgets the request now; the event carries it.
            if (c instanceof Connection && c._req === undefined) c._req = native.batchRequest(i);
            c?._end(meta[o + 6], arena.toString('utf8', start, end));
        }
      } catch (e) {
        this._report(e, c);
      }
    }
    this._inDispatch = false;
    native.flush(false);
    if (this._resolveClose !== null && native.finished()) this._finish();
  }

  _finish() {
    this._closed = true;
    this._resolveClose();
  }

  /** Answers a request as `approve`'s result (or promise) says; an error is reported and answered 500. */
  _approve(p, req) {
    const answer = (r, err) => this._answer(p, r, err);
    Promise.resolve().then(() => p._route.approve(req)).then(answer, (e) => answer(500, e));
  }

  _answer(p, r, err) {
    if (err !== undefined) this._report(err, p);
    if (p._gone) return;
    const native = this._native;
    try {
      if (r === undefined || r === null || r === true) native.accept(p.id);
      else if (r === false) native.reject(p.id, 403);
      else if (typeof r === 'number') native.reject(p.id, r);
      else if (r.status !== undefined) native.reject(p.id, r.status, r.body, r.headers);
      else {
        p.data = r.data;
        native.accept(p.id, r.protocol, r.headers);
      }
    } catch (e) {
      if (r === 500) this._report(e, p);
      else this._answer(p, 500, e);
    }
    this._schedule();
  }
}

const createServer = (options) => new Server(options);

module.exports = {
  Server,
  WebSocket,
  SseStream,
  EngineIoSession,
  Namespace,
  Socket,
  BroadcastOperator,
  createServer,
  CONNECTING,
  OPEN,
  CLOSING,
  CLOSED,
};
// `import wsrt from "wsrt"` and TypeScript's default import see the same object.
module.exports.default = module.exports;
