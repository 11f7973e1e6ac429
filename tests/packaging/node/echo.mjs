// An echo server from the installed package, as an ES module user writes it.
// Prints "listening PORT" and the native file it loaded, then serves until
// SIGTERM.
import { readFileSync } from 'node:fs';
import { Server } from 'wsrt';

const server = new Server({ host: '127.0.0.1' })
  .ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) })
  .listen(0);
// The mapped .node files say which binary the loader picked.
const natives = new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()));
console.log(`native ${[...natives].join(' ')}`);
console.log(`listening ${server.port}`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
