// Type-checked (not run) by module.test.mjs: the ESM typings.
import wsrt, { Server, type WebSocket, type Request, type SseStream, type DeflateMode, type PerMessageDeflateOptions } from 'wsrt';

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
    },
    message(ws, data: Buffer, isBinary: boolean) {
      const ok: boolean = ws.send(data, isBinary);
      ws.send(new Uint16Array(4));
      ws.send(new ArrayBuffer(8), { binary: true });
      if (!ok) ws.close(1013, 'slow down');
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
    },
  })
  .static('/', '<h1>hi</h1>')
  .listen();
const port: number = server.port;
void port;
await server.close();
void wsrt.createServer;
