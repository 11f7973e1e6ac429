// A small chat room on wsrt: open http://127.0.0.1:$PORT/ in two tabs.
//
//   /      the page
//   /chat  WebSocket: ?name=NICK (the upgrade hook checks it); every text
//          message is relayed to everyone as JSON {from, text, at}; joins
//          and leaves are announced
//   /who   SSE: the list of people in the room, each time it changes
//
// Fan-out loops over the sockets in JavaScript for now (one native call per
// recipient); native publish/subscribe is coming to the core.
import { Server } from 'wsrt';

const port = Number(process.env.PORT || 9002);
const server = new Server({ host: '127.0.0.1', port, maxMessageSize: 64 * 1024 });

const names = () => [...server.clients].map((ws) => ws.data.name).sort();

function broadcast(obj) {
  const text = JSON.stringify(obj);
  for (const ws of server.clients) {
    if (ws.readyState === 1) ws.send(text);
  }
}

function announceWho() {
  const list = JSON.stringify(names());
  for (const stream of server.streams) stream.send(list, { event: 'who' });
}

server.ws('/chat', {
  upgrade(req) {
    const name = (new URLSearchParams(req.query).get('name') || '').trim();
    if (!/^[\p{L}\p{N}_ .-]{1,24}$/u.test(name)) return { status: 400, body: 'name: 1-24 letters, digits, _ . -' };
    if (names().includes(name)) return { status: 409, body: 'that name is taken' };
    return { data: { name } };
  },
  open(ws) {
    // Two requests with one name can both pass the upgrade check before
    // either is open: the later one is turned away here.
    if (names().filter((n) => n === ws.data.name).length > 1) return ws.close(4009, 'that name is taken');
    broadcast({ from: '*', text: `${ws.data.name} joined`, at: Date.now() });
    announceWho();
  },
  message(ws, data, isBinary) {
    if (isBinary) return ws.close(1003, 'text only');
    broadcast({ from: ws.data.name, text: data.toString(), at: Date.now() });
  },
  close(ws, code) {
    if (code === 4009) return;
    broadcast({ from: '*', text: `${ws.data.name} left`, at: Date.now() });
    announceWho();
  },
});

server.sse('/who', { open: (stream) => stream.send(JSON.stringify(names()), { event: 'who' }) });

server.static('/', `<!doctype html><meta charset="utf-8"><title>wsrt chat</title>
<style>body{font:15px system-ui;max-width:40em;margin:2em auto}#log{height:20em;overflow:auto;border:1px solid #ccc;padding:.5em}</style>
<h1>wsrt chat</h1><p>In the room: <span id="who"></span></p><div id="log"></div>
<form id="f"><input id="t" autocomplete="off" size="50" placeholder="say something"> <button>Send</button></form>
<script>
const name = prompt('Your name?', 'guest' + Math.floor(Math.random() * 1000)) || 'guest';
const log = (s) => { const p = document.createElement('div'); p.textContent = s; document.getElementById('log').append(p); };
const ws = new WebSocket('ws://' + location.host + '/chat?name=' + encodeURIComponent(name));
ws.onmessage = (e) => { const m = JSON.parse(e.data); log((m.from === '*' ? '' : m.from + ': ') + m.text); };
ws.onclose = (e) => log('disconnected (' + e.code + ')');
new EventSource('/who').addEventListener('who', (e) => { document.getElementById('who').textContent = JSON.parse(e.data).join(', '); });
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); const t = document.getElementById('t'); if (t.value) ws.send(t.value); t.value = ''; };
</script>`);

server.listen();
console.error(`chat: http://127.0.0.1:${server.port}/`);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => server.close().then(() => process.exit(0)));
}
