// The benchmark's plumbing: child processes it starts and stops by their own PIDs,
// bounded waits, a TFTP probe (readiness and which options a server grants), and a
// pair of network namespaces with random loss for case (e).
//
// Rules kept here (docs: ../shared/docs/test-lab.md): traffic goes only to 127.0.0.1 or
// inside the namespaces made here; both veth ends live in those namespaces; every process
// and namespace made here is removed at exit, also when the harness fails or is interrupted.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode, isDecodeError } from '../../services/tftp/packet.js';
import { randomFile, sha256File, sleep } from '../helpers/util.js';

export class HarnessError extends Error {
  override name = 'HarnessError';
}

export { sha256File, sleep } from '../helpers/util.js';

// ---------------------------------------------------------------------------------------
// Processes. Each child gets its own process group (detached), whose id is the PID we
// started: stopping it also stops what that process forked for itself (tftpd-hpa forks a
// child per transfer), and nothing else.

const live = new Set<Proc>();

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;
  stdout = '';
  stderr = '';
  private readonly cap: number;

  constructor(readonly label: string, cmd: string, args: string[], opts: { stdin?: 'pipe' | 'ignore'; keepOutput?: number } = {}) {
    this.cap = opts.keepOutput ?? 64 * 1024;
    this.child = spawn(cmd, args, { detached: true, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) {
      // spawn() reports ENOENT asynchronously; make the failure synchronous and clear.
      throw new HarnessError(`${label}: cannot start ${cmd}`);
    }
    this.pid = this.child.pid;
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => { if (this.stdout.length < this.cap) this.stdout += s; });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => { if (this.stderr.length < this.cap) this.stderr += s; });
    this.exited = new Promise<Exit>((resolve) => {
      this.child.on('error', (e) => { this.stderr += `\n${e.message}`; });
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
  }

  get running(): boolean { return this.exit === null; }

  /** Signals this process's group (the PID we started and its own descendants). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try { process.kill(-this.pid, sig); } catch { /* already gone */ }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
    // The group leader is gone; descendants it forked (tftpd-hpa transfers) may not be.
    try { process.kill(-this.pid, 'SIGKILL'); } catch { /* none left */ }
  }

  /** Waits up to `ms` for the exit; on timeout kills the group and returns null. */
  async wait(ms: number): Promise<Exit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((r) => { timer = setTimeout(() => r(null), ms); });
    const res = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (res === null) {
      this.signal('SIGKILL');
      await this.exited;
    }
    return res;
  }

  describe(): string {
    const e = this.exit;
    const how = e === null ? 'running' : e.signal ? `killed by ${e.signal}` : `exit ${e.code}`;
    const lines = (this.stderr.trim() || this.stdout.trim()).split('\n').filter((l) => l.trim());
    // Prefer what the program said about the failure over its progress chatter.
    const telling = lines.filter((l) => /error|fail|abort|denied|refused|not found|cannot/i.test(l));
    const err = (telling.length ? telling : lines).slice(-3).join(' | ');
    return `${this.label} ${how}${err ? `: ${err.slice(0, 300)}` : ''}`;
  }
}

/** Runs a command to completion (bounded). */
export async function run(
  label: string,
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ proc: Proc; exit: Exit | null; ms: number }> {
  const t0 = performance.now();
  const proc = new Proc(label, cmd, args);
  const exit = await proc.wait(timeoutMs);
  return { proc, exit, ms: performance.now() - t0 };
}

/** Why a client run failed: it timed out (exit null), or how it exited. */
export function clientFailure(p: Proc, exit: Exit | null, timeoutMs: number): string {
  if (exit === null) return `client timed out after ${timeoutMs / 1000} s`;
  return `client ${p.describe()}`;
}

/**
 * A download's verdict: null when the client exited 0 and `outFile` has `sha`; else why not (the
 * partial file is removed).
 */
export async function downloadVerdict(
  r: { proc: Proc; exit: Exit | null },
  outFile: string,
  sha: string,
  timeoutMs: number,
): Promise<string | null> {
  if (r.exit?.code !== 0) {
    rmSync(outFile, { force: true });
    return clientFailure(r.proc, r.exit, timeoutMs);
  }
  return checkOutput(outFile, sha);
}

/** Synchronous last-resort cleanup, for exit handlers. */
export function killAllSync(): void {
  for (const p of live) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  live.clear();
}

// ---------------------------------------------------------------------------------------
// Memory of a process: /proc/PID/status, and resetting its peak (VmHWM) by writing 5 to
// /proc/PID/clear_refs (Linux >= 4.0).

export function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system) from /proc/PID/stat: the process's own, or (children: true)
 * those of its children it has reaped (the harness reaps its clients).
 */
export function cpuSeconds(pid: number, children = false): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of proc(5): utime, stime, cutime, cstime; f[0] is field 3.
    const ticks = children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux x86 and arm

export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Served files and their copies: random bytes, compared by SHA-256.

/** Compares a client's copy with the served file's SHA-256 and deletes it: null when equal, else why not. */
export async function checkOutput(file: string, want: string): Promise<string | null> {
  if (!existsSync(file)) return 'no output file';
  const got = await sha256File(file);
  rmSync(file, { force: true });
  return got === want ? null : 'received file differs from the served file';
}

// ---------------------------------------------------------------------------------------
// TFTP probe: an RRQ with options, sent to 127.0.0.1 only. Returns the options the server
// granted in its OACK ({} when it answered with DATA: no options), then aborts the
// transfer with an ERROR packet, as EDK2's tsize probe does.

export interface ProbeResult { granted: Record<string, string>; firstReply: 'OACK' | 'DATA' | 'ERROR'; error?: string }

export async function probe(
  port: number,
  file: string,
  options: Record<string, string>,
  timeoutMs = 5000,
): Promise<ProbeResult> {
  const host = '127.0.0.1';
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, host, r));
  const rrq = encode({ op: 'RRQ', filename: file, mode: 'octet', options: new Map(Object.entries(options)) });
  const deadline = Date.now() + timeoutMs;
  try {
    return await new Promise<ProbeResult>((resolve, reject) => {
      let resend: NodeJS.Timeout | undefined;
      const send = () => {
        if (Date.now() > deadline) {
          reject(new HarnessError(`no TFTP answer on ${host}:${port} within ${timeoutMs} ms`));
          return;
        }
        sock.send(rrq, port, host);
        resend = setTimeout(send, 200);
      };
      sock.on('message', (msg, rinfo) => {
        if (rinfo.address !== host) return;
        const p = decode(msg);
        if (isDecodeError(p)) return;
        clearTimeout(resend);
        if (p.op === 'OACK' || p.op === 'DATA') {
          sock.send(encode({ op: 'ERROR', code: 0, message: 'bench probe done' }), rinfo.port, host);
        }
        if (p.op === 'OACK') resolve({ granted: Object.fromEntries(p.options), firstReply: 'OACK' });
        else if (p.op === 'DATA') resolve({ granted: {}, firstReply: 'DATA' });
        else if (p.op === 'ERROR') resolve({ granted: {}, firstReply: 'ERROR', error: `${p.code} ${p.message}` });
      });
      send();
    });
  } finally {
    // Let the ERROR leave before the socket goes.
    await sleep(20);
    sock.close();
  }
}

// ---------------------------------------------------------------------------------------
// Network namespaces for the loss case: a server namespace and a client namespace joined
// by one veth whose two ends are created directly inside them (the root namespace gets
// nothing), addresses from 198.18.0.0/15, and nftables in the client namespace dropping
// a share of UDP coming in and going out.

export const NS_SERVER_ADDR = '198.18.0.1';
export const NS_CLIENT_ADDR = '198.18.0.2';

export class NetnsPair {
  readonly server: string;
  readonly client: string;
  private made: string[] = [];

  /** `prefixLen`: of both addresses (the DHCP benchmark's pool needs a /15). */
  constructor(tag: string, readonly prefixLen = 24) {
    this.server = `blb${process.pid}${tag}s`;
    this.client = `blb${process.pid}${tag}c`;
    pairs.add(this);
  }

  private ip(args: string[]): void {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  }

  create(): void {
    for (const ns of [this.server, this.client]) {
      this.ip(['netns', 'add', ns]);
      this.made.push(ns);
      this.ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    this.ip(['-n', this.server, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.client]);
    this.ip(['-n', this.server, 'addr', 'add', `${NS_SERVER_ADDR}/${this.prefixLen}`, 'dev', 'eth0']);
    this.ip(['-n', this.client, 'addr', 'add', `${NS_CLIENT_ADDR}/${this.prefixLen}`, 'dev', 'eth0']);
    this.ip(['-n', this.server, 'link', 'set', 'eth0', 'up']);
    this.ip(['-n', this.client, 'link', 'set', 'eth0', 'up']);
  }

  /**
   * Drops `perMille`/1000 of UDP packets at random, in and out of the client namespace.
   * The rules sit on the client's veth (netdev ingress and egress hooks), not on the inet
   * input/output hooks: a drop in the output hook makes the sender's sendto() fail with
   * EPERM, which no lossy network does, and curl aborts on it ("(55) ... errno 107").
   */
  setLoss(perMille: number): void {
    const rule = `meta l4proto udp numgen random mod 1000 < ${perMille} counter drop`;
    const ruleset = [
      'table netdev bench_loss {',
      `  chain in { type filter hook ingress device "eth0" priority 0; policy accept; ${rule}; }`,
      `  chain out { type filter hook egress device "eth0" priority 0; policy accept; ${rule}; }`,
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', this.client, 'nft', '-f', '-'], { input: ruleset, stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
  }

  /** Packets dropped so far by the loss rules: [input, output]. */
  dropped(): [number, number] | null {
    try {
      const out = execFileSync('ip', ['netns', 'exec', this.client, 'nft', 'list', 'table', 'netdev', 'bench_loss'], { encoding: 'utf8', timeout: 10_000 });
      const counts = [...out.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
      return counts.length === 2 ? [counts[0], counts[1]] : null;
    } catch {
      return null;
    }
  }

  /** Command prefix running `cmd` inside a namespace (ip netns exec execs: the PID is kept). */
  static exec(ns: string, cmd: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', ns, ...cmd]];
  }

  destroy(): void {
    for (const ns of this.made.splice(0)) {
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 }); } catch { /* best effort */ }
    }
    pairs.delete(this);
  }
}

const pairs = new Set<NetnsPair>();

export function destroyAllNetns(): void {
  for (const p of [...pairs]) p.destroy();
}

const tempDirs = new Set<string>();
/** A temporary folder to delete on any kind of exit. */
export function removeAtExit(dir: string): void {
  tempDirs.add(dir);
}

/** Removes every process, namespace and temporary folder this harness made, on any kind of exit. */
export function installCleanup(): void {
  const cleanup = () => {
    killAllSync();
    destroyAllNetns();
    for (const d of tempDirs) {
      try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    tempDirs.clear();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
      cleanup();
      process.exit(130);
    });
  }
}

/** Stops a benchmark at once, saying what to do, unless it runs as root with every tool on PATH. */
export function requireRootAndTools(why: string, tools: string[], packages: string): void {
  if (process.getuid?.() !== 0) throw new HarnessError(`needs root (${why}): run it as root, as CI does`);
  for (const tool of tools) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch {
      throw new HarnessError(`${tool} not found (Debian packages: ${packages})`);
    }
  }
}

/** A whole number from the environment (BENCH_RUNS ...), `def` when unset; a bad value stops the harness. */
export function envInt(name: string, def: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new HarnessError(`${name}=${v}: must be an integer >= ${min}`);
  return n;
}

/** A comma-separated list from the environment, `def` when unset. */
export function envList(name: string, def: string[]): string[] {
  const v = process.env[name];
  return v ? v.split(',').map((s) => s.trim()).filter(Boolean) : def;
}

export interface BenchFiles { base: string; root: string; out: string; sha: Record<string, string> }

/**
 * A served folder (root/) of random files and a download folder (out/) in a fresh folder
 * under /dev/shm (so the disk does not pace the runs), removed at exit. World-readable:
 * atftpd and nginx workers serve as "nobody", tftpd-hpa chroots. Returns each file's sha256.
 */
export function makeBenchFiles(prefix: string, files: ReadonlyArray<readonly [string, number]>): BenchFiles {
  const parent = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const base = mkdtempSync(join(parent, prefix));
  removeAtExit(base);
  const root = join(base, 'root');
  const out = join(base, 'out');
  mkdirSync(root);
  mkdirSync(out);
  chmodSync(base, 0o755);
  chmodSync(root, 0o755);
  const sha: Record<string, string> = {};
  for (const [name, size] of files) sha[name] = randomFile(root, name, size);
  return { base, root, out, sha };
}

/**
 * A bench's exit code: 1 when a peer failed (described by `failures`, one line each),
 * for then the harness or the machine is broken, not bootlab; 0 otherwise. `what` says
 * when a failure counts (flash: "without loss").
 */
export function peerFailureExit(failures: string[], what = ''): number {
  if (failures.length === 0) return 0;
  process.stderr.write(`bench: a peer failed${what ? ` ${what}` : ''}, the harness or the machine is broken:\n  ${failures.join('\n  ')}\n`);
  return 1;
}

/** Runs a bench's main and exits with its code; a HarnessError prints its message, anything else its stack. */
export function runBench(main: () => Promise<number>): void {
  main().then((code) => process.exit(code), (e) => {
    process.stderr.write(`bench: ${e instanceof HarnessError ? e.message : (e as Error)?.stack ?? e}\n`);
    process.exit(1);
  });
}
