// A namespace lab for the multicast TFTP interop tests (test/lab/interop/mtftp*.test.ts):
// PXE MTFTP (server port 1759, one group per file) and RFC 2090 (the "multicast" option
// on the unicast TFTP server), driven by real clients, checked with evidence that does
// not come from the server: sha256 of what each client wrote, nftables counters of what
// left the server, tcpdump captures.
// - buildLan: bridge br0 in the lan namespace, the server namespace "srv" (eth0
//   192.0.2.1/24), clients c1..cN (192.0.2.11.. /24) with a route 224.0.0.0/4 dev eth0
//   (without one, joining a group from a namespace whose only address is a /24 fails
//   with ENODEV); optionally br1 with srv eth1 198.51.100.1/24 and a client "far".
// - startMulticastBootlab: `bootlab serve` with tftp + RFC 2090 + PXE MTFTP on, log
//   lines parsed (docs/decisions/0005-multicast.md names them).
// - atftp (--mget: PXE MTFTP; -g --option multicast: RFC 2090), tftp-hpa, curl.
// - StartGate: clients that start "at once" really do (they wait on a FIFO, then exec).
// - DataCounter: nftables counters in the server namespace of TFTP DATA leaving it,
//   to multicast groups and unicast; payload = bytes - 32 per packet (IP 20, UDP 8,
//   TFTP 4), since the TFTP opcode is matched with @th,64,16 == 3.
// - addLoss: nftables random drop of UDP on one client's bridge port (not IGMP), with a
//   counter that proves the loss happened.
// - shape: a tbf qdisc on the server's interface, so that a transfer lasts long enough
//   for a second client to join in the middle (lock-step MTFTP over veth is otherwise
//   over before a process can start).
// - udpProbe: hand-built datagrams from a lab namespace, and what comes back.
// - parseIpPcap: a pcap reader that keeps the IP TTL.
//
// Development aid, never used in CI: BOOTLAB_MTFTP_PEER=/path/to/atftpd runs the same
// lab against atftpd 0.8.0 (scripts/bench-peers.sh fetches it), to tell a lab problem
// from a server problem. atftpd sends from ephemeral ports, has no interface binding
// (a route 224.0.0.0/4 dev eth0 is added for it) and logs differently: only its PXE
// "serving FILE to IP:PORT" lines become rounds.
//
// Client facts (atftp 0.8.0 on Debian 12, read from tftp_mtftp.c and seen in traces):
// - `atftp --mget` binds the multicast socket to 0.0.0.0:client-port, joins, listens
//   listen-delay s (a DATA heard restarts the wait), then sends a plain RRQ from an
//   ephemeral port. Multicast DATA while opening: "falling back to listen mode". A
//   listener that missed blocks re-opens after the round and downloads the whole file
//   again as master. As master it gives up ("mtftp: aborting", exit != 0) after 4
//   timeouts of timeout-delay s in a row with no DATA.
// - `atftp -g --option multicast` sends the option with an empty value (RFC 2090), trace
//   "received OACK <blksize: 1468, multicast: 239.255.2.1,1758,0, >" for a non-master
//   and "received OACK <mc = 1>" when it becomes master.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { spawnBootlab, tailOf, type BootlabConfig, type LogLine } from './bootlab.js';
import { sh, type LabProcess, type NetLab } from './netlab.js';
import { underCI } from './needs.js';
import { randomFile, sha256, waitFor } from './util.js';

export const SERVER_IP = '192.0.2.1';
export const FAR_SERVER_IP = '198.51.100.1';
export const FAR_CLIENT_IP = '198.51.100.10';
export const MTFTP_PORT = 1759;
/** RFC 2090 groups come from this range (tftp.multicast.addresses). */
export const RFC2090_RANGE = '239.255.2.1-239.255.2.254';

export const clientIp = (i: number): string => `192.0.2.${10 + i}`;

/** atftpd to compare against (development only), or undefined: bootlab. */
export const PEER = process.env.BOOTLAB_MTFTP_PEER || undefined;
if (PEER && underCI()) throw new Error(`BOOTLAB_MTFTP_PEER=${PEER} is for development runs only: under CI every case runs against bootlab`);

/**
 * The skip option of a case that tests bootlab's own rules (shared groups, its log lines):
 * skipped, saying why, only when the development peer is the server, which never happens in CI.
 */
export const BOOTLAB_ONLY: string | false = PEER
  ? `bootlab only: BOOTLAB_MTFTP_PEER=${PEER} runs these cases against that server, which has no such rule to test`
  : false;

// ---------------------------------------------------------------------------------------
// The lab

export interface McLan {
  lab: NetLab;
  dir: string;
  /** tftp.root of the server. */
  root: string;
  /** Client member names c1..cN, in order. */
  clients: string[];
  ip: Record<string, string>;
}

/** br0 + srv (eth0 192.0.2.1/24) + `n` clients; with `far`, br1 + srv eth1 + client "far". */
export function buildLan(lab: NetLab, dir: string, n: number, opts: { far?: boolean } = {}): McLan {
  lab.bridge('br0');
  lab.attach('srv', { ifname: 'eth0', bridge: 'br0', cidr: `${SERVER_IP}/24` });
  const clients: string[] = [];
  const ip: Record<string, string> = { srv: SERVER_IP };
  for (let i = 1; i <= n; i++) {
    const name = `c${i}`;
    lab.attach(name, { ifname: 'eth0', bridge: 'br0', cidr: `${clientIp(i)}/24` });
    lab.exec(name, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
    clients.push(name);
    ip[name] = clientIp(i);
  }
  if (opts.far) {
    lab.bridge('br1');
    lab.attach('srv', { ifname: 'eth1', bridge: 'br1', cidr: `${FAR_SERVER_IP}/24` });
    lab.attach('far', { ifname: 'eth0', bridge: 'br1', cidr: `${FAR_CLIENT_IP}/24` });
    lab.exec('far', 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
    ip.far = FAR_CLIENT_IP;
  }
  const root = join(dir, 'tftpboot');
  mkdirSync(root, { recursive: true });
  return { lab, dir, root, clients, ip };
}

export interface TestFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

/** The SHA-256 of a file that may not exist (a client's copy that never came): undefined then. */
export function sha256File(path: string): string | undefined {
  return existsSync(path) ? sha256(readFileSync(path)) : undefined;
}

export function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** `size` seeded random bytes written to root/name. */
export function writeRandomFile(root: string, name: string, size: number, seed: number): TestFile {
  return { name, path: join(root, name), size, sha256: randomFile(root, name, size, seed) };
}

// ---------------------------------------------------------------------------------------
// The server

export interface MtftpFile {
  file: string;
  group: string;
  clientPort: number;
}

export interface McServerOptions {
  files: MtftpFile[];
  /** multicast.interface (default eth0). */
  iface?: string;
  /** multicast.ttl (default 1). */
  ttl?: number;
  /** tftp.multicast.window (default 8). */
  window?: number;
  openTimeout?: number;
  reopenDelay?: number;
  readyTimeoutMs?: number;
}

export interface McServer {
  proc: LabProcess;
  kind: 'bootlab' | 'atftpd';
  configFile: string;
  logs(): LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine | undefined>;
  /** "mtftp round start" lines, optionally for one file and protocol. */
  roundStarts(file?: string, protocol?: 'pxe' | 'rfc2090'): LogLine[];
  /** "mtftp round done" lines, optionally for one file and protocol. */
  roundsDone(file?: string, protocol?: 'pxe' | 'rfc2090'): LogLine[];
  alive(): boolean;
  tail(n?: number): string;
  stop(): Promise<void>;
}

let serverSerial = 0;

/** `bootlab serve` (spawnBootlab) in `member` with TFTP (+ RFC 2090) and PXE MTFTP on. */
export async function startMulticastBootlab(lan: McLan, member: string, opts: McServerOptions): Promise<McServer> {
  if (PEER) return startAtftpd(lan, member, opts);
  const home = join(lan.dir, `bootlab-${++serverSerial}`);
  // Keys as in docs/decisions/0005-multicast.md.
  const config = {
    tftp: {
      enabled: true, address: '0.0.0.0', port: 69, root: lan.root, maxPerClient: 50,
      multicast: { enabled: true, addresses: RFC2090_RANGE, ports: '1758-1758', window: opts.window ?? 8 },
    },
    dhcp: { mode: 'off' },
    multicast: { interface: opts.iface ?? 'eth0', ttl: opts.ttl ?? 1 },
    mtftp: {
      enabled: true, serverPort: MTFTP_PORT, openTimeout: opts.openTimeout ?? 2, reopenDelay: opts.reopenDelay ?? 2,
      files: opts.files, atftpdFile: null,
    },
  } as BootlabConfig;
  const b = await spawnBootlab({
    home,
    config,
    lab: lan.lab,
    member,
    cwd: home,
    readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
  });
  return serverOf('bootlab', b.proc, b.configFile, b.logs);
}

function serverOf(kind: McServer['kind'], proc: LabProcess, configFile: string, logs: () => LogLine[]): McServer {
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const pick = (msg: string) => (file?: string, protocol?: string) =>
    logs().filter((l) => l.msg === msg && (!file || l.file === file || String(l.file).endsWith(`/${file}`)) && (!protocol || l.protocol === protocol));
  return {
    proc,
    kind,
    configFile,
    logs,
    waitLog: (pred, timeoutMs = 5000) => waitFor(() => logs().find(pred), timeoutMs),
    roundStarts: pick('mtftp round start'),
    roundsDone: pick('mtftp round done'),
    alive: () => !exited,
    tail: (n = 30) => tailOf(proc, kind, n, exited),
    stop: () => proc.stop(),
  };
}

/** Development only: atftpd 0.8.0 with the same files, groups and ports. */
async function startAtftpd(lan: McLan, member: string, opts: McServerOptions): Promise<McServer> {
  const home = join(lan.dir, `atftpd-${++serverSerial}`);
  mkdirSync(home, { recursive: true });
  const conf = join(home, 'mtftp.conf');
  writeFileSync(conf, opts.files.map((f) => `${f.file} ${f.group} ${f.clientPort}\n`).join(''));
  // atftpd has no IP_MULTICAST_IF setting: multicast follows the route.
  lan.lab.exec(member, 'ip', ['route', 'replace', '224.0.0.0/4', 'dev', opts.iface ?? 'eth0']);
  const proc = lan.lab.spawn(member, PEER!, [
    '--daemon', '--no-fork', '--user', 'root', '--group', 'root', '--logfile', '-', '--verbose=7', '--retry-timeout', '1',
    '--mtftp', conf, '--mtftp-port', String(MTFTP_PORT), '--mcast-addr', RFC2090_RANGE.replace(/-239\.255\.2\./, '-'),
    '--mcast-port', '1758', '--mcast-ttl', String(opts.ttl ?? 1), '--port', '69', lan.root,
  ]);
  // "serving FILE to IP:PORT" (PXE MTFTP, one per round) becomes a round start.
  const logs = (): LogLine[] => {
    const rounds: LogLine[] = [];
    for (const m of `${proc.stdout()}${proc.stderr()}`.matchAll(/serving (\S+) to ([\d.]+):\d+/g)) {
      rounds.push({ level: 30, msg: 'mtftp round start', protocol: 'pxe', file: m[1], master: m[2] });
    }
    return rounds;
  };
  const server = serverOf('atftpd', proc, conf, logs);
  const ok = await waitFor(() => !server.alive() || /mtftp main server thread started/.test(proc.stdout() + proc.stderr()), 10_000);
  if (!ok || !server.alive()) throw new Error(`atftpd did not start\n${server.tail()}`);
  return server;
}

/** The master a round start names, as an IP (bootlab may log "ip" or "ip:port"). */
export function masterIp(l: LogLine): string {
  return String(l.master ?? '').replace(/:\d+$/, '');
}

// ---------------------------------------------------------------------------------------
// Clients

export interface ClientResult {
  member: string;
  out: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ms: number;
}

export interface ClientRun {
  member: string;
  out: string;
  proc: LabProcess;
  startedAt: number;
  exitedYet(): boolean;
  done: Promise<ClientResult>;
}

/**
 * Clients that start "at once": each runs `sh -c 'read _ < FIFO; exec CMD'` and blocks on
 * the FIFO; release() writes one line per client, so every one of them execs its client
 * within a few milliseconds, whatever the spawn order and delays were.
 */
export class StartGate {
  readonly fifo: string;
  private fd: number | null;
  private readonly pids: number[] = [];

  constructor(dir: string, name = 'gate') {
    this.fifo = join(dir, `${name}-${++gates}.fifo`);
    sh('mkfifo', [this.fifo]);
    // O_RDWR on a FIFO never blocks (Linux), so the readers' opens never wait for us.
    this.fd = openSync(this.fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
  }

  wrap(cmd: string, args: string[]): [string, string[]] {
    return ['sh', ['-c', 'read _gate < "$0"; exec "$@"', this.fifo, cmd, ...args]];
  }

  track(pid: number): void {
    this.pids.push(pid);
  }

  /** Waits (up to 5 s) until every client sits in read() on the FIFO, then lets them all go. */
  async release(): Promise<void> {
    await waitFor(() => this.pids.every((pid) => {
      try {
        return /pipe|fifo/.test(readFileSync(`/proc/${pid}/wchan`, 'utf8'));
      } catch {
        return true; // gone: nothing to wait for
      }
    }), 5000);
    if (this.fd === null) throw new Error('gate already released');
    writeSync(this.fd, '\n'.repeat(this.pids.length));
    closeSync(this.fd);
    this.fd = null;
  }
}
let gates = 0;

function run(
  lab: NetLab,
  member: string,
  out: string,
  cmd: string,
  args: string[],
  opts: { gate?: StartGate; killAfterMs?: number },
): ClientRun {
  const [c, a] = opts.gate ? opts.gate.wrap(cmd, args) : [cmd, args];
  const proc = lab.spawn(member, c, a);
  opts.gate?.track(proc.pid);
  const startedAt = Date.now();
  let exited = false;
  const timer = setTimeout(() => {
    void proc.stop();
  }, opts.killAfterMs ?? 120_000);
  const done = proc.exited.then(({ code, signal }) => {
    exited = true;
    clearTimeout(timer);
    return { member, out, code, signal, output: `${proc.stdout()}${proc.stderr()}`.trim(), ms: Date.now() - startedAt };
  });
  return { member, out, proc, startedAt, exitedYet: () => exited, done };
}

export interface MgetOptions {
  file: string;
  out: string;
  group: string;
  clientPort: number;
  server?: string;
  port?: number;
  listenDelay?: number;
  timeoutDelay?: number;
  trace?: boolean;
  gate?: StartGate;
  killAfterMs?: number;
}

/** PXE MTFTP: `atftp --mget ... SERVER 1759`. */
export function atftpMget(lab: NetLab, member: string, o: MgetOptions): ClientRun {
  const args = [
    ...(o.trace ? ['--trace'] : []),
    '--mget', '-r', o.file, '-l', o.out,
    '--mtftp', `client-port ${o.clientPort}`, '--mtftp', `mcast-ip ${o.group}`,
    '--mtftp', `listen-delay ${o.listenDelay ?? 3}`, '--mtftp', `timeout-delay ${o.timeoutDelay ?? 2}`,
    o.server ?? SERVER_IP, String(o.port ?? MTFTP_PORT),
  ];
  return run(lab, member, o.out, 'atftp', args, o);
}

export interface McGetOptions {
  file: string;
  out: string;
  blksize?: number;
  server?: string;
  trace?: boolean;
  /** --tftp-timeout (client retransmission delay, s). */
  timeout?: number;
  gate?: StartGate;
  killAfterMs?: number;
}

/** RFC 2090: `atftp -g --option multicast --option "blksize N" SERVER 69`. */
export function atftpMulticastGet(lab: NetLab, member: string, o: McGetOptions): ClientRun {
  const args = [
    ...(o.trace ? ['--trace'] : []),
    ...(o.timeout ? ['--tftp-timeout', String(o.timeout)] : []),
    '-g', '-r', o.file, '-l', o.out, '--option', 'multicast', '--option', `blksize ${o.blksize ?? 1468}`,
    o.server ?? SERVER_IP, '69',
  ];
  return run(lab, member, o.out, 'atftp', args, o);
}

/** Plain unicast TFTP with tftp-hpa: `tftp -m binary SERVER -c get FILE OUT`. */
export function hpaGet(
  lab: NetLab,
  member: string,
  file: string,
  out: string,
  opts: { killAfterMs?: number } = {},
): ClientRun {
  return run(lab, member, out, 'tftp', ['-m', 'binary', SERVER_IP, '-c', 'get', file, out], opts);
}

/** Plain unicast TFTP with curl: `curl -sS -o OUT tftp://SERVER/FILE`. */
export function curlGet(
  lab: NetLab,
  member: string,
  file: string,
  out: string,
  opts: { killAfterMs?: number } = {},
): ClientRun {
  return run(lab, member, out, 'curl', ['-sS', '--max-time', '100', '-o', out, `tftp://${SERVER_IP}/${file}`], opts);
}

/** What a client run left: exit code, whether its file is byte-exact, and its output's tail. */
export function verdict(
  r: ClientResult,
  want: TestFile,
): {
  ok: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  size: number;
  exact: boolean;
  ms: number;
  output: string;
} {
  const got = sha256File(r.out);
  const exact = got === want.sha256;
  // A --trace is thousands of DATA/ACK lines: keep the others, and count those.
  const lines = r.output.split('\n');
  const noisy = /^(received (\d+\. )?DATA|sent ACK)/;
  const data = lines.filter((l) => /^received (\d+\. )?DATA/.test(l)).length;
  const acks = lines.filter((l) => /^sent ACK/.test(l)).length;
  const output = `${lines
    .filter((l) => !noisy.test(l))
    .join('\n')
    .slice(-2000)}${data || acks ? `\n(${data} DATA received, ${acks} ACKs sent)` : ''}`;
  return { ok: r.code === 0 && exact, code: r.code, signal: r.signal, size: sizeOf(r.out), exact, ms: r.ms, output };
}

// The wire half (nftables, datagrams, pcap), for the tests that take it from here.
export * from './mtftp-wire.js';
