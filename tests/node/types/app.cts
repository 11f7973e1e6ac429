// Type-checked (not run) by module.test.mjs: the CommonJS typings.
import wsrt = require('wsrt');

const server = wsrt.createServer({ host: '127.0.0.1', deflate: 'shared' });
server.ws('/echo', { message: (ws, data, isBinary) => ws.send(data, isBinary) }).listen(0);
server.ws('/room', { open: (ws) => ws.subscribe('room'), message: (ws, data) => ws.publish('room', data) });
const result: wsrt.PublishResult = server.publish('room', 'hi', { sseEvent: 'note' });
void result.delivered;
const state: 0 | 1 | 2 | 3 = wsrt.OPEN;
void state;
// @ts-expect-error: unknown handler names are type errors
server.ws('/x', { mesage() {} });
// @ts-expect-error: the old option names are gone
void wsrt.createServer({ perMessageDeflate: true });
const io: wsrt.Namespace = server.io('/socket.io/');
io.on('connection', (socket: wsrt.Socket) => socket.on('echo', (...args: unknown[]) => void args));
server.engineio('/engine.io/', { message: (s, data) => s.send(data) });
void server.close();
