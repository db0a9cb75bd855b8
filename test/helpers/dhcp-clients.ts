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
//   the service's codec. These four are in dhcp-wire.ts, re-exported here.
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
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBootlab, type Bootlab as SpawnedBootlab, type BootlabConfig, type LogLine } from './bootlab.js';
import { NetLab, type LabProcess } from './netlab.js';
import { asRoot, needs } from './needs.js';
import { waitFor, type TapTest } from './util.js';

// Re-exported for the DHCP and MTFTP interop tests, which take them from here.
export { sleep, waitFor, type TapTest } from './util.js';

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

  constructor(
    private readonly lab: NetLab,
    readonly member: string,
    dir: string,
    readonly ifname = 'eth0',
  ) {
    const n = ++udhcpcs;
    this.script = join(dir, `udhcpc-${n}.sh`);
    this.eventsFile = join(dir, `udhcpc-${n}.events`);
    const dump = UDHCPC_VARS.map((v) => `"${v}=\${${v}}"`).join(' ');
    writeFileSync(
      this.script,
      `#!/bin/sh
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
`,
    );
    chmodSync(this.script, 0o755);
  }

  /** Starts udhcpc: -f (foreground) -n (exit if no lease) -t tries -T seconds apart; `once` adds -q. */
  start(opts: { once?: boolean; tries?: number; timeoutSec?: number; extra?: string[] } = {}): LabProcess {
    const args = [
      'udhcpc',
      '-i',
      this.ifname,
      '-f',
      ...((opts.once ?? true) ? ['-q'] : []),
      '-n',
      '-t',
      String(opts.tries ?? 5),
      '-T',
      String(opts.timeoutSec ?? 1),
      '-s',
      this.script,
      ...(opts.extra ?? []),
    ];
    this.proc = this.lab.spawn(this.member, 'busybox', args);
    return this.proc;
  }

  events(): UdhcpcEvent[] {
    if (!existsSync(this.eventsFile)) return [];
    return readFileSync(this.eventsFile, 'utf8')
      .split('---\n')
      .filter((r) => r.trim())
      .map((rec) => {
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
  async once(
    opts: { tries?: number; timeoutSec?: number; extra?: string[]; killAfterMs?: number } = {},
  ): Promise<UdhcpcResult> {
    const t0 = Date.now();
    const p = this.start({ ...opts, once: true });
    const timer = setTimeout(() => {
      void p.stop();
    }, opts.killAfterMs ?? 60_000);
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
// The wire half (packets, probe, captures, relay), for the tests that take it from here.
export * from './dhcp-wire.js';
