// Type-checked (not run): the typings a `require` user gets.
import wsrt = require('wsrt');

const server: wsrt.Server = wsrt.createServer({ host: '127.0.0.1' });
server.ws('/echo', { message: (ws: wsrt.WebSocket, data: Buffer, isBinary: boolean) => ws.send(data, isBinary) }).listen(0);
// The types are real, not `any`: a wrong option type must be an error.
// @ts-expect-error host is a string
wsrt.createServer({ host: 42 });
export = server.port;
