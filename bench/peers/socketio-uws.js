// Benchmark peer: Node `socket.io` 4.8 attached to uWebSockets.js
// (`io.attachApp(app)`, the same `uwebsockets@3.0.6` as bench/peers/uws.js).
// Attached so, socket.io swaps its in-memory adapter's broadcast for uWS's
// own publish to one topic per room (for WebSocket clients), which is what
// this peer is here to measure. Serves the Socket.IO contract of
// socketio-handlers.js at /socket.io/ on 127.0.0.1:$PORT.
'use strict';
const uWS = require('uwebsockets');
const { Server } = require('socket.io');
const { options, contract } = require('./socketio-handlers');

const port = Number(process.env.PORT || 9001);
const app = uWS.App();
const io = new Server(options());
io.attachApp(app);
contract(io);
app.listen('127.0.0.1', port, (token) => {
  if (!token) { console.error(`socket.io-uws peer: cannot listen on ${port}`); process.exit(1); }
  console.error(`socket.io on uWebSockets.js peer on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
