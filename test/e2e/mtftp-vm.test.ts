// End to end: a BIOS VM's iPXE loads its kernel from bootlab over PXE MTFTP.
//
// The lab is pxe-vm.test.ts's (test/helpers/netlab.ts + vm.ts): a bridge, bootlab in a
// "srv" namespace (192.0.2.1/24) as the only DHCP server, a QEMU VM (SeaBIOS + QEMU's
// iPXE ROM) on a tap, and a router-advertisement-only dnsmasq. The host map gives the VM
// an image of kind `script`, so its generated iPXE script chains mtftp.ipxe, written here:
//   kernel mtftp://${next-server}/vmlinuz ...   (PXE MTFTP, bootlab's mtftp service)
//   initrd tftp://${next-server}/initrd.gz      (plain TFTP)
// The marker on the serial console alone proves nothing about MTFTP: iPXE falls back to
// plain TFTP on port 69 when nothing answers on 1759 and prints the same
// "mtftp://...vmlinuz... ok". So the case also proves which way the kernel came:
//   - bootlab logged "mtftp round start" for vmlinuz with the VM as master and
//     "mtftp round done" with ok true, and no "tftp read start" for vmlinuz;
//   - a capture on the bridge shows the VM's RRQ to port 1759 and DATA from port 1759 to
//     239.255.1.1:3001 up to the file's last block, and no RRQ for vmlinuz to port 69.
//
// What Debian 12's iPXE (ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1) does with mtftp://
// (checked here with captures, against atftpd and against nothing; iPXE src/net/udp/tftp.c):
//   - mtftp:// is built in. The RRQ goes out at once (no listening first), to port 1759
//     (a port in the URL overrides it), without options: 512-byte blocks, no tsize.
//   - It receives on 239.255.1.1:3001 (its built-in default for mtftp:// URIs) and
//     sends no IGMP join, so a switch that snoops IGMP would not forward the group to it;
//     the lab bridge runs with snooping off, like a plain switch.
//   - It takes its peer from the first reply (any source port), ACKs only after a unicast
//     DATA (then it is the master), and ACKs every DATA it gets: DATA 1 arrives unicast and
//     multicast, so ACK 1 comes twice (a server answering both sends every block twice).
//   - With nothing on 1759 it falls back to TFTP on port 69 within a second or so and
//     says nothing about it on the console.
//   - Without tsize it grows the image buffer block by block: a 14 MB kernel takes about
//     200 s under TCG on an idle machine (plain TFTP: ~1 s). Hence the long timeouts.
//   - One stall is enough for it to give MTFTP up. Seen once (load ~10 on the 2 cores,
//     18896 blocks into the kernel): ACK 18896, then bootlab's DATA 18897 only 190 ms
//     later (its process did not run), and 1 ms after that the VM's RRQ for vmlinuz went
//     to port 69, with no second RRQ to 1759 before it. tftp.c's recovery re-opens from a
//     new socket when its retry timer fires, and counts a failed MTFTP open on every
//     timer tick while that socket has no peer (the first open counted too); past 3 it
//     falls back. So on a very busy machine either case here can fail its port-69 checks
//     with the boot itself fine: that is this iPXE, not the server (the capture shows it).
//   - No classroom case here: a second VM whose RRQ comes while the round runs listens
//     (bootlab ignores that RRQ, as PXE 2.1 says), but this iPXE never re-opens on 1759 to
//     fill the blocks it missed. ~10 s after the round it falls back to a plain TFTP RRQ on
//     port 69, calls the kernel complete after the first DATA (its block bitmap was freed
//     but the file size kept) and boots an image with the missed blocks absent: the VM hangs
//     without a word (two runs, same captures each time).
//
// The second case is issue 15 A3: kernel AND initrd by mtftp://. iPXE listens on
// 239.255.1.1:3001 for every mtftp:// file, so both files are on one group and port, which
// bootlab then never sends to: every RRQ gets a unicast round from port 1759
// (docs/decisions/0008-mtftp-shared-group.md). atftp --mget clients in namespaces on the
// same bridge fetch the same two files on the same group while the VM fetches each of
// them. Proven: the marker (kernel and initrd loaded and run); the VM's bytes rebuilt from
// a capture in the server namespace, block by block, equal both files (sha256), as do the
// atftp clients' files; every DATA left from port 1759, none to the group, nothing on port 69.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NetLab, requireRoot, type LabProcess } from '../helpers/netlab.js';
import type { TapTest as Tap } from '../helpers/dhcp-clients.js';
import { atftpMget, parseIpPcap, sha256, sha256File, waitFor, type ClientRun, type IpUdp } from '../helpers/mtftp-lab.js';
import {
  markerLine, markerTftpRoot, newNonce, prepareMarkerPayload, repoRoot, startRaResponder, startVm, tailLines, waitForText, type MarkerPayload, type Vm,
} from '../helpers/vm.js';

const SERVER_IP = '192.0.2.1';
const MAC = '52:54:00:00:00:31';
const GROUP = '239.255.1.1';
const CLIENT_PORT = 3001;
const SERVER_PORT = 1759;
/** A 14 MB kernel over 512-byte lock-step MTFTP under TCG: ~200 s idle, far more on busy cores. */
const BOOT_TIMEOUT_MS = 1_200_000;

const CASE_TIMEOUT_MS = BOOT_TIMEOUT_MS + 240_000;

// The runner's per-file timeout (.taprc) is shorter than one slow MTFTP boot; two cases here.
t.setTimeout(2 * CASE_TIMEOUT_MS + 120_000);

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

let payload: MarkerPayload | undefined;

interface Machine {
  mac: string;
  tap: string;
  nonce: string;
  vm: Vm;
}

interface MtftpLab {
  lab: NetLab;
  work: string;
  root: string;
  bootlab: LabProcess;
  machines: Machine[];
  kernelBlocks: number;
  /** Stops the capture and returns a reader: tcpdump -r -nn FILTER, one line per packet. */
  stopCapture(): Promise<(filter: string) => string[]>;
  /** The capture in the server namespace (shared case), once stopped. */
  srvPcap: string;
}

interface LabOptions {
  /** Kernel and initrd both by mtftp://, both on GROUP:CLIENT_PORT (a shared group). */
  shared?: boolean;
  /** Namespaces c1..cN on the bridge (192.0.2.11..) for atftp clients. */
  clients?: number;
}

/**
 * The lab: bootlab (full DHCP, TFTP, PXE MTFTP for vmlinuz, and initrd.gz when shared), a
 * capture on the bridge (and, shared, one in the server namespace with whole packets),
 * and one BIOS VM per MAC, all started at once, each chaining mtftp.ipxe.
 */
async function mtftpLab(t: Tap, tag: string, macs: string[], opts: LabOptions = {}): Promise<MtftpLab | null> {
  if (!requireRoot(t, 'the MTFTP VM test')) return null;
  payload ??= prepareMarkerPayload();
  const work = mkdtempSync(join(tmpdir(), `bl-mtftpvm-${tag}-`));
  const lab = new NetLab(tag);
  let bootlab: LabProcess | undefined;
  const machines: Machine[] = [];
  t.teardown(async () => {
    if (!t.passing()) {
      if (bootlab) t.comment(`bootlab stdout (tail):\n${tailLines(bootlab.stdout(), 60)}\nbootlab stderr (tail):\n${tailLines(bootlab.stderr(), 20)}`);
      for (const m of machines) t.comment(`${m.mac} serial log (tail):\n${m.vm.tail(20)}`);
    }
    await lab.destroy();
    if (t.passing()) rmSync(work, { recursive: true, force: true });
    else t.comment(`kept ${work} (serial logs, capture, config)`);
  });

  const root = markerTftpRoot(work, payload);
  const kernelBlocks = Math.floor(statSync(join(root, 'vmlinuz')).size / 512) + 1;
  // One script for every machine: the marker is this run's nonce and the machine's MAC.
  const runNonce = newNonce();
  writeFileSync(join(root, 'mtftp.ipxe'), [
    '#!ipxe',
    `kernel mtftp://\${next-server}/vmlinuz console=ttyS0 quiet bootlab.marker=${runNonce}-\${mac} || goto failed`,
    `initrd ${opts.shared ? 'mtftp' : 'tftp'}://\${next-server}/initrd.gz || goto failed`,
    'boot || goto failed',
    ':failed',
    'echo BOOTLAB-MTFTP-FAILED errno ${errno}',
    '',
  ].join('\n'));
  writeFileSync(join(work, 'hosts.yaml'), `${JSON.stringify({
    defaults: { action: 'menu' },
    images: { mtftp: { script: 'mtftp.ipxe' } },
    hosts: Object.fromEntries(macs.map((mac, i) => [mac, { hostname: `mvm${i + 1}`, image: 'mtftp' }])),
  }, null, 2)}\n`);
  // YAML is a superset of JSON: written as JSON, keys as in docs/decisions/0005-multicast.md.
  writeFileSync(join(work, 'appliance.yaml'), `${JSON.stringify({
    log: { level: 'debug', pretty: 'never' },
    stateDir: join(work, 'state'),
    hosts: join(work, 'hosts.yaml'),
    tftp: { enabled: true, root, address: '0.0.0.0', port: 69 },
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.150' }, leaseTime: 600 },
    multicast: { interface: 'eth0', ttl: 1 },
    mtftp: {
      enabled: true, serverPort: SERVER_PORT, openTimeout: 2, reopenDelay: 2,
      files: ['vmlinuz', ...(opts.shared ? ['initrd.gz'] : [])].map((file) => ({ file, group: GROUP, clientPort: CLIENT_PORT })),
    },
  }, null, 2)}\n`);

  lab.bridge('br0');
  // iPXE joins no group by IGMP: a snooping bridge that had heard a querier would stop
  // forwarding the group to it. Snooping off: the bridge floods multicast like a plain switch.
  lab.exec(lab.lan, 'ip', ['link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
  const srv = lab.attach('srv', { cidr: `${SERVER_IP}/24` });
  macs.forEach((_, i) => lab.tap(`tap${i}`));
  for (let i = 1; i <= (opts.clients ?? 0); i++) {
    // A route for the groups: joining one from a namespace with only a /24 fails (ENODEV).
    lab.attach(`c${i}`, { cidr: `192.0.2.${10 + i}/24` });
    lab.exec(`c${i}`, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
  }
  startRaResponder(lab, { workDir: work });

  // Headers only (-s 128): the kernel's ~28000 blocks, each sent and ACKed.
  const pcap = join(work, 'br0.pcap');
  const capture = lab.spawn(lab.lan, 'tcpdump', [
    '-i', 'br0', '-nn', '--immediate-mode', '-U', '-s', '128', '-w', pcap,
    `udp and (port 69 or port ${SERVER_PORT} or dst host ${GROUP})`,
  ]);
  await waitForText(() => capture.stderr(), /listening on/, 10_000, capture, 'tcpdump');
  // Shared: every UDP datagram the server namespace sends or gets, whole (the VM's DATA
  // payloads are rebuilt from it), DHCP and all: anything on port 69 would be in it.
  const srvPcap = join(work, 'srv-eth0.pcap');
  const srvCapture = opts.shared ? lab.spawn(srv, 'tcpdump', ['-i', 'eth0', '-nn', '--immediate-mode', '-U', '-s', '2000', '-w', srvPcap, 'udp']) : undefined;
  if (srvCapture) await waitForText(() => srvCapture.stderr(), /listening on/, 10_000, srvCapture, 'tcpdump (srv)');

  bootlab = lab.spawn(srv, process.execPath, [join(repoRoot(), 'dist', 'services', 'cli.js'), 'serve', '--config', join(work, 'appliance.yaml')]);
  const bl = bootlab;
  await waitForText(() => bl.stdout(), /bootlab running/, 30_000, bl, 'bootlab');
  t.ok(logLines(bl).some((l) => l.msg === 'mtftp listening' && l.port === SERVER_PORT), `bootlab's mtftp service listens on ${SERVER_PORT}`);

  macs.forEach((mac, i) => {
    const vm = startVm({ lab, tap: `tap${i}`, mac, firmware: 'bios', workDir: work });
    machines.push({ mac, tap: `tap${i}`, nonce: `${runNonce}-${mac}`, vm });
  });

  return {
    lab, work, root, bootlab: bl, machines, kernelBlocks, srvPcap,
    stopCapture: async () => {
      await capture.stop(2000);
      await srvCapture?.stop(2000);
      return (filter: string): string[] => {
        const out = execFileSync('tcpdump', ['-r', pcap, '-nn', filter], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
        return out.split('\n').filter((l) => l.trim() !== '');
      };
    },
  };
}

/** Waits for a machine's marker (or the script's failure line); true when the marker came. */
async function bootsToMarker(t: Tap, m: Machine): Promise<boolean> {
  const marker = markerLine(m.nonce);
  const ms = await m.vm.waitFor(new RegExp(`${marker}|BOOTLAB-MTFTP-FAILED`), BOOT_TIMEOUT_MS);
  if (!m.vm.log().includes(marker)) {
    t.fail(`${m.mac}: iPXE's script failed before the marker (after ${(ms / 1000).toFixed(1)} s)`, { serial: m.vm.tail(30) });
    return false;
  }
  t.pass(`${m.mac} printed its marker after ${(ms / 1000).toFixed(1)} s`);
  return true;
}

/** The address bootlab's DHCP ACKed to `mac`. */
function leasedIp(bl: LabProcess, mac: string): string | undefined {
  const ack = logLines(bl).find((l) => l.msg === 'dhcp reply' && l.type === 'ACK' && sameMac(l.mac, mac));
  return typeof ack?.yiaddr === 'string' ? ack.yiaddr : undefined;
}

t.test('a BIOS VM loads its kernel from bootlab over PXE MTFTP (mtftp://), not over the TFTP fallback', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  const l = await mtftpLab(t, 'mv', [MAC]);
  if (!l) return;
  const [m] = l.machines;
  if (!await bootsToMarker(t, m)) return;
  const vmIp = leasedIp(l.bootlab, m.mac);
  if (!t.ok(vmIp, 'bootlab leased the VM an address')) return;

  // bootlab's side: one MTFTP round for vmlinuz, mastered by the VM, completed.
  const logs = logLines(l.bootlab);
  const starts = logs.filter((x) => x.msg === 'mtftp round start' && x.file === 'vmlinuz');
  const dones = logs.filter((x) => x.msg === 'mtftp round done' && x.file === 'vmlinuz');
  t.ok(starts.some((x) => x.master === vmIp && x.group === `${GROUP}:${CLIENT_PORT}` && x.protocol === 'pxe'),
    `bootlab opened a PXE MTFTP round for vmlinuz on ${GROUP}:${CLIENT_PORT} with the VM (${vmIp}) as master`, { starts });
  const done = dones.find((x) => x.master === vmIp && x.ok === true);
  t.ok(done, 'bootlab logged the round done, ok, with the VM as master', { dones });
  if (done) {
    t.equal(done.blocks, l.kernelBlocks, `the round was the whole kernel: ${l.kernelBlocks} blocks of 512 bytes`);
    t.comment(`MTFTP round: ${String(done.seconds)} s, ${String(done.blocksSent)} DATA packets sent, ${String(done.retransmits)} retransmits, ${String(done.receivers)} receiver(s)`);
  }
  const tftpReads = logs.filter((x) => x.msg === 'tftp read start');
  t.notOk(tftpReads.some((x) => isKernel(x.file)), 'no plain TFTP read of vmlinuz (iPXE did not fall back)',
    { tftpReads: tftpReads.map((x) => x.file) });
  t.ok(tftpReads.some((x) => x.file === 'initrd.gz'), 'the initrd came over plain TFTP, as the script says');

  // The wire's side. udp[8:2] is the TFTP opcode (1 RRQ, 3 DATA), udp[10:2] a DATA block number.
  const read = await l.stopCapture();
  const rrqs = read(`src host ${vmIp} and dst host ${SERVER_IP} and dst port ${SERVER_PORT} and udp[8:2] = 1`);
  t.ok(rrqs.length >= 1, `the VM sent its RRQ to ${SERVER_IP}:${SERVER_PORT}`, { rrqs: rrqs.slice(0, 5) });
  const firstUnicast = read(`src host ${SERVER_IP} and src port ${SERVER_PORT} and dst host ${vmIp} and udp[8:2] = 3 and udp[10:2] = 1`);
  t.ok(firstUnicast.length >= 1, `DATA 1 went to the VM itself from port ${SERVER_PORT}`);
  const groupData = read(`src host ${SERVER_IP} and src port ${SERVER_PORT} and dst host ${GROUP} and dst port ${CLIENT_PORT} and udp[8:2] = 3`);
  t.ok(groupData.length >= l.kernelBlocks, `DATA to ${GROUP}:${CLIENT_PORT} from port ${SERVER_PORT}: ${groupData.length} packets for ${l.kernelBlocks} blocks`,
    { first: groupData.slice(0, 3) });
  const lastBlock = read(`src port ${SERVER_PORT} and dst host ${GROUP} and dst port ${CLIENT_PORT} and udp[8:2] = 3 and udp[10:2] = ${l.kernelBlocks}`);
  t.ok(lastBlock.length >= 1, `the kernel's last block (${l.kernelBlocks}) went to the group`);
  const port69 = read('dst port 69 and udp[8:2] = 1');
  t.notOk(port69.some((x) => x.includes('"vmlinuz"') || x.includes('"/vmlinuz"')), 'no RRQ for vmlinuz to port 69 on the wire', { port69 });
});

const SHARED_MAC = '52:54:00:00:00:32';
const FILES = ['vmlinuz', 'initrd.gz'];

t.test('a BIOS VM loads kernel and initrd by mtftp:// on one shared group while atftp --mget clients fetch both: byte-exact, all from port 1759, none to the group or port 69', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  const l = await mtftpLab(t, 'ms', [SHARED_MAC], { shared: true, clients: 4 });
  if (!l) return;
  const [m] = l.machines;
  const want = Object.fromEntries(FILES.map((f) => [f, sha256File(join(l.root, f))]));
  const vmIp = await waitFor(() => leasedIp(l.bootlab, m.mac), BOOT_TIMEOUT_MS);
  if (!t.ok(vmIp, 'bootlab leased the VM an address') || !vmIp) return;
  const vmRound = (file: string, phase: 'start' | 'done') => (x: LogLine) => x.msg === `mtftp round ${phase}` && x.file === file && x.master === vmIp;

  // While the VM fetches each file, two atftp clients fetch the two files on its group.
  // The kernel takes the VM minutes, so its clients listen a second first; the initrd
  // takes it seconds (~2000 blocks), so theirs ask at once (listen-delay 0).
  const runs: { file: string; run: ClientRun }[] = [];
  for (const [i, file] of FILES.entries()) {
    const seen = await waitFor(() => logLines(l.bootlab).some(vmRound(file, 'start')) || m.vm.log().includes('BOOTLAB-MTFTP-FAILED'), BOOT_TIMEOUT_MS);
    if (!t.ok(seen && logLines(l.bootlab).some(vmRound(file, 'start')), `the VM's round of ${file} started`, { serial: m.vm.tail(20) })) return;
    for (const [j, f] of FILES.entries()) {
      const member = `c${2 * i + j + 1}`;
      runs.push({ file: f, run: atftpMget(l.lab, member, { file: f, out: join(l.work, `${member}-${f}`), group: GROUP, clientPort: CLIENT_PORT, listenDelay: 1 - i, killAfterMs: BOOT_TIMEOUT_MS }) });
    }
  }
  if (!await bootsToMarker(t, m)) return;
  const results = await Promise.all(runs.map((r) => r.run.done));
  results.forEach((r, i) => {
    const file = runs[i].file;
    t.ok(r.code === 0 && sha256File(r.out) === want[file], `${r.member}: atftp --mget of ${file} exited 0 with a byte-exact copy`, { code: r.code, output: r.output.slice(-1500) });
  });
  t.comment(`atftp --mget (listen + unicast round): ${results.map((r, i) => `${r.member} ${runs[i].file} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);

  // bootlab's side: the VM mastered a unicast round of each file, and each atftp client
  // opened its round while the VM's round of the file of its batch still ran.
  const logs = logLines(l.bootlab);
  for (const [i, file] of FILES.entries()) {
    const done = logs.findIndex(vmRound(file, 'done'));
    const round = logs[done];
    t.ok(round?.ok === true && round.delivery === 'unicast', `the VM's round of ${file} ended ok, unicast`, { round });
    if (round) t.comment(`VM's ${file}: ${String(round.blocks)} blocks in ${String(round.seconds)} s, ${String(round.blocksSent)} DATA, ${String(round.retransmits)} retransmits`);
    for (const r of results.slice(2 * i, 2 * i + 2)) {
      const ip = `192.0.2.${10 + Number(r.member.slice(1))}`;
      const start = logs.findIndex((x) => x.msg === 'mtftp round start' && x.master === ip);
      t.ok(start >= 0 && start < done, `${r.member}'s round (${logs[start]?.file}) started while the VM's round of ${file} ran`, { start, done });
    }
  }

  // The wire's side, from the server namespace.
  await l.stopCapture();
  const udp = parseIpPcap(l.srvPcap).flatMap((p) => (p.udp ? [p.udp] : []));
  const data = udp.filter((u) => u.src === SERVER_IP && u.payload.length >= 4 && u.payload.readUInt16BE(0) === 3);
  t.ok(data.length > l.kernelBlocks * 3, `the capture holds the rounds' DATA (${data.length} datagrams)`);
  t.same(data.filter((u) => u.sport !== SERVER_PORT).slice(0, 5).map((u) => `${u.dst}:${u.dport} from port ${u.sport}`), [], `every DATA left from port ${SERVER_PORT}`);
  t.same(data.filter((u) => Number(u.dst.split('.')[0]) >= 224).slice(0, 5).map((u) => `${u.dst}:${u.dport}`), [], `no DATA went to a group (${GROUP} is shared)`);
  t.same(udp.filter((u) => u.sport === 69 || u.dport === 69).slice(0, 5).map((u) => `${u.src}:${u.sport} > ${u.dst}:${u.dport}`), [], 'nothing to or from port 69');
  const rebuilt = rebuildFromWire(udp, vmIp);
  for (const file of FILES) {
    const r = rebuilt.get(file);
    t.ok(r && r.conflicts === 0 && r.missing === 0, `the DATA the VM was sent for ${file} are consistent and complete`, { blocks: r?.blocks, conflicts: r?.conflicts, missing: r?.missing });
    t.equal(r?.sha256, want[file], `the VM's ${file}, rebuilt from the wire, is byte-exact (sha256)`);
  }
});

/**
 * What the capture says `ip` was sent, per file: its RRQs to the server port name the file
 * of each of its ports; DATA to those ports give the blocks. A block sent twice must carry
 * the same bytes; the file ends at its short block.
 */
function rebuildFromWire(udp: IpUdp[], ip: string): Map<string, { blocks: number; conflicts: number; missing: number; sha256: string }> {
  const fileOfPort = new Map<number, string>();
  for (const u of udp) {
    if (u.src !== ip || u.dport !== SERVER_PORT || u.payload.readUInt16BE(0) !== 1) continue;
    const end = u.payload.indexOf(0, 2);
    fileOfPort.set(u.sport, u.payload.toString('latin1', 2, end < 0 ? u.payload.length : end).replace(/^\/+/, ''));
  }
  const blocks = new Map<string, Map<number, Buffer>>();
  const conflicts = new Map<string, number>();
  for (const u of udp) {
    const file = u.dst === ip && u.sport === SERVER_PORT ? fileOfPort.get(u.dport) : undefined;
    if (!file || u.payload.length < 4 || u.payload.readUInt16BE(0) !== 3) continue;
    const got = blocks.get(file) ?? new Map<number, Buffer>();
    blocks.set(file, got);
    const n = u.payload.readUInt16BE(2);
    const bytes = u.payload.subarray(4);
    const had = got.get(n);
    if (had && !had.equals(bytes)) conflicts.set(file, (conflicts.get(file) ?? 0) + 1);
    got.set(n, bytes);
  }
  const out = new Map<string, { blocks: number; conflicts: number; missing: number; sha256: string }>();
  for (const [file, got] of blocks) {
    const last = [...got].filter(([, b]) => b.length < 512).map(([n]) => n).sort((a, b) => a - b)[0] ?? 0;
    const parts: Buffer[] = [];
    let missing = last === 0 ? 1 : 0;
    for (let n = 1; n <= last; n++) {
      const b = got.get(n);
      if (b) parts.push(b);
      else missing++;
    }
    out.set(file, { blocks: last, conflicts: conflicts.get(file) ?? 0, missing, sha256: sha256(Buffer.concat(parts)) });
  }
  return out;
}

function isKernel(file: unknown): boolean {
  return file === 'vmlinuz' || file === '/vmlinuz';
}

function sameMac(a: unknown, b: string): boolean {
  return typeof a === 'string' && a.toLowerCase().replace(/[^0-9a-f]/g, '') === b.toLowerCase().replace(/[^0-9a-f]/g, '');
}

/** bootlab's pino JSON lines so far. */
function logLines(proc: LabProcess): LogLine[] {
  const out: LogLine[] = [];
  for (const line of proc.stdout().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as LogLine;
      if (j && typeof j.msg === 'string') out.push(j);
    } catch {
      // a line cut by the buffer trim, or not JSON
    }
  }
  return out;
}


