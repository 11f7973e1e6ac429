// ES module entry: the same objects as the CommonJS entry (index.js).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wsrt = require('./index.js');

export const { Server, WebSocket, SseStream, EngineIoSession, Namespace, Socket, BroadcastOperator, createServer, CONNECTING, OPEN, CLOSING, CLOSED } = wsrt;
export default wsrt;
