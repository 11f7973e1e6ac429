// The Socket.IO contract every Socket.IO server in the benchmark serves on
// namespace "/" (shared by bench/peers/socketio.js and socketio-uws.js):
//   echo (...args, ack)  -> ack(...args)
//   join (room, ack)     -> socket.join(room), ack({ ok: true, room })
//   to-room ({room, msg}) -> io.to(room).emit("room-msg", { room, msg })
//   message (...args)    -> socket.emit("message-back", ...args)
// and the options the contract fixes: SIO_PING_INTERVAL_MS and
// SIO_PING_TIMEOUT_MS (default 25000 / 20000), maxPayload 1,000,000.
'use strict';

const options = () => ({
  pingInterval: Number(process.env.SIO_PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.SIO_PING_TIMEOUT_MS || 20000),
  maxHttpBufferSize: 1e6,
  serveClient: false,
});

function contract(io) {
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
    socket.on('join', (room, ack) => {
      socket.join(room);
      if (typeof ack === 'function') ack({ ok: true, room });
    });
    socket.on('to-room', (p) => {
      if (p && typeof p.room === 'string') io.to(p.room).emit('room-msg', { room: p.room, msg: p.msg });
    });
    socket.on('message', (...args) => socket.emit('message-back', ...args));
  });
}

module.exports = { options, contract };
