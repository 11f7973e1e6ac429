// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// loads a page from the server itself and uses the browser's own WebSocket
// and EventSource: text and a 300 KiB binary message (which Chromium sends
// fragmented), a close code the page observes, and SSE events.
// `make test-node` installs chromium when it is missing; this test fails,
// never skips, without it.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { within, listen, shut, cleanup } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

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

describe('Chromium WebSocket and EventSource', () => {
  let browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make test-node\` (it installs Debian's chromium)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    if (browser) await within(15000, browser.close(), 'chromium to exit');
  });
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
});
