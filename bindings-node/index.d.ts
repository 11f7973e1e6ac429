// Type definitions for wsrt (Node addon).

/// <reference types="node" />

/** Anything `send` accepts without copying (strings are encoded once). */
export type Sendable = string | Buffer | ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

export const OPEN: 1;
export const CLOSING: 2;
export const CLOSED: 3;
export type ReadyState = 1 | 2 | 3;

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
  /** The negotiated subprotocol (WebSocket open only). */
  protocol?: string | null;
}

/**
 * What an upgrade hook returns (or resolves to):
 * - `undefined` or `true`: accept;
 * - `{ protocol?, data? }`: accept, choosing one of the offered subprotocols
 *   and setting the connection's initial `data`;
 * - `false`: refuse with 403;
 * - a number or `{ status, body? }`: refuse with that HTTP status (400-599).
 * A hook that throws or rejects refuses with 500 and reports the error.
 */
export type UpgradeResult<UserData = unknown> =
  | undefined
  | void
  | boolean
  | number
  | { protocol?: string | null; data?: UserData; status?: undefined }
  | { status: number; body?: string };

export type UpgradeHook<UserData = unknown> = (
  req: Request,
) => UpgradeResult<UserData> | Promise<UpgradeResult<UserData>>;

/** An open WebSocket. */
export declare class WebSocket<UserData = any> {
  private constructor();
  /** Free for the application; initially the upgrade hook's `data`. */
  data: UserData;
  readonly readyState: ReadyState;
  /** The negotiated subprotocol ("" when none). */
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly request: Request;
  /**
   * Queues a message: text for strings, binary for bytes, unless `isBinary`
   * (or `{ binary }`) says otherwise. Returns false when the send-buffer
   * limit refused it (nothing queued; `drain` follows).
   * @throws Error (code ERR_WSRT_CLOSED) when the socket is not open;
   *   ERR_WSRT_INVALID_ARGUMENT for text that is not UTF-8.
   */
  send(data: Sendable, isBinary?: boolean | { binary?: boolean }): boolean;
  /**
   * Joins `topic` (1-1024 bytes of UTF-8): what is published to it reaches
   * this socket. False if it already was subscribed. A socket leaves all
   * its topics when it closes.
   * @throws Error (code ERR_WSRT_CLOSED) when the socket is not open;
   *   TypeError/RangeError for a bad topic.
   */
  subscribe(topic: string): boolean;
  /** Leaves `topic`; false if it was not subscribed (or the socket is closed). */
  unsubscribe(topic: string): boolean;
  isSubscribed(topic: string): boolean;
  /**
   * Publishes to `topic` for every subscriber except this socket (as
   * uWebSockets.js's `ws.publish`); otherwise `Server.publish`.
   */
  publish(topic: string, data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** A ping with up to 125 bytes of payload; the answer goes to `pong`. */
  ping(data?: Sendable): void;
  /** Starts the close handshake (default 1000, reason at most 123 bytes). */
  close(code?: number, reason?: string): void;
  /** Bytes queued and not yet taken by the kernel. */
  getBufferedAmount(): number;
  readonly bufferedAmount: number;
}

export interface SseSendOptions {
  event?: string;
  id?: string | number;
  /** Reconnection delay for the client, in milliseconds. */
  retry?: number;
}

export interface SubscribeOptions {
  /**
   * Replay what was published after this id (default: the request's
   * Last-Event-ID header, `stream.lastEventId`); null replays nothing.
   */
  lastEventId?: string | number | null;
}

/** What `SseStream.subscribe` did. */
export interface ReplayResult {
  /** Events replayed from the topic's history, queued in order before anything published later. */
  replayed: number;
  /**
   * True when the history no longer covers the client's last id (or it is
   * not an id of this topic, or the topic keeps no history): nothing was
   * replayed, and the app should send a snapshot of the current state.
   * The stream is subscribed either way.
   */
  missed: boolean;
}

/** An open Server-Sent Events stream. */
export declare class SseStream<UserData = any> {
  private constructor();
  data: UserData;
  readonly readyState: ReadyState;
  readonly request: Request;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The Last-Event-ID a reconnecting client sent, or null. */
  readonly lastEventId: string | null;
  /** Sends one event (data may span lines). False: refused by backpressure. */
  send(data: string | Uint8Array, options?: SseSendOptions): boolean;
  /**
   * Joins `topic` and replays from its history (`Server.setTopicHistory`)
   * what the client missed after its last event id (by default the
   * request's Last-Event-ID, what a reconnecting EventSource sends).
   * Binary publishes never reach SSE streams. Already subscribed:
   * `{ replayed: 0, missed: false }`.
   * @example
   * if (stream.subscribe('prices').missed) stream.send(JSON.stringify(snapshot()), { event: 'snapshot' });
   */
  subscribe(topic: string, options?: SubscribeOptions): ReplayResult;
  /** Leaves `topic`; false if it was not subscribed (or the stream is closed). */
  unsubscribe(topic: string): boolean;
  isSubscribed(topic: string): boolean;
  /** Sends a comment line (ignored by clients). */
  comment(text?: string): boolean;
  /** Ends the stream; the `close` handler follows. */
  close(): void;
  getBufferedAmount(): number;
}

export interface WebSocketBehavior<UserData = any> {
  /** Subprotocols this route speaks, in order of preference. */
  protocols?: string[];
  /** Decides on each request (auth, origin, subprotocol); may be async. */
  upgrade?: UpgradeHook<UserData>;
  open?: (ws: WebSocket<UserData>, req: Request) => void;
  /**
   * A complete message. `data` is a Buffer the handler may keep (a view into
   * the batch's payload buffer: keeping a small slice keeps the batch alive).
   */
  message?: (ws: WebSocket<UserData>, data: Buffer, isBinary: boolean) => void;
  /** The send queue that had backed up has been written out. */
  drain?: (ws: WebSocket<UserData>) => void;
  /** The connection is closed: the peer's code, or 1006 for an abrupt end. */
  close?: (ws: WebSocket<UserData>, code: number, reason: string) => void;
  pong?: (ws: WebSocket<UserData>, data: Buffer) => void;
}

export interface SseBehavior<UserData = any> {
  upgrade?: UpgradeHook<UserData>;
  open?: (stream: SseStream<UserData>, req: Request) => void;
  drain?: (stream: SseStream<UserData>) => void;
  close?: (stream: SseStream<UserData>) => void;
}

/**
 * How WebSocket messages are compressed (RFC 7692 permessage-deflate):
 * - `"off"`: offers are declined, nothing is compressed (the default);
 * - `"shared"`: one compressor and decompressor per server serve every
 *   connection, reset after each message (`server_no_context_takeover` and
 *   `client_no_context_takeover` are always negotiated), so compressing
 *   costs no memory per connection. Good for many connections and JSON
 *   messages of a few hundred bytes and up; every browser accepts it.
 * - `"per-connection"`: context takeover as the client offers it (best ratio
 *   for streams of similar messages), at the cost of a zlib pair (~300 KiB)
 *   per connection that uses it; clients that ask for no context takeover
 *   use the shared pair.
 */
export type DeflateMode = 'off' | 'shared' | 'per-connection';

export interface PerMessageDeflateOptions {
  /** Default "per-connection" (what `perMessageDeflate: true` means, as in ws). */
  mode?: DeflateMode;
  /** Messages shorter than this many bytes go out uncompressed. Default 256. */
  threshold?: number;
  /** zlib compression level, 0-9. Default 6. */
  level?: number;
  /** Our compressor's LZ77 window in bits, 9-15 (smaller: less memory, less compression). Default 15. */
  serverMaxWindowBits?: number;
}

/**
 * What a publish does with a subscriber that has more than
 * `slowConsumerLimit` bytes queued: `"drop"` skips this message for it
 * (volatile data a later message supersedes), `"close"` closes it (a
 * WebSocket's `close` handler sees 1008; a stream's `close` runs).
 */
export type SlowConsumerPolicy = 'drop' | 'close';

export interface PublishOptions {
  /** Default: text for strings, binary for bytes. Binary messages skip SSE streams. */
  binary?: boolean;
  /** A connection that does not get the message (usually the sender). */
  exclude?: WebSocket | SseStream | null;
  /** Overrides the server's `slowConsumerPolicy` for this publish. */
  onSlow?: SlowConsumerPolicy;
  /** The SSE `event:` name stream subscribers see (default: `message`). No CR, LF or NUL. */
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
  eventId: string | null;
}

export interface TopicHistoryOptions {
  /** Most events kept; 0 turns history off and forgets it. */
  maxEvents: number;
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
}

export interface ServerOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (any free port; see `server.port`). */
  port?: number;
  /** Largest message accepted; bigger closes with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Largest request head (431 beyond). Default 8 KiB. */
  maxHeadBytes?: number;
  maxHeaders?: number;
  /** Milliseconds to finish the handshake (or the upgrade hook). Default 10 000. */
  handshakeTimeout?: number;
  /** Ping a silent peer after half, drop it after all of this (ms); 0 disables. Default 120 000. */
  idleTimeout?: number;
  /** Milliseconds a closing connection may take. Default 5 000. */
  closeTimeout?: number;
  /** Cap on bytes queued per connection. Default 32 MiB. */
  maxBuffered?: number;
  /** Stop reading from a connection while this much is queued for it. Default 1 MiB. */
  readPauseBuffered?: number;
  /** What a send past maxBuffered does: "reject" (returns false) or "close" (1008). */
  overflow?: 'reject' | 'close';
  /** Keep-alive comment on quiet SSE streams (ms); 0 disables. Default 15 000. */
  sseKeepAlive?: number;
  /** When set, browser requests from other origins are answered 403. */
  allowedOrigins?: string[];
  maxConnections?: number;
  /**
   * permessage-deflate. Off by default: compression costs CPU on every
   * message to save bandwidth loopback and LANs do not need, and compressing
   * secrets next to attacker-chosen text leaks them (CRIME/BREACH).
   * `true` is `"per-connection"` (ws's meaning); a string picks the mode; an
   * object tunes it. Wrong types throw a TypeError, out-of-range numbers a
   * RangeError, both from the constructor.
   * @example new Server({ perMessageDeflate: 'shared' })
   * @example new Server({ perMessageDeflate: { mode: 'per-connection', threshold: 1024, level: 3 } })
   */
  perMessageDeflate?: boolean | DeflateMode | PerMessageDeflateOptions;
  /**
   * Bytes queued for a subscriber past which publishes treat it as slow
   * (at least 1024; default 1 MiB). Bounds the memory a subscriber that
   * does not read can cost.
   */
  slowConsumerLimit?: number;
  /** What publishes do with slow subscribers unless a publish says otherwise. Default "close". */
  slowConsumerPolicy?: SlowConsumerPolicy;
  /**
   * Receives errors thrown by handlers and upgrade hooks. Without it they
   * are rethrown as uncaught exceptions (after the rest of the batch ran).
   */
  onError?: (err: unknown) => void;
}

export declare class Server {
  constructor(options?: ServerOptions);
  /** Open WebSockets. */
  readonly clients: Set<WebSocket>;
  /** Open SSE streams. */
  readonly streams: Set<SseStream>;
  ws<UserData = any>(path: string, behavior?: WebSocketBehavior<UserData>): this;
  sse<UserData = any>(path: string, behavior?: SseBehavior<UserData>): this;
  /** A fixed 200 response (a page, a health check). */
  static(path: string, body: string | Uint8Array | ArrayBuffer, contentType?: string): this;
  /** Binds synchronously (throws ERR_WSRT_IO if the address is taken). */
  listen(port?: number, host?: string): this;
  readonly port: number;
  readonly listening: boolean;
  readonly connectionCount: number;
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } | null;
  /**
   * Sends a message to every subscriber of `topic`, WebSocket and SSE
   * alike, encoded once in the core. Strings go out as text, bytes (read
   * in place) as binary, unless `options` (or a boolean `isBinary`, as in
   * uWebSockets.js) says otherwise; binary skips SSE streams.
   * @throws TypeError/RangeError (codes ERR_INVALID_ARG_TYPE,
   *   ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) for bad arguments;
   *   ERR_WSRT_NOT_RUNNING before listen() or after close();
   *   ERR_WSRT_INVALID_ARGUMENT for bytes sent as text that are not UTF-8.
   */
  publish(topic: string, data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** `publish` to every open WebSocket and SSE stream, subscribed or not. */
  publishAll(data: Sendable, options?: boolean | PublishOptions): PublishResult;
  /** Live subscribers of `topic`. */
  subscriberCount(topic: string): number;
  /**
   * Makes `topic` keep its last events for SSE streams that reconnect with
   * Last-Event-ID. Event ids increase across topics; an id from another server
   * instance (an earlier run, another worker) is a miss.
   * May be called before listen().
   */
  setTopicHistory(topic: string, options: TopicHistoryOptions): this;
  /** @throws ERR_WSRT_NOT_RUNNING before listen() or after close(). */
  stats(): ServerStats;
  /**
   * Graceful shutdown: closes WebSockets with 1001, ends streams, refuses
   * pending upgrades with 503; resolves when every connection is gone.
   */
  close(): Promise<void>;
}

export declare function createServer(options?: ServerOptions): Server;

declare const wsrt: {
  Server: typeof Server;
  WebSocket: typeof WebSocket;
  SseStream: typeof SseStream;
  createServer: typeof createServer;
  OPEN: 1;
  CLOSING: 2;
  CLOSED: 3;
};
export default wsrt;
