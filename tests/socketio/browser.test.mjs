// The chat page (examples/demo/chat.html, served at /chat with the stock
// browser client at /socket.io/socket.io.min.js) in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core): three pages, two
// in room "a" and one in room "b". A message sent in room a shows in both
// a-pages exactly once and never in the b-page; presence counts are 2 and
// 1, and follow a page that leaves. Fails, never skips, without Chromium
// (`make -f tests/socketio/socketio.mk test-socketio-reference` installs it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { useServer, within, unique } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const srv = useServer();
let browser;
let context;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make -f tests/socketio/socketio.mk socketio-chromium\``);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext();
});
after(async () => {
  if (browser) await within(15000, browser.close(), 'chromium to exit');
});

const T = 10000; // bound of each wait in the page
// Chromium runs the animation frames of a page that is not in front about
// once a second, and Playwright waits on them: each wait polls by timer,
// and a page is brought to the front before it is clicked (a click waits
// for the element to be stable over two frames).
const WAIT = { timeout: T, polling: 20 };

async function openChat(nick) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  const res = await page.goto(`${srv.url}/chat`, { timeout: T });
  assert.equal(res.status(), 200);
  await page.waitForFunction(() => window.chatSocket && window.chatSocket.connected, null, WAIT);
  await page.fill('#nick', nick);
  return page;
}

async function click(page, selector) {
  await page.bringToFront();
  await page.click(selector);
}

async function join(page, room) {
  await page.fill('#room', room);
  await click(page, '#join');
  await page.waitForFunction((r) => document.getElementById('current-room').textContent === r, room, WAIT);
}

const presence = (page, n) => page.waitForFunction(
  (want) => document.getElementById('presence').textContent === String(want), n, WAIT,
);

async function send(page, text) {
  await page.fill('#text', text);
  await click(page, '#send');
}

/** The chat lines of a page, as "nick: text". */
const lines = (page) => page.$$eval('#messages li.message', (lis) => lis.map((li) => li.textContent.replace(/\s+/g, ' ').trim()));

const hasLine = (page, line) => page.waitForFunction(
  (want) => [...document.querySelectorAll('#messages li.message')].some((li) => li.textContent.replace(/\s+/g, ' ').trim() === want),
  line, WAIT,
);

describe('the chat page in Chromium', () => {
  it('rooms, presence and messages across three pages', async () => {
    const a = unique('a');
    const b = unique('b');
    const alice = await openChat('alice');
    const bob = await openChat('bob');
    const carol = await openChat('carol');

    await join(alice, a);
    await presence(alice, 1);
    await join(bob, a);
    await join(carol, b);
    await presence(alice, 2);
    await presence(bob, 2);
    await presence(carol, 1);

    const text = `hello from alice ${unique('m')}`;
    await send(alice, text);
    await hasLine(alice, `alice: ${text}`);
    await hasLine(bob, `alice: ${text}`);
    // A barrier for carol: the server handled alice's message before
    // carol's own (bob already has it), so anything wrongly sent to carol
    // would be there before this line.
    await send(carol, 'carol here');
    await hasLine(carol, 'carol: carol here');

    const count = (ls, line) => ls.filter((l) => l === line).length;
    assert.equal(count(await lines(alice), `alice: ${text}`), 1, 'alice sees her message once');
    assert.equal(count(await lines(bob), `alice: ${text}`), 1, 'bob sees it once');
    assert.deepEqual(await lines(carol), ['carol: carol here'], 'carol (room b) sees only room b');
    assert.ok(!(await lines(alice)).includes('carol: carol here'));

    // bob leaves: alice's count follows, carol's room is untouched.
    await click(bob, '#leave');
    await presence(alice, 1);
    await presence(bob, 0);
    await presence(carol, 1);
    await send(alice, 'after bob left');
    await hasLine(alice, 'alice: after bob left');
    assert.equal(await bob.isDisabled('#text'), true, 'out of a room, the page cannot send');
    assert.equal(await bob.isDisabled('#send'), true);
    await send(carol, 'carol again');
    await hasLine(carol, 'carol: carol again');
    assert.ok(!(await lines(bob)).includes('alice: after bob left'), 'bob no longer gets room a');

    // bob joins b: carol sees 2; then closing bob's page takes it back to 1.
    await join(bob, b);
    await presence(carol, 2);
    await bob.close();
    await presence(carol, 1);

    // Chromium upgraded the page to its own WebSocket.
    for (const page of [alice, carol]) {
      await page.waitForFunction(() => window.chatSocket.io.engine.transport.name === 'websocket', null, WAIT);
      assert.deepEqual(page.errors, []);
    }
  });
});
