// npm run bench:tftp: bootlab's unicast TFTP server against tftpd-hpa and atftpd, the
// same files, the same clients, the same CPU pinning, runs interleaved (A B C A B C ...).
// Prints a table of medians and writes it into docs/benchmarks.md (method: same file).
//
// Cases:
//  (a) one client, lock-step: curl --tftp-blksize 1468, 64 MiB            -> MB/s
//  (b) one client, windowed: atftp blksize 1468 windowsize 16, 64 MiB       -> MB/s
//  (c) 50 concurrent curl clients, blksize 1468, 16 MiB each              -> wall s, MB/s,
//      and the server's CPU seconds
//  (d) peak resident memory (VmHWM) of the server process during (c)      -> MiB
//  (e) one client, blksize 1432, 16 MiB, 1 % of UDP dropped each way, in two network
//      namespaces; once with atftp and once with curl                    -> s
//
// Environment: BENCH_RUNS (5), BENCH_LOSS_RUNS (3), BENCH_LOSS_TIMEOUT (300 s),
// BENCH_LOSS_REPEAT_UNDER (60 s), BENCH_LOSS_PARALLEL (1), BENCH_LOSS_CLIENTS
// (atftp,curl), BENCH_CLIENTS (50), BENCH_CASES (a,b,c,e), BENCH_SERVERS
// (bootlab,tftpd-hpa,atftpd), BENCH_DOC (1: write docs/benchmarks.md; 0: print only).
//
// It never fails on slow numbers. It exits non-zero only when the harness breaks: it
// cannot set up, a peer (the reference) fails, or it is interrupted. A bootlab failure is
// a result ("failed: <reason>" in the table).
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  HarnessError,
  NetnsPair,
  clientFailure,
  downloadVerdict,
  envInt,
  envList,
  makeBenchFiles,
  type BenchFiles,
  NS_SERVER_ADDR,
  Proc,
  installCleanup,
  killAllSync,
  destroyAllNetns,
  checkOutput,
  cpuSeconds,
  peerFailureExit,
  probe,
  procStatusKb,
  resetPeakRss,
  run,
  runBench,
  sleep,
  type ProbeResult,
} from './lab.js';
import { REPO, fetchPeers, serverDefs, type ServerDef, type ServerName } from './peers.js';
import { benchMarkers, cpuModel, everyRun, loadavg, log, sh, writeMarkedBlock } from './report.js';

// ---------------------------------------------------------------------------------------
// Settings

const RUNS = envInt('BENCH_RUNS', 5);
const LOSS_RUNS = envInt('BENCH_LOSS_RUNS', 3);
const LOSS_TIMEOUT_S = envInt('BENCH_LOSS_TIMEOUT', 300);
const LOSS_REPEAT_UNDER_S = envInt('BENCH_LOSS_REPEAT_UNDER', 60);
const LOSS_PARALLEL = envInt('BENCH_LOSS_PARALLEL', 1, 0) !== 0;
const CLIENTS = envInt('BENCH_CLIENTS', 50);
const CASES = new Set(envList('BENCH_CASES', ['a', 'b', 'c', 'e']));
const SERVERS = envList('BENCH_SERVERS', ['bootlab', 'tftpd-hpa', 'atftpd']);
const WRITE_DOC = envInt('BENCH_DOC', 1, 0) !== 0;
const LOSS_CLIENT_NAMES = envList('BENCH_LOSS_CLIENTS', ['atftp', 'curl']);

const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const SMALL = 16 * MiB;
const LOSS_PER_MILLE = 10;
const ONE_CLIENT_TIMEOUT_MS = 120_000;
const MANY_CLIENT_TIMEOUT_MS = 180_000;
const NCPU = cpus().length;
// Single-client cases (a, b, e): every server on CPU 0, every client on CPU 1 (the harness
// itself is not pinned). Case (c) pins nothing, for every server alike: 50 clients and a
// server that may use several cores share the machine, as on a real appliance.
const SERVER_CPU = '0';
const CLIENT_CPU = NCPU > 1 ? '1' : '0';
const UNPINNED = null;

// ---------------------------------------------------------------------------------------
// Results

type RowId = 'a' | 'b' | 'c-wall' | 'c-rate' | 'c-cpu' | 'c-client-cpu' | 'd' | 'e-atftp' | 'e-curl';

interface Cell {
  values: number[];
  /** Runs that hit the time cap (case e): reported as ">cap". */
  capped: number;
  failures: string[];
  marks: string[];
  skipped?: string;
}

interface Row { id: RowId; label: string; unit: string; better: 'higher' | 'lower'; cap?: number }

const ROWS: Row[] = [
  { id: 'a', label: '(a) 1 client, lock-step: curl, blksize 1468, 64 MiB', unit: 'MB/s', better: 'higher' },
  { id: 'b', label: '(b) 1 client, windowed: atftp, blksize 1468, windowsize 16, 64 MiB', unit: 'MB/s', better: 'higher' },
  { id: 'c-wall', label: `(c) ${CLIENTS} concurrent curl clients, blksize 1468, 16 MiB each: wall time`, unit: 's', better: 'lower' },
  { id: 'c-rate', label: `(c) ${CLIENTS} concurrent clients: aggregate`, unit: 'MB/s', better: 'higher' },
  { id: 'c-cpu', label: '(c) server CPU time per run (user+sys, all threads, unpinned)', unit: 's', better: 'lower' },
  { id: 'c-client-cpu', label: `(c) the ${CLIENTS} clients' CPU time per run (user+sys, unpinned)`, unit: 's', better: 'lower' },
  { id: 'd', label: '(d) server peak resident memory (VmHWM) during (c)', unit: 'MiB', better: 'lower' },
  { id: 'e-atftp', label: '(e) 1 client, 1 % UDP loss each way: atftp, blksize 1432, 16 MiB', unit: 's', better: 'lower', cap: LOSS_TIMEOUT_S },
  { id: 'e-curl', label: '(e) the same with curl (it asks for timeout 6)', unit: 's', better: 'lower', cap: LOSS_TIMEOUT_S },
];

const results = new Map<RowId, Map<ServerName, Cell>>();
function cell(row: RowId, server: ServerName): Cell {
  let m = results.get(row);
  if (!m) results.set(row, (m = new Map()));
  let c = m.get(server);
  if (!c) m.set(server, (c = { values: [], capped: 0, failures: [], marks: [] }));
  return c;
}
const notes: string[] = [];
const idleRss = new Map<ServerName, number>();
const granted = new Map<ServerName, ProbeResult>();

// ---------------------------------------------------------------------------------------
// Files

type Files = BenchFiles;

function makeFiles(): Files {
  return makeBenchFiles('bootlab-bench-', [['f64', BIG], ['f16', SMALL], ['probe', 1]]);
}

// ---------------------------------------------------------------------------------------
// Servers

interface Running { def: ServerDef; proc: Proc; address: string; port: number }

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function inNs(ns: string | null, cpu: string | null, cmd: string, args: string[]): [string, string[]] {
  const pinned = cpu === null ? [cmd, ...args] : ['taskset', '-c', cpu, cmd, ...args];
  return ns ? NetnsPair.exec(ns, pinned) : [pinned[0], pinned.slice(1)];
}

/** Starts one server (pinned, maybe in a namespace) and waits until it answers. Throws a reason. */
async function startServer(
  def: ServerDef,
  files: Files,
  port: number,
  lab: NetnsPair | null,
  cpu: string | null,
): Promise<Running> {
  const address = lab ? NS_SERVER_ADDR : '127.0.0.1';
  const work = join(files.base, `work-${def.name}-${port}`);
  mkdirSync(work, { recursive: true });
  const { cmd, args } = def.command({ root: files.root, address, port, work });
  const [c, a] = inNs(lab?.server ?? null, cpu, cmd, args);
  const proc = new Proc(def.name, c, a, { stdin: def.printsReady ? 'pipe' : 'ignore', keepOutput: 1024 * 1024 });
  const srv: Running = { def, proc, address, port };
  const deadline = Date.now() + 15_000;
  try {
    if (def.printsReady) {
      while (!/^\{"listening":/m.test(proc.stdout)) {
        if (!proc.running) throw new Error(proc.describe());
        if (Date.now() > deadline) throw new Error('no "listening" line within 15 s');
        await sleep(20);
      }
    }
    // Readiness from the client side: loopback through a TFTP probe; in the lab by
    // fetching a 1-byte file from the client namespace (before any loss is switched on).
    for (;;) {
      if (!proc.running) throw new Error(proc.describe());
      if (Date.now() > deadline) throw new Error('does not answer TFTP within 15 s');
      if (lab) {
        const [pc, pa] = NetnsPair.exec(lab.client, [
          'curl',
          '-sS',
          '-o',
          '/dev/null',
          '--max-time',
          '2',
          `tftp://${address}:${port}/probe`,
        ]);
        const r = await run('probe', pc, pa, 5000);
        if (r.exit?.code === 0) break;
      } else {
        try {
          await probe(port, 'probe', {}, 1000);
          break;
        } catch {
          /* not yet */
        }
      }
      await sleep(100);
    }
    if (!proc.running) throw new Error(proc.describe());
  } catch (e) {
    await proc.stop();
    throw new Error(`start: ${(e as Error).message}`);
  }
  return srv;
}

async function startAll(
  defs: ServerDef[],
  files: Files,
  lab: NetnsPair | null,
  rows: RowId[],
  cpu: string | null = SERVER_CPU,
): Promise<Running[]> {
  const out: Running[] = [];
  for (const def of defs) {
    const port = await freeUdpPort();
    try {
      out.push(await startServer(def, files, port, lab, cpu));
    } catch (e) {
      for (const r of rows) cell(r, def.name).failures.push((e as Error).message);
      log(`  ${def.name}: ${(e as Error).message}`);
    }
  }
  return out;
}

async function stopAll(servers: Running[], label: string | ((s: Running) => string)): Promise<void> {
  await Promise.all(servers.map((s) => s.proc.stop()));
  for (const s of servers) {
    if (s.def.name === 'bootlab') noteWarnings(s.proc.stderr, typeof label === 'string' ? label : label(s));
  }
}

/** bootlab logs at warn: count what it said during a case (e.g. transfers it gave up). */
function noteWarnings(stderr: string, label: string): void {
  const counts = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    if (!line.trim()) continue;
    let key = line.slice(0, 160);
    try {
      const j = JSON.parse(line) as { msg?: string; reason?: string; err?: { message?: string } };
      key = [j.msg, j.reason ?? j.err?.message].filter(Boolean).join(': ');
    } catch { /* not JSON: keep the raw line */ }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return;
  const list = [...counts].sort((x, y) => y[1] - x[1]).slice(0, 5).map(([k, n]) => `${n} × "${k}"`).join(', ');
  notes.push(`bootlab logged during ${label}: ${list}.`);
}

/** A server that died between runs: record once, drop it from the rest of the case. */
function alive(servers: Running[], rows: RowId[]): Running[] {
  return servers.filter((s) => {
    if (s.proc.running) return true;
    for (const r of rows) cell(r, s.def.name).failures.push(`server died: ${s.proc.describe()}`);
    return false;
  });
}

// ---------------------------------------------------------------------------------------
// Cases

async function oneClient(row: 'a' | 'b', servers: Running[], files: Files, client: (s: Running, out: string) => [string, string[]]): Promise<void> {
  for (let i = 0; i < RUNS; i++) {
    for (const s of alive(servers, [row])) {
      const outFile = join(files.out, `${row}-${s.def.name}`);
      const [cmd, args] = client(s, outFile);
      const r = await run(`${row}:${s.def.name}`, cmd, args, ONE_CLIENT_TIMEOUT_MS);
      const c = cell(row, s.def.name);
      const rate = BIG / 1e6 / (r.ms / 1000);
      const bad = await downloadVerdict(r, outFile, files.sha.f64, ONE_CLIENT_TIMEOUT_MS);
      if (bad) c.failures.push(bad);
      else c.values.push(rate);
      log(`  (${row}) run ${i + 1}/${RUNS} ${s.def.name}: ${bad ?? `${rate.toFixed(1)} MB/s`}`);
    }
  }
}

async function caseA(defs: ServerDef[], files: Files): Promise<void> {
  log('(a) one client, lock-step (curl --tftp-blksize 1468), 64 MiB');
  const servers = await startAll(defs, files, null, ['a']);
  try {
    await oneClient('a', servers, files, (s, out) =>
      inNs(null, CLIENT_CPU, 'curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://${s.address}:${s.port}/f64`]));
  } finally {
    await stopAll(servers, '(a)');
  }
}

async function caseB(defs: ServerDef[], files: Files): Promise<void> {
  log('(b) one client, windowed (atftp blksize 1468 windowsize 16), 64 MiB');
  const servers = await startAll(defs, files, null, ['b']);
  try {
    // Which options does each server grant? (tftpd-hpa has no windowsize: it answers
    // without it and atftp then runs lock-step.)
    for (const s of servers) {
      try {
        const p = await probe(s.port, 'f64', { blksize: '1468', windowsize: '16', tsize: '0' });
        granted.set(s.def.name, p);
        if (p.granted.windowsize !== '16') {
          cell('b', s.def.name).marks.push(`lock-step: its OACK granted ${JSON.stringify(p.granted)}, no windowsize`);
        }
      } catch (e) {
        cell('b', s.def.name).marks.push(`option probe failed: ${(e as Error).message}`);
      }
    }
    await oneClient('b', servers, files, (s, out) =>
      inNs(null, CLIENT_CPU, 'atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'f64', '-l', out, s.address, String(s.port)]));
  } finally {
    await stopAll(servers, '(b)');
  }
}

async function caseC(defs: ServerDef[], files: Files): Promise<void> {
  log(`(c)+(d) ${CLIENTS} concurrent clients (curl --tftp-blksize 1468), 16 MiB each`);
  const rows: RowId[] = ['c-wall', 'c-rate', 'c-cpu', 'c-client-cpu', 'd'];
  const servers = await startAll(defs, files, null, rows, UNPINNED);
  try {
    for (const s of servers) {
      const kb = procStatusKb(s.proc.pid, 'VmRSS');
      if (kb !== null) idleRss.set(s.def.name, kb / 1024);
    }
    for (let i = 0; i < RUNS; i++) {
      for (const s of alive(servers, rows)) {
        // tftpd-hpa forks a process per transfer: one process's peak says nothing there.
        const measureMem = s.def.name !== 'tftpd-hpa' && resetPeakRss(s.proc.pid);
        // tftpd-hpa's per-transfer processes are not accounted to it (cutime stays 0).
        const cpu0 = s.def.name === 'tftpd-hpa' ? null : cpuSeconds(s.proc.pid);
        const clientCpu0 = cpuSeconds(process.pid, true);
        const t0 = performance.now();
        const procs: Proc[] = [];
        for (let k = 0; k < CLIENTS; k++) {
          const [cmd, args] = inNs(null, UNPINNED, 'curl', ['-sS', '--tftp-blksize', '1468', '-o', '/dev/null', '-w', '%{size_download}', `tftp://${s.address}:${s.port}/f16`]);
          procs.push(new Proc(`c:${s.def.name}:${k}`, cmd, args));
        }
        const exits = await Promise.all(procs.map((p) => p.wait(MANY_CLIENT_TIMEOUT_MS)));
        const wallMs = performance.now() - t0;
        const hwm = measureMem ? procStatusKb(s.proc.pid, 'VmHWM') : null;
        const cpu1 = cpuSeconds(s.proc.pid);
        if (cpu0 !== null && cpu1 !== null) cell('c-cpu', s.def.name).values.push(cpu1 - cpu0);
        const clientCpu1 = cpuSeconds(process.pid, true);
        if (clientCpu0 !== null && clientCpu1 !== null) cell('c-client-cpu', s.def.name).values.push(clientCpu1 - clientCpu0);
        const bad: string[] = [];
        procs.forEach((p, k) => {
          const e = exits[k];
          if (e === null || e.code !== 0) bad.push(clientFailure(p, e, MANY_CLIENT_TIMEOUT_MS));
          else if (Number(p.stdout.trim()) !== SMALL) bad.push(`client got ${p.stdout.trim()} bytes, not ${SMALL}`);
        });
        if (bad.length > 0) {
          const first = [...new Set(bad)].slice(0, 2).join('; ');
          const msg = `${bad.length}/${CLIENTS} clients failed (${first})`;
          cell('c-wall', s.def.name).failures.push(msg);
          cell('c-rate', s.def.name).failures.push(msg);
        } else {
          cell('c-wall', s.def.name).values.push(wallMs / 1000);
          cell('c-rate', s.def.name).values.push((CLIENTS * SMALL) / 1e6 / (wallMs / 1000));
        }
        if (hwm !== null) cell('d', s.def.name).values.push(hwm / 1024);
        log(`  (c) run ${i + 1}/${RUNS} ${s.def.name}: ${bad.length ? `${bad.length} failed` : `${(wallMs / 1000).toFixed(2)} s`}`
          + `${hwm !== null ? `, VmHWM ${(hwm / 1024).toFixed(1)} MiB` : ''}`);
      }
    }
  } finally {
    await stopAll(servers, '(c)');
  }
  cell('d', 'tftpd-hpa').skipped = 'n/a: a process per transfer';
  cell('c-cpu', 'tftpd-hpa').skipped = 'n/a: a process per transfer';
}

interface LossClient { row: 'e-atftp' | 'e-curl'; argv(s: Running, out: string): string[] }
const LOSS_CLIENTS: LossClient[] = [
  // atftp sends no timeout option: each server retransmits on its own default timer.
  { row: 'e-atftp', argv: (s, out) => ['atftp', '--option', 'blksize 1432', '-g', '-r', 'f16', '-l', out, s.address, String(s.port)] },
  // curl 7.88 asks for "timeout 6" (seen in bootlab's log; its default 300 s connect
  // timeout spread over at most 50 retries): servers that honour it retransmit after 6 s.
  { row: 'e-curl', argv: (s, out) => ['curl', '-sS', '--tftp-blksize', '1432', '-o', out, `tftp://${s.address}:${s.port}/f16`] },
];

async function caseE(defs: ServerDef[], files: Files): Promise<void> {
  const clients = LOSS_CLIENTS.filter((c) => LOSS_CLIENT_NAMES.includes(c.row.slice(2)));
  log(`(e) 1 % loss each way, ${clients.map((c) => c.row.slice(2)).join(' and ')}, blksize 1432, 16 MiB, `
    + `up to ${LOSS_RUNS} runs, cap ${LOSS_TIMEOUT_S} s`);
  const why = labUnavailable();
  if (why) {
    for (const c of clients) for (const d of defs) cell(c.row, d.name).skipped = `skipped: ${why}`;
    log(`  skipped: ${why}`);
    return;
  }
  const lab = new NetnsPair('');
  // One server instance per (client, server): the slow peers' transfers then run side by
  // side without sharing a process with the other client's transfer.
  let pairs: { client: LossClient; srv: Running }[] = [];
  try {
    lab.create();
    for (const client of clients) {
      for (const srv of await startAll(defs, files, lab, [client.row])) pairs.push({ client, srv });
    }
    lab.setLoss(LOSS_PER_MILLE);
    let active = pairs;
    for (let i = 0; i < LOSS_RUNS && active.length > 0; i++) {
      const one = async ({ client, srv: s }: { client: LossClient; srv: Running }) => {
        const outFile = join(files.out, `${client.row}-${s.def.name}`);
        const [cmd, args] = NetnsPair.exec(lab.client, ['taskset', '-c', CLIENT_CPU, ...client.argv(s, outFile)]);
        const r = await run(`${client.row}:${s.def.name}`, cmd, args, LOSS_TIMEOUT_S * 1000);
        const c = cell(client.row, s.def.name);
        let done: string;
        if (r.exit === null) {
          c.capped++;
          done = `>${LOSS_TIMEOUT_S} s (cap)`;
          rmSync(outFile, { force: true });
        } else if (r.exit.code !== 0) {
          c.failures.push(`after ${(r.ms / 1000).toFixed(1)} s: ${clientFailure(r.proc, r.exit, 0)}`);
          done = c.failures.at(-1)!;
          rmSync(outFile, { force: true });
        } else {
          const bad = await checkOutput(outFile, files.sha.f16);
          if (bad) c.failures.push(bad);
          else c.values.push(r.ms / 1000);
          done = bad ?? `${(r.ms / 1000).toFixed(1)} s`;
        }
        log(`  (${client.row}) run ${i + 1}/${LOSS_RUNS} ${s.def.name}: ${done}`);
        // Not repeated: runs that hit the cap or succeeded slowly (timer-bound, small spread).
        return r.exit === null || (r.exit.code === 0 && r.ms / 1000 > LOSS_REPEAT_UNDER_S);
      };
      const live = active.filter((p) => alive([p.srv], [p.client.row]).length > 0);
      const slow = LOSS_PARALLEL ? await Promise.all(live.map(one)) : await seq(live, one);
      active = live.filter((_, k) => !slow[k]);
    }
    const d = lab.dropped();
    if (d) notes.push(`(e) the loss rules dropped ${d[0]} packets coming in and ${d[1]} going out, over all (e) runs.`);
  } catch (e) {
    throw new HarnessError(`loss lab: ${(e as Error).message}`);
  } finally {
    await stopAll(pairs.map((p) => p.srv), (srv) => `(${pairs.find((p) => p.srv === srv)?.client.row ?? 'e'})`);
    pairs = [];
    lab.destroy();
  }
}

async function seq<T, R>(items: T[], fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const it of items) out.push(await fn(it));
  return out;
}

function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  for (const tool of ['ip', 'nft', 'taskset']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `${tool} not found`; }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Report

function median(v: number[]): number {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * A cell's text and value: the median of its runs (a capped run counts as longer than the cap;
 * failed runs are left out).
 */
function summary(row: Row, c: Cell | undefined): { text: string; value: number | null; capped: boolean } {
  if (!c) return { text: '-', value: null, capped: false };
  if (c.skipped && c.values.length === 0) return { text: c.skipped, value: null, capped: false };
  const n = c.values.length + c.capped + c.failures.length;
  if (c.values.length === 0 && c.capped === 0) {
    const reason = (c.failures[0] ?? 'no runs').replace(/\|/g, '/');
    const short = reason.length > 90 ? `${reason.slice(0, 87)}...` : reason;
    const times = c.failures.length > 1 ? ` (${c.failures.length} runs)` : '';
    return { text: `failed${times}: ${short}`, value: null, capped: false };
  }
  // Capped runs count as +infinity in the median.
  const all = [...c.values, ...Array(c.capped).fill(Infinity)];
  const med = median(all);
  const marks = c.marks.length ? ' †' : '';
  const about: string[] = [];
  if (row.cap !== undefined) about.push(`${n} run${n > 1 ? 's' : ''}`);
  if (c.failures.length) about.push(`${c.failures.length}${row.cap !== undefined ? '' : `/${n}`} failed`);
  const suffix = about.length ? ` (${about.join(', ')})` : '';
  if (!Number.isFinite(med)) return { text: `>${row.cap}${suffix}`, value: row.cap ?? null, capped: true };
  return { text: `${fmt(med)}${marks}${suffix}`, value: med, capped: false };
}

function ratio(row: Row, order: ServerName[]): string {
  const rowCells = results.get(row.id);
  const b = summary(row, rowCells?.get('bootlab'));
  if (b.value === null) return '-';
  let best: { name: ServerName; value: number; capped: boolean } | null = null;
  for (const name of order) {
    if (name === 'bootlab') continue;
    const p = summary(row, rowCells?.get(name));
    if (p.value === null) continue;
    const better = !best || (row.better === 'higher' ? p.value > best.value : p.value < best.value);
    if (better) best = { name, value: p.value, capped: p.capped };
  }
  if (!best || (b.capped && best.capped)) return '-';
  const r = b.value / best.value;
  // A capped value is a lower bound on that time: the ratio becomes a bound too.
  return `${best.capped ? '<' : b.capped ? '>' : ''}${r.toFixed(2)}× (vs ${best.name})`;
}

function buildTable(order: ServerName[]): string {
  const head = `| case | unit | ${order.join(' | ')} | bootlab ÷ best peer |`;
  const sep = `|---|---|${order.map(() => '---:').join('|')}|---|`;
  const lines = [head, sep];
  for (const row of ROWS) {
    if (!results.has(row.id)) continue;
    const cells = order.map((n) => summary(row, results.get(row.id)?.get(n)).text);
    lines.push(`| ${row.label} | ${row.unit} ${row.better === 'higher' ? '↑' : '↓'} | ${cells.join(' | ')} | ${ratio(row, order)} |`);
  }
  return lines.join('\n');
}

function runDetails(order: ServerName[]): string {
  const out: string[] = [];
  for (const row of ROWS) {
    const m = results.get(row.id);
    if (!m) continue;
    for (const n of order) {
      const c = m.get(n);
      if (!c) continue;
      const parts = c.values.map(fmt);
      for (let i = 0; i < c.capped; i++) parts.push(`>${row.cap}`);
      const extra = [...c.marks, ...[...new Set(c.failures)].map((f) => `failed ×${c.failures.filter((x) => x === f).length}: ${f.replace(/\|/g, '/')}`)];
      if (parts.length === 0 && extra.length === 0) continue;
      out.push(`- ${row.id} ${n}: ${parts.join(', ') || '-'}${extra.length ? ` — ${extra.join('; ')}` : ''}`);
    }
  }
  return out.join('\n');
}

const loadAtStart = loadavg();

function machine(defs: ServerDef[]): string[] {
  const cpu = cpuModel();
  const v = (n: ServerName) => defs.find((d) => d.name === n)?.version ?? '-';
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${sh('nproc', [])} CPUs (nproc), ${cpu}, kernel ${sh('uname', ['-r'])}, node ${process.version}`,
    `- load average (1, 5, 15 min): ${loadAtStart} at start, ${loadavg()} at end`
    + `${Number(loadAtStart.split(' ')[0]) > NCPU / 2 ? ' (other work was running: the numbers are noisier than on an idle machine)' : ''}`,
    `- servers: bootlab ${v('bootlab')}, tftpd-hpa ${v('tftpd-hpa')} (Debian), atftpd ${v('atftpd')} (Debian)`,
    `- clients: ${sh('curl', ['--version']).split('\n')[0].split(' ').slice(0, 2).join(' ')}, ${sh('atftp', ['--version']).split('\n')[0]}`,
    `- runs: ${RUNS} per server for (a)-(d); (e) up to ${LOSS_RUNS}, cap ${LOSS_TIMEOUT_S} s, `
    + `${LOSS_PARALLEL ? 'servers of a round in parallel' : 'sequential'}, a server is not repeated once a run took over ${LOSS_REPEAT_UNDER_S} s`,
  ];
}

function report(defs: ServerDef[], order: ServerName[], elapsedS: number): string {
  const idle = order.filter((n) => idleRss.has(n)).map((n) => `${n} ${idleRss.get(n)!.toFixed(1)} MiB`).join(', ');
  const optionLines = [...granted].map(([n, p]) => `${n} ${p.firstReply} ${JSON.stringify(p.granted)}`).join('; ');
  return [
    ...machine(defs),
    `- whole run: ${Math.round(elapsedS)} s`,
    '',
    buildTable(order),
    '',
    'Medians. MB = 10^6 bytes. ↑ higher is better, ↓ lower is better; the ratio is bootlab\'s median over the best peer\'s.',
    `† see the runs below. Idle RSS before (c): ${idle || '-'}. `
    + `OACK to "blksize 1468 windowsize 16 tsize 0": ${optionLines || '-'}.`,
    ...notes.map((n) => `${n}`),
    '',
    ...everyRun(runDetails(order)),
  ].join('\n');
}

const { begin: BEGIN, end: END } = benchMarkers('tftp');

function writeDoc(body: string): string {
  return writeMarkedBlock(join(REPO, 'docs/benchmarks.md'), BEGIN, END, body, '## TFTP: latest results');
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installCleanup();
  const t0 = Date.now();
  log(`bench:tftp: runs ${RUNS}, loss runs ${LOSS_RUNS} (cap ${LOSS_TIMEOUT_S} s), clients ${CLIENTS}, cases ${[...CASES].join(',')}, `
    + `single-client cases: servers on CPU ${SERVER_CPU}, clients on CPU ${CLIENT_CPU}; case (c) unpinned`);
  if (NCPU < 2) notes.push('Only one CPU: servers and clients share it.');
  const peers = fetchPeers();
  for (const tool of ['curl', 'atftp', 'taskset']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { throw new HarnessError(`${tool} not found (scripts/bench-peers.sh installs it)`); }
  }
  const all = serverDefs(peers);
  const defs = SERVERS.map((n) => {
    const d = all.find((x) => x.name === n);
    if (!d) throw new HarnessError(`BENCH_SERVERS: unknown server ${n}`);
    return d;
  });
  const order = defs.map((d) => d.name);
  if (order.includes('bootlab') && !existsSync(join(REPO, 'dist/services/tftp/server.js'))) {
    log('note: dist/services/tftp/server.js does not exist yet: bootlab will fail to start');
  }
  const files = makeFiles();
  try {
    log(`files in ${files.root}`);
    if (CASES.has('a')) await caseA(defs, files);
    if (CASES.has('b')) await caseB(defs, files);
    if (CASES.has('c') || CASES.has('d')) await caseC(defs, files);
    if (CASES.has('e')) await caseE(defs, files);
  } finally {
    killAllSync();
    destroyAllNetns();
    rmSync(files.base, { recursive: true, force: true });
  }
  const elapsed = (Date.now() - t0) / 1000;
  const body = report(defs, order, elapsed);
  process.stdout.write(`\n${body}\n\n`);
  if (WRITE_DOC) log(`wrote ${writeDoc(body)}`);

  // The peers are the reference: if one of them failed without loss, the setup is broken.
  // (Under loss, in (e), a peer giving up is a result.)
  const peerFailures: string[] = [];
  for (const [row, m] of results) {
    if (row.startsWith('e-')) continue;
    for (const [name, c] of m) if (name !== 'bootlab' && c.failures.length) peerFailures.push(`${row} ${name}: ${c.failures[0]}`);
  }
  return peerFailureExit(peerFailures);
}

runBench(main);
