// Server features as real clients meet them: IPv6 dual stack, single-port mode, the
// transfer port range, limits answered with an error, generated content, the
// case-insensitive fallback, remap rules, netascii in both directions, progress events
// and worker threads against the in-thread engine.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { atftp, curl, describe, killLeftovers, randomFile, rawRequest, sha256File, tftpHpa, waitForEvent } from '../../helpers/clients.js';
import { startTestServer } from '../../helpers/tftp.js';
import { encode, ErrorCode } from '../../../services/tftp/packet.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp', 'tftp', 'curl'));
t.teardown(() => { killLeftovers(); });

const root = t.testdir({ uploads: {}, Boot: { 'BCD.bin': 'boot configuration data' } });
const sha1m = randomFile(root, 'one.bin', 1024 * 1024);
const rrq = (filename: string, options: [string, string][] = []) => encode({ op: 'RRQ', filename, mode: 'octet', options: new Map(options) });

t.test('IPv6: a server on :: serves curl over ::1 and atftp over IPv4', async (tt) => {
  const srv = await startTestServer(tt, { root, address: '::' });
  const dir = tt.testdir();
  const out6 = join(dir, 'v6.bin');
  const r6 = await curl('get', { host: '::1', port: srv.port, remote: 'one.bin', local: out6, blksize: 1428 });
  tt.ok(r6.ok, 'curl over ::1', { run: describe(r6) });
  tt.equal(await sha256File(out6), sha1m, 'byte-exact over IPv6');
  const out4 = join(dir, 'v4.bin');
  const r4 = await atftp('get', { port: srv.port, remote: 'one.bin', local: out4 });
  tt.ok(r4.ok, 'atftp over 127.0.0.1 to the dual-stack socket', { run: describe(r4) });
  tt.equal(await sha256File(out4), sha1m, 'byte-exact over IPv4');
  await waitForEvent(srv.seen, 'tftp.done', (e) => e.ip === '127.0.0.1');
  const ips = srv.seen.filter((e) => e.kind === 'tftp.done').map((e) => e.ip);
  tt.same(ips.sort(), ['127.0.0.1', '::1'], 'clients are reported as plain addresses (no ::ffff: prefix)');
});

t.test('single-port mode: every packet comes from the listening port, transfers stay apart', async (tt) => {
  const srv = await startTestServer(tt, { root, tftp: { singlePort: true } });
  const reply = await rawRequest(srv.port, rrq('one.bin'));
  tt.equal(reply.from.port, srv.port, 'DATA 1 comes from the listening port');
  tt.equal(reply.packet.op, 'DATA');
  const dir = tt.testdir();
  const runs = await Promise.all([1, 2, 3].map(async (i) => {
    const local = join(dir, `sp${i}.bin`);
    const r = i === 2 ? await curl('get', { port: srv.port, remote: 'one.bin', local, blksize: 1468 })
      : await atftp('get', { port: srv.port, remote: 'one.bin', local, options: { windowsize: 8, blksize: 1024 } });
    return { r, sha: r.ok ? await sha256File(local) : '' };
  }));
  for (const { r, sha } of runs) {
    tt.ok(r.ok, `${r.client} in single-port mode`, { run: describe(r) });
    tt.equal(sha, sha1m, 'byte-exact');
  }
});

t.test('tftp.portRange: each transfer answers from a port of the range', async (tt) => {
  const srv = await startTestServer(tt, { root, tftp: { portRange: '47100-47103' } });
  const ports = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const r = await rawRequest(srv.port, rrq('one.bin', [['blksize', '512']]), { then: () => encode({ op: 'ERROR', code: 0, message: 'probe done' }) });
    ports.add(r.from.port);
  }
  for (const p of ports) tt.ok(p >= 47100 && p <= 47103, `reply from port ${p} inside 47100-47103`);
});

t.test('limits are answered with an ERROR that says why, not with silence', async (tt) => {
  const srv = await startTestServer(tt, {
    root,
    tftp: { maxPerClient: 2, maxTransfers: 3, timeout: 2, firstReplyRetries: 5 },
  });
  // Two transfers that stay open: an OACK nobody acknowledges.
  await rawRequest(srv.port, rrq('one.bin', [['tsize', '0']]));
  await rawRequest(srv.port, rrq('one.bin', [['tsize', '0']]));
  const third = await rawRequest(srv.port, rrq('one.bin'));
  tt.match(third.packet, { op: 'ERROR', code: ErrorCode.NotDefined, message: /too many transfers from your address/ }, 'per-client limit');
  const refused = srv.seen.find((e) => e.kind === 'tftp.refused');
  tt.match(refused, { code: 0, reason: /maxPerClient=2/ }, 'the refusal names the setting');
});

t.test('generated content: a provider answers before the disk, and nothing is written', async (tt) => {
  const srv = await startTestServer(tt, { root });
  srv.service.files.addProvider((name, client) => (name === 'boot.ipxe' ? `#!ipxe\necho hello ${client.address}\n` : null));
  const dir = tt.testdir();
  const local = join(dir, 'boot.ipxe');
  const r = await curl('get', { port: srv.port, remote: 'boot.ipxe', local });
  tt.ok(r.ok, 'curl fetches the generated file', { run: describe(r) });
  tt.equal(readFileSync(local, 'utf8'), '#!ipxe\necho hello 127.0.0.1\n', 'the provider saw the client address');
  const r2 = await curl('get', { port: srv.port, remote: 'one.bin', local: join(dir, 'x') });
  tt.ok(r2.ok, 'other names still come from the disk');
});

t.test('case-insensitive fallback, and remap rules with the client address', async (tt) => {
  const off = await startTestServer(tt, { root });
  const miss = await rawRequest(off.port, rrq('boot/bcd.BIN'));
  tt.match(miss.packet, { op: 'ERROR', code: ErrorCode.FileNotFound }, 'exact case only by default');
  const srv = await startTestServer(tt, {
    root,
    tftp: {
      caseInsensitive: true,
      remap: [
        { match: '^pxelinux\\.cfg/default$', replace: 'host-\\x.cfg', flags: '', action: 'rewrite', stop: true, requests: 'get' },
        { match: '\\.exe$', replace: '', flags: 'i', action: 'refuse', stop: false, requests: 'both' },
      ],
    },
  });
  const dir = tt.testdir();
  const local = join(dir, 'bcd');
  const r = await tftpHpa('get', { port: srv.port, remote: '\\BOOT\\bcd.BIN', local });
  tt.ok(r.ok, 'a Windows-style name in the wrong case is found', { run: describe(r) });
  tt.equal(readFileSync(local, 'utf8'), 'boot configuration data');
  writeFileSync(join(root, 'host-7F000001.cfg'), 'per-host config for 127.0.0.1\n');
  const cfg = join(dir, 'cfg');
  const rc = await curl('get', { port: srv.port, remote: 'pxelinux.cfg/default', local: cfg });
  tt.ok(rc.ok, 'remapped by the client IP in hex', { run: describe(rc) });
  tt.equal(readFileSync(cfg, 'utf8'), 'per-host config for 127.0.0.1\n');
  const exe = await rawRequest(srv.port, rrq('setup.EXE'));
  tt.match(exe.packet, { op: 'ERROR', code: ErrorCode.AccessViolation }, 'a refuse rule answers error 2');
});

t.test('netascii both ways with tftp-hpa, CR LF pairs straddling block boundaries', async (tt) => {
  const srv = await startTestServer(tt, { root, tftp: { write: { enabled: true, dirs: ['uploads'], policy: 'overwrite' } } });
  // Lines whose LF lands at offsets 511/512/1023/1024 so the CR LF pair is split by blocks.
  let text = '';
  for (let i = 0; text.length < 5000; i++) text += `${'x'.repeat((i * 37) % 600)}\n${i % 3 === 0 ? 'bare\rCR ' : ''}`;
  writeFileSync(join(root, 'notes.txt'), text);
  const local = join(tt.testdir(), 'notes.txt');
  const r = await tftpHpa('get', { port: srv.port, remote: 'notes.txt', local, ascii: true });
  tt.ok(r.ok, 'tftp-hpa ascii get', { run: describe(r) });
  tt.equal(readFileSync(local, 'latin1'), text, 'the client turned CR LF and CR NUL back into the same text');
  const done = await waitForEvent(srv.seen, 'tftp.done', (e) => e.file === 'notes.txt');
  const wire = text.length + (text.match(/[\r\n]/g)?.length ?? 0);
  tt.match(done, { bytes: wire }, 'on the wire every LF and CR took two bytes');
  const put = await tftpHpa('put', { port: srv.port, remote: 'uploads/notes.txt', local, ascii: true });
  tt.ok(put.ok, 'tftp-hpa ascii put', { run: describe(put) });
  await sleep(100);
  tt.equal(readFileSync(join(root, 'uploads/notes.txt'), 'latin1'), text, 'the upload decodes to the same text');
});

t.test('progress events: by interval, not per block; bytes rising, then done', async (tt) => {
  const big = randomFile(root, 'big.bin', 24 * 1024 * 1024);
  const srv = await startTestServer(tt, { root, tftp: { progressIntervalMs: 100 } });
  const local = join(tt.testdir(), 'big.bin');
  const r = await curl('get', { port: srv.port, remote: 'big.bin', local, blksize: 512 });
  tt.ok(r.ok, 'curl lock-step at 512 (slow enough to report progress)', { run: describe(r) });
  tt.equal(await sha256File(local), big);
  const progress = srv.seen.filter((e) => e.kind === 'tftp.progress');
  tt.ok(progress.length >= 1, `${progress.length} progress events`);
  // Counted, not timed (the machine may be loaded): one report per 100 ms over 49 152
  // lock-step blocks is far fewer reports than blocks, whatever the pace.
  tt.ok(progress.length < (24 * 1024 * 1024) / 512 / 10, `far fewer progress reports than blocks (${progress.length})`);
  for (let i = 1; i < progress.length; i++) {
    tt.ok((progress[i] as { bytes: number }).bytes > (progress[i - 1] as { bytes: number }).bytes, 'bytes rise');
  }
  await waitForEvent(srv.seen, 'tftp.done', () => true);
  const kinds = srv.seen.map((e) => e.kind);
  tt.equal(kinds[0], 'tftp.start');
  tt.equal(kinds[kinds.length - 1], 'tftp.done');
});

t.test('workers: the in-thread engine (workers 0) and 3 worker threads serve alike', async (tt) => {
  const dir = tt.testdir();
  for (const workers of [0, 3] as const) {
    const srv = await startTestServer(tt, { root, tftp: { workers, maxPerClient: 100 } });
    const results = await Promise.all(Array.from({ length: 9 }, async (_, i) => {
      const local = join(dir, `w${workers}-${i}.bin`);
      const r = await curl('get', { port: srv.port, remote: 'one.bin', local, blksize: 1468 });
      return r.ok ? sha256File(local) : `failed: ${describe(r)}`;
    }));
    tt.same(results, Array(9).fill(sha1m), `workers ${workers}: 9 parallel downloads byte-exact`);
    for (let i = 0; i < 100 && srv.service.stats.filesSent < 9; i++) await sleep(20);
    tt.equal(srv.service.stats.filesSent, 9, 'the server thread counted every transfer');
    await srv.stop();
  }
});
