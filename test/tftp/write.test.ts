// The WRQ state machine with a fake clock, a recording send and a real UploadSink in a
// test folder: what it ACKs and when, and what is (not) left on disk.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode, errorPacket, isDecodeError, type Options } from '../../services/tftp/packet.js';
import type { Outcome, Send, TransferParams } from '../../services/tftp/transfer.js';
import { UploadSink } from '../../services/tftp/upload.js';
import { WriteTransfer, type WriteLimits } from '../../services/tftp/write.js';
import { toNetascii } from '../../services/tftp/netascii.js';
import { baseParams, FakeClock } from '../helpers/fake-clock.js';
import { until } from '../helpers/util.js';

function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed + (i >> 9)) & 0xff;
  return b;
}

interface Sent { at: number; what: string; raw: Buffer; fileExisted: boolean }

async function setup(dir: string, opts: {
  params?: Partial<TransferParams>; oack?: Options | null; limits?: Partial<WriteLimits>;
  overwrite?: boolean; name?: string;
} = {}) {
  const params = { ...baseParams, ...opts.params };
  const finalPath = join(dir, opts.name ?? 'upload.bin');
  const sink = await UploadSink.create(finalPath, opts.overwrite ?? false, 0o644);
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const send: Send = (p) => {
    const raw = Array.isArray(p) ? Buffer.concat(p) : Buffer.from(p);
    const d = decode(raw);
    if (isDecodeError(d)) throw new Error(`undecodable packet sent: ${raw.toString('hex')}`);
    const what = d.op === 'ACK' ? `ACK ${d.block}` : d.op === 'ERROR' ? `ERROR ${d.code}` : d.op === 'DATA' ? `DATA ${d.block}` : d.op;
    sent.push({ at: clock.now(), what, raw, fileExisted: existsSync(finalPath) });
  };
  const ends: Outcome[] = [];
  let dallyEnded = 0;
  const limits: WriteLimits = { maxSize: 1 << 30, netascii: false, ...opts.limits };
  const transfer = new WriteTransfer(params, {
    send, clock, onEnd: (o) => ends.push(o), onDallyEnd: () => { dallyEnded++; },
  }, sink, opts.oack ?? null, limits);
  return {
    transfer, clock, sent, ends, sink, finalPath,
    get dallyEnded() { return dallyEnded; },
    data: (block: number, payload: Buffer) => transfer.onPacket(encode({ op: 'DATA', block, data: payload })),
    whats: () => sent.map((s) => s.what),
    timeline: () => sent.map((s) => `${s.at} ${s.what}`),
    ended: () => until(() => ends.length > 0, 'the end of the transfer'),
    /** Names in the folder, once no temporary file is left (abort runs in the background). */
    settled: () => until(() => !readdirSync(dir).some((n) => n.endsWith('.part')), 'the temp file to go').then(() => readdirSync(dir).sort()),
  };
}

/** Splits data into blksize blocks; the last is short (empty if data is a multiple). */
function blocks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i <= data.length; i += size) out.push(data.subarray(i, i + size));
  if (out.length === 0 || out[out.length - 1].length === size) out.push(Buffer.alloc(0));
  return out;
}

t.test('helper: blocks()', async (t) => {
  t.same(blocks(pattern(1200), 512).map((b) => b.length), [512, 512, 176]);
  t.same(blocks(pattern(1024), 512).map((b) => b.length), [512, 512, 0]);
  t.same(blocks(Buffer.alloc(0), 512).map((b) => b.length), [0]);
});

t.test('in-order blocks produce the file; the final ACK only after commit', async (t) => {
  const dir = t.testdir();
  const data = pattern(1200);
  const s = await setup(dir);
  s.transfer.start();
  t.same(s.whats(), ['ACK 0'], 'no options: ACK 0 answers the WRQ');
  const [b1, b2, b3] = blocks(data, 512);
  s.data(1, b1);
  t.same(s.whats(), ['ACK 0', 'ACK 1']);
  s.data(2, b2);
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 2']);
  s.data(3, b3);
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 2'], 'no final ACK before the commit');
  t.equal(existsSync(s.finalPath), false, 'the file is not visible before the commit');
  await s.ended();
  t.same(s.ends, [{ ok: true }]);
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 2', 'ACK 3']);
  t.equal(s.sent[3].fileExisted, true, 'the file was on disk when the final ACK went out');
  t.same(readFileSync(s.finalPath), data, 'the file has the uploaded bytes');
  t.same(await s.settled(), ['upload.bin'], 'no temporary file left');
  t.equal(s.transfer.counters.bytes, 1200);
  t.equal(s.transfer.counters.dataPackets, 3);
});

t.test('an empty upload (one empty DATA 1)', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir);
  s.transfer.start();
  s.data(1, Buffer.alloc(0));
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 1']);
  t.same(readFileSync(s.finalPath), Buffer.alloc(0));
});

t.test('with options: the OACK answers the WRQ', async (t) => {
  const dir = t.testdir();
  const oack = new Map([['blksize', '1024'], ['tsize', '1500']]);
  const s = await setup(dir, { oack, params: { blockSize: 1024 } });
  s.transfer.start();
  t.same(s.whats(), ['OACK']);
  t.same(s.sent[0].raw, encode({ op: 'OACK', options: oack }));
  const data = pattern(1500);
  const [b1, b2] = blocks(data, 1024);
  s.data(1, b1);
  s.data(2, b2);
  await s.ended();
  t.same(s.whats(), ['OACK', 'ACK 1', 'ACK 2']);
  t.same(readFileSync(s.finalPath), data);
});

t.test('windowed write ACKs after every windowsize blocks', async (t) => {
  const dir = t.testdir();
  const data = pattern(9 * 512 + 100); // 10 blocks
  const s = await setup(dir, { params: { windowSize: 4 } });
  s.transfer.start();
  const bs = blocks(data, 512);
  const after: string[][] = [];
  for (let i = 0; i < bs.length; i++) {
    s.data(i + 1, bs[i]);
    after.push(s.whats().slice(1));
  }
  t.same(after.slice(0, 9), [
    [], [], [], ['ACK 4'],
    ['ACK 4'], ['ACK 4'], ['ACK 4'], ['ACK 4', 'ACK 8'],
    ['ACK 4', 'ACK 8'],
  ]);
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 4', 'ACK 8', 'ACK 10'], 'the short last block is ACKed at once (after commit)');
  t.same(readFileSync(s.finalPath), data);
});

t.test('a gap in a window gets one ACK of the last in-order block', async (t) => {
  const dir = t.testdir();
  const data = pattern(9 * 512 + 100);
  const bs = blocks(data, 512);
  const s = await setup(dir, { params: { windowSize: 4 } });
  s.transfer.start();
  s.data(1, bs[0]);
  s.data(3, bs[2]); // DATA 2 was lost
  t.same(s.whats(), ['ACK 0', 'ACK 1'], 'ACK 1 tells the client to resend from 2');
  s.data(4, bs[3]);
  s.data(5, bs[4]);
  t.same(s.whats(), ['ACK 0', 'ACK 1'], 'once per gap: the rest of the window gets nothing');
  // The client resends from 2: a full window 2-5.
  for (const n of [2, 3, 4, 5]) s.data(n, bs[n - 1]);
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 5'], 'a new window counts from the resend');
  s.data(7, bs[6]); // DATA 6 lost
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 5', 'ACK 5'], 'a second gap gets its own ACK');
  for (const n of [6, 7, 8, 9]) s.data(n, bs[n - 1]);
  s.data(10, bs[9]);
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 5', 'ACK 5', 'ACK 9', 'ACK 10']);
  t.same(readFileSync(s.finalPath), data, 'the file is right despite the gaps');
});

t.test('lock-step: a duplicate of the previous block re-ACKs it; nothing is written twice', async (t) => {
  const dir = t.testdir();
  const data = pattern(1200);
  const bs = blocks(data, 512);
  const s = await setup(dir);
  s.transfer.start();
  s.data(1, bs[0]);
  s.data(1, bs[0]); // our ACK 1 was lost
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 1']);
  s.data(3, bs[2]); // a block from the future in lock-step: ignored
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 1']);
  s.data(2, bs[1]);
  s.data(3, bs[2]);
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 1', 'ACK 2', 'ACK 3']);
  t.same(readFileSync(s.finalPath), data, 'block 1 written once');
});

t.test('a repeated window after a lost ACK is answered with one ACK', async (t) => {
  const dir = t.testdir();
  const bs = blocks(pattern(9 * 512 + 100), 512);
  const s = await setup(dir, { params: { windowSize: 4 } });
  s.transfer.start();
  for (const n of [1, 2, 3, 4]) s.data(n, bs[n - 1]);
  t.same(s.whats(), ['ACK 0', 'ACK 4']);
  for (const n of [1, 2, 3, 4]) s.data(n, bs[n - 1]); // ACK 4 lost: the client resends the window
  t.same(s.whats(), ['ACK 0', 'ACK 4', 'ACK 4']);
});

t.test('maxSize exceeded: ERROR 3, and neither file nor temp file remains', async (t) => {
  const dir = t.testdir();
  const bs = blocks(pattern(1200), 512);
  const s = await setup(dir, { limits: { maxSize: 1000 } });
  s.transfer.start();
  s.data(1, bs[0]);
  s.data(2, bs[1]); // 1024 > 1000
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ERROR 3']);
  t.same(decode(s.sent[2].raw), { op: 'ERROR', code: 3, message: 'upload too large' });
  t.equal(s.ends.length, 1);
  const end = s.ends[0];
  t.ok(!end.ok && !end.clientAbort, 'a failure, not a client abort');
  t.same(await s.settled(), [], 'the folder is empty');
  s.data(3, bs[2]);
  t.equal(s.sent.length, 3, 'later DATA is ignored');
});

t.test('an upload of exactly maxSize is accepted', async (t) => {
  const dir = t.testdir();
  const data = pattern(1200);
  const s = await setup(dir, { limits: { maxSize: 1200 } });
  s.transfer.start();
  blocks(data, 512).forEach((b, i) => s.data(i + 1, b));
  await s.ended();
  t.same(s.ends, [{ ok: true }]);
  t.same(readFileSync(s.finalPath), data);
});

t.test('a block larger than blksize: ERROR 4', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir, { params: { blockSize: 512 } });
  s.transfer.start();
  s.data(1, pattern(513));
  t.same(s.whats(), ['ACK 0', 'ERROR 4']);
  t.ok(s.ends.length === 1 && !s.ends[0].ok);
  t.same(await s.settled(), []);
});

t.test('dally: a repeated final block is re-ACKed until the dally is over', async (t) => {
  const dir = t.testdir();
  const bs = blocks(pattern(1200), 512);
  const s = await setup(dir);
  s.transfer.start();
  bs.forEach((b, i) => s.data(i + 1, b));
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 2', 'ACK 3']);
  t.equal(s.transfer.dallying, true, 'dallying after the final ACK');
  s.data(3, bs[2]); // our final ACK was lost
  t.same(s.whats(), ['ACK 0', 'ACK 1', 'ACK 2', 'ACK 3', 'ACK 3'], 'the final ACK is repeated');
  s.data(2, bs[1]);
  t.equal(s.sent.length, 5, 'an older block is not answered while dallying');
  t.equal(s.dallyEnded, 0);
  s.clock.advance(baseParams.timeoutMs);
  t.equal(s.dallyEnded, 1, 'the dally ends within the timeout');
  t.equal(s.transfer.dallying, false);
  s.data(3, bs[2]);
  t.equal(s.sent.length, 5, 'after the dally: nothing');
  t.same(s.ends, [{ ok: true }], 'onEnd once');
  t.same(await s.settled(), ['upload.bin']);
});

t.test('stopDally ends the dally early', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir);
  s.transfer.start();
  s.data(1, Buffer.from('short'));
  await s.ended();
  t.equal(s.transfer.dallying, true);
  s.transfer.stopDally();
  t.equal(s.transfer.dallying, false);
  s.data(1, Buffer.from('short'));
  t.same(s.whats(), ['ACK 0', 'ACK 1']);
});

t.test('timeout: the last ACK is resent with backoff and two waits at the ceiling, then ERROR; no temp file remains', async (t) => {
  const dir = t.testdir();
  const bs = blocks(pattern(1200), 512);
  const s = await setup(dir);
  s.transfer.start();
  s.clock.advance(10);
  s.data(1, bs[0]); // RTT sample 10 ms: RTO 30
  s.clock.advance(60_000);
  // Four doublings, then straight to the ceiling (5 s, stretched to 5.5 s): the peer
  // has had maxRetries (3) and two silences longer than a full timeout.
  t.same(s.timeline(), ['0 ACK 0', '10 ACK 1', '40 ACK 1', '100 ACK 1', '220 ACK 1', '460 ACK 1', '5960 ACK 1', '11460 ERROR 0']);
  const end = s.ends[0];
  t.ok(end && !end.ok && !end.clientAbort && /timed out/.test(end.reason));
  t.same(await s.settled(), [], 'the folder is empty');
});

t.test('no DATA at all: ACK 0 resent firstReplyRetries times, then ERROR', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir, { params: { firstReplyRetries: 1 } });
  s.transfer.start();
  s.clock.advance(60_000);
  t.same(s.timeline(), ['0 ACK 0', '1000 ACK 0', '3000 ERROR 0']);
  t.same(await s.settled(), []);
});

t.test('a client ERROR ends the upload: clientAbort, nothing sent, nothing left', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir);
  s.transfer.start();
  s.data(1, pattern(512));
  s.transfer.onPacket(errorPacket(0, 'cancelled by user'));
  t.same(s.whats(), ['ACK 0', 'ACK 1'], 'no answer to the ERROR');
  t.equal(s.ends.length, 1);
  const end = s.ends[0];
  t.ok(end && !end.ok && end.clientAbort && /client sent ERROR 0: cancelled by user/.test(end.reason));
  t.same(await s.settled(), []);
  s.clock.advance(60_000);
  t.equal(s.sent.length, 2, 'no retransmission after the abort');
});

t.test('a client ERROR while the final block is being committed: a consistent outcome', async (t) => {
  // The last DATA arrived, the commit (fsync + link) is under way, and the client gives up.
  // Either the upload counts (ok, file there) or it does not (failure, no file): a
  // failure reported for a file that stays on disk would block a create-only retry.
  const dir = t.testdir();
  const s = await setup(dir);
  s.transfer.start();
  s.data(1, Buffer.from('complete upload'));
  s.transfer.onPacket(errorPacket(0, 'giving up'));
  await s.ended();
  const names = await s.settled();
  await new Promise((r) => setTimeout(r, 100)); // let a commit still running finish
  const end = s.ends[0];
  const fileThere = existsSync(s.finalPath);
  t.equal(s.ends.length, 1, 'onEnd once');
  t.ok(end.ok === fileThere, `outcome ok=${end.ok} but file ${fileThere ? 'present' : 'absent'} (${JSON.stringify(end)}, folder ${JSON.stringify(readdirSync(dir))})`);
  t.notOk(names.some((n) => n.endsWith('.part')), 'no temporary file');
});

t.test('create-only: an existing file is not replaced (ERROR 6)', async (t) => {
  const dir = t.testdir({ 'upload.bin': 'original' });
  const s = await setup(dir, { overwrite: false });
  s.transfer.start();
  s.data(1, Buffer.from('new content'));
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ERROR 6']);
  t.ok(!s.ends[0].ok);
  t.equal(readFileSync(s.finalPath, 'utf8'), 'original', 'the original is intact');
  t.same(await s.settled(), ['upload.bin']);
});

t.test('overwrite: an existing file is replaced', async (t) => {
  const dir = t.testdir({ 'upload.bin': 'original' });
  const s = await setup(dir, { overwrite: true });
  s.transfer.start();
  s.data(1, Buffer.from('new content'));
  await s.ended();
  t.same(s.whats(), ['ACK 0', 'ACK 1']);
  t.equal(readFileSync(s.finalPath, 'utf8'), 'new content');
  t.same(await s.settled(), ['upload.bin']);
});

t.test('netascii upload: CR LF → LF, CR NUL → CR, also across blocks', async (t) => {
  const dir = t.testdir();
  const local = Buffer.from('abcdefg\nxy\rz\r\nline\n\r', 'latin1');
  const wire = toNetascii(local); // 'abcdefg\r' | '\nxy\r\0z\r\0' | ...: a CR ends block 1
  t.equal(wire[7], 0x0d, 'fixture: block 1 ends with a CR');
  const s = await setup(dir, { params: { blockSize: 8 }, limits: { netascii: true } });
  s.transfer.start();
  blocks(wire, 8).forEach((b, i) => s.data(i + 1, b));
  await s.ended();
  t.same(s.ends, [{ ok: true }]);
  t.same(readFileSync(s.finalPath), local);
});

t.test('netascii upload ending in a bare CR keeps it', async (t) => {
  const dir = t.testdir();
  const s = await setup(dir, { params: { blockSize: 8 }, limits: { netascii: true } });
  s.transfer.start();
  s.data(1, Buffer.from('abc\r', 'latin1'));
  await s.ended();
  t.same(readFileSync(s.finalPath), Buffer.from('abc\r', 'latin1'));
});

for (const rollover of [0, 1] as const) {
  t.test(`rollover ${rollover}: 65 540 blocks of 8 bytes`, async (t) => {
    const dir = t.testdir();
    const data = pattern(65_539 * 8 + 3);
    const bs = blocks(data, 8);
    t.equal(bs.length, 65_540);
    const s = await setup(dir, { params: { blockSize: 8, rollover } });
    s.transfer.start();
    const wireOf = (n: number) => (n <= 65535 ? n : rollover === 0 ? n % 65536 : ((n - 65536) % 65535) + 1);
    for (let n = 1; n <= bs.length; n++) s.data(wireOf(n), bs[n - 1]);
    await s.ended();
    t.same(s.ends, [{ ok: true }]);
    const acks = s.sent.map((x) => x.what);
    t.equal(acks.length, 65_541, 'ACK 0 and one ACK per block');
    t.equal(acks[65535], 'ACK 65535');
    t.equal(acks[65536], `ACK ${rollover}`, `block 65536 is ACKed as ${rollover}`);
    t.equal(acks[65540], `ACK ${wireOf(65540)}`);
    t.ok(readFileSync(s.finalPath).equals(data), 'the file is complete');
  });
}
