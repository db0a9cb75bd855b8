// PXE MTFTP with several files on one group and port (issue 15 A3; iPXE's mtftp:// uses
// 239.255.1.1:3001 for every file), against real clients in network namespaces
// (test/helpers/mtftp-lab.ts). docs/decisions/0008-mtftp-shared-group.md says why such a
// group is never sent to: a PXE MTFTP listener keeps every DATA it hears on its group as
// its own file's (no file name in DATA), so each RRQ gets a unicast round of its own.
// What is proven, by evidence that is not the server's word:
// - atftp --mget clients of two files of one shared group, one of them starting to listen
//   while the other file is being sent, and a listener of the big file arriving late,
//   all get byte-exact copies (sha256);
// - a capture in the server namespace: every DATA left from the server port 1759, none
//   went to the shared group, none went to or came from port 69; a file with a group of
//   its own beside them is still multicast there (one round for two clients);
// - with real sockets: a repeated RRQ is answered by the running round, not a second
//   one; the same machine asking from a new port (iPXE re-opening) ends its old round.
// Needs root (ip netns), atftp, tcpdump, iproute2 (tc).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Capture, newLab, type TapTest } from '../../helpers/dhcp-clients.js';
import {
  MTFTP_PORT,
  BOOTLAB_ONLY,
  SERVER_IP,
  atftpMget,
  buildLan,
  isMulticast,
  masterIp,
  parseIpPcap,
  rrq,
  shape,
  sizeOf,
  startMulticastBootlab,
  udpProbe,
  verdict,
  waitFor,
  writeRandomFile,
  type ClientResult,
  type McLan,
  type McServer,
  type TestFile,
} from '../../helpers/mtftp-lab.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'tcpdump', 'atftp', 'tc'));

const KiB = 1024;
const SHARED = '239.255.1.1';
const OWN = '239.255.1.2';

function lanFor(tt: TapTest, tag: string, clients: number): McLan | null {
  const env = newLab(tt, tag);
  if (!env) return null;
  return buildLan(env.lab, env.dir, clients);
}

const outOf = (lan: McLan, member: string, file: string): string => join(lan.dir, `${member}-${file}`);

function checkCopies(tt: TapTest, results: ClientResult[], want: TestFile, srv: McServer): void {
  for (const r of results) {
    const v = verdict(r, want);
    tt.ok(v.ok, `${r.member}: atftp --mget exited 0 with a byte-exact copy of ${want.name} (${want.size} bytes)`, { ...v, server: v.ok ? undefined : srv.tail(40) });
  }
}

const opcode = (p: ReturnType<typeof parseIpPcap>[number]): number =>
  p.udp && p.udp.payload.length >= 2 ? p.udp.payload.readUInt16BE(0) : -1;

// The peer (atftpd) would send both files to the one group: this case is bootlab's design.
t.test('a shared group: two files\' clients, one listening while the other file is sent, all byte-exact; nothing to the group', { skip: BOOTLAB_ONLY }, async (tt) => {
  const lan = lanFor(tt, 'sg', 5);
  if (!lan) return;
  const { lab } = lan;
  const big = writeRandomFile(lan.root, 'big.bin', 3 * 1024 * KiB + 301, 201);
  const small = writeRandomFile(lan.root, 'small.bin', 200 * KiB + 7, 202);
  const solo = writeRandomFile(lan.root, 'solo.bin', 256 * KiB, 203);
  const srv = await startMulticastBootlab(lan, 'srv', {
    files: [
      { file: big.name, group: SHARED, clientPort: 3001 },
      { file: small.name, group: SHARED, clientPort: 3001 },
      { file: solo.name, group: OWN, clientPort: 3002 },
    ],
  });
  const listening = srv.logs().find((l) => l.msg === 'mtftp listening');
  tt.same(listening?.shared, [{ group: `${SHARED}:3001`, files: [big.name, small.name] }], 'the server names the shared group and its files at start', { listening });
  // At most ~900 blocks/s: what is left of big.bin after a quarter (4600 blocks) outlasts
  // the others' 2 s of listening, so their rounds run beside c1's.
  shape(lab, 'srv', 'eth0', '4mbit');
  const cap = await Capture.start(lab, 'srv', 'eth0', lan.dir, 'udp');

  const first = atftpMget(lab, 'c1', { file: big.name, out: outOf(lan, 'c1', big.name), group: SHARED, clientPort: 3001, listenDelay: 1 });
  await waitFor(() => sizeOf(first.out) >= big.size / 4 || first.exitedYet(), 60_000);
  const at = sizeOf(first.out);
  tt.ok(!first.exitedYet() && at < big.size, `the others start while big.bin is being sent to c1 (${at} of ${big.size} bytes)`);
  // c2 listens on the shared group for small.bin, c3 for big.bin: PXE 2.1 listeners. Had
  // big.bin gone to the group, c2 would have written its blocks into small.bin.
  const others = [
    atftpMget(lab, 'c2', { file: small.name, out: outOf(lan, 'c2', small.name), group: SHARED, clientPort: 3001, listenDelay: 2, trace: true }),
    atftpMget(lab, 'c3', { file: big.name, out: outOf(lan, 'c3', big.name), group: SHARED, clientPort: 3001, listenDelay: 2 }),
  ];
  const solos = ['c4', 'c5'].map((c) => atftpMget(lab, c, { file: solo.name, out: outOf(lan, c, solo.name), group: OWN, clientPort: 3002, listenDelay: 2 }));
  const [r1, r2, r3, r4, r5] = await Promise.all([first, ...others, ...solos].map((r) => r.done));
  checkCopies(tt, [r1, r3], big, srv);
  checkCopies(tt, [r2], small, srv);
  checkCopies(tt, [r4, r5], solo, srv);
  tt.comment(`durations (listen + round): ${[r1, r2, r3, r4, r5].map((r) => `${r.member} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);
  const heard = r2.output.split('sent RRQ');
  tt.ok(heard.length > 1 && !/received DATA/.test(heard[0]), 'c2 listened, heard no DATA on the shared group, then asked', { trace: verdict(r2, small).output });
  await cap.stop();
  const frames = parseIpPcap(cap.file);

  const data = frames.filter((p) => p.src === SERVER_IP && opcode(p) === 3);
  tt.ok(data.length > (big.size * 2 + small.size) / 512, `the capture holds the DATA of every round (${data.length} datagrams)`);
  const badPort = data.filter((p) => p.udp!.sport !== MTFTP_PORT);
  tt.same(badPort.slice(0, 5).map((p) => `${p.dst}:${p.udp!.dport} from ${p.udp!.sport}`), [], `every DATA left from the server port ${MTFTP_PORT}`);
  const toShared = data.filter((p) => p.dst === SHARED);
  tt.equal(toShared.length, 0, `no DATA went to the shared group ${SHARED}`);
  const toOwn = data.filter((p) => p.dst === OWN && p.udp!.dport === 3002);
  tt.ok(toOwn.length >= solo.size / 512 + 1, `solo.bin, alone on ${OWN}:3002, was multicast there (${toOwn.length} DATA)`);
  const multicastElsewhere = data.filter((p) => isMulticast(p.dst) && p.dst !== OWN);
  tt.equal(multicastElsewhere.length, 0, 'no other multicast DATA');
  const port69 = frames.filter((p) => p.udp && (p.udp.sport === 69 || p.udp.dport === 69));
  tt.equal(port69.length, 0, 'nothing went to or came from port 69');

  const starts = srv.roundStarts();
  const mastersOf = (file: string) => starts.filter((s) => s.file === file).map(masterIp).sort();
  tt.same(mastersOf(big.name), [lan.ip.c1, lan.ip.c3].sort(), 'big.bin: one unicast round for c1, one for c3', { starts });
  tt.same(mastersOf(small.name), [lan.ip.c2], 'small.bin: one unicast round, for c2');
  const sharedStarts = starts.filter((s) => s.file !== solo.name);
  tt.ok(sharedStarts.every((s) => s.delivery === 'unicast'), 'the shared files\' rounds are logged as unicast');
  tt.same(sharedStarts.map((s) => s.round).sort(), [1, 2, 3], 'the shared group\'s rounds are numbered together (a round is known by group and number)', { sharedStarts });
  tt.equal(mastersOf(solo.name).length, 1, 'solo.bin: one multicast round for both of its clients');
  const done = srv.roundsDone();
  tt.ok(done.length === starts.length && done.every((d) => d.ok === true), 'every round ended ok', { done });
  const c2Start = srv.logs().findIndex((l) => l.msg === 'mtftp round start' && l.file === small.name);
  const c1Done = srv.logs().findIndex((l) => l.msg === 'mtftp round done' && l.file === big.name && masterIp(l) === lan.ip.c1);
  tt.ok(c2Start >= 0 && c1Done >= 0 && c2Start < c1Done, 'small.bin\'s round started while c1\'s round of big.bin still ran (the log\'s order)');
});

t.test('a shared group with real sockets: a repeated RRQ is answered by its round; a new port from the same machine ends the old round', { skip: BOOTLAB_ONLY }, async (tt) => {
  const lan = lanFor(tt, 'sr', 1);
  if (!lan) return;
  const { lab } = lan;
  const a = writeRandomFile(lan.root, 'a.bin', 64 * KiB, 211);
  writeRandomFile(lan.root, 'b.bin', 1000, 212);
  const srv = await startMulticastBootlab(lan, 'srv', {
    files: [{ file: a.name, group: SHARED, clientPort: 3001 }, { file: 'b.bin', group: SHARED, clientPort: 3001 }],
  });
  // The probe never ACKs: its round resends DATA 1 until the new port's RRQ ends it.
  const p1 = await udpProbe(lab, 'c1', SERVER_IP, MTFTP_PORT, [rrq(a.name), rrq(a.name)], { bindPort: 40001, listenMs: 1500 });
  const p2 = await udpProbe(lab, 'c1', SERVER_IP, MTFTP_PORT, [rrq(a.name)], { bindPort: 40002, listenMs: 500 });
  const data1 = (rs: typeof p1) =>
    rs.filter((r) => r.data.length >= 4 && r.data.readUInt16BE(0) === 3 && r.data.readUInt16BE(2) === 1);
  tt.ok(data1(p1).length >= 1 && data1(p1).every((r) => r.port === MTFTP_PORT && r.from === SERVER_IP), `port 40001 got DATA 1 from ${SERVER_IP}:${MTFTP_PORT}`, { p1: p1.length });
  tt.same(data1(p1)[0]?.data.subarray(4), readFileSync(a.path).subarray(0, 512), 'DATA 1 carries the file\'s first 512 bytes');
  tt.ok(data1(p2).length >= 1 && data1(p2).every((r) => r.port === MTFTP_PORT), 'port 40002 got DATA 1 too');
  const starts = srv.roundStarts(a.name);
  tt.equal(starts.length, 2, 'two rounds: the repeated RRQ from port 40001 opened none', { starts });
  const repeated = srv.logs().filter((l) => l.msg === 'mtftp: repeated request; its round answers it');
  tt.equal(repeated.length, 1, 'the second RRQ from 40001 was taken as a repeat');
  const first = await srv.waitLog((l) => l.msg === 'mtftp round done' && l.round === starts[0]?.round);
  tt.match(first?.reason, /master left: .*:40002 asked for a\.bin/, 'the first round ended when the same machine asked from port 40002', { first });
  tt.ok(srv.alive(), 'the server is still running', { server: srv.tail() });
});
