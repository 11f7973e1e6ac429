// An echo server from the installed package, as a CommonJS user writes it
// (the same output as echo.mjs).
'use strict';
const { readFileSync } = require('node:fs');
const wsrt = require('wsrt');

const server = wsrt
  .createServer({ host: '127.0.0.1' })
  .ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) })
  .listen(0);
const natives = new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()));
console.log(`native ${[...natives].join(' ')}`);
console.log(`listening ${server.port}`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
