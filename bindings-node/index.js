'use strict';
// wsrt for Node: WebSocket and Server-Sent Events on the native wsrt core.
//
// libuv watches the core on this thread; each time it is ready, one batch
// of events crosses into JavaScript as a Float64Array of flat records and
// one Buffer of payloads. Replies from handlers go out together (writev)
// after the batch; sends made elsewhere, at the end of the microtask turn.
// Options, checks, event numbers, states and errors are the core's: this
// file routes events to handlers and calls to the core (API: index.d.ts).

const native = require('./wsrt.node');

const { NativeServer, RECORD_STRIDE: STRIDE, RECORD_HEADER: HEADER, CONNECTING, OPEN, CLOSING, CLOSED } = native;
const EV = native.eventTypes();
const MESSAGE = EV.MESSAGE;
const EMPTY = Buffer.alloc(0);
const WS_HANDLERS = ['approve', 'open', 'message', 'drain', 'close', 'pong', 'protocols', 'headers'];
const SSE_HANDLERS = ['approve', 'open', 'drain', 'close', 'headers'];

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
    /** The core's id of the connection (a bigint). */
    this.id = native.connectionId(lo, hi);
    this.data = data;
    this.request = request;
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
    this._conns = []; // by the core's connection index
    this._meta = new Float64Array(HEADER + STRIDE * 1024);
    this._send = this._native.fastSend();
    this._sendText = this._native.fastSendText();
    this._inDispatch = false;
    this._scheduled = false;
    this._closing = null;
    this._resolveClose = null;
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

  _route(kind, path, handlers, known) {
    for (const [k, v] of Object.entries(handlers)) {
      if (!known.includes(k)) throw typeError(`unknown handler "${k}" for ${path} (known: ${known.join(', ')})`);
      if (k !== 'protocols' && k !== 'headers' && typeof v !== 'function') throw typeError(`${k} for ${path} must be a function`);
    }
    this._native.route(kind, path, handlers);
    this._routes.set(path, handlers);
    return this;
  }

  ws(path, handlers = {}) {
    return this._route(0, path, handlers, WS_HANDLERS);
  }

  sse(path, handlers = {}) {
    return this._route(1, path, handlers, SSE_HANDLERS);
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
    const requests = meta[2] > 0 ? native.requests() : null;
    const conns = this._conns;
    let ri = 0;
    this._inDispatch = true;
    for (let i = 0, o = HEADER; i < n; i++, o += STRIDE) {
      const type = meta[o];
      const index = meta[o + 1];
      const lo = meta[o + 2];
      const hi = meta[o + 3];
      const start = meta[o + 4];
      const end = start + meta[o + 5];
      let c = conns[index];
      if (c !== undefined && (c._lo !== lo || c._hi !== hi)) c = undefined;
      try {
        if (type === MESSAGE) {
          c._route.message?.(c, arena.subarray(start, end), meta[o + 6] === 0);
          continue;
        }
        switch (type) {
          case EV.REQUEST: {
            // Waiting for `approve`: a bare Connection, CONNECTING.
            const req = requests[ri++];
            c = conns[index] = new Connection(this, lo, hi, this._routes.get(req.path), req, undefined);
            this._approve(c, req);
            break;
          }
          case EV.OPEN:
          case EV.SSE_OPEN: {
            const req = requests[ri++];
            const route = this._routes.get(req.path);
            const ws = type === EV.OPEN;
            c = conns[index] = new (ws ? WebSocket : SseStream)(this, lo, hi, route, req, c?.data);
            if (ws) c.protocol = arena.toString('utf8', start, end);
            (ws ? this.clients : this.streams).add(c);
            route.open?.(c, req);
            break;
          }
          case EV.PONG:
            c._route.pong?.(c, arena.subarray(start, end));
            break;
          case EV.DRAIN:
            c._route.drain?.(c);
            break;
          case EV.CLOSE:
          case EV.SSE_CLOSE:
            conns[index] = undefined;
            if (c.constructor === Connection) {
              c._gone = true;
            } else if (type === EV.CLOSE) {
              this.clients.delete(c);
              c._route.close?.(c, meta[o + 6], arena.toString('utf8', start, end));
            } else {
              this.streams.delete(c);
              c._route.close?.(c);
            }
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

module.exports = { Server, WebSocket, SseStream, createServer, CONNECTING, OPEN, CLOSING, CLOSED };
// `import wsrt from "wsrt"` and TypeScript's default import see the same object.
module.exports.default = module.exports;
