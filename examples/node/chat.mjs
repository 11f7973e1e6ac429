// Chat rooms on wsrt's native publish/subscribe: open
// http://127.0.0.1:$PORT/ in two tabs.
//
//   /      the page
//   /chat  WebSocket: ?name=NICK&room=ROOM (the approve hook checks both;
//          room defaults to "lobby"); every text message is published to
//          the room's topic as JSON {from, text, at}, the sender included;
//          joins and leaves are announced in the room
//   /who   SSE: ?room=ROOM, the list of people in that room each time it
//          changes (the stream subscribes to the room's "who" topic)
//
// Each room is two topics, "room:<name>" (messages, WebSockets) and
// "who:<name>" (member lists, SSE). A publish is encoded once in the core
// and written to every subscriber; JavaScript never loops over sockets.
import { Server } from 'wsrt';

const port = Number(process.env.PORT || 9002);
const server = new Server({ host: '127.0.0.1', port, maxMessageSize: 64 * 1024 });

/** Names in each room. */
const rooms = new Map();
const NAME = /^[\p{L}\p{N}_ .-]{1,24}$/u;

function members(room) {
  return [...(rooms.get(room) ?? [])].sort();
}

function say(room, from, text) {
  server.publish(`room:${room}`, JSON.stringify({ from, text, at: Date.now() }));
}

function announceWho(room) {
  server.publish(`who:${room}`, JSON.stringify(members(room)), { sseEvent: 'who' });
}

server.ws('/chat', {
  approve(req) {
    const q = new URLSearchParams(req.query);
    const name = (q.get('name') || '').trim();
    const room = (q.get('room') || 'lobby').trim();
    if (!NAME.test(name)) return { status: 400, body: 'name: 1-24 letters, digits, _ . -' };
    if (!NAME.test(room)) return { status: 400, body: 'room: 1-24 letters, digits, _ . -' };
    if (rooms.get(room)?.has(name)) return { status: 409, body: 'that name is taken in this room' };
    return { data: { name, room, joined: false } };
  },
  open(ws) {
    const { name, room } = ws.data;
    // Two requests with one name can both pass the approve check before
    // either is open: the later one is turned away here.
    if (rooms.get(room)?.has(name)) return ws.close(4009, 'that name is taken in this room');
    if (!rooms.has(room)) rooms.set(room, new Set());
    rooms.get(room).add(name);
    ws.data.joined = true;
    ws.subscribe(`room:${room}`);
    say(room, '*', `${name} joined`);
    announceWho(room);
  },
  message(ws, data, isBinary) {
    if (isBinary) return ws.close(1003, 'text only');
    say(ws.data.room, ws.data.name, data.toString());
  },
  close(ws) {
    // The socket has left its topics already.
    const { name, room, joined } = ws.data;
    if (!joined) return;
    const set = rooms.get(room);
    set.delete(name);
    if (set.size === 0) rooms.delete(room);
    say(room, '*', `${name} left`);
    announceWho(room);
  },
});

server.sse('/who', {
  open(stream, req) {
    const room = (new URLSearchParams(req.query).get('room') || 'lobby').trim();
    if (!NAME.test(room)) return stream.close();
    stream.subscribe(`who:${room}`);
    stream.send(JSON.stringify(members(room)), { event: 'who' });
  },
});

server.static('/', `<!doctype html><meta charset="utf-8"><title>wsrt chat</title>
<style>body{font:15px system-ui;max-width:40em;margin:2em auto}#log{height:20em;overflow:auto;border:1px solid #ccc;padding:.5em}</style>
<h1>wsrt chat: <span id="room"></span></h1><p>In the room: <span id="who"></span></p><div id="log"></div>
<form id="f"><input id="t" autocomplete="off" size="50" placeholder="say something"> <button>Send</button></form>
<script>
const params = new URLSearchParams(location.search);
const room = params.get('room') || 'lobby';
const name = params.get('name') || prompt('Your name?', 'guest' + Math.floor(Math.random() * 1000)) || 'guest';
document.getElementById('room').textContent = room;
const log = (s) => { const p = document.createElement('div'); p.textContent = s; document.getElementById('log').append(p); };
const q = 'name=' + encodeURIComponent(name) + '&room=' + encodeURIComponent(room);
const ws = new WebSocket('ws://' + location.host + '/chat?' + q);
ws.onmessage = (e) => { const m = JSON.parse(e.data); log((m.from === '*' ? '' : m.from + ': ') + m.text); };
ws.onclose = (e) => log('disconnected (' + e.code + ')');
new EventSource('/who?room=' + encodeURIComponent(room)).addEventListener('who', (e) => { document.getElementById('who').textContent = JSON.parse(e.data).join(', '); });
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); const t = document.getElementById('t'); if (t.value) ws.send(t.value); t.value = ''; };
</script>`);

server.listen();
console.error(`chat: http://127.0.0.1:${server.port}/ (add ?room=NAME for another room)`);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => server.close().then(() => process.exit(0)));
}
