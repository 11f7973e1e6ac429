// A wsrt server whose handlers throw (tests/reliability/test_faults.py).
//
//   /echo         every message back (the connection that must keep working)
//   /throw        message() throws Error("boom <message>") every time
//   /throw-async  an async message() that rejects the same way
//
// The error hook is the default one (console.error), so what the test reads
// on stderr is what an application gets without configuring anything.
// Listens on 127.0.0.1:$PORT; SIGTERM shuts down gracefully and exits 0.
import { Server } from '../../../bindings-node/index.mjs';

const server = new Server({ host: '127.0.0.1', port: Number(process.env.PORT) });

server.ws('/echo', {
  message(ws, data, isBinary) {
    ws.send(data, isBinary);
  },
});

server.ws('/throw', {
  message(ws, data) {
    throw new Error(`boom ${Buffer.from(data).toString()}`);
  },
});

server.ws('/throw-async', {
  async message(ws, data) {
    await null;
    throw new Error(`boom ${Buffer.from(data).toString()}`);
  },
});

server.listen();
console.error(`throwing_server.mjs: listening on 127.0.0.1:${server.port}`);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    server.close().then(() => process.exit(0));
  });
}
