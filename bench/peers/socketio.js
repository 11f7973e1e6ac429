// Benchmark peer: Node `socket.io` 4.8 with its default engine (engine.io
// on Node's http server and `ws`; bufferutil is installed, so ws uses it).
// Serves the Socket.IO contract of socketio-handlers.js at /socket.io/ on
// 127.0.0.1:$PORT; everything else at socket.io's defaults.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { options, contract } = require('./socketio-handlers');

const port = Number(process.env.PORT || 9001);
const server = http.createServer();
const io = new Server(server, options());
contract(io);
server.listen(port, '127.0.0.1', 511, () => console.error(`socket.io peer on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
