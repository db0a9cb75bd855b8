// Promise wrappers around the real TFTP clients the interop suite drives: atftp, tftp-hpa's
// `tftp` and curl. Every child is spawned with a timeout, killed by its PID when the timeout
// fires, and tracked until it exits, so a test can assert that none is left behind.
// Traffic only ever goes to loopback.
//
// Client facts, checked on Debian 12 (atftp 0.8.0, tftp-hpa 5.2, curl 7.88.1):
// - atftp exits 0 on success and 255 on any failure; it prints the server's ERROR message
//   as "tftp: error received from server <MSG>" but never the error code. It sends any
//   --option verbatim (blksize 7, timeout 0 included). --trace goes to stderr.
// - tftp-hpa 5.2's client sends no options at all (no blksize, no tsize; it has no -B) and
//   exits 0 even when the transfer failed: it prints "Error code N: MSG" on stdout, or
//   "Transfer timed out." So success is judged from its output.
// - curl always sends "tsize 0 blksize 512 timeout 6" unless --tftp-no-options; it refuses
//   --tftp-blksize below 8 itself. Exit codes (measured against a server answering each
//   ERROR code): 0 -> 71, 1 -> 68, 2 -> 69, 3 -> 70, 4 -> 71, 5 -> 72, 6 -> 73, 7 -> 74,
//   8 -> 42. After any TFTP error 7.88 also prints a bogus "getpeername() failed with
//   errno 107": the exit code is what counts.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { userInfo } from 'node:os';
import type { BootEvent, EventOf } from '../../services/core/events.js';
import { decode, encode, type DecodeError, type Packet } from '../../services/tftp/packet.js';
import type { startTestServer as StartTestServer } from './tftp.js';
import type { Teardown } from './util.js';

export type ClientName = 'atftp' | 'tftp-hpa' | 'curl';

/** The binary of each client and the Debian package that installs it. */
export const BINARIES: Record<ClientName, { bin: string; pkg: string }> = {
  atftp: { bin: 'atftp', pkg: 'atftp' },
  'tftp-hpa': { bin: 'tftp', pkg: 'tftp-hpa' },
  curl: { bin: 'curl', pkg: 'curl' },
};

export interface RunResult {
  client: ClientName | string;
  args: string[];
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the wrapper killed the process because it ran past its timeout. */
  timedOut: boolean;
  ms: number;
}

export interface ClientResult extends RunResult {
  /** The client's own verdict: exit status plus, for tftp-hpa, its printed errors. */
  ok: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Bytes of stdout/stderr kept each (default 4 MiB); the rest is dropped. */
  maxOutput?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Clients still running, and reference-peer servers (kept apart: they run all test long). */
const live = new Map<number, ChildProcess>();
const peers = new Set<number>();

/** SIGKILLs one process we started; false when it had already gone. */
function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of clients this process spawned that have not exited yet. */
export function liveClients(): number[] {
  return [...live.keys()];
}

/** Kills every client still running, each by its own PID. Returns how many were killed. */
export function killLeftovers(): number {
  return [...live.keys()].filter((pid) => killPid(pid)).length;
}
process.once('exit', () => {
  killLeftovers();
  for (const pid of peers) killPid(pid, 'SIGTERM');
});

/** True when `pid` is no longer a running process (signal 0 probes without sending). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Spawns `cmd`, collects its output, kills it by PID after the timeout. Never rejects on exit status. */
export function run(cmd: string, args: string[], opts: RunOptions = {}, label: string = cmd): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxOutput = opts.maxOutput ?? 4 * 1024 * 1024;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const pid = child.pid;
    if (pid !== undefined) live.set(pid, child);
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < maxOutput) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < maxOutput) err.push(b);
      errLen += b.length;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killPid(pid);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({ client: label, args, pid, code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/** TFTP options as atftp --option pairs, e.g. { blksize: 1428, windowsize: 8, tsize: 0 }. */
export type TftpOptions = Record<string, number | string>;

export interface Transfer extends RunOptions {
  port: number;
  remote: string;
  local: string;
  options?: TftpOptions;
  trace?: boolean;
  /** Host to talk to; must be loopback. */
  host?: string;
  /** tftp-hpa only: netascii mode (-m ascii) instead of octet. */
  ascii?: boolean;
}

function loopback(host: string | undefined): string {
  const h = host ?? '127.0.0.1';
  if (!/^127\.\d+\.\d+\.\d+$/.test(h) && h !== '::1') throw new Error(`interop clients only talk to loopback, not ${h}`);
  return h;
}

function optionArgs(options: TftpOptions | undefined): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(options ?? {})) args.push('--option', `${k} ${v}`);
  return args;
}

export function atftpArgs(dir: 'get' | 'put', x: Transfer): string[] {
  const trace = x.trace ? ['--trace'] : [];
  return [`--${dir}`, '-r', x.remote, '-l', x.local, ...optionArgs(x.options), ...trace, loopback(x.host), String(x.port)];
}

function atftpOk(r: RunResult): boolean {
  return r.code === 0 && !r.timedOut && !/error received from server|aborting/.test(r.stderr);
}

export async function atftp(dir: 'get' | 'put', x: Transfer): Promise<ClientResult> {
  const r = await run('atftp', atftpArgs(dir, x), x, 'atftp');
  return { ...r, ok: atftpOk(r) };
}

/** tftp-hpa 5.2 sends plain RFC 1350 requests: `options` is rejected, not silently dropped. */
export function tftpHpaArgs(dir: 'get' | 'put', x: Transfer): string[] {
  if (x.options && Object.keys(x.options).length > 0) throw new Error('tftp-hpa 5.2 cannot send TFTP options');
  const command = dir === 'get' ? ['get', x.remote, x.local] : ['put', x.local, x.remote];
  return ['-m', x.ascii ? 'ascii' : 'binary', loopback(x.host), String(x.port), '-c', ...command];
}

/** The TFTP error code tftp-hpa printed ("Error code 1: File not found"), if any. */
export function tftpHpaErrorCode(r: RunResult): number | null {
  const m = /Error code (\d+):/.exec(r.stdout + r.stderr);
  return m ? Number(m[1]) : null;
}

function tftpHpaOk(r: RunResult): boolean {
  return r.code === 0 && !r.timedOut && !/Error code \d+|timed out|aborting/i.test(r.stdout + r.stderr);
}

export async function tftpHpa(dir: 'get' | 'put', x: Transfer): Promise<ClientResult> {
  const r = await run('tftp', tftpHpaArgs(dir, x), x, 'tftp-hpa');
  return { ...r, ok: tftpHpaOk(r) };
}

export interface CurlTransfer extends Transfer {
  blksize?: number;
  /** --tftp-no-options: a plain RFC 1350 request (no tsize, blksize or timeout). */
  noOptions?: boolean;
}

export function curlArgs(dir: 'get' | 'put', x: CurlTransfer): string[] {
  if (x.options && Object.keys(x.options).length > 0) throw new Error('curl takes blksize/noOptions, not arbitrary options');
  const host = loopback(x.host);
  const url = `tftp://${host.includes(':') ? `[${host}]` : host}:${x.port}/${x.remote.split('/').map(encodeURIComponent).join('/')}`;
  const timeoutS = Math.max(1, Math.floor((x.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000));
  const blksize = x.blksize !== undefined ? ['--tftp-blksize', String(x.blksize)] : [];
  const noOptions = x.noOptions ? ['--tftp-no-options'] : [];
  return ['-sS', '--max-time', String(timeoutS), ...blksize, ...noOptions, dir === 'get' ? '-o' : '-T', x.local, url];
}

/** curl 7.88's exit code for each TFTP ERROR code (8, option refused, has none of its own: 42). */
export const CURL_EXIT_FOR_TFTP_ERROR: Record<number, number> = {
  0: 71,
  1: 68,
  2: 69,
  3: 70,
  4: 71,
  5: 72,
  6: 73,
  7: 74,
  8: 42,
};

export async function curl(dir: 'get' | 'put', x: CurlTransfer): Promise<ClientResult> {
  const r = await run('curl', curlArgs(dir, x), x, 'curl');
  return { ...r, ok: r.code === 0 && !r.timedOut };
}

/**
 * One download with any of the three clients. tftp-hpa cannot send options, so `blksize`
 * is refused for it; atftp sends options only when asked, so `noOptions` is its default.
 */
export function download(
  client: ClientName,
  x: Transfer & { blksize?: number; noOptions?: boolean },
): Promise<ClientResult> {
  switch (client) {
    case 'atftp':
      return atftp('get', { ...x, options: { ...(x.blksize ? { blksize: x.blksize } : {}), ...x.options } });
    case 'tftp-hpa':
      if (x.blksize !== undefined) throw new Error('tftp-hpa 5.2 cannot send blksize');
      return tftpHpa('get', { ...x, options: undefined });
    case 'curl':
      return curl('get', { ...x, options: undefined });
  }
}

export function upload(client: ClientName, x: Transfer): Promise<ClientResult> {
  return { atftp, 'tftp-hpa': tftpHpa, curl }[client]('put', x);
}

/** A short, readable account of a client run for assertion messages. */
export function describe(r: RunResult): string {
  const clip = (s: string) => (s.length > 600 ? `${s.slice(0, 300)} ... ${s.slice(-300)}` : s);
  return `${r.client} ${r.args.join(' ')} -> code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''} in ${r.ms} ms\nstdout: ${clip(r.stdout.trim())}\nstderr: ${clip(r.stderr.trim())}`;
}

// ---- files ----

/** RFC 1350 block count of a read: the last block is short, possibly empty. */
export function blockCount(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

// ---- the server under test ----

/** The option overrides startTestServer takes (a deep partial TftpConfig). */
export type TftpOverrides = NonNullable<Parameters<typeof StartTestServer>[1]['tftp']>;

export interface Target {
  kind: 'bootlab' | 'tftpd-hpa';
  port: number;
  root: string;
  /** Every bootlab event so far; null against the reference peer, which has none. */
  seen: BootEvent[] | null;
  stop(): Promise<void>;
}

/**
 * Starts bootlab's TFTP server on 127.0.0.1 (an ephemeral port) with `root`.
 * Debugging aid: with BOOTLAB_INTEROP_PEER=/path/to/in.tftpd the same tests run against
 * tftpd-hpa instead, to tell a client quirk from a bootlab bug (event assertions then
 * have nothing to check and windowsize is not negotiated). CI never sets it.
 */
export async function startTarget(t: Teardown, opts: { root: string; tftp?: TftpOverrides }): Promise<Target> {
  const peer = process.env.BOOTLAB_INTEROP_PEER;
  if (peer) return startTftpdHpa(t, peer, opts.root);
  const { startTestServer } = await import('./tftp.js');
  const srv = await startTestServer(t, { root: opts.root, tftp: opts.tftp });
  return { kind: 'bootlab', port: srv.port, root: srv.root, seen: srv.seen, stop: () => srv.stop() };
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function startTftpdHpa(t: Teardown, bin: string, root: string): Promise<Target> {
  const port = await freeUdpPort();
  const user = userInfo().username;
  const child = spawn(bin, ['-L', '-c', '-s', root, '-a', `127.0.0.1:${port}`, '-u', user], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${bin}`);
  peers.add(pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    peers.delete(pid);
    resolve();
  }));
  const stop = async () => {
    if (peers.has(pid) && killPid(pid, 'SIGTERM')) await exited;
  };
  t.teardown(stop);
  // Ready when it answers a request for a file that does not exist.
  for (let i = 0; i < 50; i++) {
    const r = await rawRequest(port, encode({ op: 'RRQ', filename: 'bootlab-probe-missing', mode: 'octet', options: new Map() }), { timeoutMs: 100 }).catch(() => null);
    if (r) return { kind: 'tftpd-hpa', port, root, seen: null, stop };
  }
  await stop();
  throw new Error(`${bin} did not answer on 127.0.0.1:${port}`);
}

/** Polls `seen` until an event of `kind` matches (bootlab emits tftp.done after the client's last ACK arrives). */
export async function waitForEvent<K extends BootEvent['kind']>(
  seen: BootEvent[],
  kind: K,
  match: (e: EventOf<K>) => boolean,
  timeoutMs = 5000,
): Promise<EventOf<K> | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const e = seen.find((x): x is EventOf<K> => x.kind === kind && match(x as EventOf<K>));
    if (e || Date.now() > end) return e;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The first tftp.done for `file` whose id is not in `used` (which it then joins). */
export async function nextDone(seen: BootEvent[], file: string, used: Set<number>, timeoutMs = 5000): Promise<EventOf<'tftp.done'> | undefined> {
  const e = await waitForEvent(seen, 'tftp.done', (d) => d.file === file && !used.has(d.id), timeoutMs);
  if (e) used.add(e.id);
  return e;
}

// Re-exported for the interop tests that take them from here with the clients.
export type { TapTest } from './util.js';
export { randomFile, sha256File } from './util.js';

// ---- a raw client, for what no packaged client sends ----

export interface RawReply {
  packet: Packet | DecodeError;
  from: { address: string; port: number };
}

/**
 * Sends one request datagram from a fresh socket to 127.0.0.1:port and resolves with the
 * first reply. `then` may answer it (e.g. an ERROR to abort after an OACK) before the
 * socket closes.
 */
export function rawRequest(
  port: number,
  request: Buffer,
  opts: { timeoutMs?: number; then?: (p: Packet | DecodeError) => Buffer | null } = {},
): Promise<RawReply> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no reply from 127.0.0.1:${port} in ${opts.timeoutMs ?? 3000} ms`));
    }, opts.timeoutMs ?? 3000);
    s.once('message', (msg, rinfo) => {
      clearTimeout(timer);
      const packet = decode(msg);
      const from = { address: rinfo.address, port: rinfo.port };
      const answer = opts.then?.(packet) ?? null;
      const finish = () => {
        s.close();
        resolve({ packet, from });
      };
      if (answer) s.send(answer, rinfo.port, '127.0.0.1', finish);
      else finish();
    });
    s.bind(0, '127.0.0.1', () => s.send(request, port, '127.0.0.1'));
  });
}
