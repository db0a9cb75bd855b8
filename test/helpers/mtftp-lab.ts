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
import { CLI, jsonLog, sleep, waitFor, type LogLine } from './dhcp-clients.js';
import { sh, type LabProcess, type NetLab } from './netlab.js';
import { randomFile, sha256 } from './util.js';

export const SERVER_IP = '192.0.2.1';
export const FAR_SERVER_IP = '198.51.100.1';
export const FAR_CLIENT_IP = '198.51.100.10';
export const MTFTP_PORT = 1759;
/** RFC 2090 groups come from this range (tftp.multicast.addresses). */
export const RFC2090_RANGE = '239.255.2.1-239.255.2.254';

export const clientIp = (i: number): string => `192.0.2.${10 + i}`;

/** atftpd to compare against (development only), or undefined: bootlab. */
export const PEER = process.env.BOOTLAB_MTFTP_PEER || undefined;

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

/** The name of `member`'s bridge port in the lan namespace (the veth peer of its `ifname`). */
export function bridgePortOf(lab: NetLab, member: string, ifname = 'eth0'): string {
  const peerIndex = lab.exec(member, 'cat', [`/sys/class/net/${ifname}/iflink`]).trim();
  const links = lab.exec('lan', 'ip', ['-o', 'link', 'show']);
  const m = new RegExp(`^${peerIndex}: ([^@:\\s]+)`, 'm').exec(links);
  if (!m) throw new Error(`no interface with index ${peerIndex} (peer of ${member}/${ifname}) in ${lab.lan}:\n${links}`);
  return m[1];
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

/** `bootlab serve` in `member` with TFTP (+ RFC 2090) and PXE MTFTP on; waits for "bootlab running". */
export async function startMulticastBootlab(lan: McLan, member: string, opts: McServerOptions): Promise<McServer> {
  if (PEER) return startAtftpd(lan, member, opts);
  const home = join(lan.dir, `bootlab-${++serverSerial}`);
  mkdirSync(home, { recursive: true });
  // YAML is a superset of JSON: written as JSON, keys as in docs/decisions/0005-multicast.md.
  const appliance = {
    log: { level: 'debug', pretty: 'never' },
    stateDir: 'state',
    hosts: 'hosts.yaml',
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
  };
  const configFile = join(home, 'appliance.yaml');
  writeFileSync(configFile, `${JSON.stringify(appliance, null, 2)}\n`);
  writeFileSync(join(home, 'hosts.yaml'), `${JSON.stringify({ defaults: { action: 'menu' }, images: {}, hosts: {} }, null, 2)}\n`);

  const proc = lan.lab.spawn(member, process.execPath, [CLI, 'serve', '--config', configFile], { cwd: home });
  const logs = jsonLog(proc);
  const server = serverOf('bootlab', proc, configFile, logs);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const ready = await waitFor(() => exited || logs().some((l) => l.msg === 'bootlab running'), opts.readyTimeoutMs ?? 30_000);
  if (!ready || exited) {
    await proc.stop();
    throw new Error(`bootlab did not log "bootlab running" (${exited ? 'it exited' : 'timed out'}); config ${configFile}:\n${JSON.stringify(appliance)}\n${server.tail()}`);
  }
  return server;
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
    tail: (n = 30) => {
      const lines = proc.stdout().trimEnd().split('\n').slice(-n).join('\n');
      const err = proc.stderr().trim();
      return `--- ${kind} stdout (last ${n} lines) ---\n${lines}${err ? `\n--- ${kind} stderr ---\n${err.slice(-3000)}` : ''}${exited ? '\n--- (the server has exited) ---' : ''}`;
    },
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

function run(lab: NetLab, member: string, out: string, cmd: string, args: string[], opts: { gate?: StartGate; killAfterMs?: number }): ClientRun {
  const [c, a] = opts.gate ? opts.gate.wrap(cmd, args) : [cmd, args];
  const proc = lab.spawn(member, c, a);
  opts.gate?.track(proc.pid);
  const startedAt = Date.now();
  let exited = false;
  const timer = setTimeout(() => { void proc.stop(); }, opts.killAfterMs ?? 120_000);
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
export function hpaGet(lab: NetLab, member: string, file: string, out: string, opts: { killAfterMs?: number } = {}): ClientRun {
  return run(lab, member, out, 'tftp', ['-m', 'binary', SERVER_IP, '-c', 'get', file, out], opts);
}

/** Plain unicast TFTP with curl: `curl -sS -o OUT tftp://SERVER/FILE`. */
export function curlGet(lab: NetLab, member: string, file: string, out: string, opts: { killAfterMs?: number } = {}): ClientRun {
  return run(lab, member, out, 'curl', ['-sS', '--max-time', '100', '-o', out, `tftp://${SERVER_IP}/${file}`], opts);
}

/** What a client run left: exit code, whether its file is byte-exact, and its output's tail. */
export function verdict(r: ClientResult, want: TestFile): { ok: boolean; code: number | null; signal: NodeJS.Signals | null; size: number; exact: boolean; ms: number; output: string } {
  const got = sha256File(r.out);
  const exact = got === want.sha256;
  // A --trace is thousands of DATA/ACK lines: keep the others, and count those.
  const lines = r.output.split('\n');
  const noisy = /^(received (\d+\. )?DATA|sent ACK)/;
  const data = lines.filter((l) => /^received (\d+\. )?DATA/.test(l)).length;
  const acks = lines.filter((l) => /^sent ACK/.test(l)).length;
  const output = `${lines.filter((l) => !noisy.test(l)).join('\n').slice(-2000)}${data || acks ? `\n(${data} DATA received, ${acks} ACKs sent)` : ''}`;
  return { ok: r.code === 0 && exact, code: r.code, signal: r.signal, size: sizeOf(r.out), exact, ms: r.ms, output };
}

// ---------------------------------------------------------------------------------------
// nftables: counting what the server sends, dropping on a bridge port

interface NftCounter { comment: string; packets: number; bytes: number }

function nftCounters(lab: NetLab, member: string, family: string, table: string): NftCounter[] {
  const j = JSON.parse(lab.exec(member, 'nft', ['-j', 'list', 'table', family, table])) as { nftables: Array<Record<string, unknown>> };
  const out: NftCounter[] = [];
  for (const item of j.nftables) {
    const rule = item.rule as { comment?: string; expr?: Array<Record<string, unknown>> } | undefined;
    if (!rule?.expr) continue;
    const c = rule.expr.find((e) => e.counter)?.counter as { packets: number; bytes: number } | undefined;
    if (c) out.push({ comment: rule.comment ?? '', packets: c.packets, bytes: c.bytes });
  }
  return out;
}

export interface DataCount {
  /** TFTP DATA packets sent to 224.0.0.0/4 and their payload bytes. */
  mcastPackets: number;
  mcastPayload: number;
  /** TFTP DATA packets sent unicast (any source port) and their payload bytes. */
  unicastPackets: number;
  unicastPayload: number;
  /** Both. */
  payload: number;
  /** Every IP packet the server namespace sent, DATA or not (context for the counts above). */
  allPackets: number;
}

/**
 * Counters in the server namespace's output hook: every UDP datagram whose first two
 * payload bytes are 3 (TFTP DATA), split by multicast or unicast destination.
 * `unicastTo` limits the unicast count to these client addresses (plain TFTP clients
 * elsewhere are then not counted).
 */
export class DataCounter {
  /** What the counters said at the last reset(): rule counters cannot be reset in place. */
  private base: DataCount = { mcastPackets: 0, mcastPayload: 0, unicastPackets: 0, unicastPayload: 0, payload: 0, allPackets: 0 };

  private constructor(private readonly lab: NetLab, private readonly member: string) {}

  static install(lab: NetLab, member = 'srv', opts: { unicastTo?: string[] } = {}): DataCounter {
    const uni = opts.unicastTo?.length ? `ip daddr { ${opts.unicastTo.join(', ')} }` : 'ip daddr != 224.0.0.0/4';
    lab.exec(member, 'nft', ['-f', '-'], `table inet mtftp_count {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto udp ip daddr 224.0.0.0/4 @th,64,16 3 counter comment "mcast-data"
    meta l4proto udp ${uni} @th,64,16 3 counter comment "unicast-data"
    counter comment "all-out"
  }
}
`);
    return new DataCounter(lab, member);
  }

  private total(): DataCount {
    const cs = nftCounters(this.lab, this.member, 'inet', 'mtftp_count');
    const m = cs.find((c) => c.comment === 'mcast-data') ?? { packets: 0, bytes: 0 };
    const u = cs.find((c) => c.comment === 'unicast-data') ?? { packets: 0, bytes: 0 };
    const all = cs.find((c) => c.comment === 'all-out') ?? { packets: 0, bytes: 0 };
    const mp = m.bytes - 32 * m.packets;
    const up = u.bytes - 32 * u.packets;
    return { mcastPackets: m.packets, mcastPayload: mp, unicastPackets: u.packets, unicastPayload: up, payload: mp + up, allPackets: all.packets };
  }

  /** DATA counted since install() or the last reset(). */
  read(): DataCount {
    const t = this.total();
    const b = this.base;
    return {
      mcastPackets: t.mcastPackets - b.mcastPackets, mcastPayload: t.mcastPayload - b.mcastPayload,
      unicastPackets: t.unicastPackets - b.unicastPackets, unicastPayload: t.unicastPayload - b.unicastPayload,
      payload: t.payload - b.payload, allPackets: t.allPackets - b.allPackets,
    };
  }

  /** Counts from zero again (`nft reset counters` resets only named counters, not these). */
  reset(): void {
    this.base = this.total();
  }
}

export interface Loss {
  port: string;
  /** Datagrams dropped so far, both directions. */
  drops(): number;
  /** Takes the rule away; returns the datagrams it dropped. */
  remove(): number;
}

/** Drops `percent` % of UDP (at random, each way) on `member`'s bridge port; IGMP passes. */
export function addLoss(lab: NetLab, member: string, percent: number): Loss {
  const port = bridgePortOf(lab, member);
  const table = `loss_${port}`;
  lab.exec('lan', 'nft', ['-f', '-'], `table bridge ${table} {
  chain f {
    type filter hook forward priority 0; policy accept;
    iifname "${port}" meta l4proto udp numgen random mod 100 < ${percent} counter drop comment "from"
    oifname "${port}" meta l4proto udp numgen random mod 100 < ${percent} counter drop comment "to"
  }
}
`);
  const drops = (): number => nftCounters(lab, 'lan', 'bridge', table).reduce((a, c) => a + c.packets, 0);
  return {
    port,
    drops,
    remove: () => {
      const n = drops();
      lab.exec('lan', 'nft', ['delete', 'table', 'bridge', table]);
      return n;
    },
  };
}

export interface UdpStats { rcvbufErrors: number; inErrors: number; sndbufErrors: number }

/**
 * A namespace's UDP counters (/proc/net/snmp is per namespace): datagrams its sockets
 * dropped because their receive buffer was full (RcvbufErrors: the reader was too slow, a
 * busy CPU), all receive errors, and sends refused for a full send buffer.
 */
export function udpStats(lab: NetLab, member: string): UdpStats {
  const [head, vals] = lab.exec(member, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.trim().split(/\s+/));
  const get = (k: string) => Number(vals?.[head?.indexOf(k) ?? -1] ?? NaN);
  return { rcvbufErrors: get('RcvbufErrors'), inErrors: get('InErrors'), sndbufErrors: get('SndbufErrors') };
}

/**
 * Each namespace's UDP RcvbufErrors. Blocks a client drops this way it must get again, so
 * they explain extra copies that are not the server's.
 */
export function rcvbufErrors(lab: NetLab, members: string[]): Record<string, number> {
  return Object.fromEntries(members.map((m) => [m, udpStats(lab, m).rcvbufErrors]));
}

/** `after - before` per member. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** A token bucket on `member`'s `ifname`: `rate` like "8mbit"; the queue never drops a window. */
export function shape(lab: NetLab, member: string, ifname: string, rate: string): void {
  lab.exec(member, 'tc', ['qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', rate, 'burst', '16kb', 'latency', '2s']);
}

// ---------------------------------------------------------------------------------------
// Hand-built datagrams

export interface UdpReply {
  from: string;
  port: number;
  data: Buffer;
  at: number;
}

// Runs inside the namespace: bind (0.0.0.0:bindPort or ephemeral), send each datagram
// (hex) to host:port 50 ms apart, print every datagram received until listenMs after the last.
const PROBE = `
const dgram = require('node:dgram');
const [packets, host, port, bindPort, listenMs] = JSON.parse(process.argv[1]);
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let t0 = Date.now();
s.on('error', (e) => { out({ error: e.message }); process.exit(2); });
s.on('message', (m, r) => out({ from: r.address, port: r.port, hex: m.toString('hex'), at: Date.now() - t0 }));
s.bind(bindPort, '0.0.0.0', async () => {
  t0 = Date.now();
  for (const hex of packets) {
    await new Promise((res, rej) => s.send(Buffer.from(hex, 'hex'), port, host, (e) => (e ? rej(e) : res())));
    await new Promise((res) => setTimeout(res, 50));
  }
  setTimeout(() => { s.close(); process.exit(0); }, listenMs);
});
`;

/** Sends `packets` from `member` to host:port and returns what came back within `listenMs`. */
export async function udpProbe(lab: NetLab, member: string, host: string, port: number, packets: Buffer[], opts: { listenMs?: number; bindPort?: number } = {}): Promise<UdpReply[]> {
  const listenMs = opts.listenMs ?? 2000;
  const proc = lab.spawn(member, process.execPath, ['-e', PROBE, JSON.stringify([packets.map((p) => p.toString('hex')), host, port, opts.bindPort ?? 0, listenMs])]);
  const timer = setTimeout(() => { void proc.stop(); }, listenMs + packets.length * 50 + 15_000);
  const { code } = await proc.exited;
  clearTimeout(timer);
  const replies: UdpReply[] = [];
  for (const line of proc.stdout().split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as { from?: string; port?: number; hex?: string; at?: number; error?: string };
    if (j.error) throw new Error(`probe in ${member}: ${j.error}`);
    if (j.hex !== undefined) replies.push({ from: j.from!, port: j.port!, data: Buffer.from(j.hex, 'hex'), at: j.at! });
  }
  if (code !== 0) throw new Error(`probe in ${member} exited ${code}: ${proc.stderr()}`);
  return replies;
}

/** A TFTP RRQ: opcode 1, file, 0, mode, 0, then option name/value pairs each 0-terminated. */
export function rrq(file: string, mode = 'octet', options: Array<[string, string]> = []): Buffer {
  const parts = [file, mode, ...options.flat()].map((s) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]));
  return Buffer.concat([Buffer.from([0, 1]), ...parts]);
}

// ---------------------------------------------------------------------------------------
// pcap with the IP header kept

export interface IpUdp {
  src: string;
  dst: string;
  ttl: number;
  sport: number;
  dport: number;
  payload: Buffer;
}

export interface IpPacket {
  src: string;
  dst: string;
  ttl: number;
  proto: number;
  udp?: IpUdp;
}

const ipAt = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** IPv4 packets of an Ethernet pcap file (classic format, either byte order). */
export function parseIpPcap(path: string): IpPacket[] {
  if (!existsSync(path)) return [];
  const file = readFileSync(path);
  if (file.length < 24) return [];
  let le: boolean;
  if ([0xa1b2c3d4, 0xa1b23c4d].includes(file.readUInt32LE(0))) le = true;
  else if ([0xa1b2c3d4, 0xa1b23c4d].includes(file.readUInt32BE(0))) le = false;
  else throw new Error(`${path}: not a pcap file`);
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${path}: link type ${u32(20)}, expected 1 (Ethernet)`);
  const out: IpPacket[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const incl = u32(o + 8);
    const f = file.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (f[14] & 0x0f) * 4;
    const p: IpPacket = { src: ipAt(f, 26), dst: ipAt(f, 30), ttl: f[22], proto: f[23] };
    if (p.proto === 17 && f.length >= 14 + ihl + 8) {
      const u = 14 + ihl;
      p.udp = { src: p.src, dst: p.dst, ttl: p.ttl, sport: f.readUInt16BE(u), dport: f.readUInt16BE(u + 2), payload: f.subarray(u + 8, u + f.readUInt16BE(u + 4)) };
    }
    out.push(p);
  }
  return out;
}

export const isMulticast = (ip: string): boolean => {
  const a = Number(ip.split('.')[0]);
  return a >= 224 && a <= 239;
};

export { sleep, waitFor };
