// The RRQ state machine with a fake clock and a recording send: the exact packets it
// sends, and when, for lock-step (RFC 1350) and windowed (RFC 7440) reads.
import t from 'tap';
import { MemorySource, type BlockSource } from '../../services/tftp/blocks.js';
import { ackPacket, decode, encode, errorPacket, isDecodeError, type Options } from '../../services/tftp/packet.js';
import { ReadTransfer } from '../../services/tftp/read.js';
import type { Outcome, Send, TransferParams } from '../../services/tftp/transfer.js';
import { baseParams, FakeClock } from '../helpers/fake-clock.js';

interface Sent { at: number; what: string; block: number; payload: Buffer; raw: Buffer }

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

function setup(opts: { params?: Partial<TransferParams>; data?: Buffer; source?: BlockSource; oack?: Options | null }) {
  const params = { ...baseParams, ...opts.params };
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const send: Send = (p) => {
    const raw = Array.isArray(p) ? Buffer.concat(p) : Buffer.from(p);
    const d = decode(raw);
    if (isDecodeError(d)) throw new Error(`the transfer sent an undecodable packet: ${raw.toString('hex')}`);
    const what = d.op === 'DATA' ? `DATA ${d.block}` : d.op === 'ERROR' ? `ERROR ${d.code}` : d.op === 'ACK' ? `ACK ${d.block}` : d.op;
    sent.push({
      at: clock.now(), what,
      block: d.op === 'DATA' || d.op === 'ACK' ? d.block : -1,
      payload: d.op === 'DATA' ? d.data : Buffer.alloc(0),
      raw,
    });
  };
  const ends: Outcome[] = [];
  const progress: number[] = [];
  const source = opts.source ?? new MemorySource(opts.data ?? Buffer.alloc(0), params.blockSize);
  const transfer = new ReadTransfer(
    params,
    { send, clock, onEnd: (o) => ends.push(o), onProgress: (b) => progress.push(b) },
    source,
    opts.oack ?? null,
  );
  return {
    transfer, clock, sent, ends, progress,
    ack: (n: number) => transfer.onPacket(ackPacket(n)),
    whats: () => sent.map((s) => s.what),
    timeline: () => sent.map((s) => `${s.at} ${s.what}`),
    /** Sends since index `from`. */
    since: (from: number) => sent.slice(from).map((s) => s.what),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('lock-step read of a 3-block file', async (t) => {
  const data = pattern(1200); // 512 + 512 + 176
  const s = setup({ data });
  s.transfer.start();
  t.same(s.whats(), ['DATA 1'], 'start sends DATA 1 (no options: no OACK)');
  s.ack(1);
  t.same(s.whats(), ['DATA 1', 'DATA 2']);
  s.ack(2);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3']);
  t.same(s.ends, [], 'not over before the last ACK');
  s.ack(3);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3'], 'nothing after the last ACK');
  t.same(s.sent.map((x) => x.payload.length), [512, 512, 176]);
  t.same(Buffer.concat(s.sent.map((x) => x.payload)), data, 'the payloads are the file');
  t.same(s.ends, [{ ok: true }]);
  t.equal(s.transfer.done, true);
  t.equal(s.clock.pending, 0, 'no timer left behind');
  t.same(s.transfer.counters, { bytes: 1200, dataPackets: 3, dataBytes: 1200, acksReceived: 3, retransmits: 0 });
  s.clock.advance(60_000);
  s.ack(3);
  t.equal(s.sent.length, 3, 'nothing sent after the end, by timer or ACK');
  t.equal(s.ends.length, 1, 'onEnd once');
});

t.test('a file of n*blksize bytes ends with an empty DATA', async (t) => {
  const s = setup({ data: pattern(1024) });
  s.transfer.start();
  s.ack(1);
  s.ack(2);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3']);
  t.same(s.sent.map((x) => x.payload.length), [512, 512, 0]);
  t.same(s.ends, [], 'ACK 2 does not end it');
  s.ack(3);
  t.same(s.ends, [{ ok: true }]);
});

t.test('an empty file is one empty DATA 1', async (t) => {
  const s = setup({ data: Buffer.alloc(0) });
  s.transfer.start();
  t.same(s.whats(), ['DATA 1']);
  t.equal(s.sent[0].raw.length, 4);
  s.ack(1);
  t.same(s.ends, [{ ok: true }]);
});

t.test('windowed read, windowsize 4, 3-block file', async (t) => {
  const data = pattern(1200);
  const s = setup({ data, params: { windowSize: 4 } });
  s.transfer.start();
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3'], 'the whole file fits in one window');
  s.ack(3);
  t.same(s.ends, [{ ok: true }]);
  t.equal(s.sent.length, 3);
  t.same(Buffer.concat(s.sent.map((x) => x.payload)), data);
});

t.test('windowed read, windowsize 4, 10 blocks', async (t) => {
  const data = pattern(9 * 512 + 100);
  const s = setup({ data, params: { windowSize: 4 } });
  s.transfer.start();
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3', 'DATA 4']);
  s.ack(4);
  t.same(s.since(4), ['DATA 5', 'DATA 6', 'DATA 7', 'DATA 8']);
  s.ack(8);
  t.same(s.since(8), ['DATA 9', 'DATA 10'], 'the last window is short');
  s.ack(10);
  t.same(s.ends, [{ ok: true }]);
  t.same(Buffer.concat(s.sent.map((x) => x.payload)), data);
});

t.test('OACK first; no DATA before ACK 0', async (t) => {
  const oack = new Map([['blksize', '512'], ['windowsize', '4'], ['tsize', '1200']]);
  const s = setup({ data: pattern(1200), params: { windowSize: 4 }, oack });
  s.transfer.start();
  t.same(s.whats(), ['OACK']);
  t.same(s.sent[0].raw, encode({ op: 'OACK', options: oack }), 'the OACK carries the given options, in order');
  s.ack(1);
  t.same(s.whats(), ['OACK'], 'ACK 1 before ACK 0: ignored');
  s.transfer.onPacket(encode({ op: 'DATA', block: 1, data: Buffer.from('x') }));
  s.transfer.onPacket(Buffer.from([0, 4, 0])); // a 3-byte ACK
  t.same(s.whats(), ['OACK'], 'DATA and short packets: ignored');
  s.ack(0);
  t.same(s.whats(), ['OACK', 'DATA 1', 'DATA 2', 'DATA 3'], 'ACK 0 opens the first window');
  s.ack(0);
  t.same(s.since(4), [], 'a repeated ACK 0 sends nothing');
  s.ack(3);
  t.same(s.ends, [{ ok: true }]);
});

t.test('duplicate ACK causes no resend (Sorcerer\'s Apprentice)', async (t) => {
  const s = setup({ data: pattern(5 * 512 + 1) });
  s.transfer.start();
  s.ack(1);
  s.ack(2);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3']);
  s.ack(2);
  s.ack(2);
  s.ack(1);
  s.ack(0);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3'], 'old ACKs send nothing');
  s.ack(3);
  t.same(s.since(3), ['DATA 4'], 'the next fresh ACK moves on by exactly one block');
  t.equal(s.transfer.counters.retransmits, 0);
});

t.test('duplicate ACK in a window causes no resend', async (t) => {
  const s = setup({ data: pattern(12 * 512 + 1), params: { windowSize: 4 } });
  s.transfer.start();
  s.ack(4);
  t.equal(s.sent.length, 8);
  s.ack(4);
  s.ack(3);
  t.equal(s.sent.length, 8, 'ACK 4 again and a stale ACK 3: nothing');
});

t.test('an ACK inside the window resends from the gap once; later ones below the recovery point only slide', async (t) => {
  const s = setup({ data: pattern(13 * 512 + 100), params: { windowSize: 4 } });
  s.transfer.start();
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3', 'DATA 4']);
  s.ack(2); // the client lost DATA 3 (or saw a duplicate): resend from 3 at once
  t.same(s.since(4), ['DATA 3', 'DATA 4', 'DATA 5', 'DATA 6'], 'window 3-6 sent again from the gap');
  s.ack(2);
  t.same(s.since(8), [], 'a duplicate ACK sends nothing');
  s.ack(4); // inside the window, but below the recovery point (6): the resend is under way
  t.same(s.since(8), ['DATA 7', 'DATA 8'], 'only slides and fills: no second resend of 5 and 6');
  s.ack(6); // at the recovery point: the regular ACK of a client counting from its last ACK
  t.same(s.since(10), ['DATA 9', 'DATA 10'], 'slides and fills');
  s.ack(8); // inside the window and past the recovery point: a new gap
  t.same(s.since(12), ['DATA 9', 'DATA 10', 'DATA 11', 'DATA 12'], 'a new episode resends from the new gap');
  s.ack(12);
  t.same(s.since(16), ['DATA 13', 'DATA 14']);
  s.ack(14);
  t.same(s.ends, [{ ok: true }]);
});

t.test('an ACK for a block not yet sent is ignored', async (t) => {
  const s = setup({ data: pattern(9 * 512 + 100), params: { windowSize: 4 } });
  s.transfer.start();
  s.ack(5);
  s.ack(9);
  s.ack(10);
  s.ack(65535);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3', 'DATA 4'], 'ACKs beyond the window: nothing');
  t.same(s.ends, [], 'an ACK of the last block before it was sent does not end the transfer');
  s.ack(4);
  t.same(s.since(4), ['DATA 5', 'DATA 6', 'DATA 7', 'DATA 8'], 'the transfer goes on normally');

  const l = setup({ data: pattern(1200) });
  l.transfer.start();
  l.ack(2);
  l.ack(3);
  t.same(l.whats(), ['DATA 1'], 'lock-step: ACK 2 and 3 before DATA 2 was sent: ignored');
  t.same(l.ends, []);
});

t.test('timer resends with backoff; after maxRetries and two waits at the ceiling, an ERROR', async (t) => {
  const s = setup({ data: pattern(1200), params: { timeoutMs: 200 } });
  s.transfer.start();
  s.clock.advance(10);
  s.ack(1); // RTT sample 10 ms: RTO = 10 + 4*5 = 30
  t.equal(s.transfer.retransmitMs, 30);
  s.clock.advance(5000);
  t.same(s.timeline(), [
    '0 DATA 1',
    '10 DATA 2',
    '40 DATA 2', // +30
    '100 DATA 2', // +60
    '220 DATA 2', // +120
    '440 DATA 2', // +220: 240 capped at the 200 ms ceiling, stretched by a tenth
    '660 ERROR 0', // the 5th timeout: over maxRetries 3, and the 2nd wait at the ceiling
  ]);
  t.equal(s.ends.length, 1);
  const end = s.ends[0];
  t.equal(end.ok, false);
  if (!end.ok) {
    t.equal(end.clientAbort, false);
    t.match(end.reason, /timed out after 4 retransmissions/);
  }
  t.equal(s.transfer.counters.retransmits, 4);
  t.equal(s.clock.pending, 0, 'no timer left');
  s.clock.advance(60_000);
  s.ack(2);
  t.equal(s.sent.length, 7, 'nothing more, by timer or ACK');
});

t.test('the retransmitted window is the whole unacknowledged window', async (t) => {
  const s = setup({ data: pattern(9 * 512 + 100), params: { windowSize: 4 } });
  s.transfer.start();
  s.clock.advance(999);
  t.equal(s.sent.length, 4, 'nothing before the initial 1 s');
  s.clock.advance(1);
  t.same(s.timeline().slice(4), ['1000 DATA 1', '1000 DATA 2', '1000 DATA 3', '1000 DATA 4']);
  s.clock.advance(1999);
  t.equal(s.sent.length, 8, 'backed off: nothing before 2 s more');
  s.clock.advance(1);
  t.same(s.timeline().slice(8), ['3000 DATA 1', '3000 DATA 2', '3000 DATA 3', '3000 DATA 4']);
});

t.test('after a partial ACK the timer resends a whole window from the first unacknowledged block', async (t) => {
  const s = setup({ data: pattern(9 * 512 + 100), params: { windowSize: 4 } });
  s.transfer.start();
  s.clock.advance(50);
  s.ack(2); // DATA 2 was sent at 0: RTT 50, RTO = 50 + 4*25 = 150
  t.same(s.since(4), ['DATA 3', 'DATA 4', 'DATA 5', 'DATA 6'], 'the gap is resent at once');
  s.clock.advance(150);
  t.same(s.timeline().slice(8), ['200 DATA 3', '200 DATA 4', '200 DATA 5', '200 DATA 6'], 'then by the timer');
});

t.test('Karn: no RTT sample from a retransmitted packet; a new ACK clears the backoff', async (t) => {
  const s = setup({ data: pattern(1200) });
  s.transfer.start();
  s.clock.advance(1000); // DATA 1 resent, wait backs off to 2000
  t.same(s.timeline(), ['0 DATA 1', '1000 DATA 1']);
  t.equal(s.transfer.retransmitMs, 2000, 'backed off');
  s.clock.advance(500);
  s.ack(1); // ambiguous: answers the first or the second DATA 1
  t.equal(s.transfer.retransmitMs, 1000, 'no sample taken (still the initial 1 s), but the new ACK cleared the backoff');
  s.clock.advance(2000);
  t.same(s.timeline(), ['0 DATA 1', '1000 DATA 1', '1500 DATA 2', '2500 DATA 2']);
  s.clock.advance(100);
  s.ack(2);
  t.equal(s.transfer.retransmitMs, 1000, 'still no sample: DATA 2 was retransmitted');
  s.clock.advance(40);
  s.ack(3);
  t.same(s.ends, [{ ok: true }]);
});

t.test('a clean RTT sample sets the wait', async (t) => {
  const s = setup({ data: pattern(3000), params: { windowSize: 2 } });
  s.transfer.start();
  s.clock.advance(50);
  s.ack(2); // window sent at 0, ACK at 50: RTO = 50 + 4*25 = 150
  t.equal(s.transfer.retransmitMs, 150);
  s.clock.advance(149);
  t.equal(s.sent.length, 4);
  s.clock.advance(1);
  t.same(s.timeline().slice(4), ['200 DATA 3', '200 DATA 4']);
});

t.test('the first reply (DATA 1) is retransmitted at most firstReplyRetries times', async (t) => {
  const s = setup({ data: pattern(1200), params: { firstReplyRetries: 2, maxRetries: 8 } });
  s.transfer.start();
  s.clock.advance(60_000);
  t.same(s.timeline(), ['0 DATA 1', '1000 DATA 1', '3000 DATA 1', '7000 ERROR 0']);
  t.equal(s.ends.length, 1);
  t.equal(s.ends[0].ok, false);
});

t.test('the first reply (OACK) is retransmitted at most firstReplyRetries times', async (t) => {
  const s = setup({ data: pattern(1200), params: { firstReplyRetries: 1, maxRetries: 8 }, oack: new Map([['tsize', '1200']]) });
  s.transfer.start();
  s.clock.advance(60_000);
  t.same(s.timeline(), ['0 OACK', '1000 OACK', '3000 ERROR 0']);
  t.equal(s.ends.length, 1);
  t.equal(s.ends[0].ok, false);
});

t.test('firstReplyRetries 0: no retransmission of the first reply at all', async (t) => {
  const s = setup({ data: pattern(1200), params: { firstReplyRetries: 0 }, oack: new Map([['tsize', '1200']]) });
  s.transfer.start();
  s.clock.advance(60_000);
  t.same(s.timeline(), ['0 OACK', '1000 ERROR 0']);
});

t.test('once answered, maxRetries applies instead of firstReplyRetries', async (t) => {
  const s = setup({ data: pattern(1200), params: { firstReplyRetries: 0, maxRetries: 2, timeoutMs: 200 }, oack: new Map([['tsize', '1200']]) });
  s.transfer.start();
  s.clock.advance(10);
  s.ack(0); // RTO 30
  s.clock.advance(60_000);
  // maxRetries is spent at 220, but an answered transfer also waits out the ceiling twice.
  t.same(s.timeline(), ['0 OACK', '10 DATA 1', '40 DATA 1', '100 DATA 1', '220 DATA 1', '440 DATA 1', '660 ERROR 0']);
});

t.test('a client ERROR ends the transfer with clientAbort and sends nothing', async (t) => {
  const s = setup({ data: pattern(1200), oack: new Map([['tsize', '1200']]) });
  s.transfer.start();
  s.transfer.onPacket(errorPacket(0, 'TFTP Aborted')); // EDK2 after reading tsize
  t.same(s.whats(), ['OACK'], 'nothing sent in answer');
  t.equal(s.ends.length, 1);
  const end = s.ends[0];
  t.equal(end.ok, false);
  if (!end.ok) {
    t.equal(end.clientAbort, true);
    t.match(end.reason, /client sent ERROR 0: TFTP Aborted/);
  }
  t.equal(s.clock.pending, 0, 'the timer is cancelled');
  s.clock.advance(60_000);
  s.ack(0);
  t.same(s.whats(), ['OACK'], 'nothing after: no retransmission, no DATA');
  t.equal(s.ends.length, 1);
});

t.test('a client ERROR in the middle of a transfer', async (t) => {
  const s = setup({ data: pattern(3000), params: { windowSize: 2 } });
  s.transfer.start();
  s.ack(2);
  s.transfer.onPacket(Buffer.from([0, 5, 0, 3, 0x66, 0x75, 0x6c, 0x6c])); // ERROR 3 "full", no NUL
  t.equal(s.sent.length, 4);
  const end = s.ends[0];
  t.ok(end && !end.ok && end.clientAbort && /ERROR 3: full/.test(end.reason));
});

function wire(n: number, rollover: 0 | 1): number {
  if (n <= 65535) return n;
  return rollover === 0 ? n % 65536 : ((n - 65536) % 65535) + 1;
}

for (const [rollover, windowSize] of [[0, 1], [1, 1], [0, 8], [1, 8]] as const) {
  t.test(`rollover ${rollover}, windowsize ${windowSize}: 600 000 bytes in blocks of 8 (75 001 blocks)`, async (t) => {
    const data = pattern(600_000);
    const s = setup({ data, params: { blockSize: 8, windowSize, rollover } });
    s.transfer.start();
    let guard = 0;
    let read = 0;
    while (s.ends.length === 0 && guard++ < 100_000) {
      const fresh = s.sent.slice(read);
      read = s.sent.length;
      if (fresh.length === 0) break;
      s.ack(fresh[fresh.length - 1].block); // the client acknowledges the end of each window
    }
    t.same(s.ends, [{ ok: true }], 'the transfer completes');
    t.equal(s.sent.length, 75_001, 'one DATA per block, no retransmission');
    const blocks = s.sent.map((x) => x.block);
    let mismatch = -1;
    for (let i = 0; i < blocks.length; i++) if (blocks[i] !== wire(i + 1, rollover)) { mismatch = i + 1; break; }
    t.equal(mismatch, -1, 'every wire block number as expected');
    t.equal(blocks[65534], 65535, 'block 65535 is 65535');
    t.equal(blocks[65535], rollover, `block 65536 is ${rollover} on the wire`);
    t.equal(blocks[65536], rollover + 1, `block 65537 is ${rollover + 1}`);
    t.equal(blocks[75000], wire(75001, rollover), 'the last block');
    t.equal(s.sent[75000].payload.length, 0, 'the last block is empty (600 000 = 75 000 * 8)');
    t.ok(Buffer.concat(s.sent.map((x) => x.payload)).equals(data), 'the payloads are the file');
  });
}

t.test('rollover: a stale ACK from before the wrap is not taken for one after it', async (t) => {
  const s = setup({ data: pattern(8 * 65540), params: { blockSize: 8, rollover: 0 } });
  s.transfer.start();
  for (let n = 1; n <= 65535; n++) s.ack(n);
  t.equal(s.sent[s.sent.length - 1].block, 0, 'block 65536 went out as 0');
  const before = s.sent.length;
  s.ack(65535); // duplicate of the last ACK before the wrap
  s.ack(1); // would be block 65537, not sent yet
  t.equal(s.sent.length, before, 'both ignored');
  s.ack(0);
  t.same(s.since(before), ['DATA 1'], 'ACK 0 acknowledges block 65536; block 65537 is DATA 1');
});

class ShrinkingSource implements BlockSource {
  constructor(
    readonly size: number,
    private readonly blockSize: number,
    private readonly lie: (n: number, b: Buffer) => Buffer,
  ) {}

  block(n: number): Buffer {
    const start = (n - 1) * this.blockSize;
    const b = Buffer.alloc(Math.max(0, Math.min(this.blockSize, this.size - start)), 0x61);
    return this.lie(n, b);
  }

  release(): void {}
  async close(): Promise<void> {}
}

t.test('file-changed detection', async (t) => {
  const cases: [string, (n: number, b: Buffer) => Buffer, string[]][] = [
    ['a middle block comes back short (file shrank)', (n, b) => (n === 2 ? b.subarray(0, 100) : b), ['DATA 1', 'ERROR 0']],
    ['the last block comes back longer (file grew)', (n, b) => (n === 3 ? Buffer.alloc(200) : b), ['DATA 1', 'DATA 2', 'ERROR 0']],
    ['the first block comes back empty', (n, b) => (n === 1 ? Buffer.alloc(0) : b), ['ERROR 0']],
  ];
  for (const [name, lie, want] of cases) {
    const s = setup({ source: new ShrinkingSource(1200, 512, lie) });
    s.transfer.start();
    s.ack(1);
    s.ack(2);
    t.same(s.whats(), want, `${name}: packets`);
    const err = decode(s.sent[s.sent.length - 1].raw);
    t.same(err, { op: 'ERROR', code: 0, message: 'file changed while being sent' }, `${name}: the ERROR`);
    t.equal(s.ends.length, 1);
    const end = s.ends[0];
    t.ok(end && !end.ok && !end.clientAbort && /file changed/.test(end.reason), `${name}: failure reported`);
  }
});

class DeferredSource implements BlockSource {
  readonly waiting = new Map<
    number,
    { promise: Promise<Buffer>; resolve: (b: Buffer) => void; reject: (e: Error) => void }
  >();

  calls: number[] = [];
  constructor(
    private readonly data: Buffer,
    private readonly blockSize: number,
  ) {}

  get size(): number {
    return this.data.length;
  }

  block(n: number): Promise<Buffer> {
    this.calls.push(n);
    let w = this.waiting.get(n);
    if (!w) {
      let resolve!: (b: Buffer) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<Buffer>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      w = { promise, resolve, reject };
      this.waiting.set(n, w);
    }
    return w.promise;
  }

  give(n: number): void {
    const start = (n - 1) * this.blockSize;
    this.waiting.get(n)!.resolve(this.data.subarray(start, Math.min(start + this.blockSize, this.data.length)));
  }

  release(): void {}
  async close(): Promise<void> {}
}

t.test('a source that answers asynchronously', async (t) => {
  const data = pattern(1200);
  const src = new DeferredSource(data, 512);
  const s = setup({ source: src });
  s.transfer.start();
  t.same(s.whats(), [], 'nothing until the disk answers');
  src.give(1);
  await tick();
  t.same(s.whats(), ['DATA 1']);
  s.ack(1);
  src.give(2);
  await tick();
  s.ack(2);
  src.give(3);
  await tick();
  s.ack(3);
  t.same(s.whats(), ['DATA 1', 'DATA 2', 'DATA 3']);
  t.same(s.ends, [{ ok: true }]);
  t.same(Buffer.concat(s.sent.map((x) => x.payload)), data);
});

t.test('a timeout while the disk is slow does not send a block twice', async (t) => {
  const src = new DeferredSource(pattern(1200), 512);
  const s = setup({ source: src });
  s.transfer.start();
  s.clock.advance(1000); // a timeout while block 1 is still being read
  t.same(src.calls, [1], 'the waiting pump keeps its place: the disk is not asked twice');
  src.give(1);
  await tick();
  t.same(s.whats(), ['DATA 1'], 'DATA 1 sent once, not once per waiting window');
});

t.test('a read error ends the transfer with ERROR 0', async (t) => {
  const src = new DeferredSource(pattern(1200), 512);
  const s = setup({ source: src });
  s.transfer.start();
  src.waiting.get(1)!.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
  await tick();
  t.same(s.whats(), ['ERROR 0']);
  t.same(decode(s.sent[0].raw), { op: 'ERROR', code: 0, message: 'read error' });
  const end = s.ends[0];
  t.ok(end && !end.ok && !end.clientAbort && /read error: EIO/.test(end.reason));
});

t.test('progress is reported at most every progressIntervalMs', async (t) => {
  const s = setup({ data: pattern(10 * 512), params: { progressIntervalMs: 250 } });
  s.transfer.start();
  for (const [at, n] of [[100, 1], [300, 2], [400, 3], [560, 4], [600, 5]] as const) {
    s.clock.advanceTo(at);
    s.ack(n);
  }
  t.same(s.progress, [1024, 2048], 'at 300 ms (2 blocks) and 560 ms (4 blocks) only');
});

t.test('fail() from outside (shutdown) sends the given ERROR once and ends', async (t) => {
  const s = setup({ data: pattern(1200) });
  s.transfer.start();
  s.transfer.fail('server shutting down', false, { code: 0, message: 'server shutting down' });
  s.transfer.fail('again', false, { code: 0, message: 'again' });
  t.same(s.whats(), ['DATA 1', 'ERROR 0']);
  t.same(s.ends, [{ ok: false, reason: 'server shutting down', clientAbort: false }]);
  t.equal(s.clock.pending, 0);
});
