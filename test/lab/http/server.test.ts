// The HTTP boot service answering real curl over loopback: whole files, HEAD, ranges,
// conditionals, refusals (404/403/405/416), escapes out of the root, generated content,
// the booted report route, its events and status().
import t from 'tap';
import { join } from 'node:path';
import { BindError } from '../../../services/core/service.js';
import { start } from '../../../services/http/server.js';
import type { BootEventKind, EventOf } from '../../../services/core/events.js';
import { curl, curlWrite, httpConfig, startHttp, withoutAt, type Harness } from '../../helpers/http-harness.js';
import { serviceContext } from '../../helpers/context.js';

const KERNEL = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

function tree(tt: { testdir: typeof t.testdir; fixture: typeof t.fixture }): string {
  const dir = tt.testdir({
    root: {
      vmlinuz: KERNEL,
      'boot.ipxe': '#!ipxe\necho disk\n',
      'my file.txt': 'spaces',
      empty: '',
      'PXELinux.CFG': { Default: 'menu' },
      sub: { 'inner.bin': 'inner' },
      'link-in': tt.fixture('symlink', 'sub/inner.bin'),
      'link-out': tt.fixture('symlink', '../outside/secret'),
      'dir-out': tt.fixture('symlink', '../outside'),
    },
    outside: { secret: 'SECRET' },
  });
  return join(dir, 'root');
}

const ofKind = <K extends BootEventKind>(h: Harness, kind: K) => h.seen.filter((e) => e.kind === kind) as EventOf<K>[];

t.test('GET a file: headers, body, events', async (t) => {
  const h = await startHttp(t, tree(t));
  const r = await curl([`${h.base}/vmlinuz`]);
  t.equal(r.status, 200);
  t.same(r.body, KERNEL);
  t.equal(r.headers['content-length'], String(KERNEL.length));
  t.equal(r.headers['content-type'], 'application/octet-stream');
  t.equal(r.headers['accept-ranges'], 'bytes');
  t.match(r.headers.etag, /^"1388-[0-9a-f]+"$/);
  t.ok(Date.parse(r.headers['last-modified']) > 0);
  t.notOk(r.headers['cache-control'], 'disk files may be cached');

  const [start] = ofKind(h, 'http.start');
  t.same(withoutAt(start), { kind: 'http.start', id: start.id, file: 'vmlinuz', size: KERNEL.length, ip: '127.0.0.1', method: 'GET', range: null });
  const [done] = ofKind(h, 'http.done');
  t.same(Object.keys(done).sort(), ['at', 'bytes', 'file', 'id', 'ip', 'kind', 'seconds', 'throughput']);
  t.match(done, { kind: 'http.done', id: start.id, file: 'vmlinuz', bytes: KERNEL.length, ip: '127.0.0.1' });
  t.ok(done.seconds >= 0 && done.throughput >= 0);
  t.same(ofKind(h, 'http.failed'), []);

  const txt = await curl([`${h.base}/boot.ipxe?cache=no`]);
  t.equal(txt.status, 200, 'the query string is ignored');
  t.equal(txt.body.toString(), '#!ipxe\necho disk\n');
  t.equal(txt.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal((await curl([`${h.base}/my%20file.txt`])).body.toString(), 'spaces', 'percent-decoded');
  t.equal((await curl([`${h.base}/link-in`])).body.toString(), 'inner', 'a symlink inside the root');
  const empty = await curl([`${h.base}/empty`]);
  t.equal(empty.status, 200);
  t.equal(empty.headers['content-length'], '0');
});

t.test('HEAD: the headers of a GET, no body, no transfer events', async (t) => {
  const h = await startHttp(t, tree(t));
  const r = await curl(['-I', `${h.base}/vmlinuz`]);
  t.equal(r.status, 200);
  t.equal(r.headers['content-length'], String(KERNEL.length));
  t.equal(r.body.length, 0);
  t.same(h.seen.filter((e) => e.kind.startsWith('http.')), []);
  t.equal((await curl(['-I', `${h.base}/missing`])).status, 404);
});

t.test('ranges', async (t) => {
  const h = await startHttp(t, tree(t));
  const size = KERNEL.length;
  const cases: [string, number, number][] = [['0-99', 0, 99], ['4990-', 4990, size - 1], ['-10', size - 10, size - 1], ['4000-99999', 4000, size - 1]];
  for (const [range, s, e] of cases) {
    const r = await curl(['-r', range, `${h.base}/vmlinuz`]);
    t.equal(r.status, 206, range);
    t.equal(r.headers['content-range'], `bytes ${s}-${e}/${size}`, range);
    t.equal(r.headers['content-length'], String(e - s + 1), range);
    t.same(r.body, KERNEL.subarray(s, e + 1), range);
  }
  const starts = ofKind(h, 'http.start');
  t.same(starts.map((e) => [e.size, e.range]), cases.map(([, s, e]) => [e - s + 1, [s, e]]), 'size is the range length');
  t.same(ofKind(h, 'http.done').map((e) => e.bytes), cases.map(([, s, e]) => e - s + 1));

  const bad = await curl(['-r', '5000-', `${h.base}/vmlinuz`]);
  t.equal(bad.status, 416);
  t.equal(bad.headers['content-range'], `bytes */${size}`);
  t.equal(bad.body.toString(), 'range not satisfiable\n');
  t.match(ofKind(h, 'http.refused').at(-1), { file: 'vmlinuz', code: 416, ip: '127.0.0.1' });

  const multi = await curl(['-r', '0-1,10-20', `${h.base}/vmlinuz`]);
  t.equal(multi.status, 200, 'several ranges: the whole file');
  t.same(multi.body, KERNEL);
  t.notOk(multi.headers['content-range']);

  const head = await curl(['-I', '-r', '10-19', `${h.base}/vmlinuz`]);
  t.equal(head.status, 206);
  t.equal(head.headers['content-length'], '10');
});

t.test('conditional requests', async (t) => {
  const h = await startHttp(t, tree(t));
  const first = await curl([`${h.base}/vmlinuz`]);
  const { etag, 'last-modified': lm } = first.headers;
  t.equal((await curl(['-H', `If-None-Match: ${etag}`, `${h.base}/vmlinuz`])).status, 304);
  t.equal((await curl(['-H', `If-Modified-Since: ${lm}`, `${h.base}/vmlinuz`])).status, 304);
  t.equal((await curl(['-H', 'If-None-Match: "nope"', `${h.base}/vmlinuz`])).status, 200);
  const stale = await curl(['-r', '0-9', '-H', 'If-Range: "old"', `${h.base}/vmlinuz`]);
  t.equal(stale.status, 200, 'If-Range that does not match: the whole file');
  t.equal(stale.body.length, KERNEL.length);
  t.equal((await curl(['-r', '0-9', '-H', `If-Range: ${etag}`, `${h.base}/vmlinuz`])).status, 206);
});

t.test('refusals: 404, 403, escapes, 405, bad encoding', async (t) => {
  const h = await startHttp(t, tree(t));
  const missing = await curl([`${h.base}/nothing/here`]);
  t.equal(missing.status, 404);
  t.equal(missing.body.toString(), 'file not found\n');
  t.equal(missing.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal((await curl([`${h.base}/`])).status, 404, 'the root itself');
  t.equal((await curl([`${h.base}/sub`])).status, 404, 'a folder');
  t.equal((await curl([`${h.base}/pxelinux.cfg/default`])).status, 404, 'case-sensitive by default');

  for (const path of ['/../outside/secret', '/sub/../../outside/secret', '/%2e%2e/outside/secret', '/%2E%2E%2Foutside%2Fsecret', '/sub/..%5c..%5coutside%5csecret']) {
    const r = await curl(['--path-as-is', `${h.base}${path}`]);
    t.equal(r.status, 403, path);
    t.equal(r.body.toString(), 'access violation\n', path);
  }
  t.equal((await curl([`${h.base}/link-out`])).status, 403, 'a symlink out of the root');
  t.equal((await curl([`${h.base}/dir-out/secret`])).status, 403, 'through a symlinked folder out of the root');
  t.equal((await curl([`${h.base}/a%00b`])).status, 403, 'NUL');
  t.equal((await curl([`${h.base}/%zz`])).status, 400);

  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const r = await curl(['-X', method, `${h.base}/vmlinuz`]);
    t.equal(r.status, 405, method);
    t.equal(r.headers.allow, 'GET, HEAD', method);
  }
  const refused = ofKind(h, 'http.refused');
  t.same(withoutAt(refused[0]), { kind: 'http.refused', file: 'nothing/here', code: 404, reason: 'nothing/here: ENOENT', ip: '127.0.0.1' });
  t.match(refused.find((e) => e.file === 'link-out'), { code: 403, reason: /symlink leaves the root/ });
  t.same(ofKind(h, 'http.start'), [], 'no transfer started');
  const s = h.service.status().stats;
  t.equal(s.notFound, 4);
  t.equal(s.refused, 5 + 2 + 1 + 1 + 4);
});

t.test('case-insensitive lookups when tftp.caseInsensitive is on', async (t) => {
  const root = tree(t);
  const config = httpConfig(root);
  config.tftp.caseInsensitive = true;
  const service = await start(await serviceContext(config));
  t.teardown(() => service.close());
  const r = await curl([`http://127.0.0.1:${service.port()}/pxelinux.cfg/default`]);
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'menu');
});

t.test('generated content from a provider', async (t) => {
  const h = await startHttp(t, tree(t));
  const script = '#!ipxe\nkernel http://x/vmlinuz\nboot\n';
  const clients: string[] = [];
  h.service.files.addProvider((name, client) => {
    if (name !== 'bootlab/52-54-00-00-00-01.ipxe') return null;
    clients.push(client.address);
    return script;
  });
  const r = await curl([`${h.base}/bootlab/52-54-00-00-00-01.ipxe`]);
  t.equal(r.status, 200);
  t.equal(r.body.toString(), script);
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['content-length'], String(script.length));
  t.equal(r.headers['cache-control'], 'no-cache');
  t.match(r.headers.etag, /^"[0-9a-f]+-[0-9a-f]{16}"$/);
  t.same(clients, ['127.0.0.1'], 'the provider sees the client address');
  const part = await curl(['-r', '0-5', `${h.base}/bootlab/52-54-00-00-00-01.ipxe`]);
  t.equal(part.status, 206);
  t.equal(part.body.toString(), '#!ipxe');
  t.match(ofKind(h, 'http.done'), [{ file: 'bootlab/52-54-00-00-00-01.ipxe', bytes: script.length }, { bytes: 6 }]);
});

t.test('the booted report route', async (t) => {
  const reports: [string, string, string][] = [];
  const h = await startHttp(t, tree(t), { reportBooted: (mac, key, ip) => { reports.push([mac, key, ip]); return key === 'good'; } });
  const ok = await curl([`${h.base}/bootlab/booted/52-54-00-AB-CD-01?key=good`]);
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), 'ok\n');
  const post = await curl(['-X', 'POST', '-d', 'uptime=3', `${h.base}/bootlab/booted/52:54:00:ab:cd:01?key=good`]);
  t.equal(post.status, 200, 'POST too');
  const bad = await curl([`${h.base}/bootlab/booted/52-54-00-ab-cd-01?key=bad`]);
  t.equal(bad.status, 403);
  t.equal(bad.body.toString(), 'bad key\n');
  t.equal((await curl([`${h.base}/bootlab/booted/52-54-00-ab-cd-01`])).status, 403, 'no key');
  t.equal((await curl([`${h.base}/bootlab/booted/not-a-mac?key=good`])).status, 400);
  const put = await curl(['-X', 'PUT', `${h.base}/bootlab/booted/52-54-00-ab-cd-01?key=good`]);
  t.equal(put.status, 405);
  t.equal(put.headers.allow, 'GET, POST');
  t.same(reports, [
    ['52:54:00:ab:cd:01', 'good', '127.0.0.1'], ['52:54:00:ab:cd:01', 'good', '127.0.0.1'],
    ['52:54:00:ab:cd:01', 'bad', '127.0.0.1'], ['52:54:00:ab:cd:01', '', '127.0.0.1'],
  ]);
  t.match(ofKind(h, 'http.refused').find((e) => e.code === 403), { file: 'bootlab/booted/52-54-00-ab-cd-01', reason: /bad key/ });

  const plain = await startHttp(t, tree(t));
  t.equal((await curl([`${plain.base}/bootlab/booted/52-54-00-ab-cd-01?key=good`])).status, 404, 'without reportBooted it is a file name');
});

t.test('keep-alive: one connection for several requests', async (t) => {
  const h = await startHttp(t, tree(t));
  const out = await curlWrite([`${h.base}/vmlinuz`, '-o', '/dev/null', `${h.base}/boot.ipxe`, '-o', '/dev/null', `${h.base}/missing`], '%{http_code} %{num_connects}\n');
  t.same(out.trim().split('\n'), ['200 1', '200 0', '404 0']);
});

t.test('status(): bound address and counters', async (t) => {
  const h = await startHttp(t, tree(t));
  t.match(h.service.status(), { state: 'running', bound: [{ protocol: 'tcp', address: '127.0.0.1', port: h.port }], lastError: null });
  t.equal(h.service.name, 'http');
  await curl([`${h.base}/vmlinuz`]);
  await curl(['-r', '0-9', `${h.base}/vmlinuz`]);
  await curl(['-I', `${h.base}/vmlinuz`]);
  await curl([`${h.base}/missing`]);
  await curl([`${h.base}/link-out`]);
  t.same(h.service.status().stats, {
    requests: 5,
    bytesSent: KERNEL.length + 10,
    active: 0,
    notFound: 1,
    refused: 1,
    filesSent: 2,
    failed: 0,
    clientAborts: 0,
  });
  await h.service.close();
  t.match(h.service.status(), { state: 'stopped', bound: [] });
  await h.service.close(); // twice is fine
});

t.test('a port in use is a BindError', async (t) => {
  const h = await startHttp(t, tree(t));
  const config = httpConfig(h.config.tftp.root);
  config.http.port = h.port;
  const err = await start(await serviceContext(config)).then(() => null, (e: unknown) => e);
  t.type(err, BindError);
  t.match(err, { code: 'EADDRINUSE', key: 'http.port', port: h.port, message: /already in use/ });
});
