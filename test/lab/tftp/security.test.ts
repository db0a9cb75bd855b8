// Security: path traversal (CVE-1999-0183, CVE-2002-1209, CVE-2007-0888, CVE-2011-4722),
// symlinks out of the root, the write policy, aborted and oversized uploads, malformed
// datagrams and strangers on a transfer's port. Raw requests go through node:dgram with
// the codec (services/tftp/packet.ts); atftp where a real client is easy. Loopback only.
import t from 'tap';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode, type DecodeError, type Packet } from '../../../services/tftp/packet.js';
import type { BootEvent } from '../../../services/core/events.js';
import { atftp, describe } from '../../helpers/clients.js';
import { prng } from '../../helpers/relay.js';
import { startTestServer, type TestServer } from '../../helpers/tftp.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp'));

// ---- a raw peer on loopback ----

interface Got { packet: Packet | DecodeError; raw: Buffer; port: number }

class Peer {
  private queue: Got[] = [];
  private waiting: ((g: Got) => void) | null = null;
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (raw, rinfo) => {
      const g = { packet: decode(raw), raw, port: rinfo.port };
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(g);
      } else this.queue.push(g);
    });
  }

  static async open(t: { teardown(fn: () => unknown): void }): Promise<Peer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => sock.close(() => r())));
    return new Peer(sock);
  }

  send(buf: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(buf, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** The next datagram, or null after `ms` of silence. */
  recv(ms = 3000): Promise<Got | null> {
    const g = this.queue.shift();
    if (g) return Promise.resolve(g);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting = null; resolve(null); }, ms);
      this.waiting = (x) => { clearTimeout(timer); resolve(x); };
    });
  }
}

const rrq = (filename: string, options: Record<string, string> = {}) => encode({ op: 'RRQ', filename, mode: 'octet', options: new Map(Object.entries(options)) });
const wrq = (filename: string, options: Record<string, string> = {}) => encode({ op: 'WRQ', filename, mode: 'octet', options: new Map(Object.entries(options)) });
const ack = (block: number) => encode({ op: 'ACK', block });
const data = (block: number, payload: Buffer) => encode({ op: 'DATA', block, data: payload });
const show = (g: Got | null) => (g ? JSON.stringify(g.packet, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v)).slice(0, 200) : 'no reply');

/** A lock-step download without options. Returns the bytes, or the ERROR that ended it. */
async function rawGet(
  peer: Peer,
  port: number,
  request: Buffer,
): Promise<{ data?: Buffer; error?: { code: number; message: string }; first: Got | null }> {
  await peer.send(request, port);
  const chunks: Buffer[] = [];
  let expected = 1;
  let first: Got | null = null;
  for (;;) {
    const g = await peer.recv();
    first ??= g;
    if (!g) return { first };
    const p = g.packet;
    if (p.op === 'ERROR') return { error: { code: p.code, message: p.message }, first };
    if (p.op !== 'DATA') continue;
    if (p.block === expected) {
      chunks.push(Buffer.from(p.data));
      expected++;
    }
    await peer.send(ack(p.block), g.port);
    if (p.block === expected - 1 && p.data.length < 512) return { data: Buffer.concat(chunks), first };
  }
}

// ---- the layout: secrets sit where a traversal would land ----

const base = mkdtempSync(join(tmpdir(), 'bootlab-sec-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const MARK = `BOOTLAB-SECRET-${randomBytes(6).toString('hex')}`;
const root = join(base, 'a', 'root');
const outside = mkdtempSync(join(tmpdir(), 'bootlab-sec-outside-'));
t.teardown(() => rmSync(outside, { recursive: true, force: true }));
for (const dir of [join(base, 'etc'), join(base, 'a', 'etc'), join(root, 'dir'), join(root, 'a'), join(root, 'uploads')]) mkdirSync(dir, { recursive: true });
for (const f of [join(base, 'etc', 'passwd'), join(base, 'a', 'etc', 'passwd'), join(base, 'x'), join(base, 'a', 'x'), join(outside, 'secret.txt')]) writeFileSync(f, `${MARK} ${f}\n`);
writeFileSync(join(root, 'boot.txt'), 'boot file at the root\n');
writeFileSync(join(root, 'dir', 'file'), 'file in dir\n');
writeFileSync(join(root, 'pxelinux.0'), 'pretend pxelinux\n');
symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
symlinkSync(outside, join(root, 'outdir'));
symlinkSync(outside, join(root, 'uploads', 'outlink'));
const big = randomBytes(64 * 512 + 100);
writeFileSync(join(root, 'big.bin'), big);

function noSecret(tt: Tap, g: Got | null, what: string): void {
  tt.notOk(g?.raw.toString('latin1').includes(MARK), `${what}: no secret bytes on the wire`);
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

function refusedEvent(seen: BootEvent[], file: string): number | undefined {
  const e = seen.find((x) => x.kind === 'tftp.refused' && x.file === file);
  return e?.kind === 'tftp.refused' ? e.code : undefined;
}

t.test('traversal battery: every name is refused with error 1 or 2, never with content', async (tt) => {
  const srv = await startTestServer(tt, { root });
  const names = [
    '../etc/passwd', '/../etc/passwd', '..\\..\\etc\\passwd', 'a/../../x', '%2e%2e/%2e%2e/etc/passwd',
    '../../etc/passwd', 'dir/../../etc/passwd', '.../etc/passwd', '....//etc/passwd',
    'escape.txt', 'outdir/secret.txt', '/outdir/secret.txt', 'x'.repeat(10_000),
  ];
  for (const name of names) {
    const peer = await Peer.open(tt);
    await peer.send(rrq(name), srv.port);
    const g = await peer.recv();
    const label = JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}... (${name.length} chars)` : name);
    const p = g?.packet;
    tt.ok(p?.op === 'ERROR' && (p.code === 1 || p.code === 2), `${label} -> ERROR 1 or 2 (got ${show(g)})`);
    noSecret(tt, g, label);
    tt.ok([1, 2].includes(refusedEvent(srv.seen, name) ?? -1), `${label}: a tftp.refused event carries the code`);
  }
});

t.test('a NUL inside the name ("pxelinux.0\\0../../etc/passwd") is never served', async (tt) => {
  const srv = await startTestServer(tt, { root });
  const raw = Buffer.concat([Buffer.from([0, 1]), Buffer.from('pxelinux.0\0../../etc/passwd\0octet\0', 'latin1')]);
  const peer = await Peer.open(tt);
  await peer.send(raw, srv.port);
  const g = await peer.recv();
  const p = g?.packet;
  // Parsed strictly this is filename "pxelinux.0", mode "../../etc/passwd" and a dangling
  // "octet": a malformed request (4) or a refusal (1, 2); never DATA.
  tt.ok(p?.op === 'ERROR' && [1, 2, 4].includes(p.code), `refused (got ${show(g)})`);
  noSecret(tt, g, 'NUL name');
});

t.test('atftp asking for ../etc/passwd and a symlinked secret gets an error and no secret', async (tt) => {
  const srv = await startTestServer(tt, { root });
  for (const remote of ['../etc/passwd', 'outdir/secret.txt']) {
    const local = join(base, `atftp-${remote.replace(/\W/g, '_')}`);
    const r = await atftp('get', { port: srv.port, remote, local, timeoutMs: 30_000 });
    tt.notOk(r.ok, `atftp failed: ${describe(r)}`);
    tt.match(r.stderr, /error received from server/, 'atftp saw an ERROR from the server');
    tt.notOk(existsSync(local) && readFileSync(local, 'latin1').includes(MARK), 'no secret in the local file');
  }
});

t.test('a leading "/" resolves inside the root; backslashes are folder separators', async (tt) => {
  const srv = await startTestServer(tt, { root });
  for (const [name, expect] of [['/boot.txt', 'boot file at the root\n'], ['dir\\file', 'file in dir\n'], ['/dir/file', 'file in dir\n'], ['//dir//file', 'file in dir\n']]) {
    const r = await rawGet(await Peer.open(tt), srv.port, rrq(name));
    tt.equal(r.data?.toString(), expect, `${JSON.stringify(name)} fetched (${r.error ? `ERROR ${r.error.code} ${r.error.message}` : 'ok'})`);
  }
  const local = join(base, 'atftp-boot.txt');
  const r = await atftp('get', { port: srv.port, remote: '/boot.txt', local, timeoutMs: 30_000 });
  tt.ok(r.ok, `atftp gets /boot.txt: ${describe(r)}`);
  tt.equal(existsSync(local) ? readFileSync(local, 'utf8') : null, 'boot file at the root\n', 'atftp got root/boot.txt');
});

const uploads = () => readdirSync(join(root, 'uploads')).filter((n) => n !== 'outlink').sort();

t.test('writes are refused while disabled: error 2, nothing created', async (tt) => {
  const srv = await startTestServer(tt, { root });
  for (const name of ['uploads/new.bin', 'new.bin']) {
    const peer = await Peer.open(tt);
    await peer.send(wrq(name), srv.port);
    const g = await peer.recv();
    tt.ok(g?.packet.op === 'ERROR' && g.packet.code === 2, `WRQ ${name} -> ERROR 2 (got ${show(g)})`);
  }
  tt.same(uploads(), [], 'uploads/ is still empty');
  tt.notOk(existsSync(join(root, 'new.bin')), 'no file at the root');
});

async function writeServer(tt: Tap, extra: Record<string, unknown> = {}): Promise<TestServer> {
  return startTestServer(tt, { root, tftp: { timeout: 1, maxRetries: 2, write: { enabled: true, dirs: ['uploads'], ...extra } } });
}

t.test('with writes enabled, a WRQ outside the writable folders is refused', async (tt) => {
  const srv = await writeServer(tt);
  for (const name of ['evil.bin', 'dir/evil.bin', 'uploads/../evil.bin', '../evil.bin', 'uploads/outlink/evil.bin', 'uploadsX/evil.bin', 'uploads']) {
    const peer = await Peer.open(tt);
    await peer.send(wrq(name), srv.port);
    const g = await peer.recv();
    tt.ok(g?.packet.op === 'ERROR' && [1, 2].includes(g.packet.code), `WRQ ${name} -> ERROR 2 (got ${show(g)})`);
  }
  tt.notOk(existsSync(join(root, 'evil.bin')) || existsSync(join(root, 'dir', 'evil.bin')) || existsSync(join(base, 'a', 'evil.bin')), 'nothing created');
  tt.same(readdirSync(outside), ['secret.txt'], 'nothing written through the symlink out of the root');
  tt.same(uploads(), [], 'uploads/ is still empty');
});

t.test('create-only refuses an existing file with error 6 and leaves it alone', async (tt) => {
  const srv = await writeServer(tt, { policy: 'create-only' });
  const path = join(root, 'uploads', 'exists.bin');
  writeFileSync(path, 'original\n');
  tt.teardown(() => rmSync(path, { force: true }));
  const peer = await Peer.open(tt);
  await peer.send(wrq('uploads/exists.bin'), srv.port);
  const g = await peer.recv();
  tt.ok(g?.packet.op === 'ERROR' && g.packet.code === 6, `ERROR 6 (got ${show(g)})`);
  tt.equal(readFileSync(path, 'utf8'), 'original\n', 'the file is unchanged');
});

/** Sends a WRQ and `blocks` full DATA blocks in lock-step; returns the server's TID. */
async function partialUpload(
  peer: Peer,
  port: number,
  name: string,
  blocks: number,
  options: Record<string, string> = {},
): Promise<number> {
  await peer.send(wrq(name, options), port);
  const first = await peer.recv();
  if (first?.packet.op !== 'ACK' || first.packet.block !== 0) throw new Error(`expected ACK 0, got ${show(first)}`);
  for (let b = 1; b <= blocks; b++) {
    await peer.send(data(b, randomBytes(512)), first.port);
    const g = await peer.recv();
    if (g?.packet.op !== 'ACK') return first.port; // refused mid-way: the caller checks
  }
  return first.port;
}

async function ended(seen: BootEvent[], file: string, ms = 15_000): Promise<BootEvent | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const e = seen.find((x) => (x.kind === 'tftp.failed' || x.kind === 'tftp.done') && x.file === file);
    if (e || Date.now() > end) return e;
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('an upload aborted with an ERROR packet leaves no file and no temporary file', async (tt) => {
  const srv = await writeServer(tt);
  const peer = await Peer.open(tt);
  const tid = await partialUpload(peer, srv.port, 'uploads/aborted.bin', 3);
  await peer.send(encode({ op: 'ERROR', code: 0, message: 'user cancelled' }), tid);
  const e = await ended(srv.seen, 'uploads/aborted.bin');
  tt.equal(e?.kind, 'tftp.failed', 'the server ended the upload as failed');
  await new Promise((r) => setTimeout(r, 200));
  tt.same(uploads(), [], 'uploads/ holds neither the file nor a temporary file');
});

t.test('an upload whose client goes silent leaves nothing once the server gives up', async (tt) => {
  const srv = await writeServer(tt);
  const peer = await Peer.open(tt);
  await partialUpload(peer, srv.port, 'uploads/silent.bin', 3);
  const e = await ended(srv.seen, 'uploads/silent.bin');
  tt.equal(e?.kind, 'tftp.failed', `the server gave up (${JSON.stringify(e)})`);
  await new Promise((r) => setTimeout(r, 200));
  tt.same(uploads(), [], 'uploads/ holds neither the file nor a temporary file');
});

t.test('an upload over write.maxSize gets error 3 and leaves nothing', async (tt) => {
  const srv = await writeServer(tt, { maxSize: 4096 });
  const peer = await Peer.open(tt);
  const tid = await partialUpload(peer, srv.port, 'uploads/huge.bin', 8); // exactly 4096: accepted so far
  await peer.send(data(9, randomBytes(512)), tid);
  const g = await peer.recv();
  tt.ok(g?.packet.op === 'ERROR' && g.packet.code === 3, `block 9 (4608 bytes) -> ERROR 3 (got ${show(g)})`);
  await ended(srv.seen, 'uploads/huge.bin');
  await new Promise((r) => setTimeout(r, 200));
  tt.same(uploads(), [], 'uploads/ holds neither the file nor a temporary file');
});

t.test('a WRQ announcing a tsize over write.maxSize gets error 3 up front', async (tt) => {
  const srv = await writeServer(tt, { maxSize: 4096 });
  const peer = await Peer.open(tt);
  await peer.send(wrq('uploads/announced.bin', { tsize: '4097' }), srv.port);
  const g = await peer.recv();
  tt.ok(g?.packet.op === 'ERROR' && g.packet.code === 3, `ERROR 3 (got ${show(g)})`);
  tt.same(uploads(), [], 'nothing created');
  const ok = await Peer.open(tt);
  await ok.send(wrq('uploads/announced.bin', { tsize: '4096' }), srv.port);
  const g2 = await ok.recv();
  tt.equal(g2?.packet.op, 'OACK', `tsize 4096 (the limit) is accepted (got ${show(g2)})`);
  await ok.send(encode({ op: 'ERROR', code: 0, message: 'done testing' }), g2?.port ?? 1);
});

t.test('malformed datagrams never crash the server; a normal download works after them', async (tt) => {
  const srv = await startTestServer(tt, { root });
  const peer = await Peer.open(tt);
  const bad: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([0]),
    Buffer.from([0, 1]),
    Buffer.from([0, 2]),
    Buffer.from([0, 1, 0]),
    Buffer.from('\0\x01boot.txt', 'latin1'),
    Buffer.from('\0\x01boot.txt\0', 'latin1'),
    Buffer.from('\0\x01boot.txt\0octet', 'latin1'),
    Buffer.from('\0\x01\0octet\0', 'latin1'),
    Buffer.from('\0\x01boot.txt\0octet\0blksize\0', 'latin1'),
    Buffer.from('\0\x01boot.txt\0octet\0blksize\0' + '9'.repeat(5000) + '\0', 'latin1'),
    Buffer.from('\0\x01boot.txt\0octet\0\0\0', 'latin1'),
    Buffer.from([0, 3]),
    Buffer.from([0, 3, 0]),
    Buffer.from([0, 4, 0]),
    Buffer.from([0, 5]),
    Buffer.from([0, 5, 0, 1]),
    Buffer.from([0, 6, 0x61]),
    Buffer.from([0, 0]),
    Buffer.from([0, 7, 0, 0]),
    Buffer.from([0xff, 0xff, 0, 1]),
    Buffer.from([1, 1, 0, 0]),
    Buffer.from('GET / HTTP/1.0\r\n\r\n'),
    Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(65_000, 0x41), Buffer.from('\0octet\0')]), // oversized
    Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(65_500, 0)]),
  ];
  const random = prng(0xb007);
  for (let i = 0; i < 1000; i++) {
    const b = Buffer.alloc(Math.floor(random() * 600));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(random() * 256);
    // Half of them look like requests, so they reach the parser, not only the opcode check.
    if (i % 2 === 0 && b.length >= 2) { b[0] = 0; b[1] = 1 + (i % 4 === 0 ? 1 : 0); }
    bad.push(b);
  }
  for (const b of bad) await peer.send(b, srv.port);
  // Replies to the junk (ERROR 4 for malformed requests) are allowed; drain them.
  while (await peer.recv(300)) { /* drain */ }
  tt.equal(srv.service.status().state, 'running', 'the service is still running');
  const r = await rawGet(await Peer.open(tt), srv.port, rrq('big.bin'));
  tt.ok(r.data?.equals(big), `big.bin downloads byte-exact afterwards (${r.error ? `ERROR ${r.error.code}` : `${r.data?.length} bytes`})`);
  const local = join(base, 'after-junk.bin');
  const a = await atftp('get', { port: srv.port, remote: 'big.bin', local, timeoutMs: 30_000 });
  tt.ok(a.ok && readFileSync(local).equals(big), `atftp downloads big.bin byte-exact afterwards: ${describe(a)}`);
});

t.test('a stranger on a transfer port gets ERROR 5; the transfer completes byte-exact; junk from the peer is ignored', async (tt) => {
  const srv = await startTestServer(tt, { root });
  const peer = await Peer.open(tt);
  const stranger = await Peer.open(tt);
  await peer.send(rrq('big.bin'), srv.port);
  const chunks: Buffer[] = [];
  let expected = 1;
  let strangerReply: Got | null = null;
  for (;;) {
    const g = await peer.recv();
    if (!g) { tt.fail(`the transfer stalled at block ${expected}`); return; }
    const p = g.packet;
    if (p.op === 'ERROR') { tt.fail(`the transfer ended with ${show(g)}`); return; }
    if (p.op !== 'DATA') continue;
    if (p.block === expected) {
      chunks.push(Buffer.from(p.data));
      expected++;
    }
    if (p.block === 5 && !strangerReply) {
      await stranger.send(ack(5), g.port);
      strangerReply = await stranger.recv();
      // Junk from the real peer: short, unknown opcode, a stray RRQ. None may end the transfer.
      for (const junk of [Buffer.from([0]), Buffer.from([0, 9, 1, 2]), rrq('boot.txt'), Buffer.from([0, 3, 0, 1, 0x41])]) await peer.send(junk, g.port);
    }
    await peer.send(ack(p.block), g.port);
    if (p.block === expected - 1 && p.data.length < 512) break;
  }
  const sp = strangerReply?.packet;
  tt.ok(sp?.op === 'ERROR' && sp.code === 5, `the stranger got ERROR 5 (got ${show(strangerReply)})`);
  tt.ok(Buffer.concat(chunks).equals(big), 'the transfer completed byte-exact');
  const done = await ended(srv.seen, 'big.bin');
  tt.equal(done?.kind, 'tftp.done', 'the server reports it done');
});
