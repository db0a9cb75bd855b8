// npm run bench:mtftp [-- --quick]: one file to many clients on one bridge by three
// methods, bootlab against atftpd (and tftpd-hpa for plain TFTP), in network namespaces,
// one server at a time, runs interleaved (every repetition goes through every case and
// every server, the servers' order rotating, so the machine's noise hits all alike).
//
// Methods (the client is atftp 0.8.0 in every case, one process per client namespace):
//   pxe      PXE MTFTP: atftp --mget, 512-byte blocks, group 239.255.1.1:3001, server
//            port 1759, every client listening --listen-delay seconds before it opens
//   rfc2090  RFC 2090: atftp --option multicast --option "blksize 1468", port 69
//   unicast  plain TFTP: atftp --option "blksize 1468", each client its own transfer;
//            also one client alone (N = 1), the reference for the RFC 2090 goal
// Measured per run: the DATA payload the server sent (nftables counters on the server
// namespace's output hook: bytes - packets x 32) divided by the file size; the wall time
// from the first client's start to the last client's exit; the time from the server's
// first DATA on the wire (tcpdump -c 1) to the last exit; the server process's CPU
// seconds (user + system, its threads and the children it reaped); the clients' CPU
// seconds. Every copy is compared (SHA-256) with the served file: a wrong or missing
// copy fails the run.
//
// Flags: --quick (N = 3, 2 MiB, 1 repetition; never writes the doc), --reps N (3),
// --clients 10,30, --size MiB (16), --servers bootlab,atftpd,tftpd-hpa,
// --methods pxe,rfc2090,unicast, --listen-delay S (3), --timeout S (180 per run),
// --no-doc, --json FILE (default /tmp/bootlab-bench-mtftp-<time>.json), --logs DIR (keep
// each run's server output there).
//
// It never fails on slow numbers. It exits non-zero when the harness breaks (not root, a
// tool missing, the lab cannot be built) or a peer fails a run; bootlab failing is a
// result: its cells say "failed: <reason>".
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALL_SERVERS, BOOTLAB_CLI, IMAGE, MTFTP, McastLab, PROBE, SERVER_IP, WARM, backlogDrops, clientIp, serverDefs,
  type McastServerDef, type McastServerName, type Method, type SentCounters,
} from './mtftp-lab.js';
import { HarnessError, Proc, checkOutput, requireRootAndTools, cpuSeconds, installCleanup, killAllSync, makeBenchFiles, run, sleep, runBench, peerFailureExit } from './lab.js';
import { REPO, fetchPeers } from './peers.js';
import {
  cpuModel, everyRun, fmtNum, loadavg, log, machineBetween, median, procStat, sh, summariseLog,
  type MachineSample, writeMarkedBlock,
} from './report.js';

// ---------------------------------------------------------------------------------------
// Settings

const ALL_METHODS: Method[] = ['pxe', 'rfc2090', 'unicast'];
const METHOD_LABEL: Record<Method, string> = {
  pxe: 'PXE MTFTP (512-byte blocks)',
  rfc2090: 'RFC 2090 (blksize 1468)',
  unicast: 'unicast TFTP (blksize 1468)',
};

interface Settings {
  quick: boolean;
  reps: number;
  clients: number[];
  sizeMiB: number;
  servers: McastServerName[];
  methods: Method[];
  listenDelay: number;
  timeoutS: number;
  doc: boolean;
  json: string;
  /** A folder to keep each run's server output in (for looking into a run), or ''. */
  logs: string;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = {
    quick: false, reps: 3, clients: [10, 30], sizeMiB: 16, servers: [...ALL_SERVERS], methods: [...ALL_METHODS],
    listenDelay: 3, timeoutS: 180, doc: true, json: '', logs: '',
  };
  let reps: number | null = null;
  let clients: number[] | null = null;
  let size: number | null = null;
  const int = (flag: string, v: string | undefined, min: number, max = Infinity) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new HarnessError(`${flag} ${v ?? ''}: must be an integer from ${min}${max < Infinity ? ` to ${max}` : ''}`);
    return n;
  };
  const list = <T extends string>(flag: string, v: string | undefined, all: readonly T[]): T[] => {
    const l = (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    for (const x of l) if (!all.includes(x as T)) throw new HarnessError(`${flag}: unknown ${x} (${all.join(', ')})`);
    if (l.length === 0) throw new HarnessError(`${flag}: empty`);
    return l as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--quick': s.quick = true; break;
      case '--reps': reps = int(a, argv[++i], 1); break;
      case '--clients': clients = (argv[++i] ?? '').split(',').map((n) => int(a, n, 1, 254)); break;
      // 65535 blocks of 512 bytes is PXE MTFTP's ceiling (block numbers are 16 bits).
      case '--size': size = int(a, argv[++i], 1, 31); break;
      case '--servers': s.servers = list(a, argv[++i], ALL_SERVERS); break;
      case '--methods': s.methods = list(a, argv[++i], ALL_METHODS); break;
      case '--listen-delay': s.listenDelay = int(a, argv[++i], 1, 60); break;
      case '--timeout': s.timeoutS = int(a, argv[++i], 10); break;
      case '--no-doc': s.doc = false; break;
      case '--json': s.json = argv[++i] ?? ''; break;
      case '--logs': s.logs = argv[++i] ?? ''; break;
      case '-h': case '--help': {
        const src = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
        const head = src.slice(0, src.findIndex((l) => !l.startsWith('//')));
        process.stdout.write(`${head.map((l) => l.slice(3)).join('\n')}\n`);
        process.exit(0);
        break;
      }
      default: throw new HarnessError(`unknown argument ${a} (try --help)`);
    }
  }
  s.reps = reps ?? (s.quick ? 1 : 3);
  s.clients = clients ?? (s.quick ? [3] : [10, 30]);
  s.sizeMiB = size ?? (s.quick ? 2 : 16);
  if (s.quick) s.doc = false;
  if (!s.json) s.json = join(tmpdir(), `bootlab-bench-mtftp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  return s;
}

const NCPU = cpus().length;
const MiB = 1024 * 1024;
const READY_TIMEOUT_MS = 20_000;
/** The warm-up file's size. */
const WARM_MIB = 2;
/** After the last client exits: let stragglers (retransmits to gone clients) leave before the counters are read. */
const SETTLE_MS = 500;
/** Multicast methods' goal: the server sends at most this many file sizes of DATA, at any N. */
const GOAL_RATIO = 1.2;
/** RFC 2090 at the largest N: wall time at most this many times one unicast client alone. */
const GOAL_WALL = 1.5;

// ---------------------------------------------------------------------------------------
// Results

interface RoundLog {
  protocol: string;
  ok: boolean;
  reason: string;
  blocksSent: number;
  retransmits: number;
  seconds: number;
  receivers: number;
}

interface RunResult {
  server: McastServerName;
  method: Method;
  n: number;
  rep: number;
  ok: boolean;
  failure?: string;
  /** First client's start to the last client's exit. */
  wallS?: number;
  /** The server's first DATA on the wire to the last client's exit. */
  fromFirstDataS?: number | null;
  /** First client's start to the server's first DATA (the listen delay, for PXE MTFTP). */
  firstDataAfterS?: number | null;
  /** First to last client released (one write to each waiting client's pipe). */
  spawnSpreadS?: number;
  /** Each client's own time, start to exit: median and slowest. */
  clientMedianS?: number | null;
  sent?: SentCounters;
  /** DATA payload sent (both counters) ÷ file size. */
  ratio?: number;
  serverCpuS?: number | null;
  clientsCpuS?: number | null;
  machine?: MachineSample;
  rounds?: RoundLog[];
  serverLog?: string[];
  /** Datagrams the clients' sockets dropped for a full receive buffer (UDP RcvbufErrors, all client namespaces). */
  receiverDrops?: number;
  /** Sends the server's kernel refused for a full send buffer (UDP SndbufErrors, server namespace). */
  serverSndbufErrors?: number;
  /** Packets dropped machine-wide for a full CPU input backlog (softnet_stat). */
  backlogDrops?: number;
  /** What the failed clients said last (in the JSON only). */
  clientTails?: string[];
}

const runs: RunResult[] = [];
const notes: string[] = [];
const unavailable = new Map<McastServerName, string>();

// ---------------------------------------------------------------------------------------
// One run

interface Files { base: string; root: string; out: string; sha: string; size: number; warmSha: string }

interface Ctx { settings: Settings; lab: McastLab; files: Files }

function makeFiles(sizeMiB: number): Files {
  const size = sizeMiB * MiB;
  const f = makeBenchFiles('bootlab-bench-mtftp-', [[IMAGE, size], [WARM.file, WARM_MIB * MiB], [PROBE, 1]]);
  return { base: f.base, root: f.root, out: f.out, sha: f.sha[IMAGE], size, warmSha: f.sha[WARM.file] };
}

/** Starts a server in the server namespace and waits until a client's probe gets a file. Throws a reason. */
async function startServer(ctx: Ctx, def: McastServerDef, work: string): Promise<Proc> {
  const launch = def.prepare(work, ctx.files.root);
  const [c, a] = McastLab.exec(ctx.lab.server, launch.cmd, launch.args);
  const proc = new Proc(def.name, c, a, { keepOutput: 8 * MiB });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    if (launch.ready) {
      while (!launch.ready.test(proc.stdout) && !launch.ready.test(proc.stderr)) {
        if (!proc.running) throw new Error(proc.describe());
        if (Date.now() > deadline) throw new Error(`no "${launch.ready.source}" within ${READY_TIMEOUT_MS / 1000} s`);
        await sleep(20);
      }
    }
    for (;;) {
      if (!proc.running) throw new Error(proc.describe());
      if (await ctx.lab.probe()) break;
      if (Date.now() > deadline) throw new Error(`no TFTP answer to a probe within ${READY_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
  } catch (e) {
    await proc.stop(3000);
    throw e;
  }
  return proc;
}

/** Waits until every client's shell has been exec'd by ip netns exec (then it is reading its pipe). */
async function gatesReady(clients: Proc[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const p of clients) {
    for (;;) {
      let argv0 = '';
      try { argv0 = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0]; } catch { /* gone */ }
      if (argv0 === 'sh') break;
      if (!p.running) throw new HarnessError(`a client could not start: ${p.describe()}`);
      if (Date.now() > deadline) throw new HarnessError('the clients\' shells did not start within 20 s');
      await sleep(10);
    }
  }
  await sleep(100);
}

/** atftp's command line for `method`, fetching `file` (PXE MTFTP: on `ch`'s group and client port) into `out`. */
function clientArgs(
  method: Method, out: string, listenDelay: number, file = IMAGE, ch: { group: string; clientPort: number } = MTFTP,
): string[] {
  switch (method) {
    case 'pxe':
      return ['atftp', '--mget', '-r', file, '-l', out,
        '--mtftp', `client-port ${ch.clientPort}`, '--mtftp', `mcast-ip ${ch.group}`,
        '--mtftp', `listen-delay ${listenDelay}`, '--mtftp', 'timeout-delay 2', SERVER_IP, String(MTFTP.serverPort)];
    case 'rfc2090':
      return ['atftp', '--option', 'multicast', '--option', 'blksize 1468', '-g', '-r', file, '-l', out, SERVER_IP, '69'];
    case 'unicast':
      return ['atftp', '--option', 'blksize 1468', '-g', '-r', file, '-l', out, SERVER_IP, '69'];
  }
}

/** One client fetches the warm-up file by `method` (PXE MTFTP: listening 1 s first). Throws a reason. */
async function warmUp(ctx: Ctx, method: Method): Promise<void> {
  const out = join(ctx.files.out, 'warm-up');
  const [c, a] = McastLab.exec(ctx.lab.clients[0], 'atftp', clientArgs(method, out, 1, WARM.file, WARM).slice(1));
  const r = await run(`warm-up ${method}`, c, a, 60_000);
  const bad = r.exit === null ? 'timed out after 60 s' : r.exit.code !== 0 ? r.proc.describe() : await checkOutput(out, ctx.files.warmSha);
  rmSync(out, { force: true });
  if (bad) throw new Error(`warm-up (${method}, one client, ${WARM_MIB} MiB): ${bad}`);
  // Let the server finish the round (its last ACK, its log line) before the counters are reset.
  await sleep(300);
}

/**
 * User + system seconds of the server process: its threads, and the children it reaped (tftpd-hpa
 * forks one per transfer).
 */
function serverCpu(pid: number): number | null {
  const own = cpuSeconds(pid);
  const kids = cpuSeconds(pid, true);
  return own === null || kids === null ? null : own + kids;
}

/** bootlab's log: the measured file's rounds ("mtftp round done") and what it said at warn or above. */
function readBootlabLog(text: string): { rounds: RoundLog[]; warnings: string[] } {
  const rounds: RoundLog[] = [];
  const warn: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string } & Partial<RoundLog>;
      // The measured file's rounds (the warm-up's are on warm.bin).
      if (j.msg === 'mtftp round done' && (j as { file?: string }).file === IMAGE) {
        rounds.push({
          protocol: String(j.protocol), ok: Boolean(j.ok), reason: String(j.reason ?? ''), blocksSent: Number(j.blocksSent ?? 0),
          retransmits: Number(j.retransmits ?? 0), seconds: Number(j.seconds ?? 0), receivers: Number(j.receivers ?? 0),
        });
      }
      if ((j.level ?? 0) >= 40) warn.push(line);
    } catch { /* not JSON */ }
  }
  return { rounds, warnings: summariseLog(warn.join('\n')) };
}

async function oneRun(ctx: Ctx, def: McastServerDef, method: Method, n: number, rep: number): Promise<RunResult> {
  const { settings: s, lab, files } = ctx;
  const res: RunResult = { server: def.name, method, n, rep, ok: false };
  const work = join(files.base, `work-${def.name}-${method}-${n}-${rep}`);
  mkdirSync(work, { recursive: true });
  const outs = Array.from({ length: n }, (_, i) => join(files.out, `${def.name}-${method}-${n}-${rep}-c${i + 1}`));
  let server: Proc | null = null;
  let capture: Proc | null = null;
  const clients: Proc[] = [];
  try {
    try {
      server = await startServer(ctx, def, work);
    } catch (e) {
      res.failure = `start: ${(e as Error).message}`;
      return res;
    }
    try {
      await warmUp(ctx, method);
    } catch (e) {
      res.failure = (e as Error).message;
      return res;
    }
    lab.resetCounters();
    const udpC0 = lab.clientUdpStats(n);
    const udpS0 = lab.udpStats(lab.server);
    const backlog0 = backlogDrops();
    // The clients start at one moment: each waits in a shell on a pipe inside its
    // namespace (ip netns exec has done its work by then), and the harness releases them
    // all with one write each. Spawning 30 of them one by one takes 100-500 ms on a busy
    // machine, and a late joiner costs RFC 2090 the blocks it missed.
    for (let i = 0; i < n; i++) {
      const args = clientArgs(method, outs[i], s.listenDelay);
      const [c, a] = McastLab.exec(lab.clients[i], 'sh', ['-c', 'read go && exec "$@"', 'sh', ...args]);
      clients.push(new Proc(`${def.name} ${method} client ${i + 1} (${clientIp(i)})`, c, a, { stdin: 'pipe', keepOutput: 16 * 1024 }));
    }
    await gatesReady(clients);
    capture = await lab.firstDataCapture();
    const stat0 = procStat();
    const load1 = Number(loadavg().split(' ')[0]);
    const srv0 = serverCpu(server.pid);
    // The clients' CPU is read from the harness's reaped children; what the waiting shells
    // used so far (ip netns exec, sh) is taken off.
    const gateCpu = clients.reduce((sum, p) => sum + (cpuSeconds(p.pid) ?? 0), 0);
    const cli0 = cpuSeconds(process.pid, true);
    const ends: number[] = [];
    clients.forEach((p, i) => { void p.exited.then(() => { ends[i] = performance.now(); }); });
    const t0 = performance.now();
    const epoch0 = Date.now();
    for (const p of clients) p.child.stdin!.end('go\n');
    const spawned = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const all = await Promise.race([
      Promise.all(clients.map((p) => p.exited)).then(() => true),
      new Promise<false>((r) => { timer = setTimeout(() => r(false), s.timeoutS * 1000); }),
    ]);
    clearTimeout(timer);
    const last = performance.now();
    const cli1 = cpuSeconds(process.pid, true);
    if (!all) {
      const left = clients.filter((p) => p.running).length;
      await Promise.all(clients.map((p) => p.stop(1000)));
      res.failure = `${left} of ${n} clients not done after ${s.timeoutS} s`;
    }
    await sleep(SETTLE_MS);
    const srv1 = serverCpu(server.pid);
    res.machine = machineBetween(stat0, procStat(), load1);
    const first = await McastLab.firstDataMs(capture);
    capture = null;
    const serverAlive = server.running;
    const serverSaid = server.describe();
    await server.stop(3000);
    res.sent = lab.counters();
    res.receiverDrops = lab.clientUdpStats(n).rcvbufErrors - udpC0.rcvbufErrors;
    res.serverSndbufErrors = lab.udpStats(lab.server).sndbufErrors - udpS0.sndbufErrors;
    res.backlogDrops = backlogDrops() - backlog0;
    res.ratio = (res.sent.dataMc.payload + res.sent.dataUc.payload) / files.size;
    res.serverCpuS = def.cpuAccounted && srv0 !== null && srv1 !== null ? srv1 - srv0 : null;
    res.clientsCpuS = cli0 !== null && cli1 !== null ? cli1 - cli0 - gateCpu : null;
    const lastEnd = all ? Math.max(...ends) : last;
    res.wallS = (lastEnd - t0) / 1000;
    res.spawnSpreadS = (spawned - t0) / 1000;
    res.clientMedianS = median(ends.map((e) => (e - t0) / 1000).filter((x) => Number.isFinite(x)));
    if (first !== null) {
      res.firstDataAfterS = (first - epoch0) / 1000;
      res.fromFirstDataS = (epoch0 + (lastEnd - t0) - first) / 1000;
    } else {
      res.firstDataAfterS = null;
      res.fromFirstDataS = null;
    }
    if (s.logs) {
      mkdirSync(s.logs, { recursive: true });
      writeFileSync(join(s.logs, `${def.name}-${method}-${n}-${rep + 1}.log`), `${server.stdout}${server.stderr}`);
    }
    if (def.name === 'bootlab') {
      const b = readBootlabLog(server.stdout);
      res.rounds = b.rounds;
      res.serverLog = b.warnings;
    }
    if (res.failure) return res;
    if (!serverAlive) {
      res.failure = `server died during the run: ${serverSaid}`;
      return res;
    }
    // Every copy, byte for byte.
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const p = clients[i];
      if (p.exit?.code !== 0) {
        bad.push(p.describe());
        (res.clientTails ??= []).push(`${p.label}: ${(p.stderr + p.stdout).trim().split('\n').slice(-8).join(' | ')}`);
        rmSync(outs[i], { force: true });
        continue;
      }
      const why = await checkOutput(outs[i], files.sha);
      if (why) bad.push(`${p.label}: ${why}`);
    }
    if (bad.length) {
      res.failure = `${bad.length} of ${n} copies failed: ${bad[0]}`;
      return res;
    }
    res.ok = true;
    return res;
  } finally {
    await Promise.all(clients.map((p) => p.stop(1000)));
    if (capture) await capture.stop(1000);
    if (server) await server.stop(3000);
    for (const o of outs) rmSync(o, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function describeRun(r: RunResult): string {
  const parts: string[] = [];
  if (r.wallS !== undefined) {
    parts.push(`wall ${fmtNum(r.wallS)} s`);
    parts.push(`first DATA after ${fmtNum(r.firstDataAfterS)} s, then ${fmtNum(r.fromFirstDataS)} s to the last exit`);
    parts.push(`sent ${r.ratio!.toFixed(2)} × the file (${r.sent!.dataMc.packets} DATA to a group, ${r.sent!.dataUc.packets} unicast; ${r.sent!.all.packets} packets in all)`);
    const drops = [
      r.receiverDrops ? `${r.receiverDrops} datagrams dropped by full client socket buffers` : '',
      r.serverSndbufErrors ? `${r.serverSndbufErrors} server sends refused (send buffer full)` : '',
      r.backlogDrops ? `${r.backlogDrops} packets dropped by a full CPU backlog (machine-wide)` : '',
    ].filter(Boolean);
    if (drops.length) parts.push(drops.join(', '));
    parts.push(`server CPU ${fmtNum(r.serverCpuS)} s, clients ${fmtNum(r.clientsCpuS)} s, CPUs busy ${r.machine?.busyPct?.toFixed(0) ?? '-'} %, load ${r.machine?.load1 ?? '-'}`);
    parts.push(`clients released within ${(r.spawnSpreadS! * 1000).toFixed(1)} ms, median client ${fmtNum(r.clientMedianS)} s`);
    if (r.rounds?.length) {
      const rt = r.rounds.reduce((x, y) => x + y.retransmits, 0);
      const notOk = r.rounds.filter((x) => !x.ok).map((x) => x.reason);
      parts.push(`bootlab: ${r.rounds.length} round(s), ${rt} retransmits${notOk.length ? `, not ok: ${notOk.join('; ')}` : ''}`);
    }
  }
  const text = parts.join('; ');
  return r.ok ? text : `FAILED ${r.failure}${text ? ` (${text})` : ''}`;
}

// ---------------------------------------------------------------------------------------
// Report

interface Summary {
  server: McastServerName;
  method: Method;
  n: number;
  ok: number;
  failed: string[];
  ratio: number | null;
  worstRatio: number | null;
  wall: number | null;
  fromFirst: number | null;
  cpu: number | null;
  clientsCpu: number | null;
  receiverDrops: number | null;
}

function summarise(server: McastServerName, method: Method, n: number): Summary {
  const all = runs.filter((r) => r.server === server && r.method === method && r.n === n);
  const ok = all.filter((r) => r.ok);
  const m = (f: (r: RunResult) => number | null | undefined) => median(ok.map(f).filter((v): v is number => typeof v === 'number'));
  return {
    server, method, n, ok: ok.length, failed: all.filter((r) => !r.ok).map((r) => r.failure ?? 'failed'),
    ratio: m((r) => r.ratio),
    worstRatio: ok.length ? Math.max(...ok.map((r) => r.ratio!)) : null,
    wall: m((r) => r.wallS),
    fromFirst: m((r) => r.fromFirstDataS),
    cpu: m((r) => r.serverCpuS),
    clientsCpu: m((r) => r.clientsCpuS),
    receiverDrops: m((r) => r.receiverDrops),
  };
}

interface Cell { method: Method; n: number }

function cellsOf(s: Settings): Cell[] {
  const out: Cell[] = [];
  if (s.methods.includes('unicast')) out.push({ method: 'unicast', n: 1 });
  for (const n of s.clients) for (const method of s.methods) if (!(method === 'unicast' && n === 1)) out.push({ method, n });
  return out;
}

const serversFor = (defs: McastServerDef[], m: Method) => defs.filter((d) => d.methods.includes(m));

function table(s: Settings, defs: McastServerDef[]): string {
  const lines = [
    '| method | N | server | server sent ÷ file ↓ | wall s ↓ | first DATA → last done, s ↓ | server CPU s ↓ | clients\' CPU s | receiver drops | runs ok |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { method, n } of cellsOf(s)) {
    for (const d of serversFor(defs, method)) {
      const x = summarise(d.name, method, n);
      const label = `| ${METHOD_LABEL[method]} | ${n}${method === 'unicast' && n === 1 ? ' (alone)' : ''} | ${d.name}`;
      const total = x.ok + x.failed.length;
      if (x.ok === 0) {
        const why = unavailable.get(d.name) ?? x.failed[0] ?? 'no runs';
        lines.push(`${label} | failed: ${why.replace(/\|/g, '/').slice(0, 140)} | | | | | | ${x.ok}/${total} |`);
        continue;
      }
      const worst = x.worstRatio !== null && x.ratio !== null && x.worstRatio > x.ratio + 0.05 ? ` (worst ${x.worstRatio.toFixed(2)})` : '';
      const cpu = d.cpuAccounted ? fmtNum(x.cpu) : 'n/a: a process per transfer';
      lines.push(`${label} | ${x.ratio!.toFixed(2)}${worst} | ${fmtNum(x.wall)} | ${fmtNum(x.fromFirst)} | ${cpu} | ${fmtNum(x.clientsCpu)} | ${x.receiverDrops === null ? '-' : x.receiverDrops.toFixed(0)} | ${x.ok}/${total} |`);
    }
  }
  return lines.join('\n');
}

function ratioText(a: number | null, b: number | null): string {
  if (a === null || b === null || b === 0) return '-';
  return `${(a / b).toFixed(2)}×`;
}

function ratios(s: Settings, defs: McastServerDef[]): string {
  const names = defs.map((d) => d.name);
  if (!names.includes('bootlab') || !names.includes('atftpd')) return '';
  const hpa = names.includes('tftpd-hpa');
  const lines = [
    `| method | N | sent ÷ file vs atftpd | wall vs atftpd | first DATA → done vs atftpd | server CPU vs atftpd |${hpa ? ' wall vs tftpd-hpa |' : ''}`,
    `|---|---:|---:|---:|---:|---:|${hpa ? '---:|' : ''}`,
  ];
  for (const { method, n } of cellsOf(s)) {
    const b = summarise('bootlab', method, n);
    const a = summarise('atftpd', method, n);
    let line = `| ${METHOD_LABEL[method]} | ${n} | ${ratioText(b.ratio, a.ratio)} | ${ratioText(b.wall, a.wall)} | ${ratioText(b.fromFirst, a.fromFirst)} | ${ratioText(b.cpu, a.cpu)} |`;
    if (hpa) {
      if (method === 'unicast') {
        const h = summarise('tftpd-hpa', method, n);
        line += ` ${ratioText(b.wall, h.wall)} |`;
      } else line += ' |';
    }
    lines.push(line);
  }
  return lines.join('\n');
}

/** The issue's goals, for bootlab, and the same yardstick applied to atftpd for reference. */
function goals(s: Settings): string[] {
  const out: string[] = [];
  const big = Math.max(...s.clients);
  const who = (['bootlab', 'atftpd'] as const).filter((n) => s.servers.includes(n));
  for (const method of (['pxe', 'rfc2090'] as const).filter((m) => s.methods.includes(m))) {
    for (const name of who) {
      const per = s.clients.map((n) => summarise(name, method, n));
      if (per.every((x) => x.ok === 0)) { out.push(`- ${METHOD_LABEL[method]}, ${name}: sent ≤ ${GOAL_RATIO} × the file at every N: not measured (no run succeeded)`); continue; }
      const worst = Math.max(...per.filter((x) => x.worstRatio !== null).map((x) => x.worstRatio!));
      const missing = per.filter((x) => x.ok === 0).map((x) => x.n);
      const verdict = missing.length ? `not measured at N = ${missing.join(', ')}` : worst <= GOAL_RATIO ? 'met' : 'missed';
      out.push(`- ${METHOD_LABEL[method]}, ${name}: sent ≤ ${GOAL_RATIO} × the file at every N: `
        + `${per.map((x) => `N = ${x.n}: ${x.ratio === null ? '-' : x.ratio.toFixed(2)}`).join(', ')} (median; worst run ${worst.toFixed(2)}) → ${verdict}`);
    }
  }
  if (s.methods.includes('rfc2090') && s.methods.includes('unicast')) {
    for (const name of who) {
      const r = summarise(name, 'rfc2090', big);
      const u = summarise(name, 'unicast', 1);
      if (r.wall === null || u.wall === null) { out.push(`- RFC 2090 at N = ${big} no slower than ${GOAL_WALL} × one unicast client alone, ${name}: not measured`); continue; }
      const k = r.wall / u.wall;
      const floor = r.clientsCpu === null ? '' : `; the ${big} clients alone needed ${fmtNum(r.clientsCpu)} s of CPU, `
        + `${fmtNum(r.clientsCpu / NCPU)} s of wall time on ${NCPU} CPUs (${(r.clientsCpu / NCPU / u.wall).toFixed(1)}× the alone time) before any server work`;
      out.push(`- RFC 2090 at N = ${big} no slower than ${GOAL_WALL} × one unicast client alone, ${name}: ${fmtNum(r.wall)} s against ${fmtNum(u.wall)} s `
        + `= ${k.toFixed(2)}× → ${k <= GOAL_WALL ? 'met' : 'missed'}${floor}`);
    }
  }
  return out;
}

function runList(s: Settings, defs: McastServerDef[]): string {
  const out: string[] = [];
  for (const { method, n } of cellsOf(s)) {
    for (const d of serversFor(defs, method)) {
      for (const r of runs.filter((x) => x.server === d.name && x.method === method && x.n === n)) {
        out.push(`- ${method} N=${n} ${d.name} #${r.rep + 1}: ${describeRun(r).replace(/\|/g, '/')}`);
      }
    }
  }
  return out.join('\n');
}

function machineLines(s: Settings, defs: McastServerDef[], loadAtStart: string, elapsedS: number): string[] {
  const busy = runs.filter((r) => r.machine?.busyPct != null).map((r) => r.machine!.busyPct!);
  const steal = runs.filter((r) => r.machine?.stealPct != null).map((r) => r.machine!.stealPct!);
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${sh('nproc', [])} CPUs (nproc), ${cpuModel()}, kernel ${sh('uname', ['-r'])}, node ${process.version}`,
    `- load average (1, 5, 15 min): ${loadAtStart} at start, ${loadavg()} at end; during the runs both CPUs were busy ${median(busy)?.toFixed(0) ?? '-'} % `
    + `(median; server, clients and harness included), steal ${median(steal)?.toFixed(1) ?? '-'} %`
    + `${Number(loadAtStart.split(' ')[0]) > NCPU / 2 ? ' (other work was running: the numbers are noisier than on an idle machine)' : ''}`,
    `- servers: ${defs.map((d) => `${d.name} ${d.version}`).join('; ')}`,
    `- client: ${sh('atftp', ['--version']).split('\n')[0]}, one process per client namespace, nothing pinned`,
    `- file: ${s.sizeMiB} MiB of random bytes; N = ${s.clients.join(', ')} clients (and 1 for unicast alone); PXE MTFTP listen delay ${s.listenDelay} s; `
    + `${s.reps} run(s) per cell, servers interleaved${s.quick ? ' (--quick)' : ''}; whole run ${Math.round(elapsedS)} s`,
  ];
}

function report(s: Settings, defs: McastServerDef[], loadAtStart: string, elapsedS: number): string {
  const g = goals(s);
  const r = ratios(s, defs);
  return [
    ...machineLines(s, defs, loadAtStart, elapsedS),
    '',
    table(s, defs),
    '',
    'Medians over the runs. "server sent ÷ file": TFTP DATA payload the server namespace sent (to groups and to single clients) divided by the file '
    + 'size; "wall": the first client\'s start to the last client\'s exit; "first DATA → last done": from the server\'s first DATA on the wire, '
    + 'which for PXE MTFTP leaves out the clients\' listen delay; CPU: user + system seconds during the run (the server\'s threads and reaped children; '
    + 'the clients\' processes together); receiver drops: datagrams the clients\' sockets dropped for a full receive buffer (UDP RcvbufErrors).',
    ...(r ? ['', 'bootlab ÷ peer (medians of the same run; below 1 is better for bootlab in every column):', '', r] : []),
    ...(g.length ? ['', 'Goals (issue 4):', ...g] : []),
    ...(notes.length ? ['', ...notes] : []),
    '',
    ...everyRun(runList(s, defs)),
  ].join('\n');
}

const BEGIN = '<!-- bench:mtftp:begin -->';
const END = '<!-- bench:mtftp:end -->';

function writeDoc(body: string): string {
  return writeMarkedBlock(join(REPO, 'docs/benchmarks.md'), BEGIN, END, body, '## Multicast: PXE MTFTP and RFC 2090 (issue 4)\n\n### Latest results');
}

// ---------------------------------------------------------------------------------------

function requireTools(): void {
  requireRootAndTools('ip netns, nftables, tcpdump', ['ip', 'nft', 'tcpdump', 'atftp'], 'iproute2, nftables, tcpdump, atftp');
}

async function main(): Promise<number> {
  const s = parseArgs(process.argv.slice(2));
  installCleanup();
  requireTools();
  const loadAtStart = loadavg();
  const peers = fetchPeers();
  const all = serverDefs(peers);
  const defs = s.servers.map((n) => all.find((d) => d.name === n)!);
  const cells = cellsOf(s);
  const total = s.reps * cells.reduce((x, c) => x + serversFor(defs, c.method).length, 0);
  log(`bench:mtftp: ${s.reps} rep(s) × ${cells.map((c) => `${c.method}/${c.n}`).join(', ')} × ${defs.map((d) => d.name).join(', ')} = ${total} runs, `
    + `${s.sizeMiB} MiB, load ${loadAtStart}`);
  if (s.servers.includes('bootlab') && !existsSync(BOOTLAB_CLI)) log(`note: ${BOOTLAB_CLI} does not exist (run npm run build): bootlab will fail`);
  const files = makeFiles(s.sizeMiB);
  const lab = new McastLab(Math.max(...s.clients));
  const t0 = Date.now();
  try {
    log(`lab: ${lab.server} (${SERVER_IP}) and ${lab.clients.length} clients on one bridge; files in ${files.root}`);
    const ctx: Ctx = { settings: s, lab, files };
    for (let rep = 0; rep < s.reps; rep++) {
      for (const { method, n } of cells) {
        const here = serversFor(defs, method);
        const order = here.map((_, i) => here[(i + rep) % here.length]);
        for (const def of order) {
          if (unavailable.has(def.name)) continue;
          const r = await oneRun(ctx, def, method, n, rep);
          runs.push(r);
          log(`  #${rep + 1} ${method.padEnd(7)} N=${String(n).padEnd(2)} ${def.name.padEnd(9)} ${describeRun(r)}`);
          if (!r.ok && r.server === 'bootlab' && r.serverLog?.length) log(`    bootlab said: ${r.serverLog.join('; ')}`);
          // bootlab not starting is a result; don't spend time finding it again.
          if (def.name === 'bootlab' && !r.ok && r.failure?.startsWith('start:')) {
            unavailable.set('bootlab', r.failure);
            log('  bootlab is not available: its remaining runs are skipped');
          }
          await sleep(300);
        }
      }
    }
  } finally {
    killAllSync();
    lab.destroy();
  }
  const elapsed = (Date.now() - t0) / 1000;
  const said = new Map<string, number>();
  for (const r of runs) for (const l of r.serverLog ?? []) {
    const k = l.replace(/^\d+ × /, '');
    said.set(k, (said.get(k) ?? 0) + Number(l.split(' ')[0]));
  }
  if (said.size) notes.push(`bootlab logged at warn or above (all runs): ${[...said].map(([k, n]) => `${n} × "${k}"`).join(', ')}.`);
  const body = report(s, defs, loadAtStart, elapsed);
  process.stdout.write(`\n${body}\n\n`);
  writeFileSync(s.json, JSON.stringify({
    date: new Date().toISOString(), settings: s, servers: defs.map((d) => ({ name: d.name, version: d.version })),
    machine: { nproc: NCPU, loadAtStart, loadAtEnd: loadavg(), kernel: sh('uname', ['-r']), node: process.version },
    summary: cellsOf(s).flatMap((c) => serversFor(defs, c.method).map((d) => summarise(d.name, c.method, c.n))),
    unavailable: Object.fromEntries(unavailable), runs,
  }, null, 1));
  log(`raw numbers: ${s.json}`);
  if (s.doc) log(`wrote ${writeDoc(body)}`);
  const peerFailures = runs.filter((r) => r.server !== 'bootlab' && !r.ok);
  return peerFailureExit(peerFailures.map((r) => `${r.server} ${r.method} N=${r.n}: ${r.failure}`));
}

runBench(main);
