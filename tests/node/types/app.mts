// Type-checked (not run) by module.test.mjs: the ESM typings.
import wsrt, {
  Server, type WebSocket, type Request, type SseStream, type DeflateMode, type PerMessageDeflateOptions,
  type PublishResult, type ReplayResult, type ServerStats, type SlowConsumerPolicy,
} from 'wsrt';

interface User {
  name: string;
}

const server: Server = new Server({
  port: 0,
  maxMessageSize: 1 << 20,
  perMessageDeflate: { mode: 'shared', threshold: 1024, level: 3, serverMaxWindowBits: 12 },
  onError: (e) => console.error(e),
});
const deflate: DeflateMode = 'per-connection';
const opts: PerMessageDeflateOptions = { mode: deflate };
void new Server({ perMessageDeflate: opts });
void new Server({ perMessageDeflate: true });
// @ts-expect-error: only the three modes are known
void new Server({ perMessageDeflate: 'gzip' });
server
  .ws<User>('/chat', {
    protocols: ['chat.v1'],
    async upgrade(req: Request) {
      if (!req.headers.authorization) return { status: 401, body: 'no' };
      return { protocol: req.protocols[0], data: { name: req.query } };
    },
    open(ws: WebSocket<User>) {
      ws.send(`hello ${ws.data.name}`);
      const added: boolean = ws.subscribe('room');
      void added;
      void (ws.isSubscribed('room') && ws.unsubscribe('other'));
    },
    message(ws, data: Buffer, isBinary: boolean) {
      const ok: boolean = ws.send(data, isBinary);
      ws.send(new Uint16Array(4));
      ws.send(new ArrayBuffer(8), { binary: true });
      if (!ok) ws.close(1013, 'slow down');
      const r: PublishResult = ws.publish('room', data, isBinary);
      const id: string | null = r.eventId;
      void id;
      server.publish('room', data, { binary: isBinary, exclude: ws, onSlow: 'drop', sseEvent: 'chat' });
      // @ts-expect-error: only drop and close
      server.publish('room', data, { onSlow: 'block' });
    },
    drain(ws) {
      const n: number = ws.getBufferedAmount();
      void n;
    },
    close(_ws, code: number, reason: string) {
      void code;
      void reason;
    },
  })
  .sse('/events', {
    open(stream: SseStream) {
      stream.send('x', { event: 'e', id: 1, retry: 1000 });
      const last: string | null = stream.lastEventId;
      void last;
      const replay: ReplayResult = stream.subscribe('room');
      if (replay.missed) stream.send('snapshot', { event: 'snapshot' });
      stream.subscribe('room', { lastEventId: null });
      stream.subscribe('room', { lastEventId: 42 });
      void (stream.isSubscribed('room') && stream.unsubscribe('room'));
    },
  })
  .static('/', '<h1>hi</h1>')
  .listen();
const port: number = server.port;
const policy: SlowConsumerPolicy = 'close';
void new Server({ slowConsumerLimit: 256 * 1024, slowConsumerPolicy: policy });
server.setTopicHistory('room', { maxEvents: 100, maxAgeMs: 60000 }).setTopicHistory('other', { maxEvents: 0 });
const all: PublishResult = server.publishAll(new Uint8Array(2), true);
const n: number = server.subscriberCount('room') + all.delivered;
const stats: ServerStats = server.stats();
void (n + stats.slowClosed + stats.dropped + stats.sseStreams);
void port;
await server.close();
void wsrt.createServer;
