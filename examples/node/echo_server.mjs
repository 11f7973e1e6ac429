// wsrt example server for Node (the same contract as examples/c/echo_server.c).
//
//   /echo  every WebSocket message is sent back on the same connection, in
//          order, with the same type (text or binary)
//   /sse   an event "tick" every $SSE_INTERVAL_MS ms (default 1000), ids
//          counting up from 1, data "tick <id>\n<unix time ms>"; a client
//          reconnecting with Last-Event-ID: N resumes at N+1
//   /broadcast  every WebSocket message from any client here is published
//          to every client here, the sender included (topic "broadcast")
//   /events an SSE stream of the text published on /broadcast; the topic
//          keeps its last $HISTORY events (default 100; 0: none), so a
//          client reconnecting with Last-Event-ID gets exactly what it
//          missed, or an event "snapshot" when that is no longer known
//   /      if $WSRT_DEMO_PAGE names an HTML file, that page
//
// and the Socket.IO example contract (tests/socketio/README.md; the Rust
// version is core/examples/sio_contract.rs):
//   /socket.io/  namespace "/" (a middleware refuses auth {token: "bad"})
//          and "/custom"; the events auth, message, message-with-ack, echo,
//          join, leave, to-room, broadcast, ask, disconnect-me, whoami,
//          reasons and the chat (chat-join, chat-message, chat-leave, with
//          presence); room "broadcast" is the topic of /broadcast and /events
//   /engine.io/  plain Engine.IO: every message back on the same session
//   /chat  the chat page ($WSRT_CHAT_PAGE), and /socket.io/socket.io.min.js
//          the stock client ($WSRT_SIO_CLIENT), when they are set
// with $SIO_PING_INTERVAL_MS, $SIO_PING_TIMEOUT_MS, $SIO_CONNECT_TIMEOUT_MS
// (defaults 25000, 20000, 45000), recovery for 120 s, CORS for any origin
// and Engine.IO messages up to 1,000,000 bytes.
//
// $DEFLATE (off, shared, per-connection) turns on permessage-deflate (the
// value goes to wsrt's `deflate` option as it is: wsrt refuses bad ones).
// Listens on 127.0.0.1:$PORT (default 9001). SIGTERM or SIGINT shuts down
// gracefully (WebSockets closed with 1001) and exits 0.
//
// TLS: $TLS_CERT and $TLS_KEY (PEM files) make $PORT speak TLS (https,
// wss); with $TLS_PORT as well, $PORT stays plain and 127.0.0.1:$TLS_PORT
// speaks TLS. SIGHUP reads the two files again (new connections get the
// new certificate; an error is logged and the old one kept).
//
// Cluster: with $REDIS_URL (redis://host:port/ or redis+unix:///path),
// servers sharing that Redis form one cluster: /broadcast and /events span
// them all. Redis away: each server goes on serving its own clients.
//
// $WORKERS (default 1; 0 or auto: one per core) runs that many event loops
// on threads of their own; handlers still run on this thread. More than
// one does not combine with $REDIS_URL yet (wsrt says so).
//
// /stats  a WebSocket that gets server.stats() (and broadcastSubscribers:
//         the topic's subscribers across the cluster) as one JSON text and
//         is closed (1000).
import { readFileSync } from 'node:fs';
import { Server } from 'wsrt';

function envInt(name, fallback, min = 1) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`echo_server: ${name} must be an integer of at least ${min}`);
    process.exit(2);
  }
  return n;
}

const port = envInt('PORT', 9001);
const tlsCert = process.env.TLS_CERT || undefined;
const tlsKey = process.env.TLS_KEY || undefined;
if ((tlsCert === undefined) !== (tlsKey === undefined)) {
  const [given, missing] = tlsCert ? ['TLS_CERT', 'TLS_KEY'] : ['TLS_KEY', 'TLS_CERT'];
  console.error(`echo_server: TLS_CERT and TLS_KEY go together (PEM file paths): ${given} is set, ${missing} is not`);
  process.exit(2);
}
const tlsPort = envInt('TLS_PORT', undefined);
if (tlsPort !== undefined && tlsCert === undefined) {
  console.error('echo_server: TLS_PORT needs TLS_CERT and TLS_KEY');
  process.exit(2);
}
const tls = { tlsCert, tlsKey, tlsListen: tlsPort === undefined ? undefined : `127.0.0.1:${tlsPort}` };
const interval = envInt('SSE_INTERVAL_MS', 1000);
const history = envInt('HISTORY', 100, 0); // 0: no history
const sio = {
  sioPingIntervalMs: envInt('SIO_PING_INTERVAL_MS', 25000),
  sioPingTimeoutMs: envInt('SIO_PING_TIMEOUT_MS', 20000),
  sioConnectTimeoutMs: envInt('SIO_CONNECT_TIMEOUT_MS', 45000),
  sioMaxPayload: 1_000_000,
  sioRecoveryWindowMs: 120_000,
  corsOrigins: ['*'],
};

// DEFLATE=off (default) | shared | per-connection: permessage-deflate.
const deflate = process.env.DEFLATE || 'off';
// WORKERS: a number or "auto", as wsrt's `workers` option takes it.
const workersEnv = process.env.WORKERS || '1';
const workers = /^[0-9]+$/.test(workersEnv) ? Number(workersEnv) : workersEnv;
let server;
try {
  server = new Server({ host: '127.0.0.1', port, deflate, ...sio, ...tls, clusterRedisUrl: process.env.REDIS_URL || undefined, workers });
} catch (e) {
  console.error(`echo_server: ${e.message}`);
  process.exit(2);
}

server.ws('/echo', {
  message(ws, data, isBinary) {
    // Backpressure cannot lose echoes: wsrt stops reading from a connection
    // long before its queue reaches the cap.
    ws.send(data, isBinary);
  },
});

server.ws('/broadcast', {
  open(ws) {
    ws.subscribe('broadcast');
  },
  message(ws, data, isBinary) {
    // Encoded once in the core and queued to every subscriber (WebSocket
    // and SSE; binary skips SSE); one too slow to keep up is closed (the
    // default slow-consumer policy).
    server.publish('broadcast', data, isBinary);
  },
});

server.ws('/stats', {
  open(ws) {
    ws.send(JSON.stringify({ ...server.stats(), broadcastSubscribers: server.clusterSubscriberCount('broadcast') }));
    ws.close(1000);
  },
});

server.sse('/events', {
  open(stream) {
    // Subscribes and replays what the request's Last-Event-ID missed.
    if (stream.resume('broadcast').missed) {
      // The history no longer covers this client: a real app would send
      // its full state here.
      stream.send('history unavailable: start over', { event: 'snapshot' });
    }
  },
});

server.sse('/sse', {
  open(stream) {
    // Last-Event-ID as a number; anything else starts from the beginning.
    const last = /^[0-9]{1,15}$/.test(stream.lastEventId ?? '') ? Number(stream.lastEventId) : 0;
    stream.data = { next: last + 1, timer: null };
    stream.data.timer = setInterval(() => {
      const id = stream.data.next;
      if (stream.send(`tick ${id}\n${Date.now()}`, { event: 'tick', id })) stream.data.next++;
    }, interval);
  },
  close(stream) {
    clearInterval(stream.data.timer);
  },
});

const page = process.env.WSRT_DEMO_PAGE;
if (page) server.static('/', readFileSync(page), 'text/html; charset=utf-8');

// Plain Engine.IO: every message back, text or binary.
server.engineio('/engine.io/', {
  message(session, data, isBinary) {
    session.send(data, isBinary);
  },
});

// Socket.IO.
const io = server.io('/socket.io/');
/** The last 100 disconnections on "/": {id, reason}. */
const reasons = [];

/** A string argument, or "" (which no room is: joining it fails, and is ignored). */
const str = (v) => (typeof v === 'string' ? v : '');
/** Runs `f`, ignoring the refusal of a bad room name (as the other fronts' examples do). */
function quietly(f) {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** Tells a chat room its member count; returns it. */
function presence(room) {
  const count = server.subscriberCount(room);
  quietly(() => io.to(room).emit('presence', { room, count }));
  return count;
}

io.use((socket, next) => {
  if (socket.handshake.auth?.token === 'bad') {
    const err = new Error('unauthorized');
    err.data = { reason: 'bad token' };
    return next(err);
  }
  next();
});

io.of('/custom').on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
});

io.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
  let chat = null; // { room, nick }
  /** Takes the ack function off the arguments (the last one, when the client asked for an ack). */
  const takeAck = (args) => (typeof args[args.length - 1] === 'function' ? args.pop() : () => {});

  socket.on('message', (...args) => {
    takeAck(args);
    socket.emit('message-back', ...args);
  });
  for (const name of ['message-with-ack', 'echo']) {
    socket.on(name, (...args) => {
      const ack = takeAck(args);
      ack(...args);
    });
  }
  socket.on('join', (...args) => {
    const ack = takeAck(args);
    const room = str(args[0]);
    quietly(() => socket.join(room));
    ack({ ok: true, room });
  });
  socket.on('leave', (...args) => {
    const ack = takeAck(args);
    const room = str(args[0]);
    quietly(() => socket.leave(room));
    ack({ ok: true, room });
  });
  socket.on('to-room', (...args) => {
    takeAck(args);
    const room = str(args[0]?.room);
    const msg = args[0]?.msg ?? null;
    quietly(() => io.to(room).emit('room-msg', { room, msg }));
  });
  socket.on('broadcast', (...args) => {
    takeAck(args);
    socket.broadcast.emit('broadcast-msg', args[0] ?? null);
  });
  socket.on('ask', (...args) => {
    const ack = takeAck(args);
    socket.timeout(1000).emit('question', args[0] ?? null, (err, ...answer) => {
      ack(err ? { ok: false, error: 'timeout' } : { ok: true, answer });
    });
  });
  socket.on('disconnect-me', () => {
    socket.disconnect();
  });
  socket.on('whoami', (...args) => {
    const ack = takeAck(args);
    const rooms = [...socket.rooms].filter((r) => r !== socket.id).sort();
    ack({ id: socket.id, rooms });
  });
  socket.on('reasons', (...args) => {
    takeAck(args)(reasons);
  });
  socket.on('chat-join', (...args) => {
    const ack = takeAck(args);
    const room = str(args[0]?.room);
    const nick = typeof args[0]?.nick === 'string' ? args[0].nick : 'anonymous';
    if (chat) {
      quietly(() => socket.leave(chat.room));
      presence(chat.room);
    }
    chat = { room, nick };
    quietly(() => socket.join(room));
    const count = presence(room);
    ack({ ok: true, room, count });
  });
  socket.on('chat-message', (...args) => {
    takeAck(args);
    if (chat) quietly(() => io.to(chat.room).emit('chat-message', { room: chat.room, nick: chat.nick, text: args[0]?.text ?? null }));
  });
  socket.on('chat-leave', () => {
    if (!chat) return;
    quietly(() => socket.leave(chat.room));
    presence(chat.room);
    chat = null;
  });
  socket.on('disconnect', (reason) => {
    reasons.push({ id: socket.id, reason });
    while (reasons.length > 100) reasons.shift();
    if (chat) presence(chat.room);
  });
});

const chatPage = process.env.WSRT_CHAT_PAGE;
if (chatPage) {
  try {
    server.static('/chat', readFileSync(chatPage), 'text/html; charset=utf-8');
  } catch {}
}
const sioClient = process.env.WSRT_SIO_CLIENT;
if (sioClient) {
  try {
    server.static('/socket.io/socket.io.min.js', readFileSync(sioClient), 'application/javascript');
  } catch {}
}

try {
  server.listen();
} catch (e) {
  console.error(`echo_server: listen: ${e.message}`);
  process.exit(1);
}
if (history > 0) server.setTopicHistory('broadcast', { maxEvents: history });
const securePort = server.tlsPort;
const where = securePort === null
  ? `127.0.0.1:${server.port}`
  : securePort === server.port
    ? `https/wss 127.0.0.1:${securePort}`
    : `https/wss 127.0.0.1:${securePort} and http/ws 127.0.0.1:${server.port}`;
console.error(`echo_server: wsrt (node) listening on ${where} (/echo, /sse, /broadcast, /events, /stats, /engine.io/, /socket.io/; deflate ${deflate}; ${workers} workers)`);
if (process.env.REDIS_URL) console.error(`echo_server: cluster over ${process.env.REDIS_URL}`);
if (page) console.error(`echo_server: demo page at ${securePort === null ? 'http' : 'https'}://127.0.0.1:${securePort ?? server.port}/`);

// SIGHUP: the certificate and key read again from the same paths. wsrt
// checks everything before it changes anything, so on error it goes on as
// it was.
process.on('SIGHUP', () => {
  if (securePort === null) {
    console.error('echo_server: SIGHUP: no TLS to reload (TLS_CERT and TLS_KEY are not set)');
    return;
  }
  try {
    server.reloadTls({ tlsCert, tlsKey });
    console.error(`echo_server: SIGHUP: TLS certificate reloaded from ${tlsCert} (new connections use it)`);
  } catch (e) {
    console.error(`echo_server: SIGHUP: TLS reload failed, keeping the current certificate: ${e.message}`);
  }
});

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`echo_server: ${sig}, shutting down`);
    server.close().then(() => {
      console.error('echo_server: stopped');
      process.exit(0);
    });
  });
}
