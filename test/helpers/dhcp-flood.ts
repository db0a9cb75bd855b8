// Floods of hand-built DHCP requests from a lab namespace, and what a test reads back from
// the bootlab it floods, for the abuse tests (test/lab/interop/dhcp-abuse.test.ts,
// dhcp-fuzz.test.ts):
// - Flood: a small Node script run in a lab namespace that sends copies of one request
//   (test/helpers/dhcp-clients.ts bootRequest) at a steady pace until it is stopped, each
//   with its own xid and, if asked, its own MAC and ciaddr, from one or more source
//   addresses. It prints how many it has sent, so a test can tell "still running" apart
//   from "stopped" by the count growing, never by the clock.
// - adminGet / metric / serviceStats: the admin API of a bootlab inside a lab namespace
//   (address 127.0.0.1 there), read with curl in that namespace.
// - rssKiB: a process's resident memory from /proc; gcProbe: its memory right after a
//   full garbage collection, on request.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetLab, LabProcess } from './netlab.js';
import { waitFor } from './dhcp-clients.js';

export interface FloodSpec {
  /** The request to send (a BOOTREQUEST of 300 bytes or more). */
  template: Buffer;
  /** Where to: 255.255.255.255 (broadcast: a host route is added) or the server's address. */
  to: string;
  /** Packets per second, all sources together. */
  rate: number;
  /** Source addresses, one socket each on port 68, used in turn; default 0.0.0.0 only. */
  sources?: string[];
  /** A new MAC for every packet (02:fl:...: the counter in its last three bytes). */
  varyMac?: boolean;
  /** ciaddr of each packet, in turn from this list. */
  ciaddrs?: string[];
  ifname?: string;
}

// Runs inside the namespace. Every 10 ms it sends what the pace asks for so far (at most
// 50 at once, and none while 256 sends wait in libuv: the flood must not grow without end
// in the flooder), then prints {"sent": n} every 100 ms.
const FLOOD_SCRIPT = `
const dgram = require('node:dgram');
const spec = JSON.parse(process.argv[1]);
const template = Buffer.from(spec.template, 'hex');
const ip = (s) => Buffer.from(s.split('.').map(Number));
const ciaddrs = (spec.ciaddrs || []).map(ip);
const socks = [];
let sent = 0;
let ready = 0;
const sources = spec.sources && spec.sources.length ? spec.sources : ['0.0.0.0'];
for (const address of sources) {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.message }) + '\\n'); process.exit(2); });
  s.bind(68, address, () => { s.setBroadcast(true); if (++ready === sources.length) go(); });
  socks.push(s);
}
function packet(i) {
  const b = Buffer.from(template);
  b.writeUInt32BE((0x5f000000 + i) >>> 0, 4);
  if (spec.varyMac) { b[28] = 0x02; b[29] = 0xf1; b[30] = 0; b[31] = (i >> 16) & 255; b[32] = (i >> 8) & 255; b[33] = i & 255; }
  if (ciaddrs.length) ciaddrs[i % ciaddrs.length].copy(b, 12);
  return b;
}
function go() {
  const t0 = Date.now();
  setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * spec.rate) / 1000);
    for (let n = 0; sent < due && n < 50; n++) {
      const s = socks[sent % socks.length];
      if (s.getSendQueueCount() > 256) break;
      s.send(packet(sent), 67, spec.to);
      sent++;
    }
  }, 10);
  setInterval(() => process.stdout.write(JSON.stringify({ sent }) + '\\n'), 100);
}
`;

export class Flood {
  private done = false;

  private constructor(readonly proc: LabProcess) {
    void proc.exited.then(() => { this.done = true; });
  }

  /** Starts the flood in `member`; resolves once it has sent its first packets. */
  static async start(lab: NetLab, member: string, spec: FloodSpec): Promise<Flood> {
    if (spec.to === '255.255.255.255') lab.exec(member, 'ip', ['route', 'replace', '255.255.255.255/32', 'dev', spec.ifname ?? 'eth0']);
    const arg = JSON.stringify({ ...spec, template: spec.template.toString('hex') });
    const flood = new Flood(lab.spawn(member, process.execPath, ['-e', FLOOD_SCRIPT, arg]));
    const started = await waitFor(() => flood.sent() > 0 || !flood.running, 10_000);
    if (!started || !flood.running) throw new Error(`the flood in ${member} did not start: ${flood.proc.stdout().slice(-500)} ${flood.proc.stderr().slice(-1000)}`);
    return flood;
  }

  /** Packets sent so far (the last count it printed). */
  sent(): number {
    const out = this.proc.stdout();
    const end = out.lastIndexOf('\n');
    const start = out.lastIndexOf('\n', end - 1) + 1;
    if (end <= 0) return 0;
    try {
      const j = JSON.parse(out.slice(start, end)) as { sent?: number; error?: string };
      if (j.error) throw new Error(`flood: ${j.error}`);
      return j.sent ?? 0;
    } catch (e) {
      if ((e as Error).message.startsWith('flood:')) throw e;
      return 0;
    }
  }

  get running(): boolean {
    return !this.done;
  }

  /** Waits until the flood has sent more than `count`: proof it is still going. */
  async sentMoreThan(count: number, timeoutMs = 30_000): Promise<boolean> {
    return (await waitFor(() => this.sent() > count && this.running, timeoutMs)) === true;
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/** GET `path` from the admin API on 127.0.0.1:`port` inside `member` (reads need no token on loopback). */
export function adminGet(lab: NetLab, member: string, port: number, path: string): string {
  return lab.exec(member, 'curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${port}${path}`]);
}

/** A sample of a Prometheus text page: `series` is the name with its labels, exactly as printed. */
export function metric(text: string, series: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${series} `));
  return hit === undefined ? undefined : Number(hit.slice(series.length + 1));
}

/** The DHCP service's stats, as GET /api/services reports them. */
export function serviceStats(lab: NetLab, member: string, port: number): Record<string, number> {
  const body = JSON.parse(adminGet(lab, member, port, '/api/services')) as { services: Array<{ name: string; stats: Record<string, number> }> };
  const dhcp = body.services.find((s) => s.name === 'dhcp');
  if (!dhcp) throw new Error(`no dhcp service in /api/services: ${JSON.stringify(body).slice(0, 500)}`);
  return dhcp.stats;
}

/** Resident memory of a process, KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]);
}

// A preload for the bootlab under test (NODE_OPTIONS=--require): on SIGUSR2 it runs two
// full garbage collections and writes process.memoryUsage() with a serial number to a file.
// Garbage waits for V8's next collection, however long, so memory is compared after one.
const GC_PRELOAD = `
const { writeFileSync } = require('node:fs');
require('node:v8').setFlagsFromString('--expose-gc');
const gc = require('node:vm').runInNewContext('gc');
let n = 0;
process.on('SIGUSR2', () => { gc(); gc(); n++; writeFileSync(process.env.BOOTLAB_TEST_GC_FILE, JSON.stringify({ n, ...process.memoryUsage() })); });
`;

export interface GcProbe {
  /** Environment for startBootlab: the preload and its output file. */
  env: Record<string, string>;
  /** Collects garbage in process `pid` (started with `env`) and returns its memory then. */
  collect(pid: number): Promise<NodeJS.MemoryUsage>;
}

export function gcProbe(dir: string): GcProbe {
  const preload = join(dir, 'gc-on-sigusr2.cjs');
  const out = join(dir, 'gc-memory.json');
  writeFileSync(preload, GC_PRELOAD);
  let seen = 0;
  return {
    env: { NODE_OPTIONS: `--require ${preload}`, BOOTLAB_TEST_GC_FILE: out },
    async collect(pid) {
      process.kill(pid, 'SIGUSR2');
      const m = await waitFor(() => {
        try {
          const j = JSON.parse(readFileSync(out, 'utf8')) as NodeJS.MemoryUsage & { n: number };
          return j.n > seen ? j : undefined;
        } catch {
          return undefined;
        }
      }, 30_000);
      if (!m) throw new Error(`process ${pid} wrote no memory figures after SIGUSR2`);
      seen = m.n;
      return m;
    },
  };
}
