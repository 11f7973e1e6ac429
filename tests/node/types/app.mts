// Type-checked (not run) by module.test.mjs: the ESM typings.
import wsrt, {
  Server, CLOSED, type WebSocket, type Request, type SseStream, type DeflateMode,
  type PublishResult, type ReplayResult, type ServerStats, type SlowConsumerPolicy, type ServerOptions,
  type Namespace, type Socket, type EngineIoSession, type MiddlewareError, type DisconnectReason,
  type TlsInfo, type TlsOptions,
} from 'wsrt';

interface User {
  name: string;
}

const server: Server = new Server({
  port: 0,
  maxMessageSize: 1 << 20,
  idleTimeoutMs: 0,
  sseKeepaliveMs: null,
  deflate: 'shared',
  deflateThreshold: 1024,
  deflateLevel: 3,
  deflateWindowBits: 12,
  overflowPolicy: 'reject',
  allowedOrigins: ['https://app.example'],
  onError: (e, conn) => console.error(e, conn?.id),
});
const deflate: DeflateMode = 'per-connection';
const options: ServerOptions = { deflate };
void new Server(options);
// @ts-expect-error: only the three modes are known
void new Server({ deflate: 'gzip' });
// @ts-expect-error: durations are numbers of milliseconds
void new Server({ idleTimeoutMs: '5s' });
server
  .ws<User>('/chat', {
    protocols: ['chat.v1'],
    headers: { 'X-Frame-Options': 'DENY' },
    async approve(req: Request) {
      if (!req.headers.authorization) return { status: 401, body: 'no', headers: { 'WWW-Authenticate': 'Bearer' } };
      return { protocol: req.protocols[0], headers: { 'Set-Cookie': 'a=b' }, data: { name: req.query } };
    },
    open(ws: WebSocket<User>) {
      ws.send(`hello ${ws.data.name}`);
      const added: boolean = ws.subscribe('room');
      const id: bigint = ws.id;
      void [added, id];
      void (ws.isSubscribed('room') && ws.unsubscribe('other'));
    },
    message(ws, data: Buffer, isBinary: boolean) {
      const ok: boolean = ws.send(data, isBinary);
      ws.send(new Uint16Array(4));
      ws.send(new ArrayBuffer(8), true);
      if (!ok) ws.close(1013, 'slow down');
      const r: PublishResult = ws.publish('room', data, isBinary);
      const eventId: number | null = r.eventId;
      void eventId;
      server.publish('room', data, { binary: isBinary, exclude: ws, onSlow: 'drop', sseEvent: 'chat' });
      server.publish('room', data, { exclude: ws.id });
      // @ts-expect-error: only drop and close
      server.publish('room', data, { onSlow: 'block' });
      if (ws.readyState === CLOSED) ws.terminate();
    },
    drain(ws) {
      const n: number = ws.bufferedAmount;
      void n;
    },
    close(_ws, code: number, reason: string) {
      void code;
      void reason;
    },
  })
  .sse('/events', {
    open(stream: SseStream) {
      stream.send('x', { event: 'e', id: 1, retryMs: 1000 });
      const last: string | null = stream.lastEventId;
      void last;
      const replay: ReplayResult = stream.resume('room');
      if (replay.missed) stream.send('snapshot', { event: 'snapshot' });
      stream.resume('room', { lastEventId: 42 });
      void (stream.subscribe('other') && stream.isSubscribed('room') && stream.unsubscribe('room'));
      stream.comment('keep');
    },
  })
  .static('/', '<h1>hi</h1>', 'text/html', { 'Cache-Control': 'no-store' })
  .listen(0, '::1');
const port: number = server.port;
const policy: SlowConsumerPolicy = 'close';
void new Server({ slowConsumerLimit: 256 * 1024, slowConsumerPolicy: policy });
server.setTopicHistory('room', { maxEvents: 100, maxAgeMs: 60000 }).setTopicHistory('other', { maxAgeMs: 1000 });
server.clearTopicHistory('other');
const all: PublishResult = server.publishAll(new Uint8Array(2), true);
const n: number = server.subscriberCount('room') + all.delivered;
const stats: ServerStats = server.stats();
void (n + stats.slowClosed + stats.dropped + stats.sseStreams + stats.tlsHandshakes + stats.tlsFailures);
void port;

// TLS: PEM paths or text (strings or bytes), lists for SNI, client certificates.
const tlsServer = new Server({
  tlsCert: ['/etc/wsrt/a.pem', Buffer.from('-----BEGIN CERTIFICATE-----')],
  tlsKey: ['/etc/wsrt/a.key', new Uint8Array(0)],
  tlsCa: '/etc/wsrt/ca.pem',
  tlsClientAuth: 'optional',
  tlsMinVersion: 'TLSv1.3',
  tlsListen: '127.0.0.1:8443',
});
tlsServer.ws('/secure', {
  open(ws, req) {
    const tls: TlsInfo | null = req.tls;
    const who: string | null = ws.request.tls?.peerSubject ?? null;
    const der: Buffer | undefined = tls?.peerCertificate ?? undefined;
    void [who, der, tls?.version === 'TLSv1.3', tls?.serverName, tls?.cipher];
  },
});
const tlsPort: number | null = tlsServer.tlsPort;
const reload: TlsOptions = { tlsCert: '/etc/wsrt/b.pem', tlsKey: '/etc/wsrt/b.key' };
tlsServer.reloadTls(reload);
void tlsPort;
// @ts-expect-error: only "none", "optional" and "required"
void new Server({ tlsClientAuth: 'yes' });

// Socket.IO and Engine.IO.
interface Member {
  user: string;
}
const sioServer = new Server({ sioPingIntervalMs: 25000, sioRecoveryWindowMs: 120000, corsOrigins: ['*'], corsCredentials: false });
sioServer.engineio('/engine.io/', {
  message: (session: EngineIoSession, data: Buffer, isBinary: boolean) => void session.send(data, isBinary),
  close: (session, reason: string) => void [session.id, reason],
});
const io: Namespace<Member> = sioServer.io<Member>();
const admin: Namespace = io.of('/admin');
io.use((socket, next) => {
  if (socket.handshake.auth.token !== 'ok') {
    const err: MiddlewareError = Object.assign(new Error('unauthorized'), { data: { reason: 'bad token' } });
    return next(err);
  }
  socket.data = { user: String(socket.handshake.query.user) };
  next();
});
io.on('connection', (socket: Socket<Member>) => {
  const id: string = socket.id;
  const recovered: boolean = socket.recovered;
  const rooms: Set<string> = socket.rooms;
  void [id, recovered, rooms, socket.nsp.name, socket.handshake.address, socket.data.user];
  socket.join(['a', 'b']);
  socket.leave('b');
  socket.on('chat', (msg: string, ack?: (reply: unknown) => void) => ack?.({ ok: true, msg }));
  socket.onAny((event, ...args) => void [event, args]);
  socket.emit('hello', { buf: Buffer.from('x') }, (reply: unknown) => void reply);
  socket.timeout(1000).emit('ask', 1, (err: Error | null, answer: number) => void [err, answer]);
  void socket.emitWithAck('ask').then((answer) => void answer);
  void socket.timeout(500).emitWithAck('ask');
  socket.to('a').emit('joined', socket.id);
  socket.broadcast.emit('everyone else');
  io.to('a').except('b').emit('some');
  admin.emit('all admins');
  socket.on('disconnect', (reason: DisconnectReason) => void reason);
  socket.disconnect(true);
  // @ts-expect-error: join takes room names
  socket.join(3);
});
await sioServer.close();
await server.close();
void wsrt.createServer;
