// npm run bench:flash: `bootlab flash` (issue 7, the TFTP client that pushes firmware to a
// boot loader) against the TFTP clients a user would otherwise type: tftp-hpa's `tftp`,
// `atftp` and `curl -T`. One receiving server for all of them: tftpd-hpa with --create in
// a "dev" namespace (192.0.2.20), the clients in a "pc" namespace (192.0.2.10), both on
// one bridge in a third namespace (test/helpers/netlab.ts NetLab; nothing in the root
// namespace). The same 16 MiB random file; every upload checked by the sha256 of the
// file tftpd-hpa wrote.
//
// Cases, each client with its defaults (the command line a user types; none asks for a
// larger block, so all send 512-byte blocks; bootlab --blksize 1468 is an extra column):
//  (a) no loss, clients one after the other, interleaved (A B C D A B C D ...)  -> s, MB/s
//  (b) 5 % of IP packets dropped at random on the bridge (both ways), the clients of a
//      round side by side (they are timer-bound, not bandwidth-bound), a per-run cap;
//      a run at the cap or a client giving up is a result ("failed"), not a harness error.
//      A client is not repeated once a run took over BENCH_LOSS_REPEAT_UNDER s.
//
// Environment: BENCH_RUNS (3), BENCH_LOSS_TIMEOUT (180 s), BENCH_LOSS_REPEAT_UNDER (60 s),
// BENCH_CASES (a,b), BENCH_CLIENTS (bootlab,bootlab-1468,tftp-hpa,atftp,curl), BENCH_DOC
// (1: write docs/benchmarks.md; 0: print only).
//
// It exits non-zero only when the harness breaks (setup, a peer failing without loss, an
// interrupt); slow or failed uploads are results.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError, Proc, envInt, envList, installCleanup, killAllSync, makeBenchFiles, requireRootAndTools, sha256File, sleep, type Exit, runBench, peerFailureExit } from './lab.js';
import { REPO, bootlabVersion, fetchPeers } from './peers.js';
import { benchMarkers, cpuModel, everyRun, fmtNum, loadavg, log, median, sh, writeMarkedBlock } from './report.js';
import { NetLab } from '../helpers/netlab.js';

const RUNS = envInt('BENCH_RUNS', 3);
const LOSS_TIMEOUT_S = envInt('BENCH_LOSS_TIMEOUT', 180);
const LOSS_REPEAT_UNDER_S = envInt('BENCH_LOSS_REPEAT_UNDER', 60);
const CASES = new Set(envList('BENCH_CASES', ['a', 'b']));
const WRITE_DOC = envInt('BENCH_DOC', 1, 0) !== 0;
const CLEAN_TIMEOUT_S = 120;

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const LOSS_PER_MILLE = 50;
const DEV = '192.0.2.20';
const PC = '192.0.2.10';
const CLI = join(REPO, 'dist', 'services', 'cli.js');

type ClientName = 'bootlab' | 'bootlab-1468' | 'tftp-hpa' | 'atftp' | 'curl';
interface Client { name: ClientName; peer: boolean; argv(file: string, remote: string): string[] }

const ALL_CLIENTS: Client[] = [
  { name: 'bootlab', peer: false, argv: (f, r) => [process.execPath, CLI, 'flash', '--target', DEV, '--file', f, '--remote-name', r, '--wait', '10s'] },
  { name: 'bootlab-1468', peer: false, argv: (f, r) => [process.execPath, CLI, 'flash', '--target', DEV, '--file', f, '--remote-name', r, '--wait', '10s', '--blksize', '1468'] },
  // tftp-hpa's client reads the remote name from "put LOCAL REMOTE".
  { name: 'tftp-hpa', peer: true, argv: (f, r) => ['tftp', '-m', 'binary', DEV, '-c', 'put', f, r] },
  { name: 'atftp', peer: true, argv: (f, r) => ['atftp', '-p', '-l', f, '-r', r, DEV] },
  { name: 'curl', peer: true, argv: (f, r) => ['curl', '-sS', '-T', f, `tftp://${DEV}/${r}`] },
];
const CLIENTS = envList('BENCH_CLIENTS', ALL_CLIENTS.map((c) => c.name)).map((n) => {
  const c = ALL_CLIENTS.find((x) => x.name === n);
  if (!c) throw new HarnessError(`BENCH_CLIENTS: unknown client ${n}`);
  return c;
});

// ---------------------------------------------------------------------------------------
// Results

type RowId = 'a-s' | 'a-rate' | 'b-s';
interface Row { id: RowId; label: string; unit: string; better: 'higher' | 'lower'; cap?: number }
const ROWS: Row[] = [
  { id: 'a-s', label: '(a) no loss: 16 MiB upload', unit: 's', better: 'lower' },
  { id: 'a-rate', label: '(a) no loss: throughput', unit: 'MB/s', better: 'higher' },
  { id: 'b-s', label: `(b) 5 % random drop on the bridge: 16 MiB upload (cap ${LOSS_TIMEOUT_S} s)`, unit: 's', better: 'lower', cap: LOSS_TIMEOUT_S },
];
interface Cell { values: number[]; failures: string[] }
const results = new Map<RowId, Map<ClientName, Cell>>();
function cell(row: RowId, c: ClientName): Cell {
  let m = results.get(row);
  if (!m) results.set(row, (m = new Map()));
  let x = m.get(c);
  if (!x) m.set(c, (x = { values: [], failures: [] }));
  return x;
}
const notes: string[] = [];

// ---------------------------------------------------------------------------------------
// One upload

let serial = 0;

/** Runs one client upload from the pc namespace; returns null on success (and records seconds) or why not. */
async function upload(
  lab: NetLab,
  client: Client,
  file: string,
  want: string,
  recvDir: string,
  timeoutS: number,
): Promise<{ ms: number; failure: string | null }> {
  const remote = `up-${client.name}-${++serial}.bin`;
  const got = join(recvDir, remote);
  const t0 = performance.now();
  const proc = new Proc(client.name, 'ip', ['netns', 'exec', lab.ns('pc'), ...client.argv(file, remote)]);
  const exit: Exit | null = await proc.wait(timeoutS * 1000);
  const ms = performance.now() - t0;
  let failure: string | null = null;
  if (exit === null) {
    const part = existsSync(got) ? statSync(got).size : 0;
    failure = `timeout: no exit within ${timeoutS} s (${(part / MiB).toFixed(1)} of ${SIZE / MiB} MiB received)`;
  } else if (exit.code !== 0) failure = `after ${(ms / 1000).toFixed(1)} s: ${proc.describe()}`;
  else if (!existsSync(got)) failure = 'exit 0 but no file on the server';
  else {
    // tftpd-hpa's child may still be writing the last block: a moment for it.
    let sum = await sha256File(got);
    for (let i = 0; i < 10 && sum !== want; i++) {
      await sleep(100);
      sum = await sha256File(got);
    }
    if (sum !== want) failure = 'received file differs (sha256)';
  }
  rmSync(got, { force: true });
  return { ms, failure };
}

// ---------------------------------------------------------------------------------------
// Cases

async function caseA(lab: NetLab, file: string, want: string, recvDir: string): Promise<void> {
  log(`(a) no loss, ${RUNS} runs per client, interleaved`);
  for (let i = 0; i < RUNS; i++) {
    for (const c of CLIENTS) {
      const r = await upload(lab, c, file, want, recvDir, CLEAN_TIMEOUT_S);
      if (r.failure) {
        cell('a-s', c.name).failures.push(r.failure);
        cell('a-rate', c.name).failures.push(r.failure);
      } else {
        cell('a-s', c.name).values.push(r.ms / 1000);
        cell('a-rate', c.name).values.push(SIZE / 1e6 / (r.ms / 1000));
      }
      log(`  (a) run ${i + 1}/${RUNS} ${c.name}: ${r.failure ?? `${(r.ms / 1000).toFixed(2)} s`}`);
    }
  }
}

function droppedPackets(lab: NetLab): number | null {
  try {
    const m = lab.exec('lan', 'nft', ['list', 'table', 'bridge', 'bench_loss']).match(/packets (\d+)/);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

async function caseB(lab: NetLab, file: string, want: string, recvDir: string): Promise<void> {
  log(`(b) 5 % random drop on the bridge, up to ${RUNS} rounds (clients side by side), cap ${LOSS_TIMEOUT_S} s`);
  lab.exec('lan', 'nft', ['-f', '-'], [
    'table bridge bench_loss {',
    '  chain f {',
    '    type filter hook forward priority 0; policy accept;',
    `    meta protocol ip numgen random mod 1000 < ${LOSS_PER_MILLE} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n'));
  try {
    let active = CLIENTS;
    for (let i = 0; i < RUNS && active.length > 0; i++) {
      const slow = await Promise.all(active.map(async (c) => {
        const r = await upload(lab, c, file, want, recvDir, LOSS_TIMEOUT_S);
        if (r.failure) cell('b-s', c.name).failures.push(r.failure);
        else cell('b-s', c.name).values.push(r.ms / 1000);
        log(`  (b) round ${i + 1}/${RUNS} ${c.name}: ${r.failure ?? `${(r.ms / 1000).toFixed(1)} s`}`);
        return r.failure !== null || r.ms / 1000 > LOSS_REPEAT_UNDER_S;
      }));
      active = active.filter((_, k) => !slow[k]);
    }
    const d = droppedPackets(lab);
    if (d !== null) notes.push(`(b) the bridge dropped ${d} packets over all (b) runs.`);
  } finally {
    try { lab.exec('lan', 'nft', ['delete', 'table', 'bridge', 'bench_loss']); } catch { /* lab gone */ }
  }
}

// ---------------------------------------------------------------------------------------
// Report

function summary(row: Row, c: Cell | undefined): { text: string; value: number | null; failed: boolean } {
  if (!c) return { text: '-', value: null, failed: false };
  const n = c.values.length + c.failures.length;
  if (c.values.length === 0) {
    const r = (c.failures[0] ?? 'no runs').replace(/\|/g, '/');
    const short = r.length > 70 ? `${r.slice(0, 67)}...` : r;
    return { text: `failed${c.failures.length > 1 ? ` (${c.failures.length} runs)` : ''}: ${short}`, value: null, failed: true };
  }
  const about = [`${n} run${n > 1 ? 's' : ''}`];
  if (c.failures.length) about.push(`${c.failures.length} failed`);
  return { text: `${fmtNum(median(c.values))}${row.cap !== undefined || c.failures.length ? ` (${about.join(', ')})` : ''}`, value: median(c.values), failed: false };
}

function ratio(row: Row, who: ClientName): string {
  const m = results.get(row.id);
  const b = summary(row, m?.get(who));
  let best: { name: ClientName; value: number } | null = null;
  for (const c of CLIENTS) {
    if (!c.peer) continue;
    const p = summary(row, m?.get(c.name));
    if (p.value === null) continue;
    if (!best || (row.better === 'higher' ? p.value > best.value : p.value < best.value)) best = { name: c.name, value: p.value };
  }
  if (!best) {
    // Every peer hit the cap: their time is above it, so the ratio is an upper bound.
    const capped = row.cap !== undefined && CLIENTS.some((c) => c.peer && m?.get(c.name)?.failures.some((f) => f.startsWith('timeout')));
    return capped && b.value !== null ? `<${(b.value / row.cap!).toFixed(2)}× (every peer >${row.cap} s)` : '-';
  }
  if (b.value === null) return `failed (best peer ${best.name})`;
  return `${(b.value / best.value).toFixed(2)}× (vs ${best.name})`;
}

function buildTable(): string {
  const order = CLIENTS.map((c) => c.name);
  const own = CLIENTS.filter((c) => !c.peer).map((c) => c.name);
  const lines = [
    `| case | unit | ${order.join(' | ')} | ${own.map((o) => `${o} ÷ best peer`).join(' | ')} |`,
    `|---|---|${order.map(() => '---:').join('|')}|${own.map(() => '---').join('|')}|`,
  ];
  for (const row of ROWS) {
    if (!results.has(row.id)) continue;
    const cells = order.map((n) => summary(row, results.get(row.id)?.get(n)).text);
    lines.push(`| ${row.label} | ${row.unit} ${row.better === 'higher' ? '↑' : '↓'} | ${cells.join(' | ')} | ${own.map((o) => ratio(row, o)).join(' | ')} |`);
  }
  return lines.join('\n');
}

function runDetails(): string {
  const out: string[] = [];
  for (const row of ROWS) {
    const m = results.get(row.id);
    if (!m) continue;
    for (const c of CLIENTS) {
      const x = m.get(c.name);
      if (!x) continue;
      const fails = [...new Set(x.failures)].map((f) => `failed ×${x.failures.filter((y) => y === f).length}: ${f.replace(/\|/g, '/')}`);
      out.push(`- ${row.id} ${c.name}: ${x.values.map(fmtNum).join(', ') || '-'}${fails.length ? ` — ${fails.join('; ')}` : ''}`);
    }
  }
  return out.join('\n');
}

const loadAtStart = loadavg();

function report(tftpdVersion: string, elapsedS: number): string {
  const first = (cmd: string, args: string[]) => sh(cmd, args).split('\n')[0];
  let tftpHpa = 'unknown';
  try { tftpHpa = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'tftp-hpa'], { encoding: 'utf8' }).trim(); } catch { /* not from a package */ }
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${sh('nproc', [])} CPUs (nproc), ${cpuModel()}, kernel ${sh('uname', ['-r'])}, node ${process.version}`,
    `- load average (1, 5, 15 min): ${loadAtStart} at start, ${loadavg()} at end`,
    `- receiver: tftpd-hpa ${tftpdVersion} (Debian, --create) in a namespace; clients: bootlab ${bootlabVersion()}, `
    + `tftp-hpa ${tftpHpa}, ${first('atftp', ['--version'])}, ${first('curl', ['--version']).split(' ').slice(0, 2).join(' ')}`,
    `- runs: ${RUNS} per client for (a), interleaved; (b) up to ${RUNS} rounds, clients side by side, cap ${LOSS_TIMEOUT_S} s, `
    + `a client not repeated once a run took over ${LOSS_REPEAT_UNDER_S} s or failed`,
    `- whole run: ${Math.round(elapsedS)} s`,
    '',
    buildTable(),
    '',
    'Medians of the successful runs. MB = 10^6 bytes. ↑ higher is better, ↓ lower is better; the ratio is '
    + 'the bootlab column\'s median over the best of tftp-hpa, atftp and curl. Every upload was checked by sha256.',
    ...notes,
    '',
    ...everyRun(runDetails()),
  ].join('\n');
}

const { begin: BEGIN, end: END } = benchMarkers('flash');

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installCleanup();
  const t0 = Date.now();
  requireRootAndTools('ip netns and nftables', ['ip', 'nft', 'tftp', 'atftp', 'curl'], 'iproute2 nftables tftp-hpa atftp curl');
  if (!existsSync(CLI)) throw new HarnessError(`${CLI} missing: run npm run build`);
  const tftpd = fetchPeers()['tftpd-hpa'];
  log(`bench:flash: runs ${RUNS}, cases ${[...CASES].join(',')}, clients ${CLIENTS.map((c) => c.name).join(',')}, tftpd-hpa ${tftpd.version}`);
  const files = makeBenchFiles('bootlab-flash-', [['fw16', SIZE]]);
  const recvDir = files.out;
  const lab = new NetLab('fb');
  let server: Proc | null = null;
  try {
    lab.bridge();
    lab.attach('dev', { cidr: `${DEV}/24` });
    lab.attach('pc', { cidr: `${PC}/24` });
    server = new Proc('tftpd-hpa', 'ip', ['netns', 'exec', lab.ns('dev'), tftpd.bin, '--foreground', '--listen', '--address', `${DEV}:69`,
      '--user', 'root', '--create', '--secure', recvDir]);
    // Ready when a tiny upload goes through.
    const deadline = Date.now() + 15_000;
    const probeFile = join(files.root, 'probe');
    execFileSync('sh', ['-c', `printf x > ${probeFile}`]);
    for (;;) {
      if (!server.running) throw new HarnessError(`tftpd-hpa: ${server.describe()}`);
      const p = new Proc('probe', 'ip', ['netns', 'exec', lab.ns('pc'), 'curl', '-sS', '--max-time', '2', '-T', probeFile, `tftp://${DEV}/probe`]);
      if ((await p.wait(5000))?.code === 0) break;
      if (Date.now() > deadline) throw new HarnessError('tftpd-hpa does not accept uploads within 15 s');
      await sleep(200);
    }
    rmSync(join(recvDir, 'probe'), { force: true });
    const file = join(files.root, 'fw16');
    if (CASES.has('a')) await caseA(lab, file, files.sha.fw16, recvDir);
    if (CASES.has('b')) await caseB(lab, file, files.sha.fw16, recvDir);
  } finally {
    await server?.stop();
    killAllSync();
    await lab.destroy();
  }
  const body = report(tftpd.version, (Date.now() - t0) / 1000);
  process.stdout.write(`\n${body}\n\n`);
  if (WRITE_DOC) log(`wrote ${writeMarkedBlock(join(REPO, 'docs/benchmarks.md'), BEGIN, END, body, '### Flashing firmware: latest results')}`);
  const peerFailures: string[] = [];
  for (const row of ['a-s'] as RowId[]) {
    for (const c of CLIENTS) if (c.peer && results.get(row)?.get(c.name)?.failures.length) peerFailures.push(`${row} ${c.name}: ${results.get(row)!.get(c.name)!.failures[0]}`);
  }
  return peerFailureExit(peerFailures, 'without loss');
}

runBench(main);
