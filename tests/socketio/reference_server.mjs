// The reference server of the Socket.IO example contract (README.md in this
// folder), built on the official `socket.io` 4.8 (default engine) and a plain
// `engine.io` Server at /engine.io/ on the same HTTP server. The tests are run
// against it first, so that they are known to hold against the real thing
// before they judge wsrt's fronts.
//
// Env: PORT (required; 127.0.0.1 only), SIO_PING_INTERVAL_MS (25000),
// SIO_PING_TIMEOUT_MS (20000), SIO_CONNECT_TIMEOUT_MS (45000),
// WSRT_CHAT_PAGE and WSRT_SIO_CLIENT (absolute paths of the chat page and of
// socket.io-client's dist/socket.io.min.js). Exits 0 on SIGTERM or SIGINT.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Server } from 'socket.io';
import { Server as EngineServer } from 'engine.io';

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`reference_server: ${name}=${raw} is not a positive integer`);
    process.exit(2);
  }
  return n;
}

function pathEnv(name) {
  const p = process.env[name];
  if (!p) {
    console.error(`reference_server: ${name} is not set (tests/socketio/serve.sh sets it)`);
    process.exit(2);
  }
  return readFileSync(p); // read once: a missing file fails at start, not per request
}

const PORT = intEnv('PORT', 0);
const PING_INTERVAL = intEnv('SIO_PING_INTERVAL_MS', 25000);
const PING_TIMEOUT = intEnv('SIO_PING_TIMEOUT_MS', 20000);
const CONNECT_TIMEOUT = intEnv('SIO_CONNECT_TIMEOUT_MS', 45000);
const MAX_PAYLOAD = 1_000_000;
const RECOVERY_WINDOW = 120_000;
const REASONS_KEPT = 100;
const CHAT_PAGE = pathEnv('WSRT_CHAT_PAGE');
const SIO_CLIENT = pathEnv('WSRT_SIO_CLIENT');
if (!PORT) {
  console.error('reference_server: PORT is required');
  process.exit(2);
}

const http = createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found');
});

const io = new Server(http, {
  pingInterval: PING_INTERVAL,
  pingTimeout: PING_TIMEOUT,
  connectTimeout: CONNECT_TIMEOUT,
  maxHttpBufferSize: MAX_PAYLOAD,
  cors: { origin: '*' },
  serveClient: false, // the client script is the one WSRT_SIO_CLIENT names, served below
  destroyUpgrade: false,
  connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW, skipMiddlewares: true },
});

// Plain Engine.IO v4 echo on the same HTTP server.
const engine = new EngineServer({
  pingInterval: PING_INTERVAL,
  pingTimeout: PING_TIMEOUT,
  maxHttpBufferSize: MAX_PAYLOAD,
  cors: { origin: '*' },
  destroyUpgrade: false,
});
engine.attach(http, { path: '/engine.io/' });
engine.on('connection', (socket) => {
  socket.on('message', (data) => socket.send(data));
});

// The two static routes go first: /socket.io/socket.io.min.js would
// otherwise reach the Engine.IO handler of /socket.io/ (a 400).
{
  const inner = http.listeners('request');
  http.removeAllListeners('request');
  http.on('request', (req, res) => {
    const path = (req.url || '').split('?')[0];
    if (req.method === 'GET' && path === '/chat') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': CHAT_PAGE.length });
      res.end(CHAT_PAGE);
      return;
    }
    if (req.method === 'GET' && path === '/socket.io/socket.io.min.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript; charset=utf-8', 'Content-Length': SIO_CLIENT.length });
      res.end(SIO_CLIENT);
      return;
    }
    for (const listener of inner) listener.call(http, req, res);
  });
}

const main = io.of('/');

// Server-side disconnect reasons of sockets of `/`, oldest first.
const reasons = [];

function presence(room) {
  const count = main.adapter.rooms.get(room)?.size ?? 0;
  main.to(room).emit('presence', { room, count });
  return count;
}

function leaveChat(socket) {
  const room = socket.data.chat?.room;
  if (room === undefined) return;
  socket.data.chat = undefined;
  socket.leave(room);
  presence(room);
}

const isFn = (f) => typeof f === 'function';

main.use((socket, next) => {
  if (socket.handshake.auth?.token === 'bad') {
    const err = new Error('unauthorized');
    err.data = { reason: 'bad token' };
    next(err);
    return;
  }
  next();
});

main.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
  // A recovered member of a chat room is back in it: its room learns so.
  if (socket.recovered && socket.data.chat?.room !== undefined) presence(socket.data.chat.room);

  socket.on('message', (...args) => socket.emit('message-back', ...args));
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    if (isFn(ack)) ack(...args);
  });
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (isFn(ack)) ack(...args);
  });
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (isFn(ack)) ack({ ok: true, room });
  });
  socket.on('to-room', (arg) => {
    const { room, msg } = arg ?? {};
    main.to(room).emit('room-msg', { room, msg });
  });
  socket.on('leave', (room, ack) => {
    socket.leave(room);
    if (isFn(ack)) ack({ ok: true, room });
  });
  socket.on('broadcast', (msg) => socket.broadcast.emit('broadcast-msg', msg));
  socket.on('ask', (payload, ack) => {
    socket.timeout(1000).emit('question', payload, (err, ...answer) => {
      if (!isFn(ack)) return;
      if (err) ack({ ok: false, error: 'timeout' });
      else ack({ ok: true, answer });
    });
  });
  socket.on('disconnect-me', () => socket.disconnect());
  socket.on('whoami', (ack) => {
    if (!isFn(ack)) return;
    const rooms = [...socket.rooms].filter((r) => r !== socket.id).sort();
    ack({ id: socket.id, rooms });
  });
  socket.on('reasons', (ack) => {
    if (isFn(ack)) ack(reasons.slice());
  });

  socket.on('chat-join', (arg, ack) => {
    const { room, nick } = arg ?? {};
    if (typeof room !== 'string' || room === '') {
      if (isFn(ack)) ack({ ok: false, error: 'room required' });
      return;
    }
    if (socket.data.chat?.room !== room) leaveChat(socket);
    socket.join(room);
    socket.data.chat = { room, nick: String(nick ?? '') };
    const count = presence(room);
    if (isFn(ack)) ack({ ok: true, room, count });
  });
  socket.on('chat-message', (arg) => {
    const chat = socket.data.chat;
    if (!chat) return;
    main.to(chat.room).emit('chat-message', { room: chat.room, nick: chat.nick, text: String(arg?.text ?? '') });
  });
  socket.on('chat-leave', () => leaveChat(socket));

  socket.on('disconnect', (reason) => {
    reasons.push({ id: socket.id, reason });
    if (reasons.length > REASONS_KEPT) reasons.splice(0, reasons.length - REASONS_KEPT);
    // socket.io has already taken the socket out of its rooms here.
    const room = socket.data.chat?.room;
    if (room !== undefined) presence(room);
  });
});

io.of('/custom').on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => {
    console.error(`reference_server: not closed 5 s after ${signal}`);
    process.exit(1);
  }, 5000);
  force.unref();
  engine.close();
  io.close(() => process.exit(0));
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

http.listen(PORT, '127.0.0.1', () => {
  console.error(`reference_server: listening on http://127.0.0.1:${PORT}`);
});
