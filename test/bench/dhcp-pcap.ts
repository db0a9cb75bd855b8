// Reply delays from a packet capture, for the DHCP benchmark (test/bench/dhcp.ts).
//
// perfdhcp prints min/avg/max delay but no percentiles, and its per-exchange timers
// (-x t) keep every packet in memory (about 16 KB per exchange: 750 MB for 50 000
// exchanges) and cost it 40 % more CPU, which changes what is measured. So the benchmark
// captures the client's veth with tcpdump (kernel timestamps, nanoseconds, 300-byte
// snap length) and pairs each request with its reply here:
//
//  - requests are BOOTREQUEST (op 1) sent by the client, replies BOOTREPLY (op 2) to it;
//  - perfdhcp reuses the DISCOVER's xid for its REQUEST, so a request is keyed by xid and
//    typed by its option 53 (DISCOVER or REQUEST); a reply answers the outstanding
//    request with its xid (the first reply only: a second one is counted as unmatched);
//  - a reply later than the drop time (perfdhcp's -d, 1 s) is counted as late and left
//    out of the delays, as perfdhcp counts it as a drop.
//
// Delay = reply's capture time - request's capture time, both taken by the kernel at the
// client's interface: the server's whole turnaround plus the veth, without perfdhcp's own
// user-space queueing.
import { readFileSync } from 'node:fs';

export type Xchg = 'DO' | 'RA';

export interface DelayStats {
  n: number;
  avgMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface CaptureResult {
  packets: number;
  requests: number;
  replies: number;
  /** Replies with no outstanding request of their xid (duplicates, or the request fell outside the capture). */
  unmatched: number;
  /** Replies later than the drop time. */
  late: number;
  /** Requests never answered within the capture. */
  unanswered: number;
  all: DelayStats;
  byType: Record<Xchg, DelayStats>;
  /**
   * Per second of the run (from the first request): replies, p99 and maximum delay, for a look at
   * warm-up and stalls.
   */
  perSecond: { n: number; p99Ms: number | null; maxMs: number | null }[];
}

const DISCOVER = 1;
const REQUEST = 3;

/** Nearest-rank percentile of a sorted array (q in 0..1). */
export function percentile(sorted: Float64Array | number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}

export function stats(delaysMs: number[]): DelayStats {
  if (delaysMs.length === 0) return { n: 0, avgMs: null, p50Ms: null, p99Ms: null, maxMs: null };
  const s = Float64Array.from(delaysMs).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    avgMs: sum / s.length,
    p50Ms: percentile(s, 0.5),
    p99Ms: percentile(s, 0.99),
    maxMs: s[s.length - 1],
  };
}

/** Option 53 (message type) from the options that made it into the capture, or null. */
function messageType(buf: Buffer, start: number, end: number): number | null {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === 0) { i++; continue; }
    if (code === 255 || i + 1 >= end) return null;
    const len = buf[i + 1];
    if (code === 53 && len === 1 && i + 2 < end) return buf[i + 2];
    i += 2 + len;
  }
  return null;
}

/**
 * Reads a pcap file (Ethernet link type, micro- or nanosecond timestamps) and pairs the
 * DHCP requests `clientIp` sent with the replies it received. Packets captured after
 * `endMs` (Unix ms: when perfdhcp exited) are left out, as perfdhcp never saw them.
 */
export function analyseCapture(file: string, clientIp: string, dropTimeMs = 1000, endMs = Infinity): CaptureResult {
  const buf = readFileSync(file);
  if (buf.length < 24) throw new Error(`${file}: not a pcap file (${buf.length} bytes)`);
  const magic = buf.readUInt32LE(0);
  let le = true;
  let nano: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) nano = magic === 0xa1b23c4d;
  else if (buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d) { le = false; nano = buf.readUInt32BE(0) === 0xa1b23c4d; } else throw new Error(`${file}: unknown pcap magic ${magic.toString(16)}`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`${file}: link type ${linkType}, expected Ethernet (1)`);
  const client = clientIp.split('.').map(Number);
  const isClient = (o: number) =>
    buf[o] === client[0] && buf[o + 1] === client[1] && buf[o + 2] === client[2] && buf[o + 3] === client[3];

  // xid -> the outstanding request: its type and capture time (ms).
  const pending = new Map<number, { type: Xchg; t: number }>();
  const delays: Record<Xchg, number[]> = { DO: [], RA: [] };
  const bySecond: number[][] = [];
  let t0: number | null = null;
  // xids whose DISCOVER was seen (for requests whose option 53 fell outside the snap).
  const seenDiscover = new Set<number>();
  let packets = 0;
  let requests = 0;
  let replies = 0;
  let unmatched = 0;
  let late = 0;
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const caplen = u32(off + 8);
    const p = off + 16;
    off = p + caplen;
    if (off > buf.length) break; // torn last record
    const t = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    if (t > endMs) break;
    packets++;
    let ip = p + 12;
    let etherType = buf.readUInt16BE(ip);
    if (etherType === 0x8100) { ip += 4; etherType = buf.readUInt16BE(ip); }
    ip += 2;
    if (etherType !== 0x0800 || ip + 20 > off) continue;
    const ihl = (buf[ip] & 0x0f) * 4;
    if (buf[ip + 9] !== 17) continue;
    const udp = ip + ihl;
    const bootp = udp + 8;
    if (bootp + 8 > off) continue;
    const op = buf[bootp];
    const xid = buf.readUInt32BE(bootp + 4);
    const cookie = bootp + 236;
    const type
      = cookie + 4 <= off && buf.readUInt32BE(cookie) === 0x63825363 ? messageType(buf, cookie + 4, off) : null;
    if (op === 1 && isClient(ip + 12)) {
      requests++;
      t0 ??= t;
      // Without option 53 in the snap: a second request of the same xid is the REQUEST.
      const kind: Xchg = type === DISCOVER ? 'DO' : type === REQUEST ? 'RA' : (seenDiscover.has(xid) ? 'RA' : 'DO');
      if (kind === 'DO') seenDiscover.add(xid);
      pending.set(xid, { type: kind, t });
    } else if (op === 2 && isClient(ip + 16)) {
      replies++;
      const req = pending.get(xid);
      if (!req) { unmatched++; continue; }
      pending.delete(xid);
      const d = t - req.t;
      if (d > dropTimeMs) { late++; continue; }
      delays[req.type].push(d);
      const sec = Math.max(0, Math.floor((req.t - (t0 ?? req.t)) / 1000));
      (bySecond[sec] ??= []).push(d);
    }
  }
  return {
    packets,
    requests,
    replies,
    unmatched,
    late,
    unanswered: pending.size,
    all: stats([...delays.DO, ...delays.RA]),
    byType: { DO: stats(delays.DO), RA: stats(delays.RA) },
    perSecond: Array.from(bySecond, (d) => {
      const x = stats(d ?? []);
      return { n: x.n, p99Ms: x.p99Ms, maxMs: x.maxMs };
    }),
  };
}
