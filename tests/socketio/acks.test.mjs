// Acknowledgements both ways, with timeouts: the client asks the server
// (echo, message-with-ack), an event nobody acks times out on the client,
// and the server asks the client (`ask` → `question`) with its own 1 s
// timeout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, autoCleanup, connect, within } from './helpers.mjs';

const srv = useServer();
autoCleanup();

/** emit with an ack callback; resolves with [err, ...args]. */
function emitCb(socket, ms, ...args) {
  return within(ms + 5000, new Promise((resolve) => {
    socket.timeout(ms).emit(...args, (err, ...rest) => resolve([err, ...rest]));
  }), `ack of "${args[0]}"`);
}

describe('acknowledgements', () => {
  it('emitWithAck("echo") resolves with what was sent', async () => {
    const s = await connect(srv.url);
    assert.equal(await s.timeout(5000).emitWithAck('echo', 'hi'), 'hi');
    assert.deepEqual(await s.timeout(5000).emitWithAck('echo', { a: [1, { b: null }], u: 'é✓' }), { a: [1, { b: null }], u: 'é✓' });
    // Every argument comes back, in order, through a callback.
    const [err, ...args] = await emitCb(s, 5000, 'echo', 1, 'two', { three: [3] }, [true, false]);
    assert.equal(err, null);
    assert.deepEqual(args, [1, 'two', { three: [3] }, [true, false]]);
    const [err2, ...args2] = await emitCb(s, 5000, 'message-with-ack', 'x', 2);
    assert.equal(err2, null);
    assert.deepEqual(args2, ['x', 2]);
    // An ack with no arguments.
    const [err3, ...args3] = await emitCb(s, 5000, 'echo');
    assert.equal(err3, null);
    assert.deepEqual(args3, []);
  });

  it('many acks in flight each get their own answer', async () => {
    const s = await connect(srv.url);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => s.timeout(8000).emitWithAck('echo', i)));
    assert.deepEqual(answers, Array.from({ length: 50 }, (_, i) => i));
  });

  it('an event nobody acks times out on the client, and the session goes on', async () => {
    const s = await connect(srv.url);
    const [err, ...rest] = await emitCb(s, 500, 'event-nobody-acks', 'anyone?');
    assert.ok(err instanceof Error, 'the callback gets an error');
    assert.match(err.message, /timed out/);
    assert.deepEqual(rest, []);
    await assert.rejects(s.timeout(500).emitWithAck('event-nobody-acks'), /timed out/);
    assert.equal(await s.timeout(5000).emitWithAck('echo', 'still here'), 'still here');
    assert.equal(s.connected, true);
  });

  it('the server asks the client (`ask` → `question`) and gets the client\'s ack', async () => {
    const s = await connect(srv.url);
    const questions = [];
    s.on('question', (...args) => {
      const ack = args.pop();
      questions.push(args);
      ack('answer', args[0], 42);
    });
    const res = await s.timeout(5000).emitWithAck('ask', { q: 'life' });
    assert.deepEqual(res, { ok: true, answer: ['answer', { q: 'life' }, 42] });
    // The question carried an ack id, so no recovery offset was appended.
    assert.deepEqual(questions, [[{ q: 'life' }]]);
  });

  it('a question the client never acks times out on the server', async () => {
    const s = await connect(srv.url);
    const asked = [];
    s.on('question', (...args) => asked.push(args)); // never calls the ack
    const res = await s.timeout(8000).emitWithAck('ask', 'no answer');
    assert.deepEqual(res, { ok: false, error: 'timeout' });
    assert.equal(asked.length, 1);
    assert.equal(asked[0][0], 'no answer');
    assert.equal(typeof asked[0][1], 'function', 'the question asked for an ack');
    // A late ack after the server's timeout is ignored and harms nothing.
    asked[0][1]('too late');
    assert.equal(await s.timeout(5000).emitWithAck('echo', 'after'), 'after');
  });
});
