// web/sse.js connectEvents in Node (fetch, streams and AbortController are the browser's
// own APIs there too) against a real HTTP server on loopback: the states in order, events
// delivered, a dropped stream reconnected, a 401 asking for a token, close() ending it.
// Order and content only: the backoff waits are the module's, never measured here.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';

interface Conn { close(): void; restart(): void }
type Connect = (opts: {
  url: string; headers(): Record<string, string>; onEvent(name: string, data: unknown): void;
  onState(state: string, detail?: unknown): void; onUnauthorized(): Promise<boolean>;
}) => Conn;
const { connectEvents } = (await import(new URL('../../../../web/sse.js', import.meta.url).href)) as { connectEvents: Connect };

/** Resolves when `check` holds; fails after 30 s, which only stops a hung case (no timing is asserted). */
function when(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 30_000;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() > until) reject(new Error(`never happened: ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

t.test('states in order, events delivered, a dropped stream reconnected, close() ends it', async (t) => {
  const streams: ServerResponse[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`event: hello\ndata: {"n":${requests}}\n\n`);
    streams.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/events`;
  const log: string[] = [];
  const conn = connectEvents({
    url, headers: () => ({}), onUnauthorized: async () => false,
    onEvent: (name, data) => log.push(`${name} ${JSON.stringify(data)}`),
    onState: (state) => log.push(state),
  });
  await when(() => log.includes('hello {"n":1}'), 'hello {"n":1}');
  streams[0].end(); // the appliance restarting
  await when(() => log.includes('hello {"n":2}'), 'hello {"n":2}');
  conn.close();
  await when(() => log.includes('closed'), 'closed');
  t.same(log, ['connecting', 'live', 'hello {"n":1}', 'retrying', 'connecting', 'live', 'hello {"n":2}', 'closed']);
  t.equal(requests, 2, 'one new request after the drop');
});

t.test('a 401 asks for a token: a new one connects at once; none given waits for restart()', async (t) => {
  let accept = false;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer good-token-0123456789' || !accept) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: hello\ndata: {}\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/events`;
  const log: string[] = [];
  let token = 'wrong';
  let asked = 0;
  const conn = connectEvents({
    url, headers: () => ({ Authorization: `Bearer ${token}` }),
    onUnauthorized: async () => {
      asked += 1;
      if (asked === 1) return false; // the teacher closes the dialog
      token = 'good-token-0123456789';
      return true;
    },
    onEvent: (name) => log.push(name),
    onState: (state) => log.push(state),
  });
  await when(() => log.includes('unauthorized'), 'unauthorized');
  t.same(log, ['connecting', 'unauthorized'], 'no token given: no retry on its own');
  accept = true;
  conn.restart(); // a token was typed in
  await when(() => log.includes('hello'), 'hello');
  conn.close();
  await when(() => log.includes('closed'), 'closed');
  t.same(log, ['connecting', 'unauthorized', 'connecting', 'unauthorized', 'connecting', 'live', 'hello', 'closed'],
    'restart() connects again; the second 401 asks once more and the new token connects at once');
  t.equal(asked, 2);
});
