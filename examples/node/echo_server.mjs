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
//          keeps its last $HISTORY events (default 100), so a client
//          reconnecting with Last-Event-ID gets exactly what it missed, or
//          an event "snapshot" when that is no longer known
//   /      if $WSRT_DEMO_PAGE names an HTML file, that page
//
// $DEFLATE (off, shared, per-connection) turns on permessage-deflate (the
// value goes to wsrt's `deflate` option as it is: wsrt refuses bad ones).
// Listens on 127.0.0.1:$PORT (default 9001). SIGTERM or SIGINT shuts down
// gracefully (WebSockets closed with 1001) and exits 0.
import { readFileSync } from 'node:fs';
import { Server } from 'wsrt';

function envInt(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`echo_server: ${name} must be a positive integer`);
    process.exit(2);
  }
  return n;
}

const port = envInt('PORT', 9001);
const interval = envInt('SSE_INTERVAL_MS', 1000);
const history = envInt('HISTORY', 100);

// DEFLATE=off (default) | shared | per-connection: permessage-deflate.
const deflate = process.env.DEFLATE || 'off';
let server;
try {
  server = new Server({ host: '127.0.0.1', port, deflate });
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

try {
  server.listen();
} catch (e) {
  console.error(`echo_server: listen: ${e.message}`);
  process.exit(1);
}
server.setTopicHistory('broadcast', { maxEvents: history });
console.error(`echo_server: wsrt (node) listening on 127.0.0.1:${server.port} (/echo, /sse, /broadcast, /events; deflate ${deflate})`);
if (page) console.error(`echo_server: demo page at http://127.0.0.1:${server.port}/`);

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
