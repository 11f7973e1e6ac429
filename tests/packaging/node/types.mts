// Type-checked (not run): the typings an `import` user gets.
import wsrt, { Server, type WebSocket } from 'wsrt';

const server: Server = new Server({ host: '127.0.0.1' });
server.ws('/echo', { message: (ws: WebSocket, data: Buffer, isBinary: boolean) => ws.send(data, isBinary) }).listen(0);
const port: number = wsrt.createServer().port;
// The types are real, not `any`: a wrong option type must be an error.
// @ts-expect-error host is a string
new Server({ host: 42 });
export { port };
