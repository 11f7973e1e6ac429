// The contract's static routes: /chat (the chat page) and
// /socket.io/socket.io.min.js (the stock browser client from socket.io-client's
// dist/, the very file that examples/demo's `npm ci` installs); an unknown
// path is a 404.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useServer, ROOT } from './helpers.mjs';

const srv = useServer();

async function get(path) {
  const res = await fetch(srv.url + path, { signal: AbortSignal.timeout(8000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
}

describe('static routes', () => {
  it('/chat is examples/demo/chat.html', async () => {
    const res = await get('/chat');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/html/);
    assert.ok(res.body.equals(readFileSync(join(ROOT, 'examples/demo/chat.html'))), 'the page as in the repository');
    assert.match(res.body.toString(), /<script src="\/socket\.io\/socket\.io\.min\.js"><\/script>/);
  });

  it('/socket.io/socket.io.min.js is socket.io-client\'s dist/socket.io.min.js', async () => {
    const res = await get('/socket.io/socket.io.min.js');
    assert.equal(res.status, 200);
    assert.match(res.type, /javascript/);
    const file = readFileSync(join(ROOT, 'examples/demo/node_modules/socket.io-client/dist/socket.io.min.js'));
    assert.ok(res.body.equals(file), 'byte for byte the installed client');
  });

  it('an unknown path is 404', async () => {
    assert.equal((await get('/no-such-page')).status, 404);
  });
});
