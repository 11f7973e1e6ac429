// Benchmark peer: uWebSockets.js (the npm republish `uwebsockets@3.0.6`,
// pinned exactly; the official package is not on the npm registry).
// 127.0.0.1:$PORT:
//   /echo       every message sent back with its type
//   /broadcast  every message published to topic "b", which every
//               /broadcast connection subscribes to (uWS's own pub/sub;
//               app.publish includes the sender)
//   /sse        the wsrt example's contract: event "tick" every
//               $SSE_INTERVAL_MS, ids from 1, data "tick <id>\n<unix ms>"
// TLS_CERT and TLS_KEY (PEM file paths, both or neither): the same on TLS,
// through uWS.SSLApp (cert_file_name, key_file_name), on the same port.
'use strict';
const uWS = require('uwebsockets');

const port = Number(process.env.PORT || 9001);
const interval = Number(process.env.SSE_INTERVAL_MS || 1000);
const opts = {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 << 20,
  maxBackpressure: 64 << 20, // echo never drops: the generator bounds what is in flight
  idleTimeout: 0,
};

const tlsCert = process.env.TLS_CERT || '';
const tlsKey = process.env.TLS_KEY || '';
if (!tlsCert !== !tlsKey) { console.error('uws peer: TLS_CERT and TLS_KEY go together'); process.exit(1); }
const app = (tlsCert ? uWS.SSLApp({ cert_file_name: tlsCert, key_file_name: tlsKey }) : uWS.App())
  .ws('/echo', { ...opts, message: (ws, msg, isBinary) => { ws.send(msg, isBinary); } })
  .ws('/broadcast', {
    ...opts,
    open: (ws) => { ws.subscribe('b'); },
    message: (ws, msg, isBinary) => { app.publish('b', msg, isBinary); },
  })
  .get('/sse', (res) => {
    let id = 0;
    let open = true;
    res.writeStatus('200 OK').writeHeader('Content-Type', 'text/event-stream').writeHeader('Cache-Control', 'no-cache');
    res.write('');
    const t = setInterval(() => {
      id++;
      res.cork(() => { res.write(`event: tick\nid: ${id}\ndata: tick ${id}\ndata: ${Date.now()}\n\n`); });
    }, interval);
    res.onAborted(() => { open = false; clearInterval(t); });
    return open;
  })
  .any('/*', (res) => { res.writeStatus('404 Not Found').end(); })
  .listen('127.0.0.1', port, (token) => {
    if (!token) { console.error(`uws peer: cannot listen on ${port}`); process.exit(1); }
    console.error(`uws peer on 127.0.0.1:${port}${tlsCert ? ' (TLS, SSLApp)' : ''}`);
  });
process.on('SIGTERM', () => process.exit(0));
