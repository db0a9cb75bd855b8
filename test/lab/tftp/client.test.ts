// The TFTP client (services/tftp/client.ts) against a small scripted "device" on
// loopback: the boot window (requests repeated until something answers), the TID lock,
// duplicate ACKs that must not cause resends, options only when asked, ERRORs before and
// during the transfer, block-number rollover, and get() through OUT.part.
import t from 'tap';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { get, put, type Progress } from '../../../services/tftp/client.js';
import { decode, encode, isDecodeError, type Packet } from '../../../services/tftp/packet.js';
import type { TapTest } from '../../helpers/clients.js';
import { CLI } from '../../helpers/paths.js';

type Rinfo = { port: number; address: string };

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

/** A device: `listen` takes requests; each handler gets decoded packets with the socket they came in on. */
async function device(t: TapTest, onPacket: (p: Packet, from: Rinfo, via: dgram.Socket) => void) {
  const listen = await udp();
  const transfer = await udp();
  const sockets = [listen, transfer];
  for (const s of sockets) {
    s.on('message', (buf, r) => {
      const p = decode(buf);
      if (!isDecodeError(p)) onPacket(p, r, s);
    });
  }
  t.teardown(() => { for (const s of sockets) s.close(); });
  const send = (s: dgram.Socket, p: Packet, to: Rinfo) => s.send(encode(p), to.port, '127.0.0.1');
  return { port: listen.address().port, listen, transfer, send };
}

/** A writable device: ACKs every DATA; `ignoreFirst` WRQs go unanswered; `dupAcks` sends each ACK twice. */
async function writableDevice(
  tt: TapTest,
  opts: { ignoreFirst?: number; dupAcks?: boolean; oack?: Map<string, string>; ackDelayMs?: number } = {},
) {
  const st = {
    wrqs: [] as number[],
    datas: 0,
    got: [] as Buffer[],
    blocks: [] as number[],
    done: false,
    errors: [] as Packet[],
  };
  const d = await device(tt, (p, from, via) => {
    if (p.op === 'WRQ') {
      st.wrqs.push(Date.now());
      if (st.wrqs.length <= (opts.ignoreFirst ?? 0)) return;
      if (opts.oack) d.send(d.transfer, { op: 'OACK', options: opts.oack }, from);
      else d.send(d.transfer, { op: 'ACK', block: 0 }, from);
    } else if (p.op === 'DATA' && via === d.transfer) {
      st.datas += 1;
      if (st.blocks.length === 0 || st.blocks[st.blocks.length - 1] !== p.block) {
        st.blocks.push(p.block);
        st.got.push(Buffer.from(p.data));
      }
      const block = p.block;
      if (opts.ackDelayMs) setTimeout(() => d.send(d.transfer, { op: 'ACK', block }, from), opts.ackDelayMs);
      else d.send(d.transfer, { op: 'ACK', block }, from);
      if (opts.dupAcks) d.send(d.transfer, { op: 'ACK', block: p.block }, from);
    } else if (p.op === 'ERROR') {
      st.errors.push(p);
    }
  });
  return { ...d, st };
}

t.test('the WRQ is repeated every retryEveryMs until the device answers', async (tt) => {
  const d = await writableDevice(tt, { ignoreFirst: 3 });
  const data = randomBytes(5000);
  const seen: Progress[] = [];
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, retryEveryMs: 100, waitMs: 5000 }, (p) => seen.push(p));
  tt.equal(r.kind, 'ok', JSON.stringify(r));
  tt.equal(d.st.wrqs.length, 4, 'four WRQs, the fourth answered');
  tt.same(Buffer.concat(d.st.got), data, 'byte-exact');
  tt.equal(seen.filter((p) => p.phase === 'waiting').length, 4);
  tt.equal(seen.at(-1)?.phase, 'done');
});

t.test('nobody answers: no-answer after waitMs', async (tt) => {
  const silent = await udp();
  tt.teardown(() => silent.close());
  const r = await put({ target: '127.0.0.1', port: silent.address().port, remoteName: 'x', data: Buffer.alloc(10), retryEveryMs: 100, waitMs: 450 });
  tt.equal(r.kind, 'no-answer');
  // At most one WRQ per retryEveryMs while waitMs lasts; a loaded machine sends fewer, never more.
  if (r.kind === 'no-answer') tt.ok(r.attempts >= 1 && r.attempts <= 6, `attempts ${r.attempts}`);
});

t.test('a closed port (ICMP unreachable) before any answer is retried, then no-answer', async (tt) => {
  const s = await udp();
  const port = s.address().port;
  s.close();
  const r = await put({ target: '127.0.0.1', port, remoteName: 'x', data: Buffer.alloc(10), retryEveryMs: 100, waitMs: 350 });
  tt.equal(r.kind, 'no-answer');
});

t.test('duplicate ACKs never cause a resend', async (tt) => {
  const d = await writableDevice(tt, { dupAcks: true });
  const data = randomBytes(512 * 20 + 7);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, retryEveryMs: 100, waitMs: 2000 });
  tt.equal(r.kind, 'ok');
  // Each of the 21 ACKs comes twice: a resend per duplicate (Sorcerer's Apprentice) would
  // make 42 DATA. A stall of this loaded machine may still let the timer resend a block, so
  // the bound tells the two apart instead of asking for exactly 21.
  tt.ok(d.st.datas >= 21 && d.st.datas < 31, `no resend per duplicate ACK: ${d.st.datas} DATA for 21 blocks (42 if each duplicate were answered)`);
  tt.same(Buffer.concat(d.st.got), data);
});

t.test('the TID is locked: a second port gets ERROR 5 and the transfer goes on', async (tt) => {
  const stray = await udp();
  tt.teardown(() => stray.close());
  const strayErrors: Packet[] = [];
  stray.on('message', (b) => { const p = decode(b); if (!isDecodeError(p)) strayErrors.push(p); });
  const d = await writableDevice(tt, { ackDelayMs: 20 });
  // A second port of the device answers too, once the transfer runs (a late answer to a repeated WRQ).
  d.transfer.once('message', (_b, from) => stray.send(encode({ op: 'ACK', block: 1 }), from.port, '127.0.0.1'));
  const data = randomBytes(3000);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, retryEveryMs: 1000, waitMs: 2000 });
  tt.equal(r.kind, 'ok');
  tt.same(Buffer.concat(d.st.got), data);
  tt.match(strayErrors, [{ op: 'ERROR', code: 5 }], 'the stray got ERROR 5');
});

t.test('an OACK when no option was asked is a protocol error', async (tt) => {
  const d = await writableDevice(tt, { oack: new Map([['blksize', '1024']]) });
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data: Buffer.alloc(100), retryEveryMs: 100, waitMs: 1000 });
  tt.equal(r.kind, 'broken');
  await new Promise((res) => setTimeout(res, 50));
  tt.match(d.st.errors, [{ op: 'ERROR', code: 8 }]);
  tt.equal(d.st.datas, 0);
});

t.test('options only when asked: blksize is sent and the OACK honoured', async (tt) => {
  let request: Packet | null = null;
  const d = await writableDevice(tt, { oack: new Map([['blksize', '1024']]) });
  d.listen.on('message', (b) => { request = decode(b) as Packet; });
  const data = randomBytes(4096 + 10);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, blksize: 1024, retryEveryMs: 100, waitMs: 1000 });
  tt.equal(r.kind, 'ok');
  tt.match(request, { op: 'WRQ', mode: 'octet' });
  tt.same([...(request as unknown as { options: Map<string, string> }).options], [['blksize', '1024'], ['tsize', String(data.length)]]);
  tt.same(d.st.got.map((b) => b.length), [1024, 1024, 1024, 1024, 10]);
  // Without --blksize the WRQ carries no option at all.
  const d2 = await writableDevice(tt);
  let plain: Packet | null = null;
  d2.listen.on('message', (b) => { plain = decode(b) as Packet; });
  await put({ target: '127.0.0.1', port: d2.port, remoteName: 'fw.bin', data: Buffer.alloc(10), retryEveryMs: 100, waitMs: 1000 });
  tt.equal((plain as unknown as { options: Map<string, string> }).options.size, 0);
});

t.test('ERROR: refused at the start, broken during the transfer', async (tt) => {
  const d = await device(tt, (p, from, via) => {
    if (p.op === 'WRQ' && p.filename === 'no') d.send(d.transfer, { op: 'ERROR', code: 2, message: 'Access violation' }, from);
    if (p.op === 'WRQ' && p.filename === 'mid') d.send(d.transfer, { op: 'ACK', block: 0 }, from);
    if (p.op === 'DATA' && via === d.transfer) {
      if (p.block < 3) d.send(d.transfer, { op: 'ACK', block: p.block }, from);
      else d.send(d.transfer, { op: 'ERROR', code: 3, message: 'Disk full' }, from);
    }
  });
  const r1 = await put({ target: '127.0.0.1', port: d.port, remoteName: 'no', data: Buffer.alloc(10), retryEveryMs: 100, waitMs: 1000 });
  tt.same(r1, { kind: 'refused', code: 2, message: 'Access violation' });
  const r2 = await put({ target: '127.0.0.1', port: d.port, remoteName: 'mid', data: Buffer.alloc(5000), retryEveryMs: 100, waitMs: 1000 });
  tt.match(r2, { kind: 'broken', reason: /Disk full/, bytes: 1024 });
});

t.test('a lost ACK: the last DATA is sent again after timeoutMs, up to maxRetries', async (tt) => {
  let datas = 0;
  const d = await device(tt, (p, from, via) => {
    if (p.op === 'WRQ') d.send(d.transfer, { op: 'ACK', block: 0 }, from);
    if (p.op === 'DATA' && via === d.transfer) {
      datas += 1;
      if (datas !== 2) d.send(d.transfer, { op: 'ACK', block: p.block }, from); // the first ACK 2 is "lost"
    }
  });
  const data = randomBytes(1500);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'x', data, retryEveryMs: 100, waitMs: 1000, timeoutMs: 100 });
  tt.equal(r.kind, 'ok');
  tt.equal(datas, 3 + 1, 'three blocks, one resend');
  const dead = await device(tt, (p, from) => { if (p.op === 'WRQ') dead.send(dead.transfer, { op: 'ACK', block: 0 }, from); });
  const r2 = await put({ target: '127.0.0.1', port: dead.port, remoteName: 'x', data, retryEveryMs: 100, waitMs: 1000, timeoutMs: 50, maxRetries: 3 });
  tt.match(r2, { kind: 'broken', reason: /no ACK for block 1 after 4 full timeouts/ });
});

t.test('block numbers roll over past 65535 to 0', async (tt) => {
  const d = await writableDevice(tt, { oack: new Map([['blksize', '8']]) });
  const data = randomBytes(8 * 65540 + 3);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'big', data, blksize: 8, retryEveryMs: 100, waitMs: 1000 });
  tt.equal(r.kind, 'ok');
  tt.same(d.st.blocks.slice(65534, 65538), [65535, 0, 1, 2]);
  tt.ok(Buffer.concat(d.st.got).equals(data), 'byte-exact');
});

t.test('get: byte-exact through OUT.part, duplicate DATA re-ACKed; refused leaves no file', async (tt) => {
  const file = randomBytes(512 * 7 + 100);
  const acks: number[] = [];
  const d = await device(tt, (p, from, via) => {
    const block = (n: number) => ({ op: 'DATA' as const, block: n, data: file.subarray((n - 1) * 512, n * 512) });
    if (p.op === 'RRQ' && p.filename === 'missing') d.send(d.transfer, { op: 'ERROR', code: 1, message: 'File not found' }, from);
    else if (p.op === 'RRQ') { d.send(d.transfer, block(1), from); d.send(d.transfer, block(1), from); }
    if (p.op === 'ACK' && via === d.transfer) {
      acks.push(p.block);
      if (acks.filter((b) => b === p.block).length === 1 && p.block < 8) d.send(d.transfer, block(p.block + 1), from);
    }
  });
  const dir = tt.testdir({});
  const out = join(dir, 'backup.bin');
  const r = await get({ target: '127.0.0.1', port: d.port, remoteName: 'cfg', out, retryEveryMs: 100, waitMs: 1000 });
  tt.match(r, { kind: 'ok', bytes: file.length });
  tt.ok(readFileSync(out).equals(file), 'byte-exact');
  tt.notOk(existsSync(`${out}.part`));
  tt.same(acks.slice(0, 2), [1, 1], 'the repeated DATA 1 is ACKed again');
  const missing = join(dir, 'missing.bin');
  const r2 = await get({ target: '127.0.0.1', port: d.port, remoteName: 'missing', out: missing, retryEveryMs: 100, waitMs: 1000 });
  tt.same(r2, { kind: 'refused', code: 1, message: 'File not found' });
  tt.notOk(existsSync(missing) || existsSync(`${missing}.part`));
});

t.test('ICMP port unreachable after the first answer breaks the transfer', async (tt) => {
  const d = await device(tt, (p, from) => {
    // ACK 0 from a port that closes right after: DATA 1 meets a closed port.
    if (p.op === 'WRQ') void udp().then((gone) => gone.send(encode({ op: 'ACK', block: 0 }), from.port, '127.0.0.1', () => gone.close()));
  });
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'x', data: Buffer.alloc(1500), retryEveryMs: 100, waitMs: 1000, timeoutMs: 200 });
  tt.match(r, { kind: 'broken', reason: /ICMP port unreachable/ });
});

t.test('CLI: durations, usage errors exit 1', async (tt) => {
  const { parseDuration } = await import('../../../services/tftp/client-cli.js');
  tt.equal(parseDuration('1s', 'wait'), 1000);
  tt.equal(parseDuration('500ms', 'wait'), 500);
  tt.equal(parseDuration('2m', 'wait'), 120_000);
  tt.equal(parseDuration('3', 'wait'), 3000);
  tt.throws(() => parseDuration('soon', 'wait'), { message: /give a duration/ });
  const { spawnSync } = await import('node:child_process');
  const cli = CLI;
  const missing = spawnSync(process.execPath, [cli, 'flash', '--target', '127.0.0.1', '--file', '/nonexistent/fw.bin'], { encoding: 'utf8' });
  tt.equal(missing.status, 1, missing.stderr);
  tt.match(missing.stderr, /ENOENT/);
  const noTarget = spawnSync(process.execPath, [cli, 'get', '--file', 'x'], { encoding: 'utf8' });
  tt.equal(noTarget.status, 1);
  tt.match(noTarget.stderr, /--target IP is required/);
});

t.test('progress: a bar redrawn with \\r on a terminal, plain lines every 10 % otherwise', async (tt) => {
  const { progressPrinter } = await import('../../../services/tftp/client-cli.js');
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream };
  };
  const feed = (p: ReturnType<typeof progressPrinter>) => {
    p({ phase: 'waiting', attempts: 3, bytes: 0, total: null });
    for (let b = 0; b <= 1000; b += 50) p({ phase: 'sending', attempts: 3, bytes: b, total: 1000 });
    p.end();
  };
  const plain = sink(false);
  feed(progressPrinter('192.0.2.20:69', plain.stream));
  tt.equal(plain.chunks[0], 'waiting for 192.0.2.20:69 (attempt 3)\n');
  tt.equal(plain.chunks.filter((c) => /%/.test(c)).length, 11, '0 %, 10 %, ... 100 %');
  tt.ok(plain.chunks.every((c) => !c.includes('\r')));
  const tty = sink(true);
  feed(progressPrinter('192.0.2.20:69', tty.stream));
  tt.ok(tty.chunks.slice(0, -1).every((c) => c.startsWith('\r')));
  tt.match(tty.chunks.at(-2), /\[#{30}\] 100% 1000 bytes/);
  tt.equal(tty.chunks.at(-1), '\n');
});

t.test('--password: the WRQ carries it in the file-name field, byte for byte, with no option', async (tt) => {
  // A device that parses the request as DD-WRT's RedBoot tftpd does: the first string is
  // the password, the second the mode; a wrong one is refused with EACCESS.
  const raw: Buffer[] = [];
  const d = await device(tt, (p, from, via) => {
    if (p.op === 'WRQ') {
      if (p.filename !== 'flash_update') d.send(d.transfer, { op: 'ERROR', code: 2, message: 'Access violation (invalid password)' }, from);
      else d.send(d.transfer, { op: 'ACK', block: 0 }, from);
    } else if (p.op === 'DATA' && via === d.transfer) {
      d.send(d.transfer, { op: 'ACK', block: p.block }, from);
    }
  });
  d.listen.prependListener('message', (b) => raw.push(Buffer.from(b)));
  const data = randomBytes(700);
  const ok = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', password: 'flash_update', data, retryEveryMs: 100, waitMs: 1000 });
  tt.equal(ok.kind, 'ok', JSON.stringify(ok));
  tt.same(raw[0], Buffer.from('\x00\x02flash_update\x00octet\x00', 'latin1'), 'opcode 2 | password | 0 | octet | 0');
  const wrong = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', password: 'admin', data, retryEveryMs: 100, waitMs: 1000 });
  tt.same(wrong, { kind: 'refused', code: 2, message: 'Access violation (invalid password)' });
  // Without a password the same field carries the remote name.
  raw.length = 0;
  await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, retryEveryMs: 100, waitMs: 1000 });
  tt.same(raw[0], Buffer.from('\x00\x02fw.bin\x00octet\x00', 'latin1'));
});

t.test('CLI: --password only for flash, never with --remote-name; --timeout and --retries checked', async (tt) => {
  const { spawnSync } = await import('node:child_process');
  const cli = CLI;
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const both = run('flash', '--target', '127.0.0.1', '--file', cli, '--password', 'admin', '--remote-name', 'code.bin');
  tt.equal(both.status, 1);
  tt.match(both.stderr, /--password and --remote-name cannot both be given/);
  const onGet = run('get', '--target', '127.0.0.1', '--file', 'cfg', '--password', 'admin');
  tt.equal(onGet.status, 1);
  tt.match(onGet.stderr, /--password is for flash only/);
  const badTimeout = run('flash', '--target', '127.0.0.1', '--file', cli, '--timeout', 'never');
  tt.equal(badTimeout.status, 1);
  tt.match(badTimeout.stderr, /--timeout never: give a duration/);
  const badRetries = run('flash', '--target', '127.0.0.1', '--file', cli, '--retries=1.5');
  tt.equal(badRetries.status, 1);
  tt.match(badRetries.stderr, /--retries 1.5: give a whole number from 0 to 1000/);
  const { transferOptions } = await import('../../../services/tftp/client-cli.js');
  tt.match(transferOptions({ target: '192.0.2.20', timeout: '250ms', retries: '3' }, 'x'), { timeoutMs: 250, maxRetries: 3 });
  tt.match(transferOptions({ target: '192.0.2.20' }, 'x'), { timeoutMs: 1000, maxRetries: 10 });
});

t.test('get: a lost DATA is recovered by re-ACKing after a wait learnt from the round trip, well before timeoutMs', async (tt) => {
  // The device never retransmits on its own timer: only a repeated ACK brings the lost
  // DATA again (some servers resend on a repeated ACK; tftpd-hpa does not and waits for
  // its own timer, which test/lab/interop/flash.test.ts meets). No time is measured: the
  // re-ACK must come before a timer set at half the 60 s ceiling when DATA 30 was
  // dropped (both timers run in this one process, so a loaded machine delays them alike).
  const file = randomBytes(512 * 40 + 1);
  const acks: { block: number; halfCeilingPassed: boolean }[] = [];
  let dropped = false;
  let halfCeilingPassed = false;
  let halfCeiling: NodeJS.Timeout | undefined;
  tt.teardown(() => clearTimeout(halfCeiling));
  const d = await device(tt, (p, from, via) => {
    const block = (n: number) => ({ op: 'DATA' as const, block: n, data: file.subarray((n - 1) * 512, n * 512) });
    if (p.op === 'RRQ') d.send(d.transfer, block(1), from);
    if (p.op === 'ACK' && via === d.transfer) {
      acks.push({ block: p.block, halfCeilingPassed });
      const next = p.block + 1;
      if (next > 41) return;
      if (next === 30 && !dropped) { // DATA 30 "lost"
        dropped = true;
        halfCeiling = setTimeout(() => { halfCeilingPassed = true; }, 30_000);
        return;
      }
      d.send(d.transfer, block(next), from);
    }
  });
  const out = join(tt.testdir({}), 'cfg.bin');
  const r = await get({ target: '127.0.0.1', port: d.port, remoteName: 'cfg', out, retryEveryMs: 100, waitMs: 1000, timeoutMs: 60_000, maxRetries: 2 });
  tt.match(r, { kind: 'ok', bytes: file.length });
  tt.ok(readFileSync(out).equals(file), 'byte-exact');
  const again = acks.filter((a) => a.block === 29);
  tt.equal(again.length, 2, 'ACK 29 sent twice: once, then again after the wait');
  tt.equal(again[1]?.halfCeilingPassed, false, 're-ACKed before half the 60 s timeoutMs had passed: the wait came from the round trip, not the ceiling');
});

t.test('get: a device that goes silent is given up after maxRetries full timeouts, the part file removed', async (tt) => {
  const d = await device(tt, (p, from) => {
    if (p.op === 'RRQ') d.send(d.transfer, { op: 'DATA', block: 1, data: Buffer.alloc(512) }, from);
  });
  const out = join(tt.testdir({}), 'cfg.bin');
  const r = await get({ target: '127.0.0.1', port: d.port, remoteName: 'cfg', out, retryEveryMs: 100, waitMs: 1000, timeoutMs: 60, maxRetries: 2 });
  tt.match(r, { kind: 'broken', reason: /no DATA 2 after 3 full timeouts/, bytes: 512 });
  tt.notOk(existsSync(out) || existsSync(`${out}.part`));
});

t.test('a device that refuses the options (ERROR 8) is asked again without any', async (tt) => {
  const wrqs: Packet[] = [];
  const d = await device(tt, (p, from, via) => {
    if (p.op === 'WRQ') {
      wrqs.push(p);
      // A fresh TID per request, as a real server has: the error from one, the ACK from another.
      if (p.options.size > 0) void udp().then((once) => once.send(encode({ op: 'ERROR', code: 8, message: 'no options' }), from.port, '127.0.0.1', () => once.close()));
      else d.send(d.transfer, { op: 'ACK', block: 0 }, from);
    } else if (p.op === 'DATA' && via === d.transfer) {
      d.send(d.transfer, { op: 'ACK', block: p.block }, from);
    }
  });
  const data = randomBytes(2000);
  const r = await put({ target: '127.0.0.1', port: d.port, remoteName: 'fw.bin', data, blksize: 1468, retryEveryMs: 100, waitMs: 2000 });
  tt.equal(r.kind, 'ok', JSON.stringify(r));
  tt.same(wrqs.map((w) => [...(w as { options: Map<string, string> }).options.keys()]), [['blksize', 'tsize'], []], 'with options, then without');
  tt.equal(wrqs.length, 2);
  // Any other ERROR to a request with options is the device's refusal, as before.
  const no = await device(tt, (p, from) => { if (p.op === 'WRQ') no.send(no.transfer, { op: 'ERROR', code: 2, message: 'Access violation' }, from); });
  tt.same(await put({ target: '127.0.0.1', port: no.port, remoteName: 'x', data, blksize: 1468, retryEveryMs: 100, waitMs: 1000 }), { kind: 'refused', code: 2, message: 'Access violation' });
});
