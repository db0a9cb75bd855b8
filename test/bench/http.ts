// npm run bench:http: bootlab's HTTP boot server (issue 6) against nginx and busybox httpd,
// and against bootlab's own TFTP for a classroom's kernel, the same files, the same
// clients, runs interleaved (A B C A B C ...). Prints the tables of medians and writes them
// into docs/benchmarks.md (method: same file, section "HTTP boot (issue 6)").
//
// Every server runs in one network namespace and every client in another (a veth between
// them, 198.18.0.1 and 198.18.0.2; nothing in the root namespace), so the traffic is TCP
// over a link, not loopback.
//
// Cases:
//  (a) one client, curl, 64 MiB                                           -> MB/s
//  (b) 50 concurrent curl clients, 16 MiB each                            -> wall s, MB/s,
//      the server's CPU seconds and the clients'
//  (c) peak resident memory (VmHWM) of the server during (b)              -> MiB
//  (d) 20 concurrent clients fetch a 16 MiB "kernel": bootlab over HTTP (curl), over TFTP
//      (curl, blksize 1468) and over windowed TFTP (atftp, blksize 1468, windowsize 16);
//      nginx and busybox over HTTP for reference                          -> wall s
//  (e) byte ranges: curl -r on each server returns the same bytes as the file (a check)
//
// Environment: BENCH_RUNS (5), BENCH_CLIENTS (50), BENCH_KERNEL_CLIENTS (20), BENCH_CASES
// (a,b,d,e; (c) comes with (b)), BENCH_SERVERS (bootlab,nginx,busybox), BENCH_DOC (1: write
// docs/benchmarks.md; 0: print only), BENCH_CPU_PROF=<folder> (bootlab runs under
// node --cpu-prof and writes its profiles there).
//
// It never fails on slow numbers. It exits non-zero only when the harness breaks: it cannot
// set up, a peer (the reference) fails, or it is interrupted. A bootlab failure is a result
// ("failed: <reason>" in the table).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  NetnsPair,
  clientFailure,
  downloadVerdict,
  envInt,
  envList,
  makeBenchFiles,
  type BenchFiles,
  NS_CLIENT_ADDR,
  NS_SERVER_ADDR,
  Proc,
  installCleanup,
  killAllSync,
  destroyAllNetns,
  checkOutput,
  peerFailureExit,
  procStatusKb,
  requireRootAndTools,
  resetPeakRss,
  run,
  runBench,
  sleep,
} from './lab.js';
import { REPO, bootlabVersion } from './peers.js';
import { benchMarkers, cpuModel, everyRun, fmtNum, loadavg, log, median, sh, writeMarkedBlock } from './report.js';

// ---------------------------------------------------------------------------------------
// Settings

const RUNS = envInt('BENCH_RUNS', 5);
const CLIENTS = envInt('BENCH_CLIENTS', 50);
const KERNEL_CLIENTS = envInt('BENCH_KERNEL_CLIENTS', 20);
const CASES = new Set(envList('BENCH_CASES', ['a', 'b', 'd', 'e']));
const SERVERS = envList('BENCH_SERVERS', ['bootlab', 'nginx', 'busybox']);
const WRITE_DOC = envInt('BENCH_DOC', 1, 0) !== 0;
const CPU_PROF = process.env.BENCH_CPU_PROF || null;

const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const SMALL = 16 * MiB;
const ONE_CLIENT_TIMEOUT_MS = 120_000;
const MANY_CLIENT_TIMEOUT_MS = 300_000;
const NCPU = cpus().length;
// (a): every server on CPU 0, the client on CPU 1 (as bench:tftp). (b) and (d) pin nothing,
// for every server alike: many clients and a server share the machine.
const SERVER_CPU = '0';
const CLIENT_CPU = NCPU > 1 ? '1' : '0';
const NGINX_CACHE = process.env.BENCH_PEERS_DIR ?? '/var/cache/bootlab-bench/peers';
const BOOTLAB_CLI = join(REPO, 'dist/services/cli.js');
// A fixed token: bootlab then prints no generated one (its admin API runs, as shipped).
const ADMIN_TOKEN = 'bench-http-token-0123456789abcdef';

type ServerName = 'bootlab' | 'nginx' | 'busybox';

// ---------------------------------------------------------------------------------------
// Results

type RowId = 'a' | 'b-wall' | 'b-rate' | 'b-cpu' | 'b-client-cpu' | 'c';

interface Cell { values: number[]; failures: string[]; skipped?: string }
interface Row { id: RowId; label: string; unit: string; better: 'higher' | 'lower' }

const ROWS: Row[] = [
  { id: 'a', label: '(a) 1 client: curl, 64 MiB', unit: 'MB/s', better: 'higher' },
  { id: 'b-wall', label: `(b) ${CLIENTS} concurrent curl clients, 16 MiB each: wall time`, unit: 's', better: 'lower' },
  { id: 'b-rate', label: `(b) ${CLIENTS} concurrent clients: aggregate`, unit: 'MB/s', better: 'higher' },
  { id: 'b-cpu', label: '(b) server CPU time per run (its cgroup: all threads and processes, unpinned)', unit: 's', better: 'lower' },
  { id: 'b-client-cpu', label: `(b) the ${CLIENTS} clients' CPU time per run (user+sys, unpinned)`, unit: 's', better: 'lower' },
  { id: 'c', label: '(c) server peak resident memory (VmHWM) during (b)', unit: 'MiB', better: 'lower' },
];

const results = new Map<string, Map<string, Cell>>();
function cell(row: string, server: string): Cell {
  let m = results.get(row);
  if (!m) results.set(row, (m = new Map()));
  let c = m.get(server);
  if (!c) m.set(server, (c = { values: [], failures: [] }));
  return c;
}
const notes: string[] = [];
const idleRss = new Map<string, number>();
const rangeChecks = new Map<string, string[]>();

// (d): one column per way of fetching the kernel.
interface KernelWay { id: string; server: ServerName; label: string; client: 'curl-http' | 'curl-tftp' | 'atftp' }
const KERNEL_WAYS: KernelWay[] = [
  { id: 'bootlab-http', server: 'bootlab', label: 'bootlab, HTTP (curl)', client: 'curl-http' },
  { id: 'bootlab-tftp', server: 'bootlab', label: 'bootlab, TFTP lock-step (curl, blksize 1468)', client: 'curl-tftp' },
  { id: 'bootlab-tftp-window', server: 'bootlab', label: 'bootlab, TFTP windowed (atftp, blksize 1468, windowsize 16)', client: 'atftp' },
  { id: 'nginx-http', server: 'nginx', label: 'nginx, HTTP (curl)', client: 'curl-http' },
  { id: 'busybox-http', server: 'busybox', label: 'busybox httpd, HTTP (curl)', client: 'curl-http' },
];

// ---------------------------------------------------------------------------------------
// Files

type Files = BenchFiles;

function makeFiles(): Files {
  return makeBenchFiles('bootlab-bench-http-', [['f64', BIG], ['f16', SMALL], ['probe', 1]]);
}

// ---------------------------------------------------------------------------------------
// Peers: nginx from Debian's package, unpacked (not installed: installing it would start
// a system nginx on port 80), as scripts/bench-peers.sh does for the TFTP peers; busybox's
// httpd from the busybox on the machine.

interface Peer { bin: string; version: string }

function fetchNginx(): Peer | string {
  const dir = join(NGINX_CACHE, 'nginx');
  const bin = join(dir, 'root/usr/sbin/nginx');
  const script = [
    'set -eu',
    `dir=${JSON.stringify(dir)}`,
    'if [ -x "$dir/root/usr/sbin/nginx" ] && [ -s "$dir/version" ]; then exit 0; fi',
    'rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/root"',
    'chown _apt "$dir.tmp" 2>/dev/null || true',
    'cd "$dir.tmp"',
    'apt-get download nginx >&2 || { apt-get update >&2 && apt-get download nginx >&2; }',
    'deb=$(ls ./*.deb | head -n 1)',
    'dpkg -x "$deb" root',
    'dpkg-deb -f "$deb" Version > version',
    'chown root "$dir.tmp" 2>/dev/null || true',
    'cd /; rm -rf "$dir"; mv "$dir.tmp" "$dir"',
  ].join('\n');
  try {
    execFileSync('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    // Its libraries (libssl3, libpcre2-8-0, libcrypt1, zlib1g) are on a Debian base system.
    execFileSync(bin, ['-v'], { stdio: 'ignore', timeout: 10_000 });
    return { bin, version: `${readFileSync(join(dir, 'version'), 'utf8').trim()} (Debian)` };
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return (err.stderr?.toString().trim().split('\n').slice(-2).join(' / ') || err.message.split('\n')[0]).slice(0, 200);
  }
}

function busyboxVersion(): string | null {
  try {
    const out = execFileSync('busybox', ['--list'], { encoding: 'utf8', timeout: 10_000 });
    if (!out.split('\n').includes('httpd')) return null;
    return /BusyBox (v[^\s]+ \([^)]*\))/.exec(sh('busybox', []))?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// Servers

interface ServerSetup { root: string; work: string; httpPort: number; tftpPort: number }
interface ServerDef {
  name: ServerName;
  version: string;
  command(s: ServerSetup): { cmd: string; args: string[] };
  /** Grace between SIGTERM and SIGKILL (a profiled bootlab writes its profile on exit). */
  graceMs: number;
  /** Its memory and CPU are those of one process tree we can read (busybox forks per connection). */
  treeAccounted: boolean;
}

function bootlabConfigYaml(s: ServerSetup): string {
  return [
    '# Generated by test/bench/http.ts',
    'log:',
    '  level: warn',
    '  pretty: never',
    `stateDir: ${JSON.stringify(join(s.work, 'state'))}`,
    `hosts: ${JSON.stringify(join(s.work, 'hosts.yaml'))}`,
    'dhcp:',
    '  mode: off',
    'tftp:',
    `  address: ${NS_SERVER_ADDR}`,
    `  port: ${s.tftpPort}`,
    `  root: ${JSON.stringify(s.root)}`,
    // All clients come from one address (198.18.0.2) where a classroom has one each.
    '  maxPerClient: 100',
    'http:',
    '  enabled: true',
    `  address: ${NS_SERVER_ADDR}`,
    `  port: ${s.httpPort}`,
    'admin:',
    '  address: 127.0.0.1',
    '  port: 0',
    `  token: ${ADMIN_TOKEN}`,
    '',
  ].join('\n');
}

function nginxConf(s: ServerSetup): string {
  const w = s.work;
  return [
    '# Generated by test/bench/http.ts',
    'daemon off;',
    'master_process on;',
    'worker_processes auto;',
    `pid ${join(w, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  keepalive_timeout 65;',
    '  types { }',
    '  default_type application/octet-stream;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(w, t)};`),
    `  server { listen ${NS_SERVER_ADDR}:${s.httpPort}; root ${s.root}; }`,
    '}',
    '',
  ].join('\n');
}

function serverDefs(nginx: Peer | null, busybox: string | null): ServerDef[] {
  const defs: ServerDef[] = [{
    name: 'bootlab',
    version: bootlabVersion(),
    graceMs: CPU_PROF ? 20_000 : 5000,
    treeAccounted: true,
    command: (s) => {
      mkdirSync(join(s.work, 'state'), { recursive: true });
      writeFileSync(join(s.work, 'hosts.yaml'), 'hosts: {}\n');
      const file = join(s.work, 'appliance.yaml');
      writeFileSync(file, bootlabConfigYaml(s));
      const prof = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=bootlab-http-${Date.now()}.cpuprofile`] : [];
      return { cmd: process.execPath, args: [...prof, BOOTLAB_CLI, 'serve', '--config', file] };
    },
  }];
  if (nginx) {
    defs.push({
      name: 'nginx',
      version: nginx.version,
      graceMs: 5000,
      treeAccounted: true,
      command: (s) => {
        const file = join(s.work, 'nginx.conf');
        writeFileSync(file, nginxConf(s));
        return { cmd: nginx.bin, args: ['-p', s.work, '-c', file, '-e', 'stderr'] };
      },
    });
  }
  if (busybox) {
    defs.push({
      name: 'busybox',
      version: busybox,
      graceMs: 2000,
      treeAccounted: false,
      command: (s) => ({ cmd: 'busybox', args: ['httpd', '-f', '-p', `${NS_SERVER_ADDR}:${s.httpPort}`, '-h', s.root] }),
    });
  }
  return defs;
}

interface Running { def: ServerDef; proc: Proc; httpPort: number; tftpPort: number; readyAt: number; cg: string | null }

// ---------------------------------------------------------------------------------------
// CPU time of a server and everything it forks: each server gets its own cpuacct cgroup
// (v1 here) and the CPU time is the group's. That also counts busybox's process per
// connection, which it reaps by ignoring SIGCHLD (so no cutime is ever added to it).
// Without a writable cpuacct hierarchy the process tree's /proc times are used instead.

const CG_ROOT = ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct'].find((d) => existsSync(join(d, 'cpuacct.usage'))) ?? null;
const cgroups = new Set<string>();

function cgCreate(name: string, pid: number): string | null {
  if (!CG_ROOT) return null;
  const dir = join(CG_ROOT, name);
  try {
    mkdirSync(dir);
    cgroups.add(dir);
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    return dir;
  } catch {
    cgRemove(dir);
    return null;
  }
}

/** Moves `pid`'s descendants into its group too (those forked before it was moved). */
function cgAdopt(dir: string, pid: number): void {
  for (const p of descendants(pid)) {
    try { writeFileSync(join(dir, 'cgroup.procs'), String(p)); } catch { /* gone */ }
  }
}

function cgCpuSeconds(dir: string): number | null {
  try { return Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e9; } catch { return null; }
}

function cgRemove(dir: string): boolean {
  try {
    if (existsSync(dir)) execFileSync('rmdir', [dir], { stdio: 'ignore' });
    cgroups.delete(dir);
    return true;
  } catch {
    return false;
  }
}

/** An empty group can be removed once its last task has exited: try for up to a second. */
async function cgRemoveSoon(dir: string | null): Promise<void> {
  if (!dir) return;
  for (let i = 0; i < 20 && !cgRemove(dir); i++) await sleep(50);
}

process.on('exit', () => { for (const d of [...cgroups]) cgRemove(d); });

function inNs(ns: string, cpu: string | null, cmd: string, args: string[]): [string, string[]] {
  const pinned = cpu === null ? [cmd, ...args] : ['taskset', '-c', cpu, cmd, ...args];
  return NetnsPair.exec(ns, pinned);
}

let nextPort = 8000;

async function clientOk(lab: NetnsPair, args: string[]): Promise<boolean> {
  const [c, a] = NetnsPair.exec(lab.client, ['curl', '-sS', '-o', '/dev/null', '--max-time', '2', ...args]);
  return (await run('probe', c, a, 5000)).exit?.code === 0;
}

async function startServer(def: ServerDef, files: Files, lab: NetnsPair, cpu: string | null): Promise<Running> {
  const httpPort = nextPort++;
  const tftpPort = nextPort++;
  const work = join(files.base, `work-${def.name}-${httpPort}`);
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o755);
  const { cmd, args } = def.command({ root: files.root, work, httpPort, tftpPort });
  const [c, a] = inNs(lab.server, cpu, cmd, args);
  const proc = new Proc(def.name, c, a, { keepOutput: 1024 * 1024 });
  const cg = cgCreate(`blb${process.pid}-${def.name}-${httpPort}`, proc.pid);
  const deadline = Date.now() + 20_000;
  try {
    for (;;) {
      if (!proc.running) throw new Error(proc.describe());
      if (Date.now() > deadline) throw new Error('does not answer HTTP within 20 s');
      if (await clientOk(lab, [`http://${NS_SERVER_ADDR}:${httpPort}/probe`])) break;
      await sleep(100);
    }
    if (def.name === 'bootlab') {
      while (!(await clientOk(lab, [`tftp://${NS_SERVER_ADDR}:${tftpPort}/probe`]))) {
        if (!proc.running) throw new Error(proc.describe());
        if (Date.now() > deadline) throw new Error('does not answer TFTP within 20 s');
        await sleep(100);
      }
    }
  } catch (e) {
    await proc.stop(def.graceMs);
    await cgRemoveSoon(cg);
    throw new Error(`start: ${(e as Error).message}`);
  }
  if (cg) cgAdopt(cg, proc.pid);
  return { def, proc, httpPort, tftpPort, readyAt: proc.stderr.length, cg };
}

async function startAll(
  defs: ServerDef[],
  files: Files,
  lab: NetnsPair,
  rows: string[],
  cpu: string | null,
): Promise<Running[]> {
  const out: Running[] = [];
  for (const def of defs) {
    try {
      out.push(await startServer(def, files, lab, cpu));
    } catch (e) {
      for (const r of rows) cell(r, def.name).failures.push((e as Error).message);
      log(`  ${def.name}: ${(e as Error).message}`);
    }
  }
  return out;
}

async function stopAll(servers: Running[], label: string): Promise<void> {
  await Promise.all(servers.map((s) => s.proc.stop(s.def.graceMs)));
  for (const s of servers) {
    noteLog(s, label);
    await cgRemoveSoon(s.cg);
  }
}

/** What a server logged after it was ready (bootlab at warn, nginx at warn), counted by message. */
function noteLog(s: Running, label: string): void {
  const counts = new Map<string, number>();
  for (const line of s.proc.stderr.slice(s.readyAt).split('\n')) {
    if (!line.trim()) continue;
    let key = line.replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ').slice(0, 160);
    try {
      const j = JSON.parse(line) as { msg?: string; reason?: string; err?: { message?: string } };
      key = [j.msg, j.reason ?? j.err?.message].filter(Boolean).join(': ');
    } catch { /* not JSON: nginx's own format, or plain text */ }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return;
  const list = [...counts].sort((x, y) => y[1] - x[1]).slice(0, 5).map(([k, n]) => `${n} × "${k}"`).join(', ');
  notes.push(`${s.def.name} logged during ${label}: ${list}.`);
}

function alive(servers: Running[], rows: string[]): Running[] {
  return servers.filter((s) => {
    if (s.proc.running) return true;
    for (const r of rows) cell(r, s.def.name).failures.push(`server died: ${s.proc.describe()}`);
    return false;
  });
}

// ---------------------------------------------------------------------------------------
// A process tree's CPU time and peak memory (nginx: a master and its workers).

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Every live descendant of `pid` (by the parent PIDs in /proc/N/stat: this kernel has no /proc/N/task/N/children). */
function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]);
    let list = kids.get(ppid);
    if (!list) kids.set(ppid, (list = []));
    list.push(Number(name));
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const k of kids.get(p) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

const CLOCK_TICKS = 100;

/** User+system seconds of a process, its live descendants and the children they reaped. */
function treeCpuSeconds(pid: number): number | null {
  const root = statFields(pid);
  if (!root) return null;
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const f = p === pid ? root : statFields(p);
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLOCK_TICKS;
}

function treeResetPeak(pid: number): boolean {
  let ok = true;
  for (const p of [pid, ...descendants(pid)]) ok = resetPeakRss(p) && ok;
  return ok;
}

/** Sum of VmHWM over the tree (shared pages count once per process: an upper bound). */
function treeKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  let sum = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const kb = procStatusKb(p, field);
    if (kb === null) return null;
    sum += kb;
  }
  return sum;
}

/** The server's CPU seconds so far: its cgroup's, else its process tree's (null: neither can say). */
function serverCpu(s: Running): number | null {
  if (s.cg) return cgCpuSeconds(s.cg);
  return s.def.treeAccounted ? treeCpuSeconds(s.proc.pid) : null;
}

/** The harness's reaped children's CPU (its clients). */
function childrenCpuSeconds(): number | null {
  const f = statFields(process.pid);
  return f ? (Number(f[13]) + Number(f[14])) / CLOCK_TICKS : null;
}

// ---------------------------------------------------------------------------------------
// Cases

async function caseA(defs: ServerDef[], files: Files, lab: NetnsPair): Promise<void> {
  log('(a) one client (curl), 64 MiB; servers on CPU 0, client on CPU 1');
  const servers = await startAll(defs, files, lab, ['a'], SERVER_CPU);
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const s of alive(servers, ['a'])) {
        const outFile = join(files.out, `a-${s.def.name}`);
        const [cmd, args] = inNs(lab.client, CLIENT_CPU, 'curl', ['-sS', '--fail', '-o', outFile, `http://${NS_SERVER_ADDR}:${s.httpPort}/f64`]);
        const r = await run(`a:${s.def.name}`, cmd, args, ONE_CLIENT_TIMEOUT_MS);
        const c = cell('a', s.def.name);
        const rate = BIG / 1e6 / (r.ms / 1000);
        const bad = await downloadVerdict(r, outFile, files.sha.f64, ONE_CLIENT_TIMEOUT_MS);
        if (bad) c.failures.push(bad);
        else c.values.push(rate);
        log(`  (a) run ${i + 1}/${RUNS} ${s.def.name}: ${bad ?? `${rate.toFixed(1)} MB/s`}`);
      }
    }
  } finally {
    await stopAll(servers, '(a)');
  }
}

interface Batch {
  wallMs: number;
  bad: string[];
  serverCpu: number | null;
  clientCpu: number | null;
  hwmKb: number | null;
  clientMs: number[];
}

const shq = (a: string) => `'${a.replace(/'/g, '\'\\\'\'')}'`;

/**
 * Starts `n` clients at once (argv(k, out) gives client k's command; it writes to `out`),
 * waits for all, checks every copy's size and client 0's SHA-256, and measures the server.
 *
 * One shell in the client namespace starts them all (`cmd & cmd & ... wait`): starting 50
 * processes from this Node process took about 400 ms, as long as the peers' whole download;
 * a shell forks them in a few milliseconds. Each client's exit status goes to a file, whose
 * modification time is when that client ended.
 */
async function batch(s: Running, lab: NetnsPair, files: Files, n: number, tag: string, file: 'f16',
  argv: (k: number, out: string) => string[], opts: { memory: boolean; toDevNull: boolean }): Promise<Batch> {
  const dir = join(files.out, tag);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const outs = Array.from({ length: n }, (_, k) => (opts.toDevNull && k > 0 ? '/dev/null' : join(dir, `copy-${k}`)));
  const script = [
    `cd ${shq(dir)}`,
    'c() { k=$1; shift; "$@" >"$k.out" 2>"$k.err"; echo $? >"$k.rc"; }',
    ...outs.map((o, k) => `c ${k} ${argv(k, o).map(shq).join(' ')} &`),
    'wait',
  ].join('\n');
  const measureMem = opts.memory && s.def.treeAccounted && treeResetPeak(s.proc.pid);
  const cpu0 = serverCpu(s);
  const clientCpu0 = childrenCpuSeconds();
  const started = Date.now();
  const t0 = performance.now();
  const [cmd, args] = NetnsPair.exec(lab.client, ['sh', '-c', script]);
  const launcher = new Proc(tag, cmd, args);
  const exit = await launcher.wait(MANY_CLIENT_TIMEOUT_MS);
  const wallMs = performance.now() - t0;
  const hwmKb = measureMem ? treeKb(s.proc.pid, 'VmHWM') : null;
  const cpu1 = serverCpu(s);
  const clientCpu1 = childrenCpuSeconds();
  const bad: string[] = [];
  const clientMs: number[] = [];
  if (exit === null) bad.push(`clients timed out after ${MANY_CLIENT_TIMEOUT_MS / 1000} s`);
  for (let k = 0; k < n && exit !== null; k++) {
    const read = (ext: string) => { try { return readFileSync(join(dir, `${k}.${ext}`), 'utf8').trim(); } catch { return null; } };
    const rc = read('rc');
    const said = read('out') ?? '';
    if (rc !== '0') {
      const err = (read('err') ?? '').split('\n').filter(Boolean).slice(-2).join(' / ');
      bad.push(`client ${rc === null ? 'left no exit status' : `exit ${rc}`}${err ? `: ${err.slice(0, 200)}` : ''}`);
      continue;
    }
    clientMs.push(statSync(join(dir, `${k}.rc`)).mtimeMs - started);
    if (outs[k] === '/dev/null') {
      // curl -w '%{size_download} %{http_code}' printed what it received.
      if (Number(said.split(/\s+/)[0]) !== SMALL) bad.push(`client got ${said} (bytes, status), not ${SMALL}`);
    } else {
      let size = -1;
      try { size = statSync(outs[k]).size; } catch { /* none */ }
      if (size !== SMALL) bad.push(`client wrote ${size < 0 ? 'no file' : `${size} bytes`}, not ${SMALL}`);
      else if (k === 0) {
        const why = await checkOutput(outs[k], files.sha[file]);
        if (why) bad.push(why);
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    wallMs, bad, hwmKb, clientMs,
    serverCpu: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
    clientCpu: clientCpu0 !== null && clientCpu1 !== null ? clientCpu1 - clientCpu0 : null,
  };
}

function curlHttp(s: Running, file: string): (k: number, out: string) => string[] {
  return (_k, out) => ['curl', '-sS', '--fail', '-o', out, '-w', '%{size_download} %{http_code}', `http://${NS_SERVER_ADDR}:${s.httpPort}/${file}`];
}

async function caseB(defs: ServerDef[], files: Files, lab: NetnsPair): Promise<void> {
  log(`(b)+(c) ${CLIENTS} concurrent curl clients, 16 MiB each, unpinned`);
  const rows = ['b-wall', 'b-rate', 'b-cpu', 'b-client-cpu', 'c'];
  const servers = await startAll(defs, files, lab, rows, null);
  try {
    for (const s of servers) {
      const kb = s.def.treeAccounted ? treeKb(s.proc.pid, 'VmRSS') : procStatusKb(s.proc.pid, 'VmRSS');
      if (kb !== null) idleRss.set(s.def.name, kb / 1024);
    }
    for (let i = 0; i < RUNS; i++) {
      for (const s of alive(servers, rows)) {
        const b = await batch(s, lab, files, CLIENTS, `b-${s.def.name}`, 'f16', curlHttp(s, 'f16'), { memory: true, toDevNull: true });
        if (b.serverCpu !== null) cell('b-cpu', s.def.name).values.push(b.serverCpu);
        if (b.clientCpu !== null) cell('b-client-cpu', s.def.name).values.push(b.clientCpu);
        if (b.bad.length > 0) {
          const msg = `${b.bad.length}/${CLIENTS} clients failed (${[...new Set(b.bad)].slice(0, 2).join('; ')})`;
          cell('b-wall', s.def.name).failures.push(msg);
          cell('b-rate', s.def.name).failures.push(msg);
        } else {
          cell('b-wall', s.def.name).values.push(b.wallMs / 1000);
          cell('b-rate', s.def.name).values.push((CLIENTS * SMALL) / 1e6 / (b.wallMs / 1000));
        }
        if (b.hwmKb !== null) cell('c', s.def.name).values.push(b.hwmKb / 1024);
        log(`  (b) run ${i + 1}/${RUNS} ${s.def.name}: ${b.bad.length ? `${b.bad.length} failed: ${b.bad[0]}` : `${(b.wallMs / 1000).toFixed(2)} s`}`
          + `${b.serverCpu !== null ? `, server CPU ${b.serverCpu.toFixed(2)} s` : ''}${b.hwmKb !== null ? `, VmHWM ${(b.hwmKb / 1024).toFixed(1)} MiB` : ''}`);
      }
    }
  } finally {
    await stopAll(servers, '(b)');
  }
  for (const d of defs) {
    if (d.treeAccounted) continue;
    cell('c', d.name).skipped = 'n/a: a process per connection';
    if (!CG_ROOT) cell('b-cpu', d.name).skipped = 'n/a: a process per connection';
  }
}

async function caseD(defs: ServerDef[], files: Files, lab: NetnsPair): Promise<Running[]> {
  log(`(d) ${KERNEL_CLIENTS} concurrent clients fetch a 16 MiB kernel: bootlab over HTTP, TFTP and windowed TFTP; the peers over HTTP; unpinned`);
  const ways = KERNEL_WAYS.filter((w) => defs.some((d) => d.name === w.server));
  const servers = await startAll(defs, files, lab, ways.map((w) => `d:${w.id}`), null);
  for (let i = 0; i < RUNS; i++) {
    for (const w of ways) {
      const s = servers.find((x) => x.def.name === w.server);
      if (!s || alive([s], [`d:${w.id}`]).length === 0) continue;
      const url = w.client === 'curl-tftp' ? `tftp://${NS_SERVER_ADDR}:${s.tftpPort}/f16` : `http://${NS_SERVER_ADDR}:${s.httpPort}/f16`;
      const argv = w.client === 'atftp'
        ? (_k: number, out: string) => ['atftp', '--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'f16', '-l', out, NS_SERVER_ADDR, String(s.tftpPort)]
        : w.client === 'curl-tftp'
          ? (_k: number, out: string) => ['curl', '-sS', '--tftp-blksize', '1468', '-o', out, url]
          : curlHttp(s, 'f16');
      const b = await batch(s, lab, files, KERNEL_CLIENTS, `d-${w.id}`, 'f16', argv, { memory: false, toDevNull: false });
      if (b.bad.length > 0) {
        cell(`d:${w.id}`, 'wall').failures.push(`${b.bad.length}/${KERNEL_CLIENTS} clients failed (${[...new Set(b.bad)].slice(0, 2).join('; ')})`);
      } else {
        cell(`d:${w.id}`, 'wall').values.push(b.wallMs / 1000);
        cell(`d:${w.id}`, 'client').values.push((median(b.clientMs) ?? 0) / 1000);
      }
      if (b.serverCpu !== null) cell(`d:${w.id}`, 'cpu').values.push(b.serverCpu);
      log(`  (d) run ${i + 1}/${RUNS} ${w.id}: ${b.bad.length ? `${b.bad.length} failed: ${b.bad[0]}` : `${(b.wallMs / 1000).toFixed(2)} s`}`
        + `${b.serverCpu !== null ? `, server CPU ${b.serverCpu.toFixed(2)} s` : ''}`);
    }
  }
  return servers;
}

// (e): ranges of f16 that every HTTP server must answer with exactly those bytes (206).
const RANGES: { spec: string; start: number; end: number }[] = [
  { spec: '0-0', start: 0, end: 0 },
  { spec: '1000-1999', start: 1000, end: 1999 },
  { spec: '1048576-3145727', start: 1048576, end: 3145727 },
  { spec: `${SMALL - 1000}-`, start: SMALL - 1000, end: SMALL - 1 },
  { spec: '-4096', start: SMALL - 4096, end: SMALL - 1 },
  { spec: `${SMALL - 10}-${SMALL + 1000}`, start: SMALL - 10, end: SMALL - 1 },
];

async function caseE(servers: Running[], files: Files, lab: NetnsPair): Promise<void> {
  log('(e) byte ranges: curl -r on each server, compared with the file');
  const data = readFileSync(join(files.root, 'f16'));
  for (const s of alive(servers, [])) {
    const lines: string[] = [];
    for (const r of RANGES) {
      const out = join(files.out, `e-${s.def.name}`);
      const [cmd, args] = NetnsPair.exec(lab.client, ['curl', '-sS', '-r', r.spec, '-o', out, '-w', '%{http_code}',
        `http://${NS_SERVER_ADDR}:${s.httpPort}/f16`]);
      const res = await run(`e:${s.def.name}`, cmd, args, 30_000);
      let verdict: string;
      if (res.exit?.code !== 0) verdict = clientFailure(res.proc, res.exit, 30_000);
      else {
        const got = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
        const want = data.subarray(r.start, r.end + 1);
        const status = res.proc.stdout.trim();
        const same = createHash('sha256').update(got).digest('hex') === createHash('sha256').update(want).digest('hex');
        verdict = same && status === '206' ? 'ok'
          : `status ${status}, ${got.length} bytes${same ? ' (the right ones)' : got.length === SMALL ? ' (the whole file)' : ', not the range\'s bytes'}`;
      }
      rmSync(out, { force: true });
      lines.push(`${r.spec}: ${verdict}`);
    }
    rangeChecks.set(s.def.name, lines);
    const okCount = lines.filter((l) => l.endsWith(': ok')).length;
    log(`  (e) ${s.def.name}: ${okCount}/${RANGES.length} ranges identical${okCount < RANGES.length ? ` (${lines.filter((l) => !l.endsWith(': ok')).join('; ')})` : ''}`);
  }
}

// ---------------------------------------------------------------------------------------
// Report

function summary(c: Cell | undefined): { text: string; value: number | null } {
  if (!c) return { text: '-', value: null };
  if (c.skipped && c.values.length === 0) return { text: c.skipped, value: null };
  const n = c.values.length + c.failures.length;
  if (c.values.length === 0) {
    const reason = (c.failures[0] ?? 'no runs').replace(/\|/g, '/');
    const short = reason.length > 90 ? `${reason.slice(0, 87)}...` : reason;
    return { text: `failed${c.failures.length > 1 ? ` (${c.failures.length} runs)` : ''}: ${short}`, value: null };
  }
  const med = median(c.values)!;
  return { text: `${fmtNum(med)}${c.failures.length ? ` (${c.failures.length}/${n} failed)` : ''}`, value: med };
}

function ratio(row: Row, order: string[]): string {
  const b = summary(results.get(row.id)?.get('bootlab'));
  if (b.value === null) return '-';
  let best: { name: string; value: number } | null = null;
  for (const name of order) {
    if (name === 'bootlab') continue;
    const p = summary(results.get(row.id)?.get(name));
    if (p.value === null) continue;
    if (!best || (row.better === 'higher' ? p.value > best.value : p.value < best.value)) best = { name, value: p.value };
  }
  return best ? `${(b.value / best.value).toFixed(2)}× (vs ${best.name})` : '-';
}

function buildTable(order: string[]): string {
  const lines = [`| case | unit | ${order.join(' | ')} | bootlab ÷ best peer |`, `|---|---|${order.map(() => '---:').join('|')}|---|`];
  for (const row of ROWS) {
    if (!results.has(row.id)) continue;
    const cells = order.map((n) => summary(results.get(row.id)?.get(n)).text);
    lines.push(`| ${row.label} | ${row.unit} ${row.better === 'higher' ? '↑' : '↓'} | ${cells.join(' | ')} | ${ratio(row, order)} |`);
  }
  return lines.join('\n');
}

function kernelTable(): string | null {
  const ways = KERNEL_WAYS.filter((w) => results.has(`d:${w.id}`));
  if (ways.length === 0) return null;
  const base = summary(results.get('d:bootlab-http')?.get('wall')).value;
  const lines = [
    `| (d) ${KERNEL_CLIENTS} clients at once, 16 MiB kernel each | wall s ↓ | aggregate MB/s ↑ | median client s ↓ | server CPU s ↓ | wall ÷ bootlab HTTP |`,
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const w of ways) {
    const m = results.get(`d:${w.id}`)!;
    const wall = summary(m.get('wall'));
    const rate = wall.value !== null ? fmtNum((KERNEL_CLIENTS * SMALL) / 1e6 / wall.value) : '-';
    const cpu = summary(m.get('cpu')).text;
    const r = wall.value !== null && base !== null ? `${(wall.value / base).toFixed(2)}×` : '-';
    lines.push(`| ${w.label} | ${wall.text} | ${rate} | ${summary(m.get('client')).text} | ${cpu} | ${r} |`);
  }
  return lines.join('\n');
}

function runDetails(order: string[]): string {
  const out: string[] = [];
  const line = (id: string, n: string, c: Cell | undefined) => {
    if (!c) return;
    const failed = [...new Set(c.failures)].map((f) => `failed ×${c.failures.filter((x) => x === f).length}: ${f.replace(/\|/g, '/')}`);
    if (c.values.length === 0 && failed.length === 0) return;
    out.push(`- ${id} ${n}: ${c.values.map(fmtNum).join(', ') || '-'}${failed.length ? ` — ${failed.join('; ')}` : ''}`);
  };
  for (const row of ROWS) for (const n of order) line(row.id, n, results.get(row.id)?.get(n));
  for (const w of KERNEL_WAYS) for (const k of ['wall', 'client', 'cpu']) line(`d ${w.id}`, k, results.get(`d:${w.id}`)?.get(k));
  return out.join('\n');
}

const loadAtStart = loadavg();

function report(defs: ServerDef[], order: string[], elapsedS: number): string {
  const v = (n: ServerName) => defs.find((d) => d.name === n)?.version;
  const idle = order.filter((n) => idleRss.has(n)).map((n) => `${n} ${idleRss.get(n)!.toFixed(1)} MiB`).join(', ');
  const kt = kernelTable();
  const ranges = [...rangeChecks].map(([n, lines]) => {
    const ok = lines.filter((l) => l.endsWith(': ok')).length;
    return `${n} ${ok}/${lines.length}${ok < lines.length ? ` (${lines.filter((l) => !l.endsWith(': ok')).join('; ')})` : ''}`;
  });
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${sh('nproc', [])} CPUs (nproc), ${cpuModel()}, kernel ${sh('uname', ['-r'])}, node ${process.version}`,
    `- load average (1, 5, 15 min): ${loadAtStart} at start, ${loadavg()} at end`
    + `${Number(loadAtStart.split(' ')[0]) > NCPU / 2 ? ' (other work was running: the numbers are noisier than on an idle machine)' : ''}`,
    `- servers: ${(['bootlab', 'nginx', 'busybox'] as const).map((n) => `${n === 'busybox' ? 'busybox httpd' : n} ${v(n) ?? 'not run'}`).join(', ')}`,
    `- clients: ${sh('curl', ['--version']).split('\n')[0].split(' ').slice(0, 2).join(' ')}, ${sh('atftp', ['--version']).split('\n')[0]}`,
    `- runs: ${RUNS} per server and case, interleaved; clients in one network namespace, servers in another (veth, ${NS_CLIENT_ADDR} → ${NS_SERVER_ADDR})`,
    `- whole run: ${Math.round(elapsedS)} s${CPU_PROF ? ' (bootlab under node --cpu-prof: its numbers are slower than usual)' : ''}`,
    '',
    buildTable(order),
    '',
    ...(kt ? [kt, ''] : []),
    'Medians. MB = 10^6 bytes. ↑ higher is better, ↓ lower is better; the ratio is bootlab\'s median over the best peer\'s'
    + ' (in (d): each way\'s wall time over bootlab HTTP\'s).',
    `Idle RSS before (b): ${idle || '-'}.`
    + `${ranges.length ? ` (e) ranges ${RANGES.map((r) => r.spec).join(', ')} of the 16 MiB file, identical bytes and 206: ${ranges.join('; ')}.` : ''}`,
    ...notes,
    '',
    ...everyRun(runDetails(order)),
  ].join('\n');
}

const { begin: BEGIN, end: END } = benchMarkers('http');

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installCleanup();
  const t0 = Date.now();
  requireRootAndTools('ip netns', ['ip', 'curl', 'atftp', 'taskset'], 'iproute2, curl, atftp, util-linux');
  log(`bench:http: runs ${RUNS}, clients ${CLIENTS}, kernel clients ${KERNEL_CLIENTS}, cases ${[...CASES].join(',')}, servers ${SERVERS.join(',')}`
    + `${CPU_PROF ? `, bootlab profiled into ${CPU_PROF}` : ''}`);
  if (NCPU < 2) notes.push('Only one CPU: servers and clients share it.');
  if (CPU_PROF) mkdirSync(CPU_PROF, { recursive: true });
  let nginx: Peer | null = null;
  if (SERVERS.includes('nginx')) {
    const got = fetchNginx();
    if (typeof got === 'string') {
      notes.push(`nginx could not be fetched (${got}): the table compares bootlab with busybox httpd only.`);
      log(`  nginx: not available: ${got}`);
    } else nginx = got;
  }
  const bb = SERVERS.includes('busybox') ? busyboxVersion() : null;
  if (SERVERS.includes('busybox') && !bb) notes.push('busybox with httpd is not on this machine: the table leaves it out.');
  const all = serverDefs(nginx, bb);
  const defs = SERVERS.map((n) => all.find((d) => d.name === n)).filter((d): d is ServerDef => d !== undefined);
  const order = defs.map((d) => d.name);
  if (order.includes('bootlab') && !existsSync(BOOTLAB_CLI)) log('note: dist/services/cli.js does not exist: bootlab will fail to start');
  const files = makeFiles();
  const lab = new NetnsPair('h');
  try {
    lab.create();
    log(`files in ${files.root}; namespaces ${lab.server} (servers) and ${lab.client} (clients)`);
    if (CASES.has('a')) await caseA(defs, files, lab);
    if (CASES.has('b') || CASES.has('c')) await caseB(defs, files, lab);
    if (CASES.has('d') || CASES.has('e')) {
      let servers: Running[] = [];
      try {
        if (CASES.has('d')) servers = await caseD(defs, files, lab);
        else servers = await startAll(defs, files, lab, [], null);
        if (CASES.has('e')) await caseE(servers, files, lab);
      } finally {
        await stopAll(servers, CASES.has('d') ? '(d)' : '(e)');
      }
    }
  } finally {
    killAllSync();
    lab.destroy();
    destroyAllNetns();
    rmSync(files.base, { recursive: true, force: true });
  }
  const body = report(defs, order, (Date.now() - t0) / 1000);
  process.stdout.write(`\n${body}\n\n`);
  if (WRITE_DOC) log(`wrote ${writeMarkedBlock(join(REPO, 'docs/benchmarks.md'), BEGIN, END, body, '## HTTP boot (issue 6)')}`);

  // The peers are the reference: if one of them failed a timed case, the setup is broken.
  const peerFailures: string[] = [];
  for (const [row, m] of results) {
    for (const [name, c] of m) {
      const peer = row.startsWith('d:') ? !row.startsWith('d:bootlab') : name !== 'bootlab';
      if (peer && c.failures.length) peerFailures.push(`${row} ${name}: ${c.failures[0]}`);
    }
  }
  return peerFailureExit(peerFailures);
}

runBench(main);
