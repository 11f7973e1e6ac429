// Binary attachments: a 200 KiB Buffer inside an object, and several
// buffers in nested arrays, through `echo` (ack) and `message` /
// `message-back` (event), byte for byte; on WebSocket (binary frames) and
// on polling (base64).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, autoCleanup, connect, once, bytes, payload } from './helpers.mjs';

const srv = useServer();
autoCleanup();

function sameBytes(got, want, what) {
  assert.ok(Buffer.isBuffer(got), `${what} is a Buffer (got ${typeof got})`);
  assert.equal(got.length, want.length, `${what} length`);
  assert.ok(got.equals(want), `${what} bytes identical`);
}

for (const transports of [['websocket'], ['polling']]) {
  describe(`binary attachments on ${transports[0]}`, () => {
    it('a 200 KiB Buffer inside an object, via echo and message-back', async () => {
      const s = await connect(srv.url, '/', { transports });
      const big = bytes(200 * 1024, 11);
      const sent = { name: 'big', meta: { n: 1 }, data: big };

      const acked = await s.timeout(10000).emitWithAck('echo', sent);
      assert.equal(acked.name, 'big');
      assert.deepEqual(acked.meta, { n: 1 });
      sameBytes(acked.data, big, 'echo: data');

      const back = once(s, 'message-back', 10000);
      s.emit('message', sent);
      const [obj] = payload(await back, 1);
      assert.equal(obj.name, 'big');
      sameBytes(obj.data, big, 'message-back: data');
    });

    it('several buffers in nested arrays, plus an empty one, keep their places', async () => {
      const s = await connect(srv.url, '/', { transports });
      const a = bytes(1, 1);
      const b = bytes(1000, 2);
      const c = bytes(70000, 3);
      const empty = Buffer.alloc(0);
      const sent = [a, [b, { deep: [c, 'text', empty] }], 'tail'];

      const [err, first, second] = await new Promise((resolve) => {
        s.timeout(10000).emit('echo', sent, b, (...r) => resolve(r));
      });
      assert.equal(err, null);
      sameBytes(first[0], a, 'echo [0]');
      sameBytes(first[1][0], b, 'echo [1][0]');
      sameBytes(first[1][1].deep[0], c, 'echo [1][1].deep[0]');
      assert.equal(first[1][1].deep[1], 'text');
      sameBytes(first[1][1].deep[2], empty, 'echo [1][1].deep[2]');
      assert.equal(first[2], 'tail');
      sameBytes(second, b, 'echo second argument');

      const back = once(s, 'message-back', 10000);
      s.emit('message', 'lead', sent, 7);
      const [lead, got, seven] = payload(await back, 3);
      assert.equal(lead, 'lead');
      assert.equal(seven, 7);
      sameBytes(got[0], a, 'message-back [0]');
      sameBytes(got[1][0], b, 'message-back [1][0]');
      sameBytes(got[1][1].deep[0], c, 'message-back [1][1].deep[0]');
      sameBytes(got[1][1].deep[2], empty, 'message-back [1][1].deep[2]');
    });

    it('message-with-ack answers binary as a binary ack', async () => {
      const s = await connect(srv.url, '/', { transports });
      const buf = bytes(4096, 5);
      const [err, got] = await new Promise((resolve) => {
        s.timeout(8000).emit('message-with-ack', buf, (...r) => resolve(r));
      });
      assert.equal(err, null);
      sameBytes(got, buf, 'binary ack');
    });
  });
}
