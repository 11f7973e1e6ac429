// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// loads a page from the server itself and uses the browser's own WebSocket
// and EventSource: text and a 300 KiB binary message (which Chromium sends
// fragmented), a close code the page observes, and SSE events; then, with
// permessage-deflate on (Chromium always offers it), the negotiated
// extension and compressed JSON and binary messages both ways.
// Then the demo page (examples/demo/index.html) over https from the example
// server with TLS_CERT/TLS_KEY: its wss:// WebSocket and https EventSource.
// Chromium trusts the test certificate by its pinned SPKI.
// `make test-node` installs chromium when it is missing; this test fails,
// never skips, without it.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium, within, listen, shut, cleanup, freePort, startExample } from './helpers.mjs';
import { CertDir, spkiPin } from './certs.mjs';

// One Chromium for the file; it ignores certificate errors for the test
// server certificate's key alone (made before it starts).
let browser, certs, leaf;
before(async () => {
  certs = new CertDir();
  leaf = certs.leaf('localhost', certs.ca('ca'), '/CN=localhost', 'DNS:localhost,IP:127.0.0.1');
  browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spkiPin(leaf.cert)}`]);
});
after(async () => {
  if (browser) await within(15000, browser.close(), 'chromium to exit');
  certs?.remove();
});

// Chromium runs the animation frames of a page that is not in front about
// once a second, and Playwright waits on them: waits poll by timer, and a
// page comes to the front before it is clicked.
const WAIT = { timeout: 10000, polling: 20 };


const PAGE = `<!doctype html><meta charset="utf-8"><title>wsrt browser test</title>
<script>
window.result = (async () => {
  const out = {};
  const ws = new WebSocket('ws://' + location.host + '/echo', ['wsrt.test']);
  ws.binaryType = 'arraybuffer';
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('WebSocket error')); });
  out.protocol = ws.protocol;
  const big = new Uint8Array(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;
  const echoes = [];
  const got = new Promise((res) => { ws.onmessage = (e) => { echoes.push(e.data); if (echoes.length === 2) res(); }; });
  const closed = new Promise((res) => { ws.onclose = (e) => res({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
  ws.send('hello from chromium \\u2713');
  ws.send(big);
  await got;
  out.text = echoes[0];
  const back = new Uint8Array(echoes[1]);
  out.bigLength = back.length;
  out.bigSame = back.length === big.length && back.every((v, i) => v === big[i]);
  ws.send('please close');
  out.close = await closed;
  const es = new EventSource('/sse');
  out.sse = await new Promise((res, rej) => {
    const events = [];
    es.onerror = () => { if (events.length < 3) rej(new Error('EventSource error')); };
    es.addEventListener('tick', (e) => {
      events.push([e.data, e.lastEventId]);
      if (events.length === 3) { es.close(); res(events); }
    });
  });
  return out;
})().catch((e) => ({ error: String(e) }));
</script>`;

// The same deterministic bytes on the page and here: a repetitive first
// half, a pseudo-random (xorshift32, incompressible) second half.
function makeBinary(n) {
  const b = new Uint8Array(n);
  let x = 2463534242;
  for (let i = 0; i < n; i++) {
    if (i < n / 2) {
      b[i] = (i % 97) + ((i >> 9) & 3);
    } else {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      b[i] = x & 0xff;
    }
  }
  return b;
}

// A JSON document of about 10 KB (non-ASCII included).
function makeJson() {
  const rows = [];
  for (let i = 0; JSON.stringify(rows).length < 10 * 1024; i++) {
    rows.push({ id: i, user: `user${i % 13}`, text: 'the quick brown fox \u2713 jumps', score: (i * 7919) % 1000 });
  }
  return JSON.stringify(rows);
}

const DEFLATE_PAGE = `<!doctype html><meta charset="utf-8"><title>wsrt deflate test</title>
<script>
${makeBinary}
${makeJson}
window.result = (async () => {
  const out = {};
  const ws = new WebSocket('ws://' + location.host + '/echo');
  ws.binaryType = 'arraybuffer';
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('WebSocket error')); });
  out.extensions = ws.extensions;
  const json = makeJson();
  const bin = makeBinary(96 * 1024);
  const echoes = [];
  const got = new Promise((res) => { ws.onmessage = (e) => { echoes.push(e.data); if (echoes.length === 3) res(); }; });
  ws.send(json);
  ws.send(bin);
  ws.send(json);
  await got;
  out.types = echoes.map((e) => typeof e === 'string' ? 'text' : 'binary');
  out.jsonLength = json.length;
  out.jsonSame = [echoes[0], echoes[2]].map((e) => e === json);
  const back = new Uint8Array(echoes[1]);
  out.binLength = back.length;
  out.binSame = back.length === bin.length && back.every((v, i) => v === bin[i]);
  const closed = new Promise((res) => { ws.onclose = (e) => res(e.code); });
  ws.close(1000);
  out.close = await closed;
  return out;
})().catch((e) => ({ error: String(e) }));
</script>`;

describe('Chromium WebSocket and EventSource', () => {
  afterEach(cleanup);

  it('echoes text and a 300 KiB binary message, observes the close code, reads SSE', async () => {
    const serverSaw = [];
    const server = listen((s) => {
      s.static('/', PAGE);
      s.ws('/echo', {
        protocols: ['wsrt.test'],
        message(ws, data, isBinary) {
          serverSaw.push([isBinary, data.length]);
          if (!isBinary && data.toString() === 'please close') ws.close(4123, 'closing from server');
          else ws.send(data, isBinary);
        },
      });
      s.sse('/sse', {
        open(stream) {
          for (let i = 1; i <= 3; i++) stream.send(`tick ${i}`, { event: 'tick', id: String(i) });
        },
      });
    });
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${server.port}/`, { timeout: 15000 });
      const out = await within(20000, page.evaluate(() => window.result), 'the page');
      assert.equal(out.error, undefined, out.error);
      assert.equal(out.protocol, 'wsrt.test');
      assert.equal(out.text, 'hello from chromium \u2713');
      assert.equal(out.bigLength, 300 * 1024);
      assert.equal(out.bigSame, true);
      assert.deepEqual(out.close, { code: 4123, reason: 'closing from server', wasClean: true });
      assert.deepEqual(out.sse, [['tick 1', '1'], ['tick 2', '2'], ['tick 3', '3']]);
      // The fragmented 300 KiB message reached the app as one message.
      assert.deepEqual(serverSaw, [[false, Buffer.byteLength('hello from chromium \u2713')], [true, 300 * 1024], [false, 12]]);
    } finally {
      await page.close();
    }
    await shut(server);
  });

  for (const mode of ['shared', 'per-connection']) {
    it(`negotiates permessage-deflate (${mode}) and echoes 10 KB of JSON and 96 KiB of binary`, async () => {
      const json = makeJson();
      const bin = Buffer.from(makeBinary(96 * 1024));
      const serverSaw = [];
      const server = listen((s) => {
        s.static('/', DEFLATE_PAGE);
        s.ws('/echo', {
          message(ws, data, isBinary) {
            // What the server inflated is exactly what the page sent.
            serverSaw.push(isBinary ? ['binary', data.equals(bin)] : ['text', data.toString() === json]);
            ws.send(data, isBinary);
          },
        });
      }, { deflate: mode });
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${server.port}/`, { timeout: 15000 });
        const out = await within(20000, page.evaluate(() => window.result), 'the page');
        assert.equal(out.error, undefined, out.error);
        const params = out.extensions.split(';').map((p) => p.trim());
        assert.equal(params[0], 'permessage-deflate', `extensions: ${out.extensions}`);
        if (mode === 'shared') {
          assert.deepEqual(params.slice(1).sort(), ['client_no_context_takeover', 'server_no_context_takeover']);
        } else {
          assert.ok(!params.includes('server_no_context_takeover'), `extensions: ${out.extensions}`);
          assert.ok(!params.includes('client_no_context_takeover'), `extensions: ${out.extensions}`);
        }
        assert.ok(json.length >= 10 * 1024 && out.jsonLength === json.length);
        assert.deepEqual(out.types, ['text', 'binary', 'text']);
        assert.deepEqual(out.jsonSame, [true, true]);
        assert.equal(out.binLength, 96 * 1024);
        assert.equal(out.binSame, true);
        assert.equal(out.close, 1000);
        assert.deepEqual(serverSaw, [['text', true], ['binary', true], ['text', true]]);
      } finally {
        await page.close();
      }
      await shut(server);
    });
  }
});

describe('the demo page over https from the example server', () => {
  it('loads over https; its wss:// WebSocket echoes (one and a burst of 1000), its EventSource gets ticks', async () => {
    const port = await freePort();
    const child = await startExample({
      PORT: String(port),
      TLS_CERT: leaf.cert,
      TLS_KEY: leaf.key,
      SSE_INTERVAL_MS: '40',
      WSRT_DEMO_PAGE: fileURLToPath(new URL('../../examples/demo/index.html', import.meta.url)),
    });
    const page = await browser.newPage();
    try {
      assert.match(child.log(), new RegExp(`listening on https/wss 127\\.0\\.0\\.1:${port} `));
      assert.match(child.log(), new RegExp(`demo page at https://127\\.0\\.0\\.1:${port}/`));
      const res = await page.goto(`https://127.0.0.1:${port}/`, { timeout: 10000 });
      assert.equal(res.status(), 200);
      const security = await res.securityDetails();
      assert.equal(security?.protocol, 'TLS 1.3', JSON.stringify(security));
      await page.waitForFunction(() => document.getElementById('ws-status').textContent === 'open', null, WAIT);
      assert.equal(await page.evaluate('ws.url'), `wss://127.0.0.1:${port}/echo`);
      // The page's own controls, clicked in the page (Playwright's clicks
      // wait for animation frames, which a loaded machine makes slow).
      await page.evaluate(() => {
        document.getElementById('text').value = 'hello over wss \u2713';
        document.querySelector('#send button').click();
      });
      await page.waitForFunction(() => document.getElementById('ws-log').textContent.includes('\u2190 hello over wss \u2713'), null, WAIT);
      await page.evaluate(() => document.getElementById('burst').click());
      await page.waitForFunction(() => /1000 echoes in [0-9.]+ ms/.test(document.getElementById('ws-log').textContent), null, WAIT);

      await page.waitForFunction(() => document.getElementById('sse-log').childNodes.length >= 3, null, WAIT);
      assert.equal(await page.evaluate('es.url'), `https://127.0.0.1:${port}/sse`);
      assert.equal(await page.evaluate('es.readyState'), 1);
      const ticks = await page.$$eval('#sse-log div', (lines) => lines.slice(0, 3).map((l) => l.textContent.split(' at ')[0]));
      assert.deepEqual(ticks, ['id 1: tick 1', 'id 2: tick 2', 'id 3: tick 3']);
      assert.equal(await page.evaluate(() => document.getElementById('sse-status').textContent), 'open');
    } finally {
      await page.close();
      child.kill('SIGTERM');
      const exit = await within(10000, child.exited, 'the example to exit').finally(() => child.stop());
      assert.deepEqual(exit, { code: 0, signal: null });
    }
  });
});
