// The MTFTP VM lab (test/vm/mtftp-vm.test.ts, mtftp-shared-vm.test.ts): bootlab with PXE
// MTFTP in a namespace lab, BIOS VMs whose iPXE loads the kernel (and, shared, the initrd)
// by mtftp://, captures on the bridge and in the server namespace, and what to read from them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBootlab } from './bootlab.js';
import { NetLab, type LabProcess } from './netlab.js';
import { asRoot, needs } from './needs.js';
import type { TapTest as Tap } from './dhcp-clients.js';
import { type IpUdp } from './mtftp-lab.js';
import { sha256 } from './util.js';
import {
  markerLine,
  markerTftpRoot,
  newNonce,
  prepareMarkerPayload,
  startRaResponder,
  startVm,
  tailLines,
  waitForText,
  type MarkerPayload,
  type Vm,
} from './vm.js';

export const SERVER_IP = '192.0.2.1';
export const GROUP = '239.255.1.1';
export const CLIENT_PORT = 3001;
export const SERVER_PORT = 1759;
/** A 14 MB kernel over 512-byte lock-step MTFTP under TCG: ~200 s idle, far more on busy cores. */
export const BOOT_TIMEOUT_MS = 1_200_000;

export const CASE_TIMEOUT_MS = BOOT_TIMEOUT_MS + 240_000;
/** A file's own limit: its case, after the other MTFTP VM file's case (oneMtftpVmAtATime). */
export const FILE_TIMEOUT_MS = 2 * CASE_TIMEOUT_MS + 120_000;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The MTFTP VM files run one after the other, not side by side: each is a 14 MB kernel in
 * 512-byte lock-step under TCG, and with both (and the rest of the suite) on two cores this
 * iPXE gave MTFTP up after a stall of the machine (see mtftp-vm.test.ts). A lock file
 * holding the owner's PID, taken over when that process is gone; released at teardown.
 */
export async function oneMtftpVmAtATime(t: Tap): Promise<void> {
  const path = join(tmpdir(), 'bootlab-mtftp-vm.lock');
  for (let announced = false; ;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(readFileSync(path, 'utf8').trim());
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!announced) t.comment(`waiting for the other MTFTP VM file (PID ${owner}) to finish`);
    announced = true;
    await sleep(2000);
  }
  t.teardown(() => {
    let owner = '';
    try { owner = readFileSync(path, 'utf8').trim(); } catch { /* already gone */ }
    if (owner === String(process.pid)) rmSync(path, { force: true });
  });
}

export interface LogLine {
  msg: string;
  [key: string]: unknown;
}

let payload: MarkerPayload | undefined;

export interface Machine {
  mac: string;
  tap: string;
  nonce: string;
  vm: Vm;
}

export interface MtftpLab {
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

export interface LabOptions {
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
export async function mtftpLab(t: Tap, tag: string, macs: string[], opts: LabOptions = {}): Promise<MtftpLab | null> {
  if (!needs(t, asRoot('the MTFTP VM test'))) return null;
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

  const { proc: bl } = await spawnBootlab({
    home: work, lab, member: srv,
    hosts: {
      defaults: { action: 'menu' },
      images: { mtftp: { script: 'mtftp.ipxe' } },
      hosts: Object.fromEntries(macs.map((mac, i) => [mac, { hostname: `mvm${i + 1}`, image: 'mtftp' }])),
    },
    // Keys as in docs/decisions/0005-multicast.md.
    config: {
      tftp: { enabled: true, root, address: '0.0.0.0', port: 69 },
      dhcp: { mode: 'full', interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.150' }, leaseTime: 600 },
      multicast: { interface: 'eth0', ttl: 1 },
      mtftp: {
        enabled: true, serverPort: SERVER_PORT, openTimeout: 2, reopenDelay: 2,
        files: ['vmlinuz', ...(opts.shared ? ['initrd.gz'] : [])].map((file) => ({ file, group: GROUP, clientPort: CLIENT_PORT })),
      },
    },
  });
  bootlab = bl;
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
export async function bootsToMarker(t: Tap, m: Machine): Promise<boolean> {
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
export function leasedIp(bl: LabProcess, mac: string): string | undefined {
  const ack = logLines(bl).find((l) => l.msg === 'dhcp reply' && l.type === 'ACK' && sameMac(l.mac, mac));
  return typeof ack?.yiaddr === 'string' ? ack.yiaddr : undefined;
}

/**
 * What the capture says `ip` was sent, per file: its RRQs to the server port name the file
 * of each of its ports; DATA to those ports give the blocks. A block sent twice must carry
 * the same bytes; the file ends at its short block.
 */
export function rebuildFromWire(
  udp: IpUdp[],
  ip: string,
): Map<string, { blocks: number; conflicts: number; missing: number; sha256: string }> {
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
    const last
      = [...got]
        .filter(([, b]) => b.length < 512)
        .map(([n]) => n)
        .sort((a, b) => a - b)[0] ?? 0;
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

export function isKernel(file: unknown): boolean {
  return file === 'vmlinuz' || file === '/vmlinuz';
}

export function sameMac(a: unknown, b: string): boolean {
  return typeof a === 'string' && a.toLowerCase().replace(/[^0-9a-f]/g, '') === b.toLowerCase().replace(/[^0-9a-f]/g, '');
}

/** bootlab's pino JSON lines so far. */
export function logLines(proc: LabProcess): LogLine[] {
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
