// Type definitions for wsrt (Node addon): WebSocket, SSE, Engine.IO, Socket.IO. The contract behind them (units,
// the rule for zero, errors) is docs/API.md.

/// <reference types="node" />

/** Anything `send` accepts without copying (strings are encoded once). */
export type Sendable = string | Buffer | ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/** Connection states, numbered by the core (as the browser's `WebSocket.readyState`). */
export const CONNECTING: 0;
export const OPEN: 1;
export const CLOSING: 2;
export const CLOSED: 3;
export type ReadyState = 0 | 1 | 2 | 3;

/**
 * Every error wsrt throws comes from its core: `code` is one of
 * ERR_WSRT_INVALID_ARGUMENT (a RangeError), ERR_WSRT_INVALID_TYPE (a
 * TypeError), ERR_WSRT_UNKNOWN_CONNECTION, ERR_WSRT_WRONG_STATE,
 * ERR_WSRT_CLOSED, ERR_WSRT_STOPPED, ERR_WSRT_IO, ERR_WSRT_INTERNAL.
 * (Backpressure is not thrown: `send` returns false.)
 */
export interface WsrtError extends Error {
  code: string;
}

/** The HTTP request that opened (or asks to open) a connection. */
export interface Request {
  method: string;
  /** Path without the query. */
  path: string;
  /** Query string without the leading "?" ("" when none). */
  query: string;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  remoteAddress: string;
  remotePort: number;
  /** WebSocket subprotocols the client offered (empty for SSE). */
  protocols: string[];
  /** The `Last-Event-ID` header, if sent. */
  lastEventId?: string;
  /** The TLS handshake of the connection; null on a plain connection. */
  tls: TlsInfo | null;
}

/** What a connection's TLS handshake settled (`request.tls`). */
export interface TlsInfo {
  version: 'TLSv1.2' | 'TLSv1.3';
  /** The cipher suite's IANA name ("TLS13_AES_128_GCM_SHA256"). */
  cipher: string;
  /** The server name the client asked for (SNI), or null. */
  serverName: string | null;
  /**
   * The client certificate's subject as an RFC 4514 string
   * ("CN=alice,O=Example"): only when one was sent and verified against
   * `tlsCa`; else null.
   */
  peerSubject: string | null;
  /** That certificate, DER encoded; else null. */
  peerCertificate: Buffer | null;
}

/** A certificate, key or CA: a PEM file's path, or PEM text (a string, or its bytes). */
export type PemSource = string | Buffer | Uint8Array;

/** Response headers (`Set-Cookie`, CORS, `WWW-Authenticate`, ...): names and values (undefined: none). */
export type Headers = Record<string, string | undefined>;

/**
 * What `approve` returns (or resolves to):
 * - `undefined` or `true`: accept;
 * - `{ protocol?, headers?, data? }`: accept, choosing one of the offered
 *   subprotocols, adding response headers, setting the connection's `data`;
 * - `false`: refuse with 403;
 * - a status number or `{ status, body?, headers? }`: refuse (400-599).
 * A hook that throws or rejects refuses with 500; the error goes to `onError`.
 */
export type ApproveResult<UserData = unknown> =
  | undefined
  | void
  | boolean
  | number
  | { protocol?: string | null; headers?: Headers; data?: UserData; status?: undefined }
  | { status: number; body?: string; headers?: Headers };

export type ApproveHook<UserData = unknown> = (
  req: Request,
) => ApproveResult<UserData> | Promise<ApproveResult<UserData>>;

/** What WebSocket and SseStream share. */
declare class Connection<UserData = any> {
  protected constructor();
  /** The core's id of the connection (unique among live connections). */
  readonly id: bigint;
  /** Free for the application; initially `approve`'s `data`. */
  data: UserData;
  /** The core's state of the connection. */
  readonly readyState: ReadyState;
  /** Bytes queued and not yet taken by the kernel (throws once the connection is gone). */
  readonly bufferedAmount: number;
  /**
   * The request that opened it (with `remoteAddress` and `remotePort`), read
   * from the server on first use; kept after the close. Without the headers
   * only the handshake used (Upgrade, Connection, Sec-WebSocket-Key,
   * -Version, -Extensions); `open`'s `req` is the whole request.
   */
  readonly request: Request;
  /**
   * Joins `topic` (1-1024 bytes of UTF-8): what is published to it reaches
   * this connection. False if it already was subscribed. A connection
   * leaves its topics when it closes.
   */
  subscribe(topic: string): boolean;
  /** Leaves `topic`; false if it was not subscribed. */
  unsubscribe(topic: string): boolean;
  isSubscribed(topic: string): boolean;
  /** Drops the connection at once, without a close handshake (`close` follows, with 1006). */
  terminate(): void;
}

/** An open WebSocket. */
export declare class WebSocket<UserData = any> extends Connection<UserData> {
  /** The negotiated subprotocol ("" when none). */
  readonly protocol: string;
  /**
   * Queues a message: text for strings, binary for bytes, unless `isBinary`
   * says otherwise. Returns false when the send-buffer limit refused it
   * (nothing queued; `drain` follows); throws the core's other errors
   * (ERR_WSRT_CLOSED once closing, ERR_WSRT_UNKNOWN_CONNECTION after its
   * close was reported, ERR_WSRT_INVALID_ARGUMENT for text that is not UTF-8).
   */
  send(data: Sendable, isBinary?: boolean): boolean;
  /** Publishes to `topic` for every subscriber except this socket; otherwise `Server.publish`. */
  publish(topic: string, data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** A ping with up to 125 bytes of payload; the answer goes to `pong`. */
  ping(data?: Sendable): void;
  /** Starts the close handshake (default 1000; reason at most 123 bytes). */
  close(code?: number, reason?: string): void;
}

export interface SseSendOptions {
  event?: string;
  /** The event's id (what a reconnecting client sends back as Last-Event-ID). */
  id?: string | number;
  /** Reconnection delay for the client, in milliseconds. */
  retryMs?: number;
}

export interface ResumeOptions {
  /** Replay what was published after this id (default: the client's own Last-Event-ID). */
  lastEventId?: string | number | null;
}

/** What `SseStream.resume` did. */
export interface ReplayResult {
  /** Events replayed from the topic's history, queued in order before anything published later. */
  replayed: number;
  /**
   * True when the history no longer covers the client's last id (or it is
   * not an id of this server instance): nothing was replayed, and the app
   * should send a snapshot of the current state. Subscribed either way.
   */
  missed: boolean;
}

/** An open Server-Sent Events stream. */
export declare class SseStream<UserData = any> extends Connection<UserData> {
  /** The Last-Event-ID a reconnecting client sent, or null. */
  readonly lastEventId: string | null;
  /** Sends one event (data may span lines). False: refused by backpressure. */
  send(data: string, options?: SseSendOptions): boolean;
  /** Sends a comment line (ignored by clients). False: refused by backpressure. */
  comment(text?: string): boolean;
  /**
   * Subscribes to `topic` and replays from its history
   * (`Server.setTopicHistory`) what the client missed after its last event
   * id (by default its own Last-Event-ID, what a reconnecting EventSource
   * sends). Binary publishes never reach SSE streams.
   * @example
   * if (stream.resume('prices').missed) stream.send(JSON.stringify(snapshot()), { event: 'snapshot' });
   */
  resume(topic: string, options?: ResumeOptions): ReplayResult;
  /** Ends the stream; the `close` handler follows. */
  close(): void;
}

export interface WebSocketHandlers<UserData = any> {
  /** Subprotocols this route speaks, in order of preference. */
  protocols?: string[];
  /** Response headers of the route's 101. */
  headers?: Headers;
  /** Decides on each request (auth, origin, subprotocol); may be async. */
  approve?: ApproveHook<UserData>;
  open?: (ws: WebSocket<UserData>, req: Request) => void;
  /**
   * A complete message. `data` is a Buffer the handler may keep (a view into
   * the batch's payload buffer: keeping a small slice keeps the batch alive).
   */
  message?: (ws: WebSocket<UserData>, data: Buffer, isBinary: boolean) => void;
  /** The send queue that had backed up has been written out. */
  drain?: (ws: WebSocket<UserData>) => void;
  /** The connection is closed: the peer's code, 1006 for an abrupt end, or the code it was failed with. */
  close?: (ws: WebSocket<UserData>, code: number, reason: string) => void;
  pong?: (ws: WebSocket<UserData>, data: Buffer) => void;
}

/** A plain Engine.IO session (long-polling or WebSocket underneath; the upgrade is the core's). */
export declare class EngineIoSession<UserData = any> extends Connection<UserData> {
  /**
   * Queues a message: text for strings, binary for bytes, unless `isBinary`
   * says otherwise. False: refused by backpressure (`drain` follows).
   */
  send(data: Sendable, isBinary?: boolean): boolean;
  /** Ends the session; the `close` handler follows. */
  close(): void;
}

export interface EngineIoHandlers<UserData = any> {
  /** Response headers of the route. */
  headers?: Headers;
  /** Decides on each new session (its first request); may be async. */
  approve?: ApproveHook<UserData>;
  open?: (session: EngineIoSession<UserData>, req: Request) => void;
  /** A message; `data` as for WebSocket messages. */
  message?: (session: EngineIoSession<UserData>, data: Buffer, isBinary: boolean) => void;
  drain?: (session: EngineIoSession<UserData>) => void;
  /** The session ended, with the reference server's reason ("transport close", "ping timeout", ...). */
  close?: (session: EngineIoSession<UserData>, reason: string) => void;
}

/**
 * Socket.IO disconnect reasons (the reference server's words).
 */
export type DisconnectReason =
  | 'transport close'
  | 'transport error'
  | 'ping timeout'
  | 'parse error'
  | 'forced close'
  | 'forced server close'
  | 'client namespace disconnect'
  | 'server namespace disconnect'
  | 'server shutting down'
  | (string & {});

/** What the client sent when it connected (`socket.handshake`). */
export interface Handshake {
  /** The client's `auth` payload ({} when none). */
  auth: Record<string, any>;
  /** Lower-case header names of the request that opened the session. */
  headers: Record<string, string>;
  /** The query of that request (EIO, transport, and the client's `query`). */
  query: Record<string, string>;
  /** The peer's IP address. */
  address: string;
  time: string;
  issued: number;
  url: string;
  xdomain: boolean;
  secure: boolean;
}

/** An error for `next(err)` in middleware: the client's `connect_error` gets `message` and `data`. */
export interface MiddlewareError extends Error {
  data?: unknown;
}

export type Middleware<SocketData = any> = (socket: Socket<SocketData>, next: (err?: MiddlewareError | Error | null) => void) => void | Promise<void>;

/** Listeners by event name (socket.io's shape, without Node's EventEmitter rules). */
declare class Listeners {
  protected constructor();
  on(event: string, listener: (...args: any[]) => void): this;
  addListener(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
  removeListener(event: string, listener: (...args: any[]) => void): this;
  removeAllListeners(event?: string): this;
  listeners(event: string): Array<(...args: any[]) => void>;
  listenerCount(event: string): number;
}

/**
 * Emits to many sockets of a namespace (`io.to(room)`, `socket.broadcast`,
 * ...): encoded once in the core, one copy per socket. Immutable: each call
 * returns a new operator.
 */
export declare class BroadcastOperator {
  private constructor();
  /** Also the sockets in `room` (a room name, or a socket's id). */
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  /** Never the sockets in `room`. */
  except(room: string | string[]): BroadcastOperator;
  /**
   * Emits `event` with `args` (Buffers and typed arrays at any depth go as
   * binary attachments). Acknowledgements are not available when
   * broadcasting (a function argument throws a TypeError).
   */
  emit(event: string, ...args: any[]): true;
  /** The connected sockets it reaches. */
  fetchSockets(): Promise<Socket[]>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string): void;
  disconnectSockets(close?: boolean): void;
}

/** A Socket.IO namespace: `server.io()` is "/", `io.of(name)` another. */
export declare class Namespace<SocketData = any> extends Listeners {
  private constructor();
  /** "/" or "/admin", ... */
  readonly name: string;
  readonly server: Server;
  /** Connected sockets by id. */
  readonly sockets: Map<string, Socket<SocketData>>;
  /** Another namespace of the same route (created before `listen`: the core serves the namespaces it knows then). */
  of(name: string): Namespace;
  /** Runs for every connection to this namespace, in order; `next(err)` refuses it. */
  use(fn: Middleware<SocketData>): this;
  on(event: 'connection' | 'connect', listener: (socket: Socket<SocketData>) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  except(room: string | string[]): BroadcastOperator;
  /** Emits to every socket of the namespace. */
  emit(event: string, ...args: any[]): true;
  fetchSockets(): Promise<Socket<SocketData>[]>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string): void;
  disconnectSockets(close?: boolean): void;
}

/** `socket.timeout(ms)`: emits whose acknowledgement is due within `ms` (0: no timeout). */
export interface TimedEmit {
  /** A function as the last argument gets `(err, ...args)`: `err` is an Error("operation has timed out") or Error("socket has been disconnected"), else null. */
  emit(event: string, ...args: any[]): true;
  /** The acknowledgement's first argument; rejects with those errors. */
  emitWithAck(event: string, ...args: any[]): Promise<any>;
}

/**
 * A Socket.IO socket: one client in one namespace. Calls on it after its
 * `disconnect` throw the core's error (ERR_WSRT_UNKNOWN_CONNECTION or
 * ERR_WSRT_CLOSED); wrong types throw a TypeError (ERR_WSRT_INVALID_TYPE).
 */
export declare class Socket<SocketData = any> extends Listeners {
  private constructor();
  /** The id the client knows (its `socket.id`). */
  readonly id: string;
  readonly nsp: Namespace<SocketData>;
  readonly handshake: Handshake;
  /** The request that opened the client's session. */
  readonly request: Request;
  /** Free for the application (set it in middleware, read it in handlers). */
  data: SocketData;
  readonly connected: boolean;
  readonly disconnected: boolean;
  /** Whether connection state recovery brought it back (same id and rooms; missed packets replayed). */
  readonly recovered: boolean;
  /** Its rooms (the core's topics), its own id first; empty once disconnected. */
  readonly rooms: Set<string>;
  /**
   * A client's event: `(…args, ack?) => …`; the last argument is an ack
   * function only when the client asked for an acknowledgement. Also
   * `disconnecting` and `disconnect` with the reason.
   */
  on(event: 'disconnect' | 'disconnecting', listener: (reason: DisconnectReason) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
  /** `listener(event, ...args)` for every client event, before the event's own listeners. */
  onAny(listener: (event: string, ...args: any[]) => void): this;
  prependAny(listener: (event: string, ...args: any[]) => void): this;
  offAny(listener?: (event: string, ...args: any[]) => void): this;
  listenersAny(): Array<(event: string, ...args: any[]) => void>;
  /**
   * Emits `event` to this client (Buffers and typed arrays at any depth go as
   * binary attachments). A function as the last argument gets the client's
   * acknowledgement `(...args)` (not called if the socket disconnects first:
   * use `timeout` for that).
   */
  emit(event: string, ...args: any[]): true;
  /** The acknowledgement's first argument; rejects with Error("socket has been disconnected"). */
  emitWithAck(event: string, ...args: any[]): Promise<any>;
  timeout(ms: number): TimedEmit;
  /** The namespace's sockets in `room`, but this one. */
  to(room: string | string[]): BroadcastOperator;
  in(room: string | string[]): BroadcastOperator;
  except(room: string | string[]): BroadcastOperator;
  /** Every other socket of the namespace. */
  readonly broadcast: BroadcastOperator;
  /** Joins a room (a core topic: publishes to it reach the socket as the event "message"). */
  join(rooms: string | string[]): void;
  leave(room: string): void;
  /** "server namespace disconnect"; with `close`, ends the client's whole connection. Nothing once disconnected. */
  disconnect(close?: boolean): this;
}

export interface SseHandlers<UserData = any> {
  /** Response headers of the route's event-stream head. */
  headers?: Headers;
  approve?: ApproveHook<UserData>;
  open?: (stream: SseStream<UserData>, req: Request) => void;
  drain?: (stream: SseStream<UserData>) => void;
  close?: (stream: SseStream<UserData>) => void;
}

/**
 * What a publish does with a subscriber that has more than
 * `slowConsumerLimit` bytes queued: `"drop"` skips this message for it,
 * `"close"` closes it (1008).
 */
export type SlowConsumerPolicy = 'drop' | 'close';

/**
 * permessage-deflate: `"off"` (the default), `"shared"` (no context
 * takeover, contexts shared by the loop: no memory per connection) or
 * `"per-connection"` (context takeover as the client offers).
 */
export type DeflateMode = 'off' | 'shared' | 'per-connection';

export interface PublishOptions {
  /** Default: text for strings, binary for bytes. Binary messages skip SSE streams. */
  binary?: boolean;
  /** A connection (or its id) that does not get the message (`ws.publish`: the sender). */
  exclude?: WebSocket | SseStream | bigint | null;
  /** Overrides the server's `slowConsumerPolicy` for this publish. */
  onSlow?: SlowConsumerPolicy;
  /** The SSE `event:` name stream subscribers see (default: `message`). */
  sseEvent?: string;
}

/** What one publish did. */
export interface PublishResult {
  /** Subscribers the message was queued for. */
  delivered: number;
  /** Slow subscribers that did not get it (policy "drop"). */
  dropped: number;
  /** Slow subscribers closed because of it (policy "close"); their close handlers follow. */
  closed: number;
  /** The event id when the topic keeps history (SSE subscribers see it as `id:`), else null. */
  eventId: number | null;
}

export interface TopicHistoryOptions {
  /** Most events kept; 0 or absent: no count limit. */
  maxEvents?: number;
  /** Events older than this many milliseconds are forgotten; 0 or absent: no age limit. */
  maxAgeMs?: number;
}

/** `Server.stats()`: gauges now, and counters since the server started. */
export interface ServerStats {
  connections: number;
  websockets: number;
  sseStreams: number;
  /** Bytes queued for all connections and not yet taken by the sockets. */
  bufferedBytes: number;
  topics: number;
  /** Publish calls (to a topic or to all). */
  published: number;
  /** Messages queued to subscribers by publishes. */
  delivered: number;
  /** Messages skipped for slow subscribers. */
  dropped: number;
  /** Subscribers closed as slow. */
  slowClosed: number;
  /** TLS handshakes completed. */
  tlsHandshakes: number;
  /**
   * TLS connections refused or given up before their handshake completed
   * (plain HTTP or garbage on a TLS port, a version or certificate
   * refused, the handshake timeout).
   */
  tlsFailures: number;
  /** Publishes sent to the cluster's Redis (`clusterRedisUrl`). */
  clusterPublished: number;
  /** Publishes of other servers of the cluster delivered here (their deliveries count in `delivered`). */
  clusterReceived: number;
  /**
   * Publishes that did not reach the cluster (queue to Redis full, no
   * connection to Redis, or it broke before Redis confirmed them); local
   * subscribers got them all the same.
   */
  clusterDropped: number;
}

/** The TLS options, what `Server.reloadTls` takes (`tlsListen` cannot change). */
export interface TlsOptions {
  tlsCert?: PemSource | PemSource[] | null;
  tlsKey?: PemSource | PemSource[] | null;
  tlsCa?: PemSource | PemSource[] | null;
  tlsClientAuth?: TlsClientAuth | null;
  tlsMinVersion?: TlsMinVersion | null;
  tlsListen?: string | null;
}

export type TlsClientAuth = 'none' | 'optional' | 'required';
export type TlsMinVersion = '1.2' | '1.3' | 'TLSv1.2' | 'TLSv1.3';

/**
 * The server's options: `host`, `port` and `onError`, and the core's
 * options by their Node names (docs/API.md, "Options"), checked by the
 * core. Durations are milliseconds; 0 turns a timer or a limit off;
 * `undefined` and `null` mean the default. An out-of-range value throws a
 * RangeError (ERR_WSRT_INVALID_ARGUMENT), a value of the wrong type a
 * TypeError (ERR_WSRT_INVALID_TYPE), from the constructor.
 */
export interface ServerOptions {
  /** Where `listen()` binds by default: a name, an IPv4 or IPv6 address. Default "127.0.0.1". */
  host?: string;
  /** Default 0 (any free port; see `server.port`). */
  port?: number;
  /**
   * Receives errors thrown by handlers, with their connection (for
   * `approve`, the request's, still CONNECTING). Default: `console.error`.
   */
  onError?: (err: unknown, conn?: WebSocket | SseStream | EngineIoSession | Socket | Connection) => void;
  /** Largest WebSocket message accepted (bytes); bigger closes with 1009. Default 16 MiB. */
  maxMessageSize?: number | null;
  /** Largest request head (bytes; 431 beyond). Default 8 KiB. */
  maxHeadBytes?: number | null;
  /** Most request headers (431 beyond). Default 64. */
  maxHeaders?: number | null;
  /** Time to send a request head (and for `approve`), ms. Default 10 000. */
  handshakeTimeoutMs?: number | null;
  /** Ping a silent peer after half, drop it after all of this, ms. Default 120 000. */
  idleTimeoutMs?: number | null;
  /** Time a close handshake, a final flush and a graceful shutdown may take, ms. Default 5 000. */
  closeTimeoutMs?: number | null;
  /** Bytes sends may queue per connection. Default 32 MiB. */
  maxBuffered?: number | null;
  /** A connection is not read while more than this is queued for it (bytes). Default 1 MiB. */
  readPauseBuffered?: number | null;
  /** A send past maxBuffered: "reject" (send returns false) or "close" (1008). Default "reject". */
  overflowPolicy?: 'reject' | 'close' | null;
  /** Keep-alive comment on quiet SSE streams, ms. Default 15 000. */
  sseKeepaliveMs?: number | null;
  /** Connections beyond this are accepted and closed at once. Default 0 (any number). */
  maxConnections?: number | null;
  /** permessage-deflate. Default "off". */
  deflate?: DeflateMode | null;
  /** Messages shorter than this (bytes) go out uncompressed. Default 256. */
  deflateThreshold?: number | null;
  /** zlib level 0-9. Default 6. */
  deflateLevel?: number | null;
  /** Our compressor's window, 9-15 bits. Default 15. */
  deflateWindowBits?: number | null;
  /** Bytes queued for a subscriber past which publishes find it slow. Default 1 MiB. */
  slowConsumerLimit?: number | null;
  /** What publishes do with slow subscribers. Default "close". */
  slowConsumerPolicy?: SlowConsumerPolicy | null;
  /** Origins browsers may connect from (others: 403). Default: any. */
  allowedOrigins?: string | string[] | null;
  /** Engine.IO heartbeat: the server pings each session this often, ms. Default 25 000. */
  sioPingIntervalMs?: number | null;
  /** A session that has not answered a ping within this is closed ("ping timeout"), ms. Default 20 000. */
  sioPingTimeoutMs?: number | null;
  /** A Socket.IO session that has joined no namespace by then is closed, ms. Default 45 000. */
  sioConnectTimeoutMs?: number | null;
  /** An unfinished upgrade from long-polling to WebSocket is abandoned after this, ms. Default 10 000. */
  sioUpgradeTimeoutMs?: number | null;
  /** Largest Engine.IO message and long-polling POST (bytes; socket.io's maxHttpBufferSize). Default 1 000 000. */
  sioMaxPayload?: number | null;
  /** Connection state recovery window, ms (0, the default: off). */
  sioRecoveryWindowMs?: number | null;
  /** Origins whose pages may read Engine.IO answers (CORS); "*" for any. Default: none. */
  corsOrigins?: string | string[] | null;
  /** CORS answers allow credentials. Default false. */
  corsCredentials?: boolean | null;
  /**
   * TLS certificate chains, each a PEM file's path or PEM text. Set: the
   * server speaks TLS (https, wss) on its port, or on `tlsListen`. With
   * several, a client gets the first whose names match the server name it
   * asks for (SNI), else the first. Files are read by `listen()`.
   */
  tlsCert?: PemSource | PemSource[] | null;
  /** The private keys of `tlsCert`, in the same order. */
  tlsKey?: PemSource | PemSource[] | null;
  /** CAs client certificates are verified against (needs `tlsClientAuth`). */
  tlsCa?: PemSource | PemSource[] | null;
  /** Client certificates: "none" (the default), "optional" (verified if sent), "required". */
  tlsClientAuth?: TlsClientAuth | null;
  /** Oldest TLS version accepted. Default "1.2". */
  tlsMinVersion?: TlsMinVersion | null;
  /** "host:port" for TLS beside the plain port (one server, two listeners). Default: the port itself speaks TLS. */
  tlsListen?: string | null;
  /**
   * Where the cluster's Redis is ("redis://host:port/", "redis+unix:///path"):
   * every publish also goes to the servers sharing it, and theirs reach this
   * one's subscribers. Default: no cluster.
   */
  clusterRedisUrl?: string | null;
  /**
   * Event loops, each on a thread of its own with its own listener on the
   * shared port: I/O, TLS, parsing and compression run in parallel while
   * handlers run on this thread and see one stream of events. 0 or "auto":
   * one per usable core. Default 1. Engine.IO/Socket.IO routes and
   * `clusterRedisUrl` need 1 for now.
   */
  workers?: number | 'auto' | null;
}

export declare class Server {
  constructor(options?: ServerOptions);
  /** Open WebSockets (those not made yet, on routes without `open`, count in `size` and are made when it is iterated). */
  readonly clients: Set<WebSocket>;
  /** Open SSE streams. */
  readonly streams: Set<SseStream>;
  /** Open plain Engine.IO sessions. */
  readonly sessions: Set<EngineIoSession>;
  ws<UserData = any>(path: string, handlers?: WebSocketHandlers<UserData>): this;
  sse<UserData = any>(path: string, handlers?: SseHandlers<UserData>): this;
  /** Plain Engine.IO sessions at `path` (conventionally "/engine.io/"). */
  engineio<UserData = any>(path: string, handlers?: EngineIoHandlers<UserData>): this;
  /**
   * Socket.IO at `path`: returns its namespace "/" (`io.of(name)` adds
   * others). Call before `listen`; later calls with the same path return
   * the same namespace.
   */
  io<SocketData = any>(path?: string): Namespace<SocketData>;
  /** A fixed 200 response for GET/HEAD (a page, a health check). */
  static(path: string, body: string | Uint8Array | ArrayBuffer, contentType?: string, headers?: Headers): this;
  /**
   * Binds (synchronously; throws ERR_WSRT_IO if the address is taken) and
   * serves. `host`: a name ("localhost" binds every address it has), an
   * IPv4 or IPv6 address ("::1", "0.0.0.0", "::").
   */
  listen(port?: number, host?: string): this;
  /** The bound port (0 before listen()). */
  readonly port: number;
  /** The port TLS is spoken on (`port` itself, or `tlsListen`'s); null without TLS or before listen(). */
  readonly tlsPort: number | null;
  /**
   * Replaces the TLS settings `options` names (the others stay): new
   * connections use them, open ones keep theirs. Every file is read and
   * checked first; on error (thrown, naming the option and the file) the
   * server goes on with what it had. Only the TLS options are taken, and
   * `tlsListen` cannot change.
   * @example
   * process.on('SIGHUP', () => server.reloadTls({ tlsCert: '/etc/app/cert.pem', tlsKey: '/etc/app/key.pem' }));
   */
  reloadTls(options: TlsOptions): void;
  readonly listening: boolean;
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } | null;
  /**
   * Sends a message to every subscriber of `topic`, WebSocket and SSE
   * alike, encoded once in the core. Strings go out as text, bytes (read
   * in place) as binary, unless `options` (or a boolean `isBinary`) says
   * otherwise; binary skips SSE streams.
   */
  publish(topic: string, data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** `publish` to every open WebSocket and SSE stream, subscribed or not. */
  publishAll(data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** Live subscribers of `topic`. */
  subscriberCount(topic: string): number;
  /**
   * Live subscribers of `topic` on every server of the cluster: this
   * server's as they are, each other server's as it last announced them
   * (within about a second; a server not heard from for 5 s is left out).
   * Without a cluster, `subscriberCount`.
   */
  clusterSubscriberCount(topic: string): number;
  /**
   * Makes `topic` keep its recent events for `stream.resume` (at least one
   * bound). Event ids increase across topics; an id from another server
   * instance (an earlier run, another worker) is a miss.
   */
  setTopicHistory(topic: string, options: TopicHistoryOptions): this;
  /** Stops keeping `topic`'s history and forgets it. */
  clearTopicHistory(topic: string): this;
  stats(): ServerStats;
  /**
   * Graceful shutdown: closes WebSockets with 1001, ends streams, refuses
   * pending requests with 503; resolves when every connection is gone.
   * Calls after that throw ERR_WSRT_STOPPED.
   */
  close(): Promise<void>;
}

export declare function createServer(options?: ServerOptions): Server;

declare const wsrt: {
  Server: typeof Server;
  WebSocket: typeof WebSocket;
  SseStream: typeof SseStream;
  EngineIoSession: typeof EngineIoSession;
  Namespace: typeof Namespace;
  Socket: typeof Socket;
  BroadcastOperator: typeof BroadcastOperator;
  createServer: typeof createServer;
  CONNECTING: 0;
  OPEN: 1;
  CLOSING: 2;
  CLOSED: 3;
};
export default wsrt;
