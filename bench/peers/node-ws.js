// Benchmark peer: Node `ws` (with `bufferutil`, which ws picks up by itself
// when installed) on Node's http server. 127.0.0.1:$PORT:
//   /echo       every message sent back with its type
//   /broadcast  every message sent to every /broadcast connection, the
//               sender included (ws has no publish: the documented loop)
//   /sse        the wsrt example's contract: event "tick" every
//               $SSE_INTERVAL_MS, ids from 1, data "tick <id>\n<unix ms>"
// DEFLATE=1 turns on permessage-deflate (RFC 7692) with ws's defaults
// (zlib's default level, context takeover both ways, at most 10 zlib jobs
// at a time) except the threshold: ws compresses messages of 1024 bytes and
// more by default, we set 256, the wsrt default, so both compress the same
// messages.
// TLS_CERT and TLS_KEY (PEM file paths, both or neither): the same on TLS,
// https.createServer with Node's defaults, on the same port.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.env.PORT || 9001);
const interval = Number(process.env.SSE_INTERVAL_MS || 1000);
try { require('bufferutil'); } catch (e) { console.error('node-ws peer: bufferutil missing'); process.exit(1); }

const tlsCert = process.env.TLS_CERT || '';
const tlsKey = process.env.TLS_KEY || '';
if (!tlsCert !== !tlsKey) { console.error('node-ws peer: TLS_CERT and TLS_KEY go together'); process.exit(1); }
const handler = (req, res) => {
  if (req.url !== '/sse') { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.socket.setNoDelay(true);
  let id = 0;
  const t = setInterval(() => {
    id++;
    res.write(`event: tick\nid: ${id}\ndata: tick ${id}\ndata: ${Date.now()}\n\n`);
  }, interval);
  res.on('close', () => clearInterval(t));
};
const server = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 0;

const deflate = ['1', 'on', 'true'].includes(process.env.DEFLATE || '');
const perMessageDeflate = deflate ? { threshold: 256 } : false;
const echo = new WebSocketServer({ noServer: true, maxPayload: 16 << 20, perMessageDeflate });
const bcast = new WebSocketServer({ noServer: true, maxPayload: 16 << 20, clientTracking: true, perMessageDeflate });
echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
bcast.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const c of bcast.clients) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
});
server.on('upgrade', (req, socket, head) => {
  const wss = req.url === '/echo' ? echo : req.url === '/broadcast' ? bcast : null;
  if (!wss) { socket.destroy(); return; }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(port, '127.0.0.1', 511, () => console.error(`node-ws peer on 127.0.0.1:${port}${tlsCert ? ' (TLS, https)' : ''}${deflate ? ', permessage-deflate on' : ''}`));
process.on('SIGTERM', () => process.exit(0));
