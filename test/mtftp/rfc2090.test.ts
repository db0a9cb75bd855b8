// One RFC 2090 group with a fake clock and recording sends: the OACKs each member gets
// (byte for byte), who leads, what the group is sent, and how loss is recovered.
import t from 'tap';
import { Rfc2090Group, type GroupParams, type Peer } from '../../services/tftp/multicast/rfc2090.js';
import { ackPacket, errorPacket } from '../../services/tftp/packet.js';
import { FakeClock } from '../helpers/fake-clock.js';

const A: Peer = { address: '192.0.2.11', port: 40001 };
const B: Peer = { address: '192.0.2.12', port: 40002 };
const C: Peer = { address: '192.0.2.13', port: 40003 };

const PARAMS: GroupParams = {
  blockSize: 512,
  window: 1,
  timeoutMs: 5000,
  minRetransmitMs: 20,
  maxRetries: 3,
  firstReplyRetries: 2,
  progressIntervalMs: 250,
  gatherMs: 0,
};

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 10)) & 0xff;
  return b;
}

/** An OACK as the wire carries it: 00 06, then name NUL value NUL pairs. */
function oackBytes(pairs: [string, string][]): Buffer {
  return Buffer.concat([Buffer.from([0, 6]), ...pairs.flatMap(([k, v]) => [Buffer.from(`${k}\0${v}\0`, 'latin1')])]);
}

function setup(data: Buffer, params: Partial<GroupParams> = {}) {
  const clock = new FakeClock();
  const log: string[] = [];
  const raw: { to: string; bytes: Buffer }[] = [];
  const name = (p: Peer) => ({ [A.port]: 'A', [B.port]: 'B', [C.port]: 'C' } as Record<number, string>)[p.port] ?? `${p.address}:${p.port}`;
  const describe = (b: Buffer) => {
    if (b[1] === 3) return `DATA ${b.readUInt16BE(2)}`;
    if (b[1] === 6) return `OACK mc=${/multicast\0[^,]*,\d+,(\d)\0/.exec(b.toString('latin1'))?.[1]}`;
    if (b[1] === 5) return `ERROR ${b.readUInt16BE(2)}`;
    return `op ${b[1]}`;
  };
  const flat = (p: Buffer | Buffer[]) => (Array.isArray(p) ? Buffer.concat(p) : Buffer.from(p));
  const events: string[] = [];
  const ends: { ok: boolean; reason: string }[] = [];
  const group = new Rfc2090Group({ ...PARAMS, ...params }, {
    sendTo: (peer, p) => { const b = flat(p); raw.push({ to: name(peer), bytes: b }); log.push(`${name(peer)} ${describe(b)}`); },
    sendGroup: (p) => { const b = flat(p); raw.push({ to: 'group', bytes: b }); log.push(`group ${describe(b)}`); },
    clock,
    onMaster: (p) => events.push(`master ${name(p)}`),
    onClientDone: (p, via) => events.push(`done ${name(p)} ${via}`),
    onClientLost: (p) => events.push(`lost ${name(p)}`),
    onEnd: (o) => ends.push(o),
  }, data, '239.255.2.1', 1758);
  const opts: [string, string][] = [['multicast', ''], ['blksize', '512']];
  let mark = 0;
  return {
    group, clock, log, raw, events, ends,
    join: (p: Peer) => group.join(p, opts),
    ack: (p: Peer, n: number) => group.onPacket(p, ackPacket(n)),
    /** What was sent since the last call. */
    fresh: () => { const out = log.slice(mark); mark = log.length; return out; },
  };
}

t.test('the first member leads (mc=1), the next listen (mc=0); OACKs byte for byte', async (t) => {
  const g = setup(pattern(1500));
  g.join(A);
  t.same(g.raw[0], { to: 'A', bytes: oackBytes([['multicast', '239.255.2.1,1758,1'], ['blksize', '512']]) }, 'OACK multicast=addr,port,1 in the client\'s option order');
  g.join(B);
  t.same(g.raw[1], { to: 'B', bytes: oackBytes([['multicast', '239.255.2.1,1758,0'], ['blksize', '512']]) }, 'the second member gets mc=0');
  t.same(g.fresh(), ['A OACK mc=1', 'B OACK mc=0']);
  t.same(g.events, ['master A']);
  g.ack(A, 0);
  t.same(g.fresh(), ['group DATA 1'], 'ACK 0 from the master: block 1, to the group only');
  t.same(g.raw.at(-1)!.bytes, Buffer.concat([Buffer.from([0, 3, 0, 1]), pattern(1500).subarray(0, 512)]));
  g.ack(B, 0);
  t.same(g.fresh(), ['B OACK mc=0'], 'an ACK from a listener gets an OACK with mc=0 (RFC 2090)');
  g.join(B);
  t.same(g.fresh(), ['B OACK mc=0'], 'a repeated RRQ (our OACK was lost) is answered again, not added twice');
  t.equal(g.group.receivers, 2);
});

t.test('when the master has the file, the next member leads from its first hole', async (t) => {
  const g = setup(pattern(512 * 5 + 100)); // 6 blocks
  g.join(A);
  g.ack(A, 0);
  g.ack(A, 1);
  g.join(B); // joins late: missed blocks 1 and 2... it hears 3 on
  g.ack(A, 2);
  g.ack(A, 3);
  g.ack(A, 4);
  g.ack(A, 5);
  g.fresh();
  g.ack(A, 6);
  t.same(g.events, ['master A', 'done A master-ack', 'master B']);
  t.same(g.fresh(), ['B OACK mc=1'], 'B is told it leads now');
  g.ack(B, 0); // B holds 3..6 but not 1: its first hole is block 1
  t.same(g.fresh(), ['group DATA 1']);
  g.ack(B, 1);
  t.same(g.fresh(), ['group DATA 2']);
  g.ack(B, 6); // block 2 filled its last hole: it jumps to the end
  t.same(g.events, ['master A', 'done A master-ack', 'master B', 'done B master-ack']);
  t.same(g.ends, [{ ok: true, reason: '' }], 'no member left: the group ends');
  t.equal(g.group.counters.dataPackets, 8, 'six blocks for A, two again for B: only what B missed');
  t.equal(g.clock.pending, 0);
});

t.test('a listener that ACKs the last block has the file and leaves (final ACK)', async (t) => {
  const g = setup(pattern(600)); // 2 blocks
  g.join(A);
  g.join(B);
  g.ack(A, 0);
  g.ack(A, 1);
  g.ack(B, 2);
  t.same(g.events, ['master A', 'done B final-ack']);
  t.equal(g.group.receivers, 1);
  g.ack(A, 2);
  t.same(g.ends, [{ ok: true, reason: '' }]);
});

t.test('window: blocks in flight ahead of the master\'s ACK; each ACK slides it by what it acknowledges', async (t) => {
  const g = setup(pattern(512 * 20), { window: 4 });
  g.join(A);
  g.fresh();
  g.ack(A, 0);
  t.same(g.fresh(), ['group DATA 1', 'group DATA 2', 'group DATA 3', 'group DATA 4']);
  g.ack(A, 1);
  t.same(g.fresh(), ['group DATA 5']);
  g.ack(A, 3);
  t.same(g.fresh(), ['group DATA 6', 'group DATA 7']);
});

t.test('loss: a duplicate ACK resends the hole, at most once per round trip; rising ACKs after a stall resend nothing', async (t) => {
  const g = setup(pattern(512 * 30), { window: 6 });
  g.join(A);
  g.ack(A, 0); // sends 1..6 at t=0
  g.fresh();
  g.clock.advance(10);
  // Blocks 2 and 4 were lost: A holds 1, 3, 5, 6 and ACKs after each.
  g.ack(A, 1); // after block 1: srtt 10 ms
  t.same(g.fresh(), ['group DATA 7'], 'the window slides');
  g.ack(A, 1); // after block 3: a duplicate, block 2 was sent 10 ms ago
  t.same(g.fresh(), ['group DATA 2'], 'the hole is resent');
  g.ack(A, 1); // after block 5
  g.ack(A, 1); // after block 6
  g.clock.advance(5);
  g.ack(A, 1); // after block 7, 5 ms after the resend: its answer is on the way
  t.same(g.fresh(), [], 'further duplicates within a round trip of the resend: nothing');
  g.clock.advance(5);
  g.ack(A, 3); // block 2 arrived: A holds 1..3; its next hole is 4
  t.same(g.fresh(), ['group DATA 8', 'group DATA 9'], 'a rising ACK only slides the window');
  g.ack(A, 3); // block 8 arrived: 4 is missing, sent 20 ms ago
  t.same(g.fresh(), ['group DATA 4'], 'the next hole is resent on its own duplicate');
  g.ack(A, 9);
  t.same(g.fresh(), ['group DATA 10', 'group DATA 11', 'group DATA 12', 'group DATA 13', 'group DATA 14', 'group DATA 15']);
  t.equal(g.group.counters.retransmits, 2);

  const s = setup(pattern(512 * 30), { window: 4 });
  s.join(A);
  s.ack(A, 0); // 1..4
  s.clock.advance(1);
  s.ack(A, 1); // 5
  s.fresh();
  s.clock.advance(s.group.retransmitMs); // the master stalls (SIGSTOP): the timer resends the hole
  t.same(s.fresh(), ['group DATA 2']);
  for (const n of [2, 3, 4, 5]) s.ack(A, n); // it wakes and ACKs what it holds, one by one
  t.same(s.fresh(), ['group DATA 6', 'group DATA 7', 'group DATA 8', 'group DATA 9'], 'catching up after a stall: new blocks only, nothing it holds');
});

t.test('a duplicate ACK right after the hole was sent is a copy of one already answered: ignored (Sorcerer\'s Apprentice)', async (t) => {
  const g = setup(pattern(512 * 10), { window: 1 });
  g.join(A);
  g.ack(A, 0);
  g.clock.advance(5);
  g.ack(A, 1); // sample: srtt 5 ms
  g.fresh();
  g.clock.advance(0.5);
  g.ack(A, 1); // the same ACK twice (block 1 arrived twice)
  t.same(g.fresh(), [], 'block 2 was sent 0.5 ms ago, under half a round trip: not resent');
});

t.test('the timer resends the hole; a master that stops answering is given up and the next leads', async (t) => {
  const g = setup(pattern(512 * 10), { window: 2, maxRetries: 2 });
  g.join(A);
  g.join(B);
  g.ack(A, 0);
  g.ack(A, 1);
  g.fresh();
  g.clock.advance(g.group.retransmitMs);
  t.same(g.fresh(), ['group DATA 2'], 'the first timeout resends block 2, the hole, only');
  g.clock.runAll();
  t.ok(g.events.includes('lost A'), 'A given up after its retries and the waits at the ceiling');
  const sent = g.fresh();
  t.ok(sent.includes('A ERROR 0'), 'A is told with an ERROR');
  t.same(sent.filter((s) => s.startsWith('B')).slice(0, 1), ['B OACK mc=1'], 'B leads next');
  t.equal(g.ends.length, 1, 'B never answered either: the group ends');
  t.match(g.ends[0], { ok: false, reason: /given up/ });
});

t.test('an ERROR from a listener removes it; from the master, the next leads; abort tells everyone', async (t) => {
  const g = setup(pattern(3000));
  g.join(A);
  g.join(B);
  g.join(C);
  g.group.onPacket(B, errorPacket(0, 'bye'));
  t.equal(g.group.receivers, 2);
  g.fresh();
  g.group.onPacket(A, errorPacket(0, 'bye'));
  t.same(g.fresh(), ['C OACK mc=1']);
  t.same(g.group.onPacket({ address: '192.0.2.99', port: 1 }, ackPacket(0)), false, 'a stranger is not a member');
  g.group.abort(errorPacket(0, 'server shutting down'), 'shutdown');
  t.same(g.fresh(), ['C ERROR 0']);
  t.same(g.ends, [{ ok: false, reason: 'shutdown' }]);
  t.equal(g.clock.pending, 0);
});

t.test('gatherMs: the first block waits, so machines asking at nearly the same moment hear the file from its start', async (t) => {
  const g = setup(pattern(512 * 4), { window: 2, gatherMs: 300 });
  g.join(A);
  g.clock.advance(100);
  g.ack(A, 0);
  t.same(g.fresh(), ['A OACK mc=1'], 'nothing sent yet: 200 ms of gathering left');
  g.join(B);
  g.ack(A, 0); // A's repeat of its first ACK changes nothing
  t.same(g.fresh(), ['B OACK mc=0']);
  g.clock.advance(199);
  t.same(g.fresh(), []);
  g.clock.advance(1);
  t.same(g.fresh(), ['group DATA 1', 'group DATA 2'], 'at 300 ms after the group opened, the window goes out');
  g.ack(A, 2);
  g.ack(A, 4);
  g.ack(A, 5);
  t.same(g.events, ['master A', 'done A master-ack', 'master B']);
  g.ack(B, 5);
  t.same(g.ends, [{ ok: true, reason: '' }], 'B heard every block: nothing sent again');
  t.equal(g.group.counters.dataPackets, 5);
});

t.test('a new master\'s ACK that jumps past what was sent in its turn: the blocks it holds are not sent again', async (t) => {
  const g = setup(pattern(512 * 10), { window: 3 }); // 11 blocks, the last empty
  g.join(A);
  g.ack(A, 0);
  for (let n = 1; n <= 11; n++) g.ack(A, n);
  t.same(g.events, ['master A', 'done A master-ack'], 'A done; the group ends with nobody left');
  const h = setup(pattern(512 * 10), { window: 3 });
  h.join(A);
  h.ack(A, 0);
  h.ack(A, 1);
  h.ack(A, 2);
  h.join(B); // hears 4.. from now on
  for (let n = 3; n <= 11; n++) h.ack(A, n);
  h.fresh();
  h.ack(B, 0); // B lacks 1-3
  t.same(h.fresh(), ['group DATA 1', 'group DATA 2', 'group DATA 3'], 'its first window');
  h.ack(B, 1);
  h.ack(B, 2);
  t.same(h.fresh(), ['group DATA 4', 'group DATA 5'], 'the window slides over blocks it may hold: it has not said yet');
  h.ack(B, 11); // block 3 filled its only gap
  t.same(h.fresh(), [], 'nothing more: it has the file');
  t.same(h.events.at(-1), 'done B master-ack');
  const i = setup(pattern(512 * 20), { window: 2 });
  i.join(A);
  i.ack(A, 0);
  i.ack(A, 1);
  i.join(B);
  for (let n = 2; n <= 21; n++) i.ack(A, n);
  i.fresh();
  i.ack(B, 0);
  t.same(i.fresh(), ['group DATA 1', 'group DATA 2']);
  i.ack(B, 15); // B also missed 16 as a listener
  t.same(i.fresh(), ['group DATA 16', 'group DATA 17'], 'from the jump on, only from its next hole: 3-15 are not sent again');
});

t.test('a master silent for three retransmissions while others wait gives way, keeps a place at the back, and is not given up', async (t) => {
  const g = setup(pattern(512 * 3), { window: 4, maxRetries: 8 }); // 4 blocks
  g.join(A);
  g.join(B);
  g.ack(A, 0); // 1..4 go out; A's final ACK is lost (atftp sends it once and exits)
  g.fresh();
  for (let i = 0; i < 3; i++) g.clock.advance(g.group.retransmitMs);
  t.same(g.fresh(), ['group DATA 1', 'group DATA 1', 'B OACK mc=1'], 'two resends of the hole, then at the third timeout B leads');
  t.same(g.events, ['master A', 'master B'], 'A is not given up');
  g.ack(A, 2); // A was only stalled: it is a listener now
  t.same(g.fresh(), ['A OACK mc=0']);
  g.ack(B, 4);
  t.same(g.events, ['master A', 'master B', 'done B master-ack', 'master A']);
  t.same(g.fresh(), ['A OACK mc=1'], 'A leads again in its turn');
  g.ack(A, 4);
  t.same(g.ends, [{ ok: true, reason: '' }]);
  t.equal(g.group.counters.lost, 0);
});
