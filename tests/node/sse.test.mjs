// The Server-Sent Events side of the addon against the npm `eventsource` client.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { within, deferred, listen, shut, cleanup } from './helpers.mjs';

describe('SSE with the eventsource client', () => {
  afterEach(cleanup);

  it('delivers named events with ids and multi-line data; comments are ignored', async () => {
    const server = listen((s) => s.sse('/events', {
      open(stream) {
        stream.comment('hello proxies');
        stream.send('line one\nline two', { event: 'note', id: '1' });
        stream.send('plain');
        stream.send('{"n":3}', { event: 'note', id: 3 });
      },
    }));
    const es = new EventSource(`http://127.0.0.1:${server.port}/events`);
    const got = [];
    const done = deferred();
    es.addEventListener('note', (e) => {
      got.push(['note', e.data, e.lastEventId]);
      if (got.length === 3) done.resolve();
    });
    es.onmessage = (e) => got.push(['message', e.data]);
    await within(5000, done.promise, 'three events');
    es.close();
    assert.deepEqual(got, [
      ['note', 'line one\nline two', '1'],
      ['message', 'plain'],
      ['note', '{"n":3}', '3'],
    ]);
    await shut(server);
  });

  it('resumes from Last-Event-ID after the server ends a stream', async () => {
    const seen = [];
    const server = listen((s) => s.sse('/resume', {
      open(stream) {
        seen.push(stream.lastEventId);
        const start = stream.lastEventId === null ? 1 : Number(stream.lastEventId) + 1;
        stream.send('first', { id: start, retryMs: 50 });
        stream.send('second', { id: String(start + 1) });
        if (start === 1) setTimeout(() => stream.close(), 20);
      },
    }));
    const es = new EventSource(`http://127.0.0.1:${server.port}/resume`);
    const ids = [];
    const done = deferred();
    es.onmessage = (e) => {
      ids.push(e.lastEventId);
      if (ids.length === 4) done.resolve();
    };
    await within(8000, done.promise, 'four events over two connections');
    es.close();
    assert.deepEqual(ids, ['1', '2', '3', '4']);
    assert.deepEqual(seen, [null, '2']);
    await shut(server);
  });

  it('refuses a stream from the approve hook; the client sees the status', async () => {
    const server = listen((s) => s.sse('/private', {
      approve: async (req) => (req.headers.authorization === 'Bearer ok' ? { data: 'ok-user' } : { status: 401, body: 'who are you' }),
      open: (stream) => stream.send(String(stream.data)),
    }));
    const bad = new EventSource(`http://127.0.0.1:${server.port}/private`);
    const err = await within(5000, new Promise((resolve) => {
      bad.onerror = (e) => resolve(e);
    }), 'an error event');
    assert.equal(err.code, 401);
    assert.equal(bad.readyState, EventSource.CLOSED);
    bad.close();

    const good = new EventSource(`http://127.0.0.1:${server.port}/private`, {
      fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, Authorization: 'Bearer ok' } }),
    });
    const msg = await within(5000, new Promise((resolve) => {
      good.onmessage = (e) => resolve(e.data);
    }), 'a message');
    assert.equal(msg, 'ok-user');
    good.close();
    await shut(server);
  });

  it('tells the app when a client leaves; later sends throw the core\'s UNKNOWN_CONNECTION', async () => {
    const left = deferred();
    let kept;
    const server = listen((s) => s.sse('/leave', {
      open(stream) {
        kept = stream;
        stream.send('hi');
      },
      close: (stream) => left.resolve(stream.readyState),
    }));
    const es = new EventSource(`http://127.0.0.1:${server.port}/leave`);
    await within(5000, new Promise((resolve) => {
      es.onmessage = resolve;
    }), 'a message');
    assert.equal(server.streams.size, 1);
    es.close();
    assert.equal(await within(5000, left.promise, 'the close handler'), 3);
    assert.equal(server.streams.size, 0);
    assert.throws(() => kept.send('late'), { code: 'ERR_WSRT_UNKNOWN_CONNECTION' });
    assert.equal(kept.readyState, 3);
    await shut(server);
  });

  it('rejects ids and event names the format cannot carry', async () => {
    const caught = deferred();
    const server = listen((s) => s.sse('/bad', {
      open(stream) {
        const errs = [];
        for (const opts of [{ id: 'a\nb' }, { event: 'x\ry' }, { retryMs: -1 }, { retryMs: 2 ** 31 }, { event: 5 }]) {
          try {
            stream.send('data', opts);
            errs.push(null);
          } catch (e) {
            errs.push(`${e.constructor.name} ${e.code}`);
          }
        }
        caught.resolve(errs);
        stream.close();
      },
    }));
    const es = new EventSource(`http://127.0.0.1:${server.port}/bad`);
    assert.deepEqual(await within(5000, caught.promise, 'errors'), [
      'RangeError ERR_WSRT_INVALID_ARGUMENT',
      'RangeError ERR_WSRT_INVALID_ARGUMENT',
      'RangeError ERR_WSRT_INVALID_ARGUMENT',
      'RangeError ERR_WSRT_INVALID_ARGUMENT',
      'TypeError ERR_WSRT_INVALID_TYPE',
    ]);
    es.close();
    await shut(server);
  });

  it('sends route headers and approve headers with the event-stream head; terminate() ends it', async () => {
    const server = listen((s) => s.sse('/h', {
      headers: { 'Access-Control-Allow-Origin': '*' },
      approve: () => ({ headers: { 'X-Stream': 'yes' } }),
      open(stream) {
        stream.send('one');
        setTimeout(() => stream.terminate(), 20);
      },
    }));
    const res = await within(5000, fetch(`http://127.0.0.1:${server.port}/h`), 'the SSE response');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('x-stream'), 'yes');
    assert.equal(await within(5000, res.text(), 'the end of the stream'), 'data: one\n\n');
    await shut(server);
  });

  it('ends streams on graceful close()', async () => {
    const ended = deferred();
    const server = listen((s) => s.sse('/g', { open: (st) => st.send('x'), close: () => ended.resolve() }));
    const es = new EventSource(`http://127.0.0.1:${server.port}/g`);
    await within(5000, new Promise((resolve) => {
      es.onmessage = resolve;
    }), 'a message');
    const errored = new Promise((resolve) => {
      es.onerror = resolve;
    });
    await shut(server);
    await within(5000, ended.promise, 'the close handler');
    await within(5000, errored, 'the client to notice');
    es.close();
  });
});
