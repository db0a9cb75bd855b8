// npm run bench:dhcp [-- --quick]: bootlab's DHCP server (full mode) against Kea and
// dnsmasq under perfdhcp load, in two network namespaces, one server at a time, runs
// interleaved (every repetition goes through every rate and every server, the servers'
// order rotating, so the machine's noise hits all alike).
//
// Each run: a fresh server with an empty lease file in the server namespace (pinned to
// CPU 0), a 2 s warm-up at the run's rate from other clients (not measured), tcpdump on
// the client's veth, then in the client namespace (pinned to CPU 1)
//   perfdhcp -4 -l eth0 -r RATE -R 60000 -p SECONDS -W 1000000 -d 1 -s SEED
// full DORA exchanges at RATE new exchanges per second from 60 000 simulated clients.
// Measured: exchanges per second completed (ACKs received / SECONDS), exchanges not
// completed (DISCOVERs sent - ACKs received; perfdhcp's drops), reply delay average, 99th
// percentile and maximum (from the capture: dhcp-pcap.ts), the server's CPU time, and its
// lease file afterwards (evidence that leases were persisted).
//
// Flags: --quick (1 repetition of 6 s: about 2.5 minutes), --reps N (3), --seconds S (20),
// --rates 500,2000,5000, --servers bootlab,kea,dnsmasq, --clients 60000, --warmup S (2),
// --no-pin, --no-doc (a full run rewrites its block in docs/benchmarks.md; --quick never
// does), --json FILE (default /tmp/bootlab-bench-dhcp-<time>.json).
//
// It never fails on slow numbers. It exits non-zero when the harness breaks (not root, a
// tool missing, the lab cannot be built) or a peer (Kea, dnsmasq) fails a run; bootlab
// failing to start is a result: its rows say "not available: <reason>".
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseCapture, type CaptureResult } from './dhcp-pcap.js';
import {
  ALL_SERVERS, BOOTLAB_CLI, CLIENT_IP, DhcpLab, POOL, SERVER_IP, PREFIX_LEN, leaseFileInfo, parsePerfdhcp,
  serverDefs, toolVersions, type DhcpServerDef, type DhcpServerName, type PerfdhcpReport,
} from './dhcp-lab.js';
import { HarnessError, Proc, cpuSeconds, requireRootAndTools, installCleanup, killAllSync, removeAtExit, run, sleep, runBench, peerFailureExit } from './lab.js';
import { REPO } from './peers.js';
import {
  benchMarkers, cpuModel, everyRun, fmtNum, loadavg, log, machineBetween, median, procStat, sh,
  summariseLog, type MachineSample, writeMarkedBlock,
} from './report.js';

// ---------------------------------------------------------------------------------------
// Settings

interface Settings {
  quick: boolean;
  reps: number;
  seconds: number;
  rates: number[];
  servers: DhcpServerName[];
  clients: number;
  warmup: number;
  pin: boolean;
  doc: boolean;
  json: string;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = {
    quick: false, reps: 3, seconds: 20, rates: [500, 2000, 5000], servers: [...ALL_SERVERS], clients: 60000, warmup: 2,
    pin: true, doc: true, json: '',
  };
  let reps: number | null = null;
  let seconds: number | null = null;
  const int = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new HarnessError(`${flag} ${v ?? ''}: must be an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--quick': s.quick = true; break;
      case '--reps': reps = int(a, argv[++i], 1); break;
      case '--seconds': seconds = int(a, argv[++i], 2); break;
      case '--rates': s.rates = (argv[++i] ?? '').split(',').map((r) => int(a, r, 1)); break;
      case '--clients': s.clients = int(a, argv[++i], 1); break;
      case '--warmup': s.warmup = int(a, argv[++i], 0); break;
      case '--servers': {
        const list = (argv[++i] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
        for (const n of list) if (!ALL_SERVERS.includes(n as DhcpServerName)) throw new HarnessError(`--servers: unknown server ${n} (${ALL_SERVERS.join(', ')})`);
        s.servers = list as DhcpServerName[];
        break;
      }
      case '--no-pin': s.pin = false; break;
      case '--no-doc': s.doc = false; break;
      case '--json': s.json = argv[++i] ?? ''; break;
      case '-h': case '--help':
        {
          const src = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
          const head = src.slice(0, src.findIndex((l) => !l.startsWith('//')));
          process.stdout.write(`${head.map((l) => l.slice(3)).join('\n')}\n`);
        }
        process.exit(0);
        break;
      default: throw new HarnessError(`unknown argument ${a} (try --help)`);
    }
  }
  s.reps = reps ?? (s.quick ? 1 : 3);
  s.seconds = seconds ?? (s.quick ? 6 : 20);
  if (s.quick) s.doc = false;
  if (!s.json) s.json = join(tmpdir(), `bootlab-bench-dhcp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  return s;
}

const NCPU = cpus().length;
const DROP_TIME_S = 1;
const EXIT_WAIT_US = 1_000_000;
const READY_TIMEOUT_MS = 20_000;
const PROBE_MAC = '02:bb:00:00:00:01';
/** Warm-up clients: another MAC range than the measured run's (perfdhcp's default base 00:0c:01:02:03:04). */
const WARMUP_MAC = '02:cc:00:00:00:00';

// ---------------------------------------------------------------------------------------
// Results

interface RunResult {
  server: DhcpServerName;
  rate: number;
  rep: number;
  seed: number;
  ok: boolean;
  failure?: string;
  startMs?: number;
  /** The warm-up before the measured run (perfdhcp's own numbers; not captured). */
  warmup?: { acks: number; incomplete: number; avgMs: number | null; maxMs: number | null };
  perfdhcpExit?: number | null;
  perfdhcp?: PerfdhcpReport;
  /** DISCOVERs perfdhcp managed to send per second (it may fall short of RATE on a busy core). */
  sentPerS?: number;
  /** Full DORA exchanges completed per second: ACKs received / test period. */
  achievedPerS?: number;
  /** DISCOVERs sent - ACKs received (perfdhcp's drops of both exchanges). */
  incomplete?: number;
  incompletePct?: number;
  capture?: CaptureResult & { kernelDropped: number | null; tcpdumpCaptured: number | null };
  serverCpuS?: number | null;
  /** Wall time over which serverCpuS was taken (perfdhcp's run: test period, exit wait, start and stop). */
  windowS?: number;
  leaseFile?: { bytes: number; lines: number; path: string };
  machine?: MachineSample;
  serverLog?: string[];
}

const runs: RunResult[] = [];
const notes: string[] = [];
const unavailable = new Map<DhcpServerName, string>();

// ---------------------------------------------------------------------------------------
// One run

interface Ctx {
  settings: Settings;
  lab: DhcpLab;
  work: string;
  pcaps: string;
  serverCpu: string | null;
  clientCpu: string | null;
}

/** One short DORA from a MAC outside perfdhcp's range: true once an ACK came back. */
async function probe(ctx: Ctx): Promise<boolean> {
  const [c, a] = DhcpLab.execPinned(ctx.lab.client, null, 'perfdhcp', ['-4', '-l', 'eth0', '-r', '5', '-p', '1', '-W', '500000', '-b', `mac=${PROBE_MAC}`]);
  const r = await run('probe', c, a, 15_000);
  const rep = parsePerfdhcp(r.proc.stdout);
  return (rep?.RA.received ?? 0) > 0;
}

/** Starts a server and waits until it completes a DORA. Throws a reason. */
async function startServer(
  ctx: Ctx,
  def: DhcpServerDef,
  work: string,
): Promise<{ proc: Proc; leaseFile: string; ms: number }> {
  const launch = def.prepare(work);
  const [c, a] = DhcpLab.execPinned(ctx.lab.server, ctx.serverCpu, launch.cmd, launch.args);
  const t0 = performance.now();
  const proc = new Proc(def.name, c, a, { keepOutput: 1024 * 1024 });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    await sleep(200);
    for (;;) {
      if (!proc.running) throw new Error(proc.describe());
      if (await probe(ctx)) break;
      if (!proc.running) throw new Error(proc.describe());
      if (Date.now() > deadline)
        throw new Error(
          `no DHCPACK to a probe within ${READY_TIMEOUT_MS / 1000} s${proc.stderr.trim() ? ` (it said: ${proc.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 200)})` : ''}`,
        );
      await sleep(300);
    }
  } catch (e) {
    await proc.stop(3000);
    throw e;
  }
  return { proc, leaseFile: launch.leaseFile, ms: performance.now() - t0 };
}

async function startCapture(ctx: Ctx, file: string): Promise<Proc> {
  // -s 300: up to option 53 (BOOTP header 236 + cookie 4 after 42 bytes of Ethernet, IP, UDP);
  // -B: 64 MiB ring; -Z root: write the file as root (Debian drops to the tcpdump user).
  const [c, a] = DhcpLab.execPinned(ctx.lab.client, ctx.clientCpu, 'tcpdump', [
    '-i', 'eth0', '-n', '-s', '300', '-B', '65536', '--time-stamp-precision=nano', '-Z', 'root', '-w', file, 'udp port 67',
  ]);
  const p = new Proc('tcpdump', c, a);
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(p.stderr)) {
    if (!p.running) throw new HarnessError(`tcpdump: ${p.describe()}`);
    if (Date.now() > deadline) { await p.stop(); throw new HarnessError('tcpdump did not start listening within 10 s'); }
    await sleep(50);
  }
  return p;
}

async function stopCapture(p: Proc): Promise<{ captured: number | null; dropped: number | null }> {
  await sleep(300); // the last replies reach the ring
  p.signal('SIGINT');
  await p.wait(10_000);
  const num = (re: RegExp) => { const m = re.exec(p.stderr); return m ? Number(m[1]) : null; };
  return { captured: num(/(\d+) packets? captured/), dropped: num(/(\d+) packets? dropped by kernel/) };
}

async function oneRun(ctx: Ctx, def: DhcpServerDef, rate: number, rep: number): Promise<RunResult> {
  const { settings } = ctx;
  const seed = rep + 1;
  const res: RunResult = { server: def.name, rate, rep, seed, ok: false };
  const work = join(ctx.work, `${def.name}-${rate}-${rep}`);
  mkdirSync(work, { recursive: true });
  const pcap = join(ctx.pcaps, `${def.name}-${rate}-${rep}.pcap`);
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let capture: Proc | null = null;
  try {
    try {
      server = await startServer(ctx, def, work);
    } catch (e) {
      res.failure = `start: ${(e as Error).message}`;
      return res;
    }
    res.startMs = server.ms;
    if (settings.warmup > 0) {
      // A fresh process (Node's JIT above all) answers its first second slower; a real
      // appliance runs for days. Every server gets the same warm-up at the run's rate from
      // other clients, then a pause for its queue to drain.
      const [wc, wa] = DhcpLab.execPinned(ctx.lab.client, ctx.clientCpu, 'perfdhcp', [
        '-4', '-l', 'eth0', '-r', String(rate), '-R', String(settings.clients), '-p', String(settings.warmup),
        '-W', '500000', '-d', String(DROP_TIME_S), '-s', String(seed), '-b', `mac=${WARMUP_MAC}`,
      ]);
      const w = await run(`warm-up ${def.name}`, wc, wa, (settings.warmup + 30) * 1000);
      const wr = parsePerfdhcp(w.proc.stdout);
      if (wr) {
        res.warmup = {
          acks: wr.RA.received,
          incomplete: Math.max(0, wr.DO.sent - wr.RA.received),
          avgMs: wr.DO.avgMs,
          maxMs: Math.max(wr.DO.maxMs ?? 0, wr.RA.maxMs ?? 0),
        };
      }
      await sleep(1500);
    }
    capture = await startCapture(ctx, pcap);
    const stat0 = procStat();
    const load1 = Number(loadavg().split(' ')[0]);
    const cpu0 = cpuSeconds(server.proc.pid);
    const w0 = performance.now();
    const [c, a] = DhcpLab.execPinned(ctx.lab.client, ctx.clientCpu, 'perfdhcp', [
      '-4', '-l', 'eth0', '-r', String(rate), '-R', String(settings.clients), '-p', String(settings.seconds),
      '-W', String(EXIT_WAIT_US), '-d', String(DROP_TIME_S), '-s', String(seed),
    ]);
    const pd = await run(`perfdhcp ${def.name} ${rate}/s`, c, a, (settings.seconds + 60) * 1000);
    const cpu1 = cpuSeconds(server.proc.pid);
    const endMs = Date.now();
    res.windowS = (performance.now() - w0) / 1000;
    res.machine = machineBetween(stat0, procStat(), load1);
    res.serverCpuS = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
    const cap = await stopCapture(capture);
    capture = null;
    res.perfdhcpExit = pd.exit?.code ?? null;
    const rep0 = parsePerfdhcp(pd.proc.stdout);
    // 0: every exchange completed; 3: some did not (a result, not a failure).
    if (pd.exit === null || (pd.exit.code !== 0 && pd.exit.code !== 3) || !rep0) {
      res.failure = `perfdhcp: ${pd.exit === null ? 'timed out' : pd.proc.describe()}`;
      return res;
    }
    res.perfdhcp = rep0;
    res.sentPerS = rep0.DO.sent / settings.seconds;
    res.achievedPerS = rep0.RA.received / settings.seconds;
    res.incomplete = Math.max(0, rep0.DO.sent - rep0.RA.received);
    res.incompletePct = rep0.DO.sent > 0 ? (100 * res.incomplete) / rep0.DO.sent : 0;
    try {
      res.capture = {
        ...analyseCapture(pcap, CLIENT_IP, DROP_TIME_S * 1000, endMs),
        kernelDropped: cap.dropped,
        tcpdumpCaptured: cap.captured,
      };
    } catch (e) {
      res.failure = `capture: ${(e as Error).message}`;
      return res;
    }
    if (!server.proc.running) {
      res.failure = `server died during the run: ${server.proc.describe()}`;
      return res;
    }
    res.ok = true;
    return res;
  } finally {
    if (capture) await capture.stop();
    if (server) {
      await server.proc.stop(5000);
      const info = leaseFileInfo(server.leaseFile);
      res.leaseFile = { ...info, path: server.leaseFile };
      if (def.name.startsWith('bootlab')) res.serverLog = summariseLog(`${server.proc.stdout}\n${server.proc.stderr}`);
    }
    rmSync(pcap, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function describeRun(r: RunResult): string {
  if (!r.ok) return `FAILED ${r.failure}`;
  const d = r.capture!.all;
  return `${r.achievedPerS!.toFixed(0)}/s done (sent ${r.sentPerS!.toFixed(0)}/s), incomplete ${r.incomplete} (${r.incompletePct!.toFixed(2)} %), `
    + `delay avg ${fmtNum(d.avgMs)} p99 ${fmtNum(d.p99Ms)} max ${fmtNum(d.maxMs)} ms (${d.n} replies), server CPU ${r.serverCpuS?.toFixed(1) ?? '?'} s in ${r.windowS?.toFixed(1) ?? '?'} s, `
    + `leases ${(r.leaseFile!.bytes / 1e6).toFixed(2)} MB/${r.leaseFile!.lines} lines, load ${r.machine!.load1}`;
}

// ---------------------------------------------------------------------------------------
// Report

function fmtRate(v: number | null): string {
  return v === null ? '-' : v.toFixed(0);
}

interface Summary {
  server: DhcpServerName;
  rate: number;
  n: number;
  failed: string[];
  achieved: number | null;
  sent: number | null;
  incomplete: number | null;
  incompletePct: number | null;
  incompleteTotal: number;
  avg: number | null;
  p99: number | null;
  max: number | null;
  cpuPct: number | null;
  leaseBytes: number | null;
  leaseLines: number | null;
}

function summarise(server: DhcpServerName, rate: number): Summary {
  const all = runs.filter((r) => r.server === server && r.rate === rate);
  const ok = all.filter((r) => r.ok);
  const m = (f: (r: RunResult) => number | null | undefined) => median(ok.map(f).filter((v): v is number => typeof v === 'number'));
  return {
    server,
    rate,
    n: ok.length,
    failed: all.filter((r) => !r.ok).map((r) => r.failure ?? 'failed'),
    achieved: m((r) => r.achievedPerS),
    sent: m((r) => r.sentPerS),
    incomplete: m((r) => r.incomplete),
    incompletePct: m((r) => r.incompletePct),
    incompleteTotal: ok.reduce((s, r) => s + (r.incomplete ?? 0), 0),
    avg: m((r) => r.capture?.all.avgMs),
    p99: m((r) => r.capture?.all.p99Ms),
    max: m((r) => r.capture?.all.maxMs),
    cpuPct: m((r) =>
      r.serverCpuS === null || r.serverCpuS === undefined || !r.windowS ? null : (100 * r.serverCpuS) / r.windowS,
    ),
    leaseBytes: m((r) => r.leaseFile?.bytes),
    leaseLines: m((r) => r.leaseFile?.lines),
  };
}

function pct(v: number): string {
  if (v === 0) return '0 %';
  if (v < 0.01) return '<0.01 %';
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} %`;
}

function table(s: Settings): string {
  const lines = [
    '| offered/s | server | completed DORA/s ↑ | not completed ↓ | reply delay avg ms ↓ | p99 ms ↓ | max ms ↓ | server CPU | lease file after the run |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const rate of s.rates) {
    for (const server of s.servers) {
      const u = unavailable.get(server);
      const x = summarise(server, rate);
      if (x.n === 0) {
        const why = u ?? x.failed[0] ?? 'no runs';
        const text = `${server.startsWith('bootlab') ? 'not available' : 'failed'}: ${why.replace(/\|/g, '/').slice(0, 120)}`;
        lines.push(`| ${rate} | ${server} | ${text} | | | | | | |`);
        continue;
      }
      const short = x.sent !== null && x.sent < 0.97 * rate ? ` (perfdhcp sent ${fmtRate(x.sent)}/s)` : '';
      const failed = x.failed.length ? ` (${x.failed.length} run${x.failed.length > 1 ? 's' : ''} failed)` : '';
      const lease = x.leaseBytes === null ? '-' : `${(x.leaseBytes / 1e6).toFixed(2)} MB, ${x.leaseLines} lines`;
      lines.push(`| ${rate} | ${server} | ${fmtRate(x.achieved)}${short}${failed} | ${fmtRate(x.incomplete)} (${pct(x.incompletePct ?? 0)}) | `
        + `${fmtNum(x.avg)} | ${fmtNum(x.p99)} | ${fmtNum(x.max)} | ${x.cpuPct === null ? '-' : `${x.cpuPct.toFixed(0)} %`} | ${lease} |`);
    }
  }
  return lines.join('\n');
}

function goals(s: Settings): string[] {
  if (!s.servers.includes('bootlab')) return [];
  const out: string[] = [];
  const b2 = s.rates.includes(2000) ? summarise('bootlab', 2000) : null;
  const b5 = s.rates.includes(5000) ? summarise('bootlab', 5000) : null;
  const k5 = s.rates.includes(5000) && s.servers.includes('kea') ? summarise('kea', 5000) : null;
  if (b2) {
    if (b2.n === 0) out.push('- 2000/s, no drops and p99 < 5 ms: not measured (bootlab not available)');
    else {
      const ok = b2.incompleteTotal === 0 && b2.p99 !== null && b2.p99 < 5;
      out.push(`- 2000/s, no drops and p99 < 5 ms: ${b2.incompleteTotal} exchanges not completed over ${b2.n} run(s), p99 ${fmtNum(b2.p99)} ms (median) → ${ok ? 'met' : 'missed'}`);
    }
  }
  if (b5 && k5) {
    if (b5.n === 0 || k5.n === 0) out.push('- 5000/s offered, at least Kea\'s completed rate: not measured');
    else out.push(`- 5000/s offered, at least Kea's completed rate: bootlab ${fmtRate(b5.achieved)}/s, Kea ${fmtRate(k5.achieved)}/s → ${b5.achieved! >= k5.achieved! ? 'met' : 'missed'}`);
  }
  if (s.servers.includes('bootlab-noadmin')) {
    // Issue 5: the admin API's progress model and metrics see every DHCP message.
    for (const rate of s.rates) {
      const on = summarise('bootlab', rate);
      const off = summarise('bootlab-noadmin', rate);
      if (on.cpuPct === null || off.cpuPct === null || !off.cpuPct) continue;
      out.push(`- the admin layer's cost at ${rate}/s: server CPU ${on.cpuPct.toFixed(0)} % with it, ${off.cpuPct.toFixed(0)} % without (${(on.cpuPct / off.cpuPct).toFixed(2)}×), `
        + `p99 ${fmtNum(on.p99)} against ${fmtNum(off.p99)} ms, ${fmtRate(on.achieved)}/s against ${fmtRate(off.achieved)}/s completed`);
    }
  }
  const bl = runs.filter((r) => r.server === 'bootlab' && r.ok);
  if (bl.length) {
    const empty = bl.filter((r) => !r.leaseFile || r.leaseFile.bytes === 0).length;
    // Every ACK of the run: the probe's few, the warm-up's and the measured ones.
    const ratio = median(
      bl.map((r) => (r.leaseFile?.lines ?? 0) / Math.max(1, (r.perfdhcp?.RA.received ?? 0) + (r.warmup?.acks ?? 0))),
    );
    const size = median(bl.map((r) => r.leaseFile?.bytes ?? 0));
    out.push(`- leases persisted: bootlab's journal (stateDir/dhcp-leases.jsonl) was ${empty === 0 ? 'non-empty after every run' : `EMPTY after ${empty} run(s)`} `
      + `(median ${size === null ? '-' : (size / 1e6).toFixed(2)} MB), ${ratio === null ? '-' : ratio.toFixed(2)} lines per ACK perfdhcp received (warm-up and measured, median) → ${empty === 0 ? 'met' : 'missed'}`);
  }
  return out;
}

function runList(s: Settings): string {
  const out: string[] = [];
  for (const rate of s.rates) {
    for (const server of s.servers) {
      for (const r of runs.filter((x) => x.server === server && x.rate === rate)) {
        let line = `- ${rate}/s ${server} #${r.rep + 1}: ${describeRun(r)}`;
        if (r.ok && r.perfdhcp) {
          const c = r.capture!;
          line += `; p99 DO ${fmtNum(c.byType.DO.p99Ms)} RA ${fmtNum(c.byType.RA.p99Ms)} ms; perfdhcp's own avg DO ${fmtNum(r.perfdhcp.DO.avgMs)} RA ${fmtNum(r.perfdhcp.RA.avgMs)}, `
            + `max ${fmtNum(Math.max(r.perfdhcp.DO.maxMs ?? 0, r.perfdhcp.RA.maxMs ?? 0))} ms`;
          const pr = r.perfdhcp.DO.received + r.perfdhcp.RA.received;
          if (c.all.n !== pr) line += `; perfdhcp counted ${r.perfdhcp.DO.received} OFFERs + ${r.perfdhcp.RA.received} ACKs, the capture paired ${c.byType.DO.n} + ${c.byType.RA.n}`;
          if (r.warmup) line += `; warm-up: ${r.warmup.incomplete} not completed, max ${fmtNum(r.warmup.maxMs)} ms`;
          if (c.late || c.unmatched || c.kernelDropped) line += `; capture: ${c.late} late, ${c.unmatched} unmatched, ${c.kernelDropped ?? 0} dropped by the kernel`;
        }
        out.push(line);
      }
    }
  }
  return out.join('\n');
}

function machineLines(s: Settings, defs: DhcpServerDef[], loadAtStart: string, elapsedS: number): string[] {
  const cpu = cpuModel();
  const tools = toolVersions();
  const busy = runs.filter((r) => r.machine?.busyPct != null).map((r) => r.machine!.busyPct!);
  const steal = runs.filter((r) => r.machine?.stealPct != null).map((r) => r.machine!.stealPct!);
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${sh('nproc', [])} CPUs (nproc), ${cpu}, kernel ${sh('uname', ['-r'])}, node ${process.version}`,
    `- load average (1, 5, 15 min): ${loadAtStart} at start, ${loadavg()} at end; during the runs both CPUs were busy ${median(busy)?.toFixed(0) ?? '-'} % `
    + `(median; our server, perfdhcp and tcpdump included), steal ${median(steal)?.toFixed(1) ?? '-'} %`
    + `${Number(loadAtStart.split(' ')[0]) > NCPU / 2 ? ' (other work was running: the numbers are noisier than on an idle machine)' : ''}`,
    `- servers: ${defs.map((d) => `${d.name} ${d.version}`).join('; ')}`,
    `- client: perfdhcp ${tools.perfdhcp}, capture tcpdump ${tools.tcpdump}`,
    `- runs: ${s.reps} per server and rate, ${s.seconds} s each (+1 s exit wait) after a ${s.warmup} s warm-up, ${s.clients} simulated clients, `
    + `servers ${s.pin && NCPU > 1 ? 'on CPU 0, perfdhcp and tcpdump on CPU 1' : 'and clients unpinned'}${s.quick ? ' (--quick)' : ''}; whole run ${Math.round(elapsedS)} s`,
  ];
}

function report(s: Settings, defs: DhcpServerDef[], loadAtStart: string, elapsedS: number): string {
  const g = goals(s);
  return [
    ...machineLines(s, defs, loadAtStart, elapsedS),
    '',
    table(s),
    '',
    'Medians over the runs. "completed": full DORA exchanges per second (ACKs received ÷ test period); "not completed": DISCOVERs sent − ACKs received '
    + '(perfdhcp\'s drops: no reply within 1 s); delays from the capture, both exchanges (DISCOVER→OFFER, REQUEST→ACK) pooled; server CPU: user + system '
    + 'time ÷ wall time of the perfdhcp run (100 % = one core).',
    ...(g.length ? ['', 'bootlab\'s goals (issue 3):', ...g] : []),
    ...(notes.length ? ['', ...notes] : []),
    '',
    ...everyRun(runList(s)),
  ].join('\n');
}

const { begin: BEGIN, end: END } = benchMarkers('dhcp');

function writeDoc(body: string): string {
  return writeMarkedBlock(join(REPO, 'docs/benchmarks.md'), BEGIN, END, body, '## DHCP (issue 3)\n\n### Latest results');
}

// ---------------------------------------------------------------------------------------

function requireTools(): void {
  requireRootAndTools('ip netns, raw sockets for Kea, tcpdump', ['ip', 'taskset', 'perfdhcp', 'tcpdump', 'kea-dhcp4', 'dnsmasq', 'dpkg-query'], 'iproute2, util-linux, kea-admin, tcpdump, kea-dhcp4-server, dnsmasq-base');
}

async function main(): Promise<number> {
  const s = parseArgs(process.argv.slice(2));
  installCleanup();
  requireTools();
  const loadAtStart = loadavg();
  const all = serverDefs();
  const defs = s.servers.map((n) => all.find((d) => d.name === n)!);
  const total = s.reps * s.rates.length * defs.length;
  log(`bench:dhcp: ${s.reps} rep(s) × rates ${s.rates.join(', ')}/s × ${defs.map((d) => d.name).join(', ')} = ${total} runs of ${s.seconds} s `
    + `(about ${Math.ceil((total * (s.seconds + s.warmup + 7)) / 60)} min), ${s.clients} clients, load ${loadAtStart}`);
  if (s.servers.includes('bootlab') && !existsSync(BOOTLAB_CLI)) log(`note: ${BOOTLAB_CLI} does not exist (run npm run build): bootlab will be "not available"`);
  const pin = s.pin && NCPU > 1;
  const work = mkdtempSync(join(tmpdir(), 'bootlab-bench-dhcp-')); // on disk: lease files are written where a server would write them
  removeAtExit(work);
  const pcaps = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bootlab-bench-dhcp-pcap-'));
  removeAtExit(pcaps);
  const lab = new DhcpLab();
  const t0 = Date.now();
  try {
    try { lab.create(); } catch (e) { throw new HarnessError(`cannot build the namespace lab: ${(e as Error).message.split('\n')[0]}`); }
    log(`lab: ${lab.server} (${SERVER_IP}/${PREFIX_LEN}) <-veth-> ${lab.client} (${CLIENT_IP}/${PREFIX_LEN}), pool ${POOL.start}-${POOL.end}; leases under ${work}`);
    const ctx: Ctx = { settings: s, lab, work, pcaps, serverCpu: pin ? '0' : null, clientCpu: pin ? '1' : null };
    for (let rep = 0; rep < s.reps; rep++) {
      for (const rate of s.rates) {
        // The servers' order rotates with the repetition.
        const order = defs.map((_, i) => defs[(i + rep) % defs.length]);
        for (const def of order) {
          if (unavailable.has(def.name)) continue;
          const r = await oneRun(ctx, def, rate, rep);
          runs.push(r);
          log(`  #${rep + 1} ${String(rate).padStart(4)}/s ${def.name.padEnd(7)} ${describeRun(r)}`);
          // bootlab not starting is a result; don't spend 20 s per run finding it again.
          if (def.name === 'bootlab' && !r.ok && r.failure?.startsWith('start:')) {
            unavailable.set('bootlab', r.failure.slice(7));
            log('  bootlab is not available: its remaining runs are skipped');
          }
          await sleep(500);
        }
      }
    }
  } finally {
    killAllSync();
    lab.destroy();
  }
  const elapsed = (Date.now() - t0) / 1000;
  const bootlabLog = runs.filter((r) => r.server === 'bootlab' && r.serverLog?.length);
  if (bootlabLog.length) {
    const c = new Map<string, number>();
    for (const r of bootlabLog) for (const l of r.serverLog!) c.set(l.replace(/^\d+ × /, ''), (c.get(l.replace(/^\d+ × /, '')) ?? 0) + Number(l.split(' ')[0]));
    notes.push(`bootlab logged (level warn, all runs): ${[...c].map(([k, n]) => `${n} × "${k}"`).join(', ')}.`);
  }
  const warm = s.servers.map((n) => {
    const w = runs.filter((r) => r.server === n && r.warmup).map((r) => r.warmup!);
    return w.length ? `${n} max ${fmtNum(median(w.map((x) => x.maxMs ?? 0)))} ms (median), ${w.reduce((a, x) => a + x.incomplete, 0)} not completed (all runs together)` : null;
  }).filter(Boolean);
  if (warm.length) notes.push(`Warm-up (the first ${s.warmup} s of each fresh server, other clients, not in the table; perfdhcp's own timing): ${warm.join('; ')}.`);
  const mismatch = runs.filter(
    (r) =>
      r.ok
      && r.capture
      && r.perfdhcp
      && Math.abs(r.capture.all.n - (r.perfdhcp.DO.received + r.perfdhcp.RA.received))
      > 0.005 * Math.max(1, r.perfdhcp.DO.received + r.perfdhcp.RA.received),
  );
  if (mismatch.length) {
    const by = [...new Set(mismatch.map((r) => r.server))].map((n) => {
      const d = mismatch
        .filter((r) => r.server === n)
        .map(
          (r) =>
            (100 * (r.capture!.all.n - (r.perfdhcp!.DO.received + r.perfdhcp!.RA.received)))
            / (r.perfdhcp!.DO.received + r.perfdhcp!.RA.received),
        );
      return `${n} in ${d.length} run(s), ${Math.min(...d).toFixed(1)} to ${Math.max(...d).toFixed(1)} %`;
    });
    notes.push(`The capture paired a different number of replies than perfdhcp counted (more than 0.5 % apart; capture − perfdhcp): ${by.join('; ')}. `
      + 'The table\'s completed and not-completed counts are perfdhcp\'s; the delays are the capture\'s.');
  }
  const lost = runs.filter((r) => r.capture && r.capture.kernelDropped);
  if (lost.length) notes.push(`tcpdump lost packets in ${lost.length} run(s): their percentiles are from an incomplete capture (see every run).`);
  const body = report(s, defs, loadAtStart, elapsed);
  process.stdout.write(`\n${body}\n\n`);
  writeFileSync(
    s.json,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        settings: s,
        servers: defs.map((d) => ({ name: d.name, version: d.version })),
        tools: toolVersions(),
        machine: { nproc: NCPU, loadAtStart, loadAtEnd: loadavg(), kernel: sh('uname', ['-r']), node: process.version },
        summary: s.rates.flatMap((rate) => s.servers.map((n) => summarise(n, rate))),
        unavailable: Object.fromEntries(unavailable),
        runs,
      },
      null,
      1,
    ),
  );
  log(`raw numbers: ${s.json}`);
  if (s.doc) log(`wrote ${writeDoc(body)}`);
  const peerFailures = runs.filter((r) => !r.server.startsWith('bootlab') && !r.ok);
  return peerFailureExit(peerFailures.map((r) => `${r.server} ${r.rate}/s: ${r.failure}`));
}

runBench(main);
