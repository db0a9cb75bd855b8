// Multicast TFTP against real clients (issue 4), in network namespaces
// (test/helpers/mtftp-lab.ts): bootlab in "srv" (eth0 192.0.2.1/24 on br0), client
// namespaces c1..cN on br0. What is proven, and by what (never by the server's word alone):
// - PXE MTFTP (atftp --mget, server port 1759) and RFC 2090 (atftp --option multicast):
//   many clients at once get byte-exact copies (sha256) while the server sends about one
//   copy (nftables counters of TFTP DATA leaving the server namespace);
// - a file that is an exact multiple of the block size ends with an empty DATA block;
// - a late joiner completes: PXE by re-opening as the master of a new round, RFC 2090 by
//   becoming master after the first client (OACK mc=0, then mc=1) and asking only for
//   what it missed (well under two copies on the wire);
// - 10 % random loss on one client's bridge port (the drop counter proves it happened):
//   everyone still completes byte-exact (PXE: the lossy client as a listener, see below);
// - a PXE master that stops mid-round (SIGTERM: atftp sends ERROR; SIGKILL: silence, a
//   machine switched off) does not stop the listeners from completing;
// - plain unicast clients (tftp-hpa, curl) beside a running RFC 2090 group;
// - multicast leaves only by multicast.interface with multicast.ttl (captures on both
//   server interfaces; the server namespace's own multicast route points at the other
//   one), and an RRQ to 1759 arriving on the other interface gets no answer;
// - garbage, truncated and hostile datagrams do not stop the server.
// Needs root (ip netns), atftp, tftp-hpa, curl, nftables, tcpdump, iproute2 (tc).
import { join } from 'node:path';
import t from 'tap';
import { Capture, newLab, type TapTest } from '../../helpers/dhcp-clients.js';
import {
  DataCounter, FAR_SERVER_IP, MTFTP_PORT, PEER, SERVER_IP, StartGate, addLoss, atftpMget, atftpMulticastGet,
  buildLan, curlGet, delta, hpaGet, isMulticast, masterIp, parseIpPcap, rcvbufErrors, rrq, shape, sizeOf, sleep,
  startMulticastBootlab, udpProbe, verdict, waitFor, writeRandomFile,
  type ClientResult, type ClientRun, type McLan, type McServer, type TestFile,
} from '../../helpers/mtftp-lab.js';
import { prng } from '../../helpers/prng.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'tcpdump', 'atftp', 'tftp', 'curl', 'nft', 'tc'));

const KiB = 1024;
const MiB = 1024 * KiB;
const G1 = '239.255.1.1';
const G2 = '239.255.1.2';
const G3 = '239.255.1.3';
/**
 * The server's link speed in the "about one copy" cases. Over a bare veth bootlab sends
 * faster than six client processes on two busy cores read: their sockets overflow
 * (RcvbufErrors in their namespaces) and every block so dropped is sent again, an extra
 * copy that says nothing about the server. 16 Mbit/s (~1400 blocks of 1468 a second) is
 * what a classroom switch port gives a PXE server anyway, many times over.
 */
const LAN_RATE = '16mbit';

function lanFor(tt: TapTest, tag: string, clients: number, opts: { far?: boolean } = {}): McLan | null {
  const env = newLab(tt, tag);
  if (!env) return null;
  return buildLan(env.lab, env.dir, clients, opts);
}

const outOf = (lan: McLan, member: string, file: string): string => join(lan.dir, `${member}-${file}`);

/** Each client exited 0 and wrote a byte-exact copy. */
function checkCopies(tt: TapTest, results: ClientResult[], want: TestFile, what: string, srv: McServer): boolean {
  let all = true;
  for (const r of results) {
    const v = verdict(r, want);
    all &&= v.ok;
    tt.ok(v.ok, `${r.member}: ${what} exited 0 with a byte-exact copy of ${want.name} (${want.size} bytes)`, { ...v, server: v.ok ? undefined : srv.tail(40) });
  }
  return all;
}

/**
 * The server sent between 1 and `max` copies' worth of DATA payload. `extra`: more for the
 * diagnosis, such as the clients' own receive-buffer drops over the same time. `max` tells
 * one stream for the group from one per client (n copies for n clients), with room for the
 * retransmissions a loaded machine causes (1.24, 1.40 and 1.77 seen in CI runs with six
 * clients, 1.05 idle): how close to one copy it gets is a number for bench:mtftp, not a
 * pass mark here.
 */
/** Half way between one stream for the group (1 copy) and one stream per client (`clients` copies). */
const halfwayToPerClient = (clients: number): number => (1 + clients) / 2;

function checkCopiesOnWire(
  tt: TapTest,
  count: DataCounter,
  want: TestFile,
  max: number,
  what: string,
  extra: Record<string, unknown> = {},
): void {
  const c = count.read();
  const copies = c.payload / want.size;
  const diag = { ...c, ...extra };
  tt.ok(
    c.payload >= want.size,
    `${what}: the server sent at least one copy of DATA payload (${copies.toFixed(3)} copies)`,
    diag,
  );
  tt.ok(
    c.payload <= max * want.size,
    `${what}: the server sent at most ${max} copies of DATA payload (${copies.toFixed(3)} copies: ${c.mcastPayload} bytes to the group, ${c.unicastPayload} unicast)`,
    diag,
  );
}

/** The server's own account of its rounds of `file`, for diagnostics. */
function roundsOf(srv: McServer, file: string): unknown[] {
  return srv
    .roundsDone(file)
    .map((d) => ({
      round: d.round,
      ok: d.ok,
      reason: d.reason,
      blocks: d.blocks,
      blocksSent: d.blocksSent,
      retransmits: d.retransmits,
      seconds: d.seconds,
    }));
}

async function all(runs: ClientRun[]): Promise<ClientResult[]> {
  return Promise.all(runs.map((r) => r.done));
}

// Log assertions need bootlab's lines; against the development peer only its PXE round lines exist.
const bootlabOnly = (srv: McServer): boolean => srv.kind === 'bootlab';

t.test('PXE MTFTP: six clients at once, one round, about one copy on the wire; an exact multiple of 512 ends with an empty block', async (tt) => {
  const lan = lanFor(tt, 'mp', 6);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 2 * MiB + 333, 11);
  const exact = writeRandomFile(lan.root, 'exact.bin', 512 * KiB, 12);
  const srv = await startMulticastBootlab(lan, 'srv', {
    files: [{ file: 'big.bin', group: G1, clientPort: 3001 }, { file: 'exact.bin', group: G2, clientPort: 3002 }],
  });
  shape(lab, 'srv', 'eth0', LAN_RATE);
  const count = DataCounter.install(lab);

  const drops0 = rcvbufErrors(lab, lan.clients);
  const gate = new StartGate(lan.dir);
  const runs = lan.clients.map((c) =>
    atftpMget(lab, c, {
      file: big.name,
      out: outOf(lan, c, big.name),
      group: G1,
      clientPort: 3001,
      listenDelay: 3,
      gate,
    }),
  );
  await gate.release();
  const res = await all(runs);
  checkCopies(tt, res, big, 'atftp --mget', srv);
  checkCopiesOnWire(tt, count, big, halfwayToPerClient(6), 'six PXE MTFTP clients', { clientRcvbufErrors: delta(rcvbufErrors(lab, lan.clients), drops0) });
  const c = count.read();
  tt.ok(c.mcastPayload >= big.size, `the copy went to the group ${G1} (${c.mcastPayload} payload bytes multicast)`, c);
  const starts = srv.roundStarts(big.name, 'pxe');
  const dones = srv.roundsDone(big.name, 'pxe');
  tt.ok(starts.length >= 1, `the server logged a PXE round for big.bin (${starts.length})`, { starts, server: srv.tail() });
  // PXE 2.1: a client that asks while a round runs is a listener (its RRQ is not answered);
  // only one that asks after the round ended opens another. Six clients released at once
  // share one round; a client whose process this loaded machine starts seconds late (the
  // round lasts about a second) opens its own, after: that is right, and seen in CI runs.
  // Rounds that overlap would be the server's fault.
  const overlapping = starts.slice(1).filter((st, i) => !(dones[i] && Number(st.time) >= Number(dones[i].time)));
  tt.same(overlapping, [], 'no PXE round of big.bin started while another ran', { starts, dones });
  if (starts.length > 1) tt.comment(`${starts.length} rounds: a client started after the first round ended`);
  if (bootlabOnly(srv)) {
    const done = await srv.waitLog((l) => l.msg === 'mtftp round done' && l.file === big.name, 30_000);
    tt.equal(done?.ok, true, 'and that round ended ok', { done });
    tt.equal(starts[0]?.group, `${G1}:3001`, 'on the configured group and client port', { start: starts[0] });
    tt.ok(lan.clients.some((m) => masterIp(starts[0] ?? { level: 0, msg: '' }) === lan.ip[m]), 'whose master was one of the clients', { start: starts[0] });
  }

  count.reset();
  const gate2 = new StartGate(lan.dir);
  const runs2 = lan.clients
    .slice(0, 2)
    .map((m) =>
      atftpMget(lab, m, {
        file: exact.name,
        out: outOf(lan, m, exact.name),
        group: G2,
        clientPort: 3002,
        listenDelay: 2,
        gate: gate2,
      }),
    );
  await gate2.release();
  checkCopies(tt, await all(runs2), exact, 'atftp --mget of a file of exactly 1024 blocks', srv);
  const c2 = count.read();
  const blocks = exact.size / 512 + 1;
  tt.ok(c2.mcastPackets + c2.unicastPackets >= blocks, `the server sent at least ${blocks} DATA packets for ${exact.size} bytes: the last one empty (${c2.mcastPackets} + ${c2.unicastPackets})`, c2);
  checkCopiesOnWire(tt, count, exact, halfwayToPerClient(2), 'two PXE MTFTP clients, exact multiple of 512');
});

t.test('RFC 2090: six clients at once with the multicast option, byte-exact, about one copy on the wire', async (tt) => {
  const lan = lanFor(tt, 'mr', 6);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 2 * MiB + 777, 21);
  const exact = writeRandomFile(lan.root, 'exact1468.bin', 1468 * 400, 22);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: 'big.bin', group: G1, clientPort: 3001 }] });
  shape(lab, 'srv', 'eth0', LAN_RATE);
  const count = DataCounter.install(lab);

  const drops0 = rcvbufErrors(lab, lan.clients);
  const gate = new StartGate(lan.dir);
  const runs = lan.clients.map((c) =>
    atftpMulticastGet(lab, c, { file: big.name, out: outOf(lan, c, big.name), blksize: 1468, gate }),
  );
  await gate.release();
  checkCopies(tt, await all(runs), big, 'atftp --option multicast', srv);
  checkCopiesOnWire(tt, count, big, halfwayToPerClient(6), 'six RFC 2090 clients', { clientRcvbufErrors: delta(rcvbufErrors(lab, lan.clients), drops0), rounds: roundsOf(srv, big.name) });
  if (bootlabOnly(srv)) {
    const starts = srv.roundStarts(big.name, 'rfc2090');
    tt.ok(starts.length >= 1, 'the server logged an RFC 2090 round for big.bin', { starts, server: srv.tail() });
    tt.ok(starts.every((s) => /^239\.255\.2\.\d+:1758$/.test(String(s.group))), 'on a group from tftp.multicast.addresses, port 1758', { starts });
  }

  count.reset();
  const gate2 = new StartGate(lan.dir);
  const runs2 = lan.clients
    .slice(0, 2)
    .map((m) =>
      atftpMulticastGet(lab, m, { file: exact.name, out: outOf(lan, m, exact.name), blksize: 1468, gate: gate2 }),
    );
  await gate2.release();
  checkCopies(tt, await all(runs2), exact, 'atftp --option multicast of exactly 400 blocks of 1468', srv);
  const c2 = count.read();
  tt.ok(c2.mcastPackets + c2.unicastPackets >= 401, `the server sent at least 401 DATA packets: the last one empty (${c2.mcastPackets} + ${c2.unicastPackets})`, c2);
});

// A master that stops reading for a moment (a busy machine, a slow disk; here SIGSTOP for
// 30 ms, eight times) loses nothing: its socket holds the window. The server's timer may
// fire (its floor is tftp.minRetransmitMs, 20 ms) and resend the hole, and then the ACKs
// come in a burst. That must cost a few blocks per stall, not the rest of the file again
// (a resend of a block the master holds draws a duplicate ACK, which must not draw
// another resend). Found with six clients on two busy cores: see the diagnostics.
const STALL_MS = 30;
t.test(`RFC 2090: a master that stalls for ${STALL_MS} ms, eight times, costs a few blocks, not another copy`, async (tt) => {
  const lan = lanFor(tt, 'ms', 3);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 2 * MiB + 111, 101);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: big.name, group: G1, clientPort: 3001 }] });
  shape(lab, 'srv', 'eth0', LAN_RATE);
  const count = DataCounter.install(lab);
  const drops0 = rcvbufErrors(lab, lan.clients);
  const master = atftpMulticastGet(lab, 'c1', { file: big.name, out: outOf(lan, 'c1', big.name), blksize: 1468 });
  await waitFor(() => sizeOf(master.out) > 0 || master.exitedYet(), 30_000);
  const others = ['c2', 'c3'].map((c) => atftpMulticastGet(lab, c, { file: big.name, out: outOf(lan, c, big.name), blksize: 1468 }));
  await waitFor(() => sizeOf(master.out) >= big.size / 4 || master.exitedYet(), 60_000);
  const at = sizeOf(master.out);
  tt.ok(!master.exitedYet() && at < big.size, `c1 (the master) stalls from the middle on (${at} of ${big.size} bytes)`);
  let stalls = 0;
  for (; stalls < 8 && !master.exitedYet(); stalls++) {
    try {
      process.kill(master.proc.pid, 'SIGSTOP');
      await sleep(STALL_MS);
    } finally {
      if (!master.exitedYet()) process.kill(master.proc.pid, 'SIGCONT');
    }
    await sleep(30);
  }
  tt.equal(stalls, 8, 'the master stalled eight times before it finished');
  checkCopies(tt, await all([master, ...others]), big, 'atftp --option multicast', srv);
  checkCopiesOnWire(tt, count, big, halfwayToPerClient(3), `three RFC 2090 clients, the master stalled 8 x ${STALL_MS} ms`, { clientRcvbufErrors: delta(rcvbufErrors(lab, lan.clients), drops0), rounds: roundsOf(srv, big.name) });
});

t.test('PXE MTFTP late joiner: it listens to the running round, then re-opens as master of a second round', async (tt) => {
  const lan = lanFor(tt, 'ml', 2);
  if (!lan) return;
  const { lab } = lan;
  const mid = writeRandomFile(lan.root, 'mid.bin', 1536 * KiB + 99, 31);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: mid.name, group: G3, clientPort: 3003 }] });
  // ~1800 blocks/s lock-step: the round lasts ~2 s, long enough to join in the middle.
  shape(lab, 'srv', 'eth0', '8mbit');
  const cap = await Capture.start(lab, 'srv', 'eth0', lan.dir, `udp dst port ${MTFTP_PORT}`);

  const first = atftpMget(lab, 'c1', { file: mid.name, out: outOf(lan, 'c1', mid.name), group: G3, clientPort: 3003, listenDelay: 2 });
  await waitFor(() => sizeOf(first.out) >= mid.size / 3 || first.exitedYet(), 60_000);
  const midway = !first.exitedYet() && sizeOf(first.out) < mid.size;
  tt.ok(midway, `the late client starts while the first transfer runs (c1 has ${sizeOf(first.out)} of ${mid.size} bytes)`);
  const late = atftpMget(lab, 'c2', { file: mid.name, out: outOf(lan, 'c2', mid.name), group: G3, clientPort: 3003, listenDelay: 2, trace: true });
  const [r1, r2] = await all([first, late]);
  checkCopies(tt, [r1, r2], mid, 'atftp --mget', srv);
  await cap.stop();

  const rrqs = parseIpPcap(cap.file).filter((p) => p.udp && p.udp.payload.readUInt16BE(0) === 1);
  tt.ok(rrqs.some((p) => p.src === lan.ip.c1), 'c1 sent an RRQ to 1759', { rrqs: rrqs.map((p) => p.src) });
  tt.ok(rrqs.some((p) => p.src === lan.ip.c2), 'the late client c2 sent an RRQ to 1759 (it re-opened)', { rrqs: rrqs.map((p) => p.src) });
  // Its trace: DATA heard while listening, before its own RRQ.
  const trace = r2.output;
  const firstData = trace.search(/received DATA/);
  const firstRrq = trace.search(/sent RRQ/);
  tt.ok(firstData >= 0 && (firstRrq < 0 || firstData < firstRrq), 'the late client heard the running round\'s multicast DATA before it opened', { trace: trace.slice(0, 1500) });

  const starts = srv.roundStarts(mid.name, 'pxe');
  tt.ok(starts.length >= 2, `the server logged at least two rounds (${starts.length})`, { starts, server: srv.tail() });
  tt.equal(masterIp(starts[0] ?? { level: 0, msg: '' }), lan.ip.c1, 'the first round\'s master is c1', { starts });
  tt.ok(starts.slice(1).some((s) => masterIp(s) === lan.ip.c2), 'a later round\'s master is the late client c2', { starts });
});

t.test('RFC 2090 late joiner: OACK mc=0, mastership after the first client, only the missed blocks resent', async (tt) => {
  const lan = lanFor(tt, 'mj', 2);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 2 * MiB + 555, 41);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: big.name, group: G1, clientPort: 3001 }] });
  shape(lab, 'srv', 'eth0', '8mbit');
  const count = DataCounter.install(lab);
  const drops0 = rcvbufErrors(lab, lan.clients);

  const first = atftpMulticastGet(lab, 'c1', { file: big.name, out: outOf(lan, 'c1', big.name), blksize: 1468 });
  await waitFor(() => sizeOf(first.out) >= big.size / 3 || first.exitedYet(), 60_000);
  const midway = !first.exitedYet() && sizeOf(first.out) < big.size;
  tt.ok(midway, `the late client starts while the first transfer runs (c1 has ${sizeOf(first.out)} of ${big.size} bytes)`);
  const late = atftpMulticastGet(lab, 'c2', { file: big.name, out: outOf(lan, 'c2', big.name), blksize: 1468, trace: true });
  const [r1, r2] = await all([first, late]);
  checkCopies(tt, [r1, r2], big, 'atftp --option multicast', srv);

  const oacks = [...r2.output.matchAll(/received OACK <([^>]*)>/g)].map((m) => m[1]);
  const mc = /multicast: (239\.255\.2\.\d+),(\d+),(\d)/.exec(oacks[0] ?? '');
  tt.ok(mc, 'the late client\'s first OACK carries multicast=addr,port,mc with a group from tftp.multicast.addresses', { oacks });
  tt.equal(mc?.[2], '1758', 'on port 1758', { oacks });
  tt.equal(mc?.[3], '0', 'and mc=0: it is not the master while c1 is', { oacks });
  tt.ok(oacks.slice(1).some((o) => /mc = 1|,1,?\s*$/.test(o)), 'a later OACK makes it master (mc=1)', { oacks });
  const c = count.read();
  checkCopiesOnWire(tt, count, big, 1.75, 'a late RFC 2090 client that missed about a third', { clientRcvbufErrors: delta(rcvbufErrors(lab, lan.clients), drops0), rounds: roundsOf(srv, big.name) });
  tt.ok(c.payload < 2 * big.size, 'clearly below two copies: the late client did not get the whole file again', c);
});

// atftp 0.8.0 as a PXE MTFTP master never ACKs a block twice (a DATA it already holds is
// not answered, a timeout resends nothing; seen in its --trace and a capture at the
// client): one lost ACK or DATA stalls its round for good. So the lossy client here loses
// 10 % as a listener of a round mastered by a healthy client, and the loss is lifted
// before it re-opens for its gaps. RFC 2090's client re-ACKs: loss stays on throughout.
t.test('10 % loss on one client\'s link: PXE MTFTP (as a listener) and RFC 2090 clients all complete byte-exact', async (tt) => {
  const lan = lanFor(tt, 'mx', 4);
  if (!lan) return;
  const { lab } = lan;
  const small = writeRandomFile(lan.root, 'small.bin', 192 * KiB + 17, 51);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: small.name, group: G1, clientPort: 3001 }] });

  let loss = addLoss(lab, 'c1', 10);
  const gate = new StartGate(lan.dir);
  // c1 listens 4 s, the others 2 s: a healthy client opens the round, c1 only listens to it.
  const lossy = atftpMget(lab, 'c1', { file: small.name, out: outOf(lan, 'c1', `pxe-${small.name}`), group: G1, clientPort: 3001, listenDelay: 4, trace: true, gate, killAfterMs: 150_000 });
  const healthy = lan.clients.slice(1).map((c) => atftpMget(lab, c, { file: small.name, out: outOf(lan, c, `pxe-${small.name}`), group: G1, clientPort: 3001, listenDelay: 2, gate, killAfterMs: 150_000 }));
  await gate.release();
  const h = await all(healthy);
  const pxeDrops = loss.remove();
  tt.ok(!lossy.exitedYet(), 'the lossy client is still at it when the healthy ones are done');
  checkCopies(tt, h, small, 'atftp --mget (healthy, beside c1)', srv);
  tt.ok(pxeDrops > 0, `the loss really happened on c1's port ${loss.port} during the first round: ${pxeDrops} datagrams dropped`);
  const [l] = await all([lossy]);
  checkCopies(tt, [l], small, 'atftp --mget (c1, lost 10 % of the first round)', srv);
  const heard = l.output.search(/received DATA/);
  const reopened = l.output.lastIndexOf('sent RRQ');
  tt.ok(heard >= 0 && reopened > heard, 'c1 heard the first round, then re-opened for what it missed', { trace: verdict(l, small).output });
  const starts = srv.roundStarts(small.name, 'pxe');
  tt.ok(starts.length >= 2 && masterIp(starts[0]) !== lan.ip.c1 && starts.slice(1).some((x) => masterIp(x) === lan.ip.c1), 'a healthy client mastered the first round, c1 a later one', { starts });

  loss = addLoss(lab, 'c1', 10);
  const gate2 = new StartGate(lan.dir);
  const mc = lan.clients.map((c) => atftpMulticastGet(lab, c, { file: small.name, out: outOf(lan, c, `mc-${small.name}`), blksize: 1468, trace: c === 'c1', gate: gate2, killAfterMs: 150_000 }));
  await gate2.release();
  const mcRes = await all(mc);
  checkCopies(tt, mcRes, small, 'atftp --option multicast (c1 behind 10 % loss)', srv);
  tt.comment(`durations: PXE ${[l, ...h].map((r) => `${r.member} ${r.ms} ms`).join(', ')}; RFC 2090 ${mcRes.map((r) => `${r.member} ${r.ms} ms`).join(', ')}`);
  tt.ok(loss.drops() > 0, `the loss really happened during the RFC 2090 transfer: ${loss.drops()} datagrams dropped`);
  tt.ok(srv.alive(), 'the server is still running', { server: srv.tail() });
});

// A machine switched off in the middle of a PXE MTFTP round (SIGKILL: no ERROR sent) or
// whose boot is interrupted (SIGTERM: atftp sends an ERROR): the listeners still finish.
for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`PXE MTFTP: the master stops mid-round (${signal}); the listeners still complete`, async (tt) => {
    const lan = lanFor(tt, signal === 'SIGKILL' ? 'mk' : 'mt', 3);
    if (!lan) return;
    const { lab } = lan;
    const mid = writeRandomFile(lan.root, 'mid.bin', 1536 * KiB + 7, 91);
    const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: mid.name, group: G3, clientPort: 3003 }] });
    shape(lab, 'srv', 'eth0', '8mbit');
    const gate = new StartGate(lan.dir);
    // c1 listens 1 s and opens: the master. c2 and c3 listen 2 s, hear the round and stay listeners.
    const master = atftpMget(lab, 'c1', { file: mid.name, out: outOf(lan, 'c1', mid.name), group: G3, clientPort: 3003, listenDelay: 1, gate });
    const listeners = ['c2', 'c3'].map((c) => atftpMget(lab, c, { file: mid.name, out: outOf(lan, c, mid.name), group: G3, clientPort: 3003, listenDelay: 2, trace: true, gate, killAfterMs: 150_000 }));
    await gate.release();
    await waitFor(() => sizeOf(master.out) >= mid.size / 3 || master.exitedYet(), 60_000);
    tt.ok(!master.exitedYet() && sizeOf(master.out) < mid.size, `c1 is stopped in the middle (${sizeOf(master.out)} of ${mid.size} bytes)`);
    const first = srv.roundStarts(mid.name, 'pxe')[0];
    if (bootlabOnly(srv)) tt.equal(first && masterIp(first), lan.ip.c1, 'c1 was the master of the round', { starts: srv.roundStarts() });
    process.kill(master.proc.pid, signal);
    await master.done;
    const res = await all(listeners);
    checkCopies(tt, res, mid, `atftp --mget (listener; the master got ${signal})`, srv);
    tt.comment(`rounds: ${JSON.stringify(srv.roundsDone(mid.name).map((d) => ({ round: d.round, ok: d.ok, reason: d.reason, master: d.master, seconds: d.seconds })))}`);
  });
}

t.test('mixed: tftp-hpa and curl fetch the same file unicast while an RFC 2090 group sends it', async (tt) => {
  const lan = lanFor(tt, 'mm', 5);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 2 * MiB + 99, 61);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: 'big.bin', group: G1, clientPort: 3001 }] });
  shape(lab, 'srv', 'eth0', LAN_RATE);
  const count = DataCounter.install(lab, 'srv', { unicastTo: [lan.ip.c1, lan.ip.c2, lan.ip.c3] });
  const drops0 = rcvbufErrors(lab, lan.clients);

  const gate = new StartGate(lan.dir);
  const group = ['c1', 'c2', 'c3'].map((c) => atftpMulticastGet(lab, c, { file: big.name, out: outOf(lan, c, big.name), blksize: 1468, gate }));
  await gate.release();
  await waitFor(() => sizeOf(group[0].out) >= big.size / 10 || group[0].exitedYet(), 60_000);
  tt.ok(!group[0].exitedYet(), `the group is running when the unicast clients start (c1 has ${sizeOf(group[0].out)} bytes)`);
  const hpa = hpaGet(lab, 'c4', big.name, outOf(lan, 'c4', big.name));
  const curl = curlGet(lab, 'c5', big.name, outOf(lan, 'c5', big.name));
  const g = await all(group);
  const [h, cu] = await all([hpa, curl]);
  checkCopies(tt, g, big, 'atftp --option multicast', srv);
  checkCopies(tt, [h], big, 'tftp-hpa (unicast)', srv);
  checkCopies(tt, [cu], big, 'curl tftp:// (unicast)', srv);
  checkCopiesOnWire(tt, count, big, halfwayToPerClient(3), 'the RFC 2090 group beside unicast clients', { clientRcvbufErrors: delta(rcvbufErrors(lab, lan.clients), drops0) });
});

/** Captures on the server's eth0 and eth1 while `body` runs; returns their IPv4 packets. */
async function captured(
  lan: McLan,
  body: () => Promise<void>,
): Promise<{ eth0: ReturnType<typeof parseIpPcap>; eth1: ReturnType<typeof parseIpPcap> }> {
  const c0 = await Capture.start(lan.lab, 'srv', 'eth0', lan.dir, 'ip');
  const c1 = await Capture.start(lan.lab, 'srv', 'eth1', lan.dir, 'ip');
  try {
    await body();
  } finally {
    await c0.stop();
    await c1.stop();
  }
  return { eth0: parseIpPcap(c0.file), eth1: parseIpPcap(c1.file) };
}

const isData = (p: ReturnType<typeof parseIpPcap>[number]): boolean =>
  !!p.udp && p.udp.payload.length >= 4 && p.udp.payload.readUInt16BE(0) === 3;

t.test('multicast leaves only by multicast.interface with multicast.ttl; MTFTP does not answer on another interface', async (tt) => {
  const lan = lanFor(tt, 'mi', 2, { far: true });
  if (!lan) return;
  const { lab } = lan;
  const exact = writeRandomFile(lan.root, 'exact.bin', 256 * KiB, 71);
  // The namespace's own multicast route points at eth1: only multicast.interface keeps groups on eth0.
  lab.exec('srv', 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth1']);
  const files = [{ file: exact.name, group: G2, clientPort: 3002 }];

  for (const ttl of [1, 4]) {
    const srv = await startMulticastBootlab(lan, 'srv', { files, iface: 'eth0', ttl });
    let far: Awaited<ReturnType<typeof udpProbe>> = [];
    let res: ClientResult[] = [];
    const cap = await captured(lan, async () => {
      const pxe = atftpMget(lab, 'c1', { file: exact.name, out: outOf(lan, 'c1', `pxe-ttl${ttl}`), group: G2, clientPort: 3002, listenDelay: 2 });
      const mc = atftpMulticastGet(lab, 'c2', { file: exact.name, out: outOf(lan, 'c2', `mc-ttl${ttl}`), blksize: 1468 });
      // The far client asks over eth1, from the group's client port like a PXE ROM would.
      far = await udpProbe(lab, 'far', FAR_SERVER_IP, MTFTP_PORT, [rrq(exact.name)], { listenMs: 4000, bindPort: 3002 });
      res = await all([pxe, mc]);
    });
    checkCopies(tt, res, exact, `ttl ${ttl}: atftp (PXE MTFTP and RFC 2090)`, srv);
    tt.same(far.map((r) => `${r.from}:${r.port} ${r.data.subarray(0, 4).toString('hex')}`), [], `ttl ${ttl}: an RRQ to ${FAR_SERVER_IP}:${MTFTP_PORT} arriving by eth1 gets no answer`);
    // UDP only: the kernel's ICMP port unreachable for the far RRQ is not the server answering.
    const out1 = cap.eth1.filter((p) => p.udp && (p.src === FAR_SERVER_IP || isMulticast(p.dst)));
    const icmp = cap.eth1.filter((p) => p.proto === 1 && p.src === FAR_SERVER_IP).length;
    tt.same(out1.map((p) => `${p.src}:${p.udp!.sport}>${p.dst}:${p.udp!.dport} ttl ${p.ttl}`).slice(0, 10), [], `ttl ${ttl}: no UDP left by eth1, multicast or reply (${cap.eth1.length} IPv4 packets there, ${icmp} ICMP from the server's kernel)`);
    const mdata = cap.eth0.filter((p) => p.src === SERVER_IP && isMulticast(p.dst) && isData(p));
    tt.ok(mdata.length >= exact.size / 1468, `ttl ${ttl}: multicast DATA left by eth0 (${mdata.length} packets)`);
    const ttls = [...new Set(mdata.map((p) => p.ttl))];
    tt.same(ttls, [ttl], `ttl ${ttl}: every multicast DATA packet on eth0 has IP TTL ${ttl}`);
    const groups = [...new Set(mdata.map((p) => `${p.dst}:${p.udp!.dport}`))].sort();
    tt.ok(groups.includes(`${G2}:3002`) && groups.some((g) => /^239\.255\.2\.\d+:1758$/.test(g)), `ttl ${ttl}: both kinds of group were used (${groups.join(', ')})`);

    if (ttl === 1) {
      // The control: the same RRQ by eth0 is answered, DATA 1 from the server port (EDK2 insists).
      const near = await udpProbe(lab, 'c1', SERVER_IP, MTFTP_PORT, [rrq(exact.name)], { listenMs: 1500, bindPort: 3002 });
      const d1 = near.find((r) => r.data.length >= 4 && r.data.readUInt16BE(0) === 3 && r.data.readUInt16BE(2) === 1);
      tt.ok(d1, 'the same RRQ arriving by eth0 is answered with DATA 1', { near: near.map((r) => `${r.from}:${r.port} ${r.data.subarray(0, 4).toString('hex')}`) });
      tt.equal(d1?.port, MTFTP_PORT, `DATA 1 comes from the server port ${MTFTP_PORT}`);
    }
    tt.ok(srv.alive(), `ttl ${ttl}: the server is still running`, { server: srv.tail() });
    await srv.stop();
  }
});

t.test('bad input: garbage, truncated and hostile datagrams to 1759 and 69 leave the server serving', async (tt) => {
  const lan = lanFor(tt, 'mb', 2);
  if (!lan) return;
  const { lab } = lan;
  const exact = writeRandomFile(lan.root, 'exact.bin', 128 * KiB, 81);
  const srv = await startMulticastBootlab(lan, 'srv', { files: [{ file: exact.name, group: G2, clientPort: 3002 }] });
  const rnd = prng(82);
  const garbage = Buffer.from(Array.from({ length: 300 }, () => Math.floor(rnd() * 256)));
  const b = (...parts: Array<number[] | string>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const toMtftp = [
    garbage,
    Buffer.alloc(0),
    b([0]),
    b([0, 1]),
    b([0, 1], 'exact.b'), // truncated RRQ: no NUL
    b([0, 1], 'exact.bin\0'), // no mode
    b([0, 1], 'exact.bin\0oct'), // mode without NUL
    b([0, 1], 'exact.bin\0octet\0blksize\0'), // option without value
    b([0, 1], `${'A'.repeat(1400)}`), // long name, no NUL
    b([0, 2], 'exact.bin\0octet\0'), // WRQ
    b([0, 4, 0, 5]), // ACK without a round
    b([0, 4]), // short ACK
    b([0, 5, 0]), // short ERROR (atftpd CVE-2019-11365)
    b([0, 6], 'multicast\0'), // OACK to a server
    b([0, 99, 1, 2, 3]),
  ];
  const toTftp = [
    garbage,
    b([0, 1], 'exact.bin\0octet\0multicast'), // option name without NUL
    b([0, 1], 'exact.bin\0octet\0multicast\0'), // option without value
    b([0, 1], 'exact.bin\0octet\0multicast\0\0blksize\0abc\0'), // bad blksize
    b([0, 1], 'exact.bin\0octet\0multicast\0x,y,z\0'),
  ];
  const r1 = await udpProbe(lab, 'c1', SERVER_IP, MTFTP_PORT, toMtftp, { listenMs: 1500 });
  const r2 = await udpProbe(lab, 'c1', SERVER_IP, 69, toTftp, { listenMs: 1500 });
  tt.comment(`replies to the garbage: ${[...r1, ...r2].map((r) => `${r.port}:${r.data.subarray(0, 4).toString('hex')}`).join(' ') || 'none'}`);
  // Path traversal by MTFTP: never DATA.
  const trav = await udpProbe(lab, 'c2', SERVER_IP, MTFTP_PORT, [rrq('../../../../etc/passwd'), rrq('/etc/passwd'), rrq('nothere.bin')], { listenMs: 1500 });
  tt.same(trav.filter((r) => r.data.length >= 2 && r.data.readUInt16BE(0) === 3).map((r) => r.data.subarray(4, 40).toString('latin1')), [], 'RRQs for ../../../../etc/passwd, /etc/passwd and a file not served get no DATA');
  await sleep(500);
  tt.ok(srv.alive(), 'the server is still running after the garbage', { server: srv.tail() });

  const gate = new StartGate(lan.dir);
  const runs = ['c1', 'c2'].map((c) => atftpMget(lab, c, { file: exact.name, out: outOf(lan, c, `pxe-${exact.name}`), group: G2, clientPort: 3002, listenDelay: 2, gate }));
  await gate.release();
  checkCopies(tt, await all(runs), exact, 'atftp --mget after the garbage', srv);
  const mc = atftpMulticastGet(lab, 'c1', { file: exact.name, out: outOf(lan, 'c1', `mc-${exact.name}`), blksize: 1468 });
  checkCopies(tt, await all([mc]), exact, 'atftp --option multicast after the garbage', srv);
  if (PEER) tt.comment(`(run against the development peer ${PEER})`);
});
