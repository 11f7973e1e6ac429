// The Node contract server (see README.md here): options from argv[2] as
// JSON keyed by their Python/C names, passed on by their Node names as they
// are; /ws echoes, /sse says hello, /probe runs the probes on "run"; one
// JSON line per outcome on stdout; shuts down when stdin ends.
//
//   node tests/contract/server.mjs '{"idle_timeout_ms": 0}'
//
// It imports the package by name, as tests/node does (through the
// node_modules there, which `make node-addon` installs).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const { Server, CONNECTING, OPEN, CLOSING, CLOSED } = require('wsrt');

const STATES = { [CONNECTING]: 'CONNECTING', [OPEN]: 'OPEN', [CLOSING]: 'CLOSING', [CLOSED]: 'CLOSED' };

function say(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** The error kind's snake_case name, from the core's Node code. */
function kind(err) {
  return typeof err?.code === 'string' && err.code.startsWith('ERR_WSRT_') ? err.code.slice(9).toLowerCase() : 'internal';
}

/** "ok", "backpressure" for a send that returned false, or the error's kind. */
function outcome(call) {
  try {
    return call() === false ? 'backpressure' : 'ok';
  } catch (e) {
    return kind(e);
  }
}

const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const options = Object.fromEntries(Object.entries(JSON.parse(process.argv[2] ?? '{}')).map(([k, v]) => [camel(k), v]));

let lastClosed = null;
let server;
try {
  server = new Server(options);
  server.ws('/ws', {
    message: (ws, data, isBinary) => ws.send(data, isBinary),
    close: (ws) => (lastClosed = ws),
  });
  server.sse('/sse', { open: (stream) => stream.send('hello') });
  server.ws('/probe', {
    message(ws, data, isBinary) {
      if (isBinary || data.toString() !== 'run') return;
      const probes = [
        ['bad_utf8', () => ws.send(Buffer.from([0xff, 0xfe]), false)],
        ['topic_2k', () => ws.subscribe('a'.repeat(2048))],
        ['topic_1k', () => ws.subscribe('a'.repeat(1024))],
        ['publish_2k', () => server.publish('a'.repeat(2048), 'x')],
        ['close_code', () => ws.close(1005)],
        ['ping_126', () => ws.ping(Buffer.alloc(126))],
        ['stale_send', () => lastClosed.send('late')],
      ];
      for (const [probe, call] of probes) say({ probe, outcome: outcome(call) });
      say({ probe: 'stale_state', outcome: STATES[lastClosed?.readyState] ?? 'internal' });
      say({ probe: 'close', outcome: outcome(() => ws.close(1000)) });
      say({ probe: 'send_after_close', outcome: outcome(() => ws.send('x')) });
    },
  });
  server.listen(0, '127.0.0.1');
} catch (e) {
  say({ ok: false, kind: kind(e), message: e.message });
  process.exit(0);
}
say({ ok: true, port: server.port });

process.stdin.on('end', async () => {
  await server.close();
  say({ probe: 'after_close', outcome: outcome(() => server.publish('t', 'x')) });
  process.exit(0);
});
process.stdin.resume();
