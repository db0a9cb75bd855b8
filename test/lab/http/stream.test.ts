// Streaming big files: the response's backpressure paces the disk reads (a stalled reader
// holds little memory, a 64 MiB download does not grow the RSS by 64 MiB), progress
// events, and every early end: a client that goes away, a stalled client, a file that
// shrinks, close() in the middle; the file handle is closed each time.
import t from 'tap';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootEventKind, EventOf } from '../../../services/core/events.js';
import { curlWrite, nextEvent, openFds, rawClient, startHttp, withoutAt, type Harness } from '../../helpers/http-harness.js';
import { sleep, until } from '../../helpers/util.js';

const MiB = 1024 * 1024;
const BIG = 64 * MiB;

/** A folder with a sparse 64 MiB file (no disk space used) and a small one. */
function sparseRoot(tt: { testdir: typeof t.testdir }): { root: string; big: string } {
  const root = tt.testdir({ small: 'small' });
  const big = join(root, 'big.img');
  writeFileSync(big, '');
  truncateSync(big, BIG);
  return { root, big };
}

const ofKind = <K extends BootEventKind>(h: Harness, kind: K) => h.seen.filter((e) => e.kind === kind) as EventOf<K>[];
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

t.test('a client that goes away mid-download: http.failed clientAbort, handle closed', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root);
  const c = await rawClient(h.port, get('/big.img'));
  await until(() => c.received().length > 256 * 1024, 'the first bytes', 5000);
  t.equal(openFds(big), 1, 'the file is open while it is sent');
  c.socket.destroy();
  const failed = await nextEvent(h, 'http.failed');
  t.same(Object.keys(withoutAt(failed)).sort(), ['bytes', 'clientAbort', 'file', 'id', 'ip', 'kind', 'reason']);
  t.match(failed, { file: 'big.img', clientAbort: true, reason: 'client closed the connection', ip: '127.0.0.1' });
  t.ok(failed.bytes > 0 && failed.bytes < BIG, `bytes ${failed.bytes} between 0 and the size`);
  await until(() => openFds(big) === 0, 'the handle to close', 5000);
  t.same(ofKind(h, 'http.done'), []);
  t.match(h.service.status().stats, { clientAborts: 1, failed: 0, active: 0 });
});

t.test('backpressure: a reader that stops holds the server at the socket buffers', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root);
  const c = await rawClient(h.port, get('/big.img'));
  c.socket.pause();
  // The server stops once the socket buffers are full: the count stays put.
  let sent = -1;
  for (let i = 0; i < 50 && h.service.stats.bytesSent !== sent; i++) {
    sent = h.service.stats.bytesSent;
    await sleep(200);
  }
  t.equal(h.service.stats.bytesSent, sent, 'no more bytes while the reader stays paused');
  t.ok(sent > 0 && sent < 16 * MiB, `only ${(sent / MiB).toFixed(1)} MiB handed to a paused socket`);
  t.equal(h.service.stats.active, 1);
  c.socket.resume();
  const done = await nextEvent(h, 'http.done', 30_000);
  t.equal(done.bytes, BIG);
  await until(() => c.received().length >= BIG, 'the whole body', 10_000);
  c.socket.destroy();
  await until(() => openFds(big) === 0, 'the handle to close', 5000);
});

t.test('64 MiB with curl: streamed, progress events, RSS does not grow by the file size', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root, { progressIntervalMs: 50 });
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  // A rate limit spreads the download over ~1 s so progress events are due.
  const out = await curlWrite(['--limit-rate', '64M', `${h.base}/big.img`], '%{http_code} %{size_download}');
  clearInterval(timer);
  t.equal(out, `200 ${BIG}`);
  const growth = peak - before;
  t.ok(growth < 16 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB for a ${BIG / MiB} MiB file`);

  const [start] = ofKind(h, 'http.start');
  t.same(withoutAt(start), { kind: 'http.start', id: start.id, file: 'big.img', size: BIG, ip: '127.0.0.1', method: 'GET', range: null });
  const progress = ofKind(h, 'http.progress');
  t.ok(progress.length >= 3, `${progress.length} progress events`);
  for (const [i, p] of progress.entries()) {
    t.same(Object.keys(withoutAt(p)).sort(), ['bytes', 'file', 'id', 'ip', 'kind', 'rate', 'size'], 'progress fields');
    t.match(p, { id: start.id, file: 'big.img', size: BIG, ip: '127.0.0.1' });
    t.ok(p.rate > 0 && p.bytes < BIG);
    if (i > 0) t.ok(p.bytes > progress[i - 1].bytes, 'bytes grow');
  }
  const done = await nextEvent(h, 'http.done');
  t.match(done, { id: start.id, bytes: BIG });
  t.ok(done.throughput > 0);
  await until(() => openFds(big) === 0, 'the handle to close', 5000);
  t.equal(h.service.stats.bytesSent, BIG);
});

t.test('a range of a big file reads only the range', async (t) => {
  const { root } = sparseRoot(t);
  const h = await startHttp(t, root);
  const out = await curlWrite(['-r', `${BIG - MiB}-`, `${h.base}/big.img`], '%{http_code} %{size_download}');
  t.equal(out, `206 ${MiB}`);
  t.equal(h.service.stats.bytesSent, MiB);
});

t.test('a stalled reader is cut off by the idle timeout (not a client abort)', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root, { idleTimeoutMs: 400 });
  const c = await rawClient(h.port, get('/big.img'));
  c.socket.pause();
  const failed = await nextEvent(h, 'http.failed', 5000);
  t.match(failed, { clientAbort: false, reason: /idle timeout/ });
  await until(() => openFds(big) === 0, 'the handle to close', 5000);
  c.socket.destroy();
  t.match(h.service.status().stats, { failed: 1, clientAborts: 0 });
});

t.test('a client that never finishes its headers is dropped', async (t) => {
  const h = await startHttp(t, sparseRoot(t).root, { headersTimeoutMs: 300 });
  const c = await rawClient(h.port, 'GET /small HTTP/1.1\r\nHost: x\r\n');
  let closed = c.socket.destroyed;
  c.socket.once('close', () => { closed = true; });
  // The limit only stops a hung test: a server that never drops it fails here, slow or not.
  await until(() => closed, 'the server to drop the connection', 30_000);
  t.ok(closed, 'dropped');
  t.match(c.received().toString(), /^(HTTP\/1\.1 408|$)/, 'a 408 or nothing');
});

t.test('a file that shrinks while it is sent: http.failed, not a client abort', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root);
  const c = await rawClient(h.port, get('/big.img'));
  c.socket.pause();
  await sleep(300);
  truncateSync(big, 10 * MiB);
  c.socket.resume();
  const failed = await nextEvent(h, 'http.failed', 10_000);
  t.match(failed, { clientAbort: false, reason: /shrank to 10485760 bytes/ });
  await until(() => c.socket.destroyed || c.socket.readableEnded, 'the connection to end', 5000);
  t.ok(c.received().length < BIG, 'the client sees a short body, never a complete-looking one');
  await until(() => openFds(big) === 0, 'the handle to close', 5000);
  c.socket.destroy();
});

t.test('close() ends active downloads promptly and closes their files', async (t) => {
  const { root, big } = sparseRoot(t);
  const h = await startHttp(t, root);
  const clients = await Promise.all([1, 2, 3].map(() => rawClient(h.port, get('/big.img'))));
  for (const c of clients) c.socket.pause();
  await until(() => h.service.stats.active === 3, 'three downloads', 5000);
  const idle = await rawClient(h.port, get('/small')); // a kept-alive idle connection too
  await until(() => idle.received().includes('small'), 'the small file', 5000);
  // The three readers are paused: a close() that waited for their downloads would never return.
  await h.service.close();
  t.equal(openFds(big), 0, 'no handle outlives close()');
  const failed = ofKind(h, 'http.failed');
  t.equal(failed.length, 3);
  for (const f of failed) t.match(f, { clientAbort: false, reason: 'server shutting down' });
  t.equal(h.service.status().state, 'stopped');
  for (const c of [...clients, idle]) c.socket.destroy();
});

t.test('pipelined requests on one connection are answered in order', async (t) => {
  const { root } = sparseRoot(t);
  const h = await startHttp(t, root);
  const range = `GET /big.img HTTP/1.1\r\nHost: x\r\nRange: bytes=0-${4 * MiB - 1}\r\n\r\n`;
  const c = await rawClient(h.port, get('/small') + range + get('/small'));
  await until(() => ofKind(h, 'http.done').length === 3, 'three responses', 10_000);
  await until(() => c.received().toString('latin1').endsWith('\r\n\r\nsmall'), 'the last body', 5000);
  const text = c.received().toString('latin1');
  t.same(text.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200', 'HTTP/1.1 206', 'HTTP/1.1 200']);
  t.same(ofKind(h, 'http.done').map((e) => e.bytes), [5, 4 * MiB, 5]);
  c.socket.destroy();
});

t.test('a fatal server error reaches ctx.fail', async (t) => {
  const h = await startHttp(t, sparseRoot(t).root);
  const seen: Error[] = [];
  (h.service as unknown as { fail: (e: Error) => void }).fail = (e) => seen.push(e);
  const server = (h.service as unknown as { server: { emit(ev: string, e: Error): void } }).server;
  server.emit('error', new Error('EBADF: the listening socket broke'));
  t.same(seen.map((e) => e.message), ['EBADF: the listening socket broke']);
  t.equal(h.service.status().lastError, 'EBADF: the listening socket broke');
});
