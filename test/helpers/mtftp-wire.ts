// What the multicast TFTP lab measures on the wire (split from mtftp-lab.ts, which
// re-exports it): nftables counters of what the server sends and drops on a bridge port,
// hand-built datagrams sent from a lab namespace, and pcap parsing with the IP header kept
// (group addresses, TTLs, source ports).
import { existsSync, readFileSync } from 'node:fs';
import { sleep, waitFor } from './util.js';
import { type NetLab } from './netlab.js';

/** The name of `member`'s bridge port in the lan namespace (the veth peer of its `ifname`). */
export function bridgePortOf(lab: NetLab, member: string, ifname = 'eth0'): string {
  const peerIndex = lab.exec(member, 'cat', [`/sys/class/net/${ifname}/iflink`]).trim();
  const links = lab.exec('lan', 'ip', ['-o', 'link', 'show']);
  const m = new RegExp(`^${peerIndex}: ([^@:\\s]+)`, 'm').exec(links);
  if (!m) throw new Error(`no interface with index ${peerIndex} (peer of ${member}/${ifname}) in ${lab.lan}:\n${links}`);
  return m[1];
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
  private base: DataCount = {
    mcastPackets: 0,
    mcastPayload: 0,
    unicastPackets: 0,
    unicastPayload: 0,
    payload: 0,
    allPackets: 0,
  };

  private constructor(
    private readonly lab: NetLab,
    private readonly member: string,
  ) {}

  static install(lab: NetLab, member = 'srv', opts: { unicastTo?: string[] } = {}): DataCounter {
    const uni = opts.unicastTo?.length ? `ip daddr { ${opts.unicastTo.join(', ')} }` : 'ip daddr != 224.0.0.0/4';
    lab.exec(
      member,
      'nft',
      ['-f', '-'],
      `table inet mtftp_count {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto udp ip daddr 224.0.0.0/4 @th,64,16 3 counter comment "mcast-data"
    meta l4proto udp ${uni} @th,64,16 3 counter comment "unicast-data"
    counter comment "all-out"
  }
}
`,
    );
    return new DataCounter(lab, member);
  }

  private total(): DataCount {
    const cs = nftCounters(this.lab, this.member, 'inet', 'mtftp_count');
    const m = cs.find((c) => c.comment === 'mcast-data') ?? { packets: 0, bytes: 0 };
    const u = cs.find((c) => c.comment === 'unicast-data') ?? { packets: 0, bytes: 0 };
    const all = cs.find((c) => c.comment === 'all-out') ?? { packets: 0, bytes: 0 };
    const mp = m.bytes - 32 * m.packets;
    const up = u.bytes - 32 * u.packets;
    return {
      mcastPackets: m.packets,
      mcastPayload: mp,
      unicastPackets: u.packets,
      unicastPayload: up,
      payload: mp + up,
      allPackets: all.packets,
    };
  }

  /** DATA counted since install() or the last reset(). */
  read(): DataCount {
    const t = this.total();
    const b = this.base;
    return {
      mcastPackets: t.mcastPackets - b.mcastPackets,
      mcastPayload: t.mcastPayload - b.mcastPayload,
      unicastPackets: t.unicastPackets - b.unicastPackets,
      unicastPayload: t.unicastPayload - b.unicastPayload,
      payload: t.payload - b.payload,
      allPackets: t.allPackets - b.allPackets,
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
export async function udpProbe(
  lab: NetLab,
  member: string,
  host: string,
  port: number,
  packets: Buffer[],
  opts: { listenMs?: number; bindPort?: number } = {},
): Promise<UdpReply[]> {
  const listenMs = opts.listenMs ?? 2000;
  const proc = lab.spawn(member, process.execPath, [
    '-e',
    PROBE,
    JSON.stringify([packets.map((p) => p.toString('hex')), host, port, opts.bindPort ?? 0, listenMs]),
  ]);
  const timer = setTimeout(
    () => {
      void proc.stop();
    },
    listenMs + packets.length * 50 + 15_000,
  );
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
      p.udp = {
        src: p.src,
        dst: p.dst,
        ttl: p.ttl,
        sport: f.readUInt16BE(u),
        dport: f.readUInt16BE(u + 2),
        payload: f.subarray(u + 8, u + f.readUInt16BE(u + 4)),
      };
    }
    out.push(p);
  }
  return out;
}

export const isMulticast = (ip: string): boolean => {
  const a = Number(ip.split('.')[0]);
  return a >= 224 && a <= 239;
};

// For the tests that take them from the lab.
export { sleep, waitFor };
