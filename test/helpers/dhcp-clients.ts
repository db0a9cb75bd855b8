// Real DHCP clients and hand-built DHCP packets for the DHCP interop tests
// (test/lab/interop/dhcp-*.test.ts), all run inside a NetLab (test/helpers/netlab.ts):
// - startBootlab: spawnBootlab (helpers/bootlab.ts) with a dhcp: section, in a lab
//   namespace; its pino JSON lines on stdout are parsed for "dhcp reply"/"dhcp ignored".
// - Udhcpc: busybox udhcpc with a script that records every event's environment.
// - Dhclient: ISC dhclient with its own config, lease file, PID file and a script that
//   records its environment (never Debian's dhclient-script: inside `ip netns exec` that
//   one would rewrite the host's /etc/resolv.conf).
// - bootRequest/parseBootp: byte-exact BOOTP/DHCP packets (RFC 951, RFC 2131 section 2,
//   RFC 2132 options), built with test/helpers/dhcp-bytes.ts and parsed here, never with
//   the service's codec.
// - probe: sends such packets from port 68 to 255.255.255.255:67 from a lab namespace
//   with a plain UDP socket and collects what comes back to port 68.
// - Capture: tcpdump writing a pcap, parsed here down to Ethernet/IPv4/UDP/BOOTP.
// - Relay: dnsmasq as a DHCP relay in a router namespace.
// Every process is started through the lab (tracked and killed by PID); the lab's
// namespaces are deleted on teardown and, synchronously, on exit or a fatal signal.
//
// Client facts, checked on Debian 12 (busybox 1.35.0, isc-dhclient 4.4.3-P1, dnsmasq 2.90):
// - udhcpc -n exits 1 ("no lease, failing") when nothing answers, 0 with -q once bound.
//   SIGUSR1 renews (unicast REQUEST from the bound address, so the script must really
//   configure it), SIGUSR2 sends a unicast RELEASE and enters the released state. It
//   receives on a raw socket, so it takes unicast or broadcast replies alike.
// - dhclient -d -1 stays in the foreground once bound ("bound to A -- renewal in N
//   seconds." on stderr); SIGTERM stops it without a release and without running the
//   script, so the address stays configured. Run again with the same lease file it starts
//   in INIT-REBOOT (a broadcast REQUEST for the old address). `dhclient -r` with no
//   running client reads the lease file and unicasts a RELEASE from the configured address.
//   The lease file gets one `lease { ... }` block per binding, newest last.
// - A UDP socket in a namespace whose interface has no address can broadcast (source
//   0.0.0.0) once a host route 255.255.255.255/32 dev IF exists, and receives broadcasts.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { message, tlv } from './dhcp-bytes.js';
import { spawnBootlab, type Bootlab as SpawnedBootlab, type BootlabConfig, type LogLine } from './bootlab.js';
import { NetLab, type LabProcess } from './netlab.js';
import { asRoot, needs } from './needs.js';

// Re-exported for the DHCP and MTFTP interop tests, which take them from here.
export { sleep, waitFor, type TapTest } from './util.js';
import { sleep, waitFor, type TapTest } from './util.js';

/** dist/services/cli.js (helpers/paths.ts). */
export { CLI } from './paths.js';

// ---------------------------------------------------------------------------------------
// Tools, lab set-up and clean-up

/**
 * A new NetLab for one test, torn down (processes by PID, then every namespace) when the
 * test ends, pass or fail, and synchronously if the process exits or is signalled first.
 * Returns null when not root (the test is then skipped, or failed under CI: needs.ts).
 */
export function newLab(t: TapTest, tag: string): { lab: NetLab; dir: string } | null {
  if (!needs(t, asRoot(`the DHCP interop test "${t.name}"`))) return null;
  const lab = new NetLab(tag);
  const dir = mkdtempSync(join(tmpdir(), `bootlab-dhcp-${tag}-`));
  t.teardown(async () => {
    try {
      await lab.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return { lab, dir };
}


/** The MAC address of an interface in a lab namespace, lower case. */
export function macOf(lab: NetLab, member: string, ifname: string): string {
  return lab.exec(member, 'cat', [`/sys/class/net/${ifname}/address`]).trim().toLowerCase();
}

/** 02:00:00:00:00:05 and 02-00-00-00-00-05 and 020000000005 compare equal. */
export function sameMac(a: unknown, b: string): boolean {
  return typeof a === 'string' && a.toLowerCase().replace(/[^0-9a-f]/g, '') === b.toLowerCase().replace(/[^0-9a-f]/g, '');
}

/** A logged xid against the packet's: a number, "0x1234abcd", or 8 hex digits. */
export function sameXid(logged: unknown, xid: number): boolean {
  if (typeof logged === 'number') return logged === xid;
  if (typeof logged !== 'string') return false;
  const s = logged.trim();
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s, 16) === xid;
  // All digits is ambiguous (decimal or hex without 0x): accept either reading.
  return (/^\d+$/.test(s) && Number(s) === xid) || (/^[0-9a-f]{1,8}$/i.test(s) && parseInt(s, 16) === xid);
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function inRange(ip: string | undefined, start: string, end: string): boolean {
  if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const n = ipToInt(ip);
  return n >= ipToInt(start) && n <= ipToInt(end);
}

// ---------------------------------------------------------------------------------------
// bootlab

export type { LogLine } from './bootlab.js';
export { jsonLog } from './bootlab.js';

export interface BootlabOptions {
  /** The dhcp: section of appliance.yaml. */
  dhcp: Record<string, unknown>;
  /** The hosts: section of hosts.yaml (MAC -> { hostname, ip, ... }). */
  hosts?: Record<string, Record<string, unknown>>;
  /** Ceiling for the ready line. */
  readyTimeoutMs?: number;
  /** Run again in the folder of an earlier instance (same config, same state/). */
  home?: string;
  /** The tftp: section (default: off); its root is tftpboot/ under the instance's folder. */
  tftp?: Record<string, unknown>;
  /** The admin: section (default: off). */
  admin?: Record<string, unknown>;
  /** Extra environment for the bootlab process. */
  env?: Record<string, string>;
  /** log.level (default debug: every packet; info still logs the ready line and each reply). */
  logLevel?: 'debug' | 'info';
}

export interface Bootlab extends SpawnedBootlab {
  /** The folder of appliance.yaml, hosts.yaml and state/. */
  dir: string;
  /** "dhcp reply" lines, optionally only those for `mac` and of `type`. */
  replies(mac?: string, type?: 'OFFER' | 'ACK' | 'NAK'): LogLine[];
}

let configs = 0;

/** spawnBootlab for the DHCP interop tests: their dhcp: section, TFTP and admin off unless given. */
export async function startBootlab(lab: NetLab, member: string, dir: string, opts: BootlabOptions): Promise<Bootlab> {
  const config = {
    log: { level: opts.logLevel ?? 'debug' },
    tftp: { enabled: false, ...opts.tftp },
    dhcp: opts.dhcp,
    admin: { enabled: false, ...opts.admin },
  } as BootlabConfig;
  const hosts = { defaults: { action: 'menu' }, images: {}, hosts: opts.hosts ?? {} };
  const b = await spawnBootlab({
    home: opts.home ?? join(dir, `bootlab-${++configs}`), config, hosts, lab, member,
    ...(opts.env ? { env: opts.env } : {}), readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
  });
  return {
    ...b,
    dir: b.home,
    replies: (mac, type) => b.logs().filter((l) => l.msg === 'dhcp reply' && (!mac || sameMac(l.mac, mac)) && (!type || l.type === type)),
  };
}

// ---------------------------------------------------------------------------------------
// busybox udhcpc

/** The environment udhcpc hands its script, one record per call. */
export interface UdhcpcEvent {
  event: string;
  ip: string;
  subnet: string;
  router: string;
  dns: string;
  lease: string;
  serverid: string;
  hostname: string;
  domain: string;
  interface: string;
}

const UDHCPC_VARS = ['ip', 'subnet', 'router', 'dns', 'lease', 'serverid', 'hostname', 'domain', 'interface'] as const;

let udhcpcs = 0;

export interface UdhcpcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: UdhcpcEvent[];
  /** The last bound/renew event, if any. */
  lease: UdhcpcEvent | undefined;
  output: string;
  ms: number;
}

/**
 * busybox udhcpc on `ifname` in `member`. Its script appends each event's variables to
 * an events file and, like the stock script, puts the address on the interface on
 * bound/renew and flushes it on deconfig (renew and release are unicast from it).
 */
export class Udhcpc {
  readonly script: string;
  readonly eventsFile: string;
  proc: LabProcess | null = null;

  constructor(private readonly lab: NetLab, readonly member: string, dir: string, readonly ifname = 'eth0') {
    const n = ++udhcpcs;
    this.script = join(dir, `udhcpc-${n}.sh`);
    this.eventsFile = join(dir, `udhcpc-${n}.events`);
    const dump = UDHCPC_VARS.map((v) => `"${v}=\${${v}}"`).join(' ');
    writeFileSync(this.script, `#!/bin/sh
# udhcpc event script (test): record the event, then configure like the stock script.
printf '%s\\n' "event=$1" ${dump} "---" >> '${this.eventsFile}'
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface" ;;
  deconfig)
    ip addr flush dev "$interface" ;;
esac
exit 0
`);
    chmodSync(this.script, 0o755);
  }

  /** Starts udhcpc: -f (foreground) -n (exit if no lease) -t tries -T seconds apart; `once` adds -q. */
  start(opts: { once?: boolean; tries?: number; timeoutSec?: number; extra?: string[] } = {}): LabProcess {
    const args = ['udhcpc', '-i', this.ifname, '-f', ...(opts.once ?? true ? ['-q'] : []), '-n',
      '-t', String(opts.tries ?? 5), '-T', String(opts.timeoutSec ?? 1), '-s', this.script, ...(opts.extra ?? [])];
    this.proc = this.lab.spawn(this.member, 'busybox', args);
    return this.proc;
  }

  events(): UdhcpcEvent[] {
    if (!existsSync(this.eventsFile)) return [];
    return readFileSync(this.eventsFile, 'utf8').split('---\n').filter((r) => r.trim()).map((rec) => {
      const e: Record<string, string> = {};
      for (const line of rec.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) e[line.slice(0, i)] = line.slice(i + 1);
      }
      return e as unknown as UdhcpcEvent;
    });
  }

  /** Waits for an event named `name` at index >= `from`; returns it with its index. */
  async waitEvent(name: string, from: number, timeoutMs: number): Promise<{ e: UdhcpcEvent; i: number } | undefined> {
    return waitFor(() => {
      const ev = this.events();
      for (let i = from; i < ev.length; i++) if (ev[i].event === name) return { e: ev[i], i };
      return undefined;
    }, timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.proc) process.kill(this.proc.pid, sig);
  }

  output(): string {
    return `${this.proc?.stdout() ?? ''}${this.proc?.stderr() ?? ''}`.trim();
  }

  /** Runs to the end with -q (default): resolves when udhcpc exits or is killed after `killAfterMs`. */
  async once(opts: { tries?: number; timeoutSec?: number; extra?: string[]; killAfterMs?: number } = {}): Promise<UdhcpcResult> {
    const t0 = Date.now();
    const p = this.start({ ...opts, once: true });
    const timer = setTimeout(() => { void p.stop(); }, opts.killAfterMs ?? 60_000);
    const { code, signal } = await p.exited;
    clearTimeout(timer);
    const events = this.events();
    const lease = [...events].reverse().find((e) => e.event === 'bound' || e.event === 'renew');
    return { code, signal, events, lease, output: this.output(), ms: Date.now() - t0 };
  }
}

// ---------------------------------------------------------------------------------------
// ISC dhclient

/** The last `lease { }` block of a dhclient lease file. */
export interface DhclientLease {
  fixedAddress: string | undefined;
  /** option NAME VALUE;  (quotes removed) */
  options: Record<string, string>;
  raw: string;
}

export function parseDhclientLeases(text: string): DhclientLease[] {
  const blocks = [...text.matchAll(/^lease \{\n([\s\S]*?)^\}/gm)].map((m) => m[1]);
  return blocks.map((b) => {
    const options: Record<string, string> = {};
    let fixedAddress: string | undefined;
    for (const line of b.split('\n')) {
      const s = line.trim().replace(/;$/, '');
      const fa = /^fixed-address (\S+)$/.exec(s);
      if (fa) fixedAddress = fa[1];
      const o = /^option (\S+) (.*)$/.exec(s);
      if (o) options[o[1]] = o[2].replace(/^"(.*)"$/, '$1');
    }
    return { fixedAddress, options, raw: b };
  });
}

let dhclients = 0;

export class Dhclient {
  readonly conf: string;
  readonly leaseFile: string;
  readonly pidFile: string;
  readonly script: string;
  readonly eventsFile: string;

  constructor(private readonly lab: NetLab, readonly member: string, dir: string, readonly ifname = 'eth0') {
    const n = ++dhclients;
    this.conf = join(dir, `dhclient-${n}.conf`);
    this.leaseFile = join(dir, `dhclient-${n}.leases`);
    this.pidFile = join(dir, `dhclient-${n}.pid`);
    this.script = join(dir, `dhclient-${n}.sh`);
    this.eventsFile = join(dir, `dhclient-${n}.events`);
    // Our own config: no host-name sent (the stock one sends the host's), T1/T2 asked for.
    writeFileSync(this.conf, [
      'timeout 20;',
      'retry 1;',
      'initial-interval 1;',
      'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name, dhcp-renewal-time, dhcp-rebinding-time;',
      '',
    ].join('\n'));
    writeFileSync(this.script, `#!/bin/sh
# dhclient script (test): record the environment, configure the address like dhclient-script.
env | grep -E '^(reason|interface|new_|old_)' | sort >> '${this.eventsFile}'
echo --- >> '${this.eventsFile}'
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  RELEASE|EXPIRE|FAIL|STOP)
    ip addr flush dev "$interface" ;;
esac
exit 0
`);
    chmodSync(this.script, 0o755);
  }

  private args(extra: string[]): string[] {
    return ['-4', '-v', ...extra, '-cf', this.conf, '-lf', this.leaseFile, '-pf', this.pidFile, '-sf', this.script, this.ifname];
  }

  /** `dhclient -4 -v -d -1 ...`: resolves once it logs "bound to", or exits, or times out. */
  async bind(timeoutMs = 30_000): Promise<{ proc: LabProcess; bound: string | undefined; output: string }> {
    const proc = this.lab.spawn(this.member, 'dhclient', this.args(['-d', '-1']));
    let exited = false;
    void proc.exited.then(() => { exited = true; });
    const got = await waitFor(() => /bound to (\S+) -- renewal/.exec(proc.stderr()) ?? (exited ? 'exit' : undefined), timeoutMs);
    const bound = Array.isArray(got) ? got[1] : undefined;
    return { proc, bound, output: `${proc.stdout()}${proc.stderr()}`.trim() };
  }

  /** `dhclient -4 -v -r ...` (no client running: releases the lease in the lease file). */
  async release(timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
    rmSync(this.pidFile, { force: true });
    const proc = this.lab.spawn(this.member, 'dhclient', this.args(['-r']));
    const timer = setTimeout(() => { void proc.stop(); }, timeoutMs);
    const { code } = await proc.exited;
    clearTimeout(timer);
    return { code, output: `${proc.stdout()}${proc.stderr()}`.trim() };
  }

  leases(): DhclientLease[] {
    return existsSync(this.leaseFile) ? parseDhclientLeases(readFileSync(this.leaseFile, 'utf8')) : [];
  }

  /** The `reason=` of each script call so far. */
  reasons(): string[] {
    if (!existsSync(this.eventsFile)) return [];
    return [...readFileSync(this.eventsFile, 'utf8').matchAll(/^reason=(\S+)$/gm)].map((m) => m[1]);
  }
}

// ---------------------------------------------------------------------------------------
// Hand-built BOOTP/DHCP packets
//
// BOOTREQUEST layout (RFC 951; RFC 2131 section 2, figure 1), big-endian:
//   off len field
//     0   1 op      1 = BOOTREQUEST, 2 = BOOTREPLY
//     1   1 htype   1 = Ethernet
//     2   1 hlen    6
//     3   1 hops    0
//     4   4 xid     transaction id, chosen by the client, echoed by the server
//     8   2 secs    0
//    10   2 flags   0x8000 = BROADCAST (reply to 255.255.255.255), else 0
//    12   4 ciaddr  client address (only when BOUND/RENEW/REBINDING)
//    16   4 yiaddr  "your" address (set by the server)
//    20   4 siaddr  next server (set by the server)
//    24   4 giaddr  relay agent address
//    28  16 chaddr  client hardware address: the MAC, then 10 zero bytes
//    44  64 sname   server host name (zeros)
//   108 128 file    boot file name (zeros)
//   236   4 magic   99.130.83.99 (0x63825363)
//   240   - options code, length, value ... then 255 (END); padded with 0 to 300 bytes,
//                   the BOOTP minimum (RFC 1542 section 2.1).

export const BOOTP_MIN = 300;
export const MAGIC = 0x63825363;

export const DHCP = {
  DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8,
} as const;

export function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${ip}`);
  return Buffer.from(parts);
}

export interface BootRequest {
  xid: number;
  mac: string;
  broadcast?: boolean;
  ciaddr?: string;
  giaddr?: string;
  /** [code, value] in the order they are written; 255 and the padding are added. */
  options: Array<[number, Buffer]>;
}

/** A BOOTREQUEST as laid out above (written by dhcp-bytes.ts), padded to 300 bytes. */
export function bootRequest(r: BootRequest): Buffer {
  const msg = message({
    xid: r.xid >>> 0, mac: r.mac, flags: r.broadcast ? 0x8000 : 0, ciaddr: r.ciaddr, giaddr: r.giaddr,
    optionArea: Buffer.concat([...r.options.map(([code, value]) => tlv(code, value)), Buffer.from([255])]),
  });
  return msg.length >= BOOTP_MIN ? msg : Buffer.concat([msg, Buffer.alloc(BOOTP_MIN - msg.length)]);
}

export interface Bootp {
  length: number;
  op: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: string;
  sname: string;
  file: string;
  options: Map<number, Buffer>;
  /** Option 53, or undefined (plain BOOTP). */
  type: number | undefined;
}

const ipAt = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const cstr = (b: Buffer): string => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('latin1');
};

/** Parses a BOOTP/DHCP packet; throws on anything malformed (short, bad cookie, option overrun). */
export function parseBootp(b: Buffer): Bootp {
  if (b.length < 240) throw new Error(`BOOTP packet of ${b.length} bytes (< 240)`);
  if (b.readUInt32BE(236) !== MAGIC) throw new Error(`bad magic cookie ${b.readUInt32BE(236).toString(16)}`);
  const options = new Map<number, Buffer>();
  let o = 240;
  while (o < b.length) {
    const code = b[o++];
    if (code === 0) continue;
    if (code === 255) break;
    if (o >= b.length) throw new Error(`option ${code} has no length`);
    const len = b[o++];
    if (o + len > b.length) throw new Error(`option ${code} runs past the packet`);
    // RFC 3396: repeated options are concatenated.
    const v = b.subarray(o, o + len);
    options.set(code, options.has(code) ? Buffer.concat([options.get(code)!, v]) : Buffer.from(v));
    o += len;
  }
  const t = options.get(53);
  return {
    length: b.length,
    op: b[0],
    xid: b.readUInt32BE(4),
    flags: b.readUInt16BE(10),
    ciaddr: ipAt(b, 12),
    yiaddr: ipAt(b, 16),
    siaddr: ipAt(b, 20),
    giaddr: ipAt(b, 24),
    chaddr: [...b.subarray(28, 28 + Math.min(b[2], 16))].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    sname: cstr(b.subarray(44, 108)),
    file: cstr(b.subarray(108, 236)),
    options,
    type: t && t.length === 1 ? t[0] : undefined,
  };
}

export const optIp = (b: Buffer | undefined): string | undefined => (b && b.length === 4 ? ipAt(b, 0) : undefined);
export const optStr = (b: Buffer | undefined): string | undefined => (b ? cstr(b) : undefined);

// ---------------------------------------------------------------------------------------
// probe: a plain UDP socket in a lab namespace

export interface ProbeReply {
  from: string;
  port: number;
  data: Buffer;
  /** Milliseconds after the packet was sent. */
  at: number;
}

// Runs inside the namespace: bind 0.0.0.0:68 (SO_REUSEADDR), SO_BROADCAST, send each
// packet (hex in argv) to 255.255.255.255:67, print every datagram received for listenMs.
const PROBE_SCRIPT = `
const dgram = require('node:dgram');
const [packets, listenMs, stopAfter, lingerMs] = JSON.parse(process.argv[1]);
let got = 0;
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let t0 = Date.now();
s.on('error', (e) => { out({ error: e.message }); process.exit(2); });
s.on('message', (m, r) => {
  out({ from: r.address, port: r.port, hex: m.toString('hex'), at: Date.now() - t0 });
  if (stopAfter && ++got === stopAfter) setTimeout(() => { s.close(); process.exit(0); }, lingerMs);
});
s.bind(68, '0.0.0.0', async () => {
  s.setBroadcast(true);
  t0 = Date.now();
  for (const hex of packets) {
    await new Promise((res, rej) => s.send(Buffer.from(hex, 'hex'), 67, '255.255.255.255', (e) => (e ? rej(e) : res())));
    out({ sent: hex.length / 2 });
  }
  setTimeout(() => { s.close(); process.exit(0); }, listenMs);
});
`;

/**
 * Broadcasts `packets` from 0.0.0.0:68 in `member` (whose `ifname` may have no address:
 * a host route 255.255.255.255/32 dev ifname is added) and returns what came back to
 * port 68 within `listenMs`, or until `lingerMs` after the `stopAfter`th reply: a probe
 * that expects an answer gives a long listenMs (it only stops a test whose server is
 * silent) and stopAfter, so a loaded machine is never taken for a missing reply; the
 * linger catches a duplicate sent right after it.
 */
export async function probe(lab: NetLab, member: string, packets: Buffer[], opts: { listenMs?: number; ifname?: string; stopAfter?: number; lingerMs?: number } = {}): Promise<{ replies: ProbeReply[]; sent: number; output: string }> {
  lab.exec(member, 'ip', ['route', 'replace', '255.255.255.255/32', 'dev', opts.ifname ?? 'eth0']);
  const listenMs = opts.listenMs ?? 2000;
  const proc = lab.spawn(member, process.execPath, ['-e', PROBE_SCRIPT, JSON.stringify([packets.map((p) => p.toString('hex')), listenMs, opts.stopAfter ?? 0, opts.lingerMs ?? 0])]);
  const timer = setTimeout(() => { void proc.stop(); }, listenMs + 15_000);
  const { code } = await proc.exited;
  clearTimeout(timer);
  const replies: ProbeReply[] = [];
  let sent = 0;
  for (const line of proc.stdout().split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as { from?: string; port?: number; hex?: string; at?: number; sent?: number; error?: string };
    if (j.error) throw new Error(`probe in ${member}: ${j.error}`);
    if (j.sent) sent += 1;
    if (j.hex !== undefined) replies.push({ from: j.from!, port: j.port!, data: Buffer.from(j.hex, 'hex'), at: j.at! });
  }
  if (code !== 0) throw new Error(`probe in ${member} exited ${code}: ${proc.stderr()}`);
  return { replies, sent, output: proc.stdout() };
}

// ---------------------------------------------------------------------------------------
// tcpdump capture, parsed from the pcap file

export interface Frame {
  srcMac: string;
  dstMac: string;
  /** Set for IPv4/UDP frames. */
  udp?: { src: string; dst: string; sport: number; dport: number; payload: Buffer };
  /** Set when the UDP ports are 67/68 and the payload parses as BOOTP. */
  bootp?: Bootp;
}

const macAt = (b: Buffer, o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Parses a classic pcap file of Ethernet frames (microsecond or nanosecond, either byte order). */
export function parsePcap(file: Buffer): Frame[] {
  if (file.length < 24) return [];
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) le = true;
  else if (file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`pcap link type ${u32(20)}, expected 1 (Ethernet)`);
  const frames: Frame[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const incl = u32(o + 8);
    const f = file.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    if (f.length < 14) continue;
    const frame: Frame = { dstMac: macAt(f, 0), srcMac: macAt(f, 6) };
    frames.push(frame);
    if (f.readUInt16BE(12) !== 0x0800 || f.length < 34) continue;
    const ihl = (f[14] & 0x0f) * 4;
    if (f[23] !== 17 || f.length < 14 + ihl + 8) continue;
    const u = 14 + ihl;
    const sport = f.readUInt16BE(u);
    const dport = f.readUInt16BE(u + 2);
    const payload = f.subarray(u + 8, u + f.readUInt16BE(u + 4));
    frame.udp = { src: ipAt(f, 26), dst: ipAt(f, 30), sport, dport, payload };
    if ([67, 68].includes(sport) || [67, 68].includes(dport)) {
      try { frame.bootp = parseBootp(payload); } catch { /* not BOOTP */ }
    }
  }
  return frames;
}

export class Capture {
  private constructor(readonly proc: LabProcess, readonly file: string) {}

  /**
   * tcpdump -i `iface` in `member`, writing every packet at once to a pcap under `dir`.
   * --immediate-mode: without it packets wait in the kernel buffer up to a second and a
   * stop in that second loses them ("8 packets received by filter, 0 captured").
   */
  static async start(lab: NetLab, member: string, iface: string, dir: string, filter = 'udp'): Promise<Capture> {
    const file = join(dir, `${member.replace(/[^\w-]/g, '_')}-${iface}-${Date.now()}.pcap`);
    const proc = lab.spawn(member, 'tcpdump', ['-i', iface, '-n', '--immediate-mode', '-U', '-s', '2000', '-w', file, filter]);
    let exited = false;
    void proc.exited.then(() => { exited = true; });
    const ok = await waitFor(() => exited || /listening on/.test(proc.stderr()), 10_000);
    if (!ok || exited) throw new Error(`tcpdump on ${iface} did not start: ${proc.stderr()}`);
    return new Capture(proc, file);
  }

  /** What has been captured so far (tcpdump -U writes each packet as it comes). */
  frames(): Frame[] {
    return existsSync(this.file) ? parsePcap(readFileSync(this.file)) : [];
  }

  /** Stops tcpdump (SIGTERM by PID; it flushes the file) and returns every frame. */
  async stop(): Promise<Frame[]> {
    await sleep(300); // the last packets' way through the bridge and tcpdump
    await this.proc.stop();
    const counts = /(\d+) packets? captured\n(\d+) packets? received by filter/.exec(this.proc.stderr());
    if (counts && counts[1] !== counts[2]) throw new Error(`tcpdump on ${this.file} lost packets: ${this.proc.stderr()}`);
    return this.frames();
  }
}

// ---------------------------------------------------------------------------------------
// dnsmasq as a DHCP relay

/**
 * `dnsmasq --dhcp-relay=<local>,<server>` in `member`: requests arriving on the interface
 * that holds `local` are relayed to `server` with giaddr = `local`; replies to giaddr are
 * passed back to the client. DNS off (--port=0), no config file, no pid file, log to stderr.
 */
export async function startRelay(lab: NetLab, member: string, local: string, server: string): Promise<LabProcess> {
  const proc = lab.spawn(member, 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--pid-file=', '--log-facility=-', '--log-dhcp',
    `--dhcp-relay=${local},${server}`,
  ]);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const ok = await waitFor(() => exited || /started, version/.test(proc.stderr() + proc.stdout()), 10_000);
  if (!ok || exited) throw new Error(`dnsmasq relay did not start: ${proc.stderr()}`);
  return proc;
}
