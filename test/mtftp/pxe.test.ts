// The PXE MTFTP round with a fake clock and recording sends: which packet goes to the
// master (unicast) and which to the group, byte for byte, and when.
import t from 'tap';
import { PxeRound } from '../../services/mtftp/pxe.js';
import { ackPacket, errorPacket } from '../../services/tftp/packet.js';
import type { Outcome, TransferParams } from '../../services/tftp/transfer.js';
import { baseParams, FakeClock } from '../helpers/fake-clock.js';

interface Sent { at: number; to: 'master' | 'group'; raw: Buffer }

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + (i >> 9)) & 0xff;
  return b;
}

/** DATA n as the wire carries it: 00 03, the block, then the payload. */
function dataBytes(n: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 3, n >> 8, n & 0xff]), payload]);
}

/** `unicast`: a round of a shared group (docs/decisions/0008-mtftp-shared-group.md), no group send. */
function setup(data: Buffer, params: Partial<TransferParams> = {}, unicast = false) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const ends: Outcome[] = [];
  const progress: number[] = [];
  const flat = (p: Buffer | Buffer[]) => (Array.isArray(p) ? Buffer.concat(p) : Buffer.from(p));
  const round = new PxeRound({ ...baseParams, ...params }, {
    send: (p) => sent.push({ at: clock.now(), to: 'master', raw: flat(p) }),
    sendGroup: unicast ? null : (p) => sent.push({ at: clock.now(), to: 'group', raw: flat(p) }),
    clock,
    onEnd: (o) => ends.push(o),
    onProgress: (b) => progress.push(b),
  }, data);
  const what = (s: Sent) => `${s.to} ${s.raw[1] === 3 ? `DATA ${s.raw.readUInt16BE(2)}` : s.raw[1] === 5 ? `ERROR ${s.raw.readUInt16BE(2)}` : `op ${s.raw[1]}`}`;
  return {
    round,
    clock,
    sent,
    ends,
    progress,
    ack: (n: number) => round.onPacket(ackPacket(n)),
    whats: (from = 0) => sent.slice(from).map(what),
  };
}

t.test('DATA 1 goes to the master and to the group, unicast first; later blocks to the group only', async (t) => {
  const file = pattern(1300); // blocks of 512, 512, 276
  const r = setup(file);
  r.round.start();
  t.same(r.whats(), ['master DATA 1', 'group DATA 1'], 'block 1 twice, the master\'s copy first');
  t.same(r.sent[0].raw, dataBytes(1, file.subarray(0, 512)), 'DATA 1 byte for byte');
  t.same(r.sent[1].raw, r.sent[0].raw, 'the group gets the same bytes');
  r.ack(1);
  t.same(r.whats(2), ['group DATA 2'], 'ACK 1 asks for block 2, sent to the group only');
  t.same(r.sent[2].raw, dataBytes(2, file.subarray(512, 1024)));
  r.ack(2);
  t.same(r.sent[3].raw, dataBytes(3, file.subarray(1024)), 'the last, short block');
  t.equal(r.ends.length, 0, 'not done before the master ACKs the last block');
  r.ack(3);
  t.same(r.ends, [{ ok: true }], 'the master\'s ACK of the last block ends the round');
  t.equal(r.round.counters.dataPackets, 4, 'four DATA datagrams: block 1 twice, 2 and 3 once');
  t.equal(r.round.counters.dataBytes, 512 * 2 + 512 + 276, 'payload bytes on the wire, block 1 counted twice');
  t.equal(r.clock.pending, 0, 'no timer left');
});

t.test('a file of n*512 bytes ends with an empty block; an empty file is one empty block', async (t) => {
  const r = setup(pattern(1024));
  r.round.start();
  r.ack(1);
  r.ack(2);
  t.same(r.sent.at(-1)!.raw, Buffer.from([0, 3, 0, 3]), 'DATA 3 with no payload');
  t.equal(r.round.lastBlock, 3);
  r.ack(3);
  t.same(r.ends, [{ ok: true }]);

  const e = setup(Buffer.alloc(0));
  e.round.start();
  t.same(e.sent.map((s) => s.raw), [Buffer.from([0, 3, 0, 1]), Buffer.from([0, 3, 0, 1])], 'DATA 1, empty, to master and group');
  e.ack(1);
  t.same(e.ends, [{ ok: true }]);
});

t.test('duplicate and stale ACKs are not answered (Sorcerer\'s Apprentice); the timer resends', async (t) => {
  const r = setup(pattern(512 * 5 + 10));
  r.round.start();
  r.ack(1);
  r.ack(2);
  const before = r.sent.length;
  r.ack(2); // a duplicate of an ACK already answered
  r.ack(1); // a stale one
  t.equal(r.sent.length, before, 'nothing sent for a duplicate or stale ACK');
  r.clock.advance(r.round.retransmitMs);
  t.same(r.whats(before), ['group DATA 3'], 'the timer resends the block waiting for its ACK, to the group');
  t.equal(r.round.counters.retransmits, 1);
  r.ack(3);
  t.same(r.whats(before + 1), ['group DATA 4'], 'then the round goes on');
});

t.test('a re-opening master ACKs its first gap minus one: the round jumps there (iPXE)', async (t) => {
  const file = pattern(512 * 9 + 1);
  const r = setup(file);
  r.round.start();
  r.ack(6); // it heard blocks 1..6 while listening
  t.same(r.whats(2), ['group DATA 7']);
  t.same(r.sent[2].raw, dataBytes(7, file.subarray(6 * 512, 7 * 512)));
  r.ack(7);
  r.ack(8);
  r.ack(9);
  r.ack(10);
  t.same(r.ends, [{ ok: true }]);
  t.equal(r.round.acked, 10);
});

t.test('block 1 is resent to the master and the group; ACKs beyond the last block are ignored', async (t) => {
  const r = setup(pattern(100));
  r.round.start();
  r.clock.advance(1000);
  t.same(r.whats(), ['master DATA 1', 'group DATA 1', 'master DATA 1', 'group DATA 1'], 'the retransmission of block 1 also goes both ways');
  r.ack(7);
  t.equal(r.ends.length, 0, 'ACK 7 of a one-block file is nonsense');
  r.ack(1);
  t.same(r.ends, [{ ok: true }]);
});

t.test('an ERROR from the master ends the round as a client abort', async (t) => {
  const r = setup(pattern(2000));
  r.round.start();
  r.round.onPacket(errorPacket(0, 'user cancelled'));
  t.equal(r.ends.length, 1);
  t.equal(r.ends[0].ok, false);
  t.match(r.ends[0], { clientAbort: true, reason: /user cancelled/ });
  const n = r.sent.length;
  r.clock.advance(10_000);
  t.equal(r.sent.length, n, 'nothing sent after the end');
});

t.test('a master that never answers: block 1 retried firstReplyRetries times, then the round fails with an ERROR to it', async (t) => {
  const r = setup(pattern(2000), { firstReplyRetries: 2 });
  r.round.start();
  r.clock.runAll();
  t.equal(r.ends.length, 1);
  t.match(r.ends[0], { ok: false, clientAbort: false, reason: /timed out/ });
  t.same(r.whats(), ['master DATA 1', 'group DATA 1', 'master DATA 1', 'group DATA 1', 'master DATA 1', 'group DATA 1', 'master ERROR 0'],
    'three sends of block 1 (the first and two retries), then ERROR 0 to the master');
});

t.test('progress reports the master\'s bytes, at most every progressIntervalMs', async (t) => {
  const r = setup(pattern(512 * 20), { progressIntervalMs: 100 });
  r.round.start();
  r.clock.advance(150);
  r.ack(1);
  r.ack(2);
  r.clock.advance(150);
  r.ack(3);
  t.same(r.progress, [512, 1536], 'one report per interval, with the bytes acknowledged');
});

t.test('silentMs: how long the master has not moved the round on (the server hands a silent round over)', async (t) => {
  const r = setup(pattern(512 * 4));
  r.round.start();
  r.clock.advance(15);
  t.equal(r.round.silentMs(), 15);
  r.ack(1);
  t.equal(r.round.silentMs(), 0, 'an ACK that moves the round on');
  r.clock.advance(700);
  r.ack(1);
  t.equal(r.round.silentMs(), 700, 'a duplicate ACK does not count: the master is not moving the round on');
});

t.test('a unicast round (shared group): every block, and every resend, goes to the master only', async (t) => {
  const file = pattern(1300);
  const r = setup(file, {}, true);
  r.round.start();
  t.same(r.whats(), ['master DATA 1'], 'DATA 1 once, to the master');
  t.same(r.sent[0].raw, dataBytes(1, file.subarray(0, 512)));
  r.ack(1);
  t.same(r.whats(1), ['master DATA 2'], 'ACK 1 asks for block 2, sent to the master');
  t.same(r.sent[1].raw, dataBytes(2, file.subarray(512, 1024)));
  r.clock.advance(r.round.retransmitMs);
  t.same(r.whats(2), ['master DATA 2'], 'the timer resends it to the master too');
  r.ack(2);
  t.same(r.sent.at(-1)!.raw, dataBytes(3, file.subarray(1024)), 'the last, short block');
  r.ack(3);
  t.same(r.ends, [{ ok: true }]);
  t.notOk(r.sent.some((s) => s.to === 'group'), 'nothing ever went to the group');
  t.equal(r.round.counters.dataPackets, 4, 'four DATA datagrams: blocks 1, 2 (twice) and 3');
  t.equal(r.round.counters.dataBytes, 512 + 512 * 2 + 276, 'each counted once per send');
  t.equal(r.round.multicast, false);
  t.equal(setup(file).round.multicast, true, 'a round with a group is a multicast round');
});

t.test('a unicast round: a master that re-opens with blocks from its earlier round jumps ahead (iPXE keeps its bitmap)', async (t) => {
  const file = pattern(512 * 6 + 3);
  const r = setup(file, {}, true);
  r.round.start();
  r.ack(4);
  t.same(r.whats(1), ['master DATA 5']);
  t.same(r.sent[1].raw, dataBytes(5, file.subarray(4 * 512, 5 * 512)));
  r.ack(5);
  r.ack(6);
  r.ack(7);
  t.same(r.ends, [{ ok: true }]);
});
