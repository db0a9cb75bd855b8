// DHCP on the wire for the DHCP interop tests (split from dhcp-clients.ts, which
// re-exports it): hand-built BOOTP/DHCP packets and their parser (never the service's
// codec), probe (a plain UDP socket in a lab namespace), tcpdump captures parsed from the
// pcap file, and dnsmasq as a DHCP relay.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { message, tlv } from './dhcp-bytes.js';
import { NetLab, type LabProcess } from './netlab.js';
import { sleep, waitFor } from './util.js';

// ---------------------------------------------------------------------------------------
// Hand-built BOOTP/DHCP packets
//
// BOOTREQUEST layout (RFC 951; RFC 2131 section 2, figure 1), big-endian:
//   off len field
//     0   1 op      1 = BOOTREQUEST, 2 = BOOTREPLY
//     1   1 htype   1 = Ethernet
//     2   1 hlen    6
//     3   1 hops    0
//     4   4 xid     transaction id, chosen by the client, echoed by the server
//     8   2 secs    0
//    10   2 flags   0x8000 = BROADCAST (reply to 255.255.255.255), else 0
//    12   4 ciaddr  client address (only when BOUND/RENEW/REBINDING)
//    16   4 yiaddr  "your" address (set by the server)
//    20   4 siaddr  next server (set by the server)
//    24   4 giaddr  relay agent address
//    28  16 chaddr  client hardware address: the MAC, then 10 zero bytes
//    44  64 sname   server host name (zeros)
//   108 128 file    boot file name (zeros)
//   236   4 magic   99.130.83.99 (0x63825363)
//   240   - options code, length, value ... then 255 (END); padded with 0 to 300 bytes,
//                   the BOOTP minimum (RFC 1542 section 2.1).

export const BOOTP_MIN = 300;
export const MAGIC = 0x63825363;

export const DHCP = {
  DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8,
} as const;

export function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${ip}`);
  return Buffer.from(parts);
}

export interface BootRequest {
  xid: number;
  mac: string;
  broadcast?: boolean;
  ciaddr?: string;
  giaddr?: string;
  /** [code, value] in the order they are written; 255 and the padding are added. */
  options: Array<[number, Buffer]>;
}

/** A BOOTREQUEST as laid out above (written by dhcp-bytes.ts), padded to 300 bytes. */
export function bootRequest(r: BootRequest): Buffer {
  const msg = message({
    xid: r.xid >>> 0, mac: r.mac, flags: r.broadcast ? 0x8000 : 0, ciaddr: r.ciaddr, giaddr: r.giaddr,
    optionArea: Buffer.concat([...r.options.map(([code, value]) => tlv(code, value)), Buffer.from([255])]),
  });
  return msg.length >= BOOTP_MIN ? msg : Buffer.concat([msg, Buffer.alloc(BOOTP_MIN - msg.length)]);
}

export interface Bootp {
  length: number;
  op: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: string;
  sname: string;
  file: string;
  options: Map<number, Buffer>;
  /** Option 53, or undefined (plain BOOTP). */
  type: number | undefined;
}

const ipAt = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const cstr = (b: Buffer): string => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('latin1');
};

/** Parses a BOOTP/DHCP packet; throws on anything malformed (short, bad cookie, option overrun). */
export function parseBootp(b: Buffer): Bootp {
  if (b.length < 240) throw new Error(`BOOTP packet of ${b.length} bytes (< 240)`);
  if (b.readUInt32BE(236) !== MAGIC) throw new Error(`bad magic cookie ${b.readUInt32BE(236).toString(16)}`);
  const options = new Map<number, Buffer>();
  let o = 240;
  while (o < b.length) {
    const code = b[o++];
    if (code === 0) continue;
    if (code === 255) break;
    if (o >= b.length) throw new Error(`option ${code} has no length`);
    const len = b[o++];
    if (o + len > b.length) throw new Error(`option ${code} runs past the packet`);
    // RFC 3396: repeated options are concatenated.
    const v = b.subarray(o, o + len);
    options.set(code, options.has(code) ? Buffer.concat([options.get(code)!, v]) : Buffer.from(v));
    o += len;
  }
  const t = options.get(53);
  return {
    length: b.length,
    op: b[0],
    xid: b.readUInt32BE(4),
    flags: b.readUInt16BE(10),
    ciaddr: ipAt(b, 12),
    yiaddr: ipAt(b, 16),
    siaddr: ipAt(b, 20),
    giaddr: ipAt(b, 24),
    chaddr: [...b.subarray(28, 28 + Math.min(b[2], 16))].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    sname: cstr(b.subarray(44, 108)),
    file: cstr(b.subarray(108, 236)),
    options,
    type: t && t.length === 1 ? t[0] : undefined,
  };
}

export const optIp = (b: Buffer | undefined): string | undefined => (b && b.length === 4 ? ipAt(b, 0) : undefined);
export const optStr = (b: Buffer | undefined): string | undefined => (b ? cstr(b) : undefined);

// ---------------------------------------------------------------------------------------
// probe: a plain UDP socket in a lab namespace

export interface ProbeReply {
  from: string;
  port: number;
  data: Buffer;
  /** Milliseconds after the packet was sent. */
  at: number;
}

// Runs inside the namespace: bind 0.0.0.0:68 (SO_REUSEADDR), SO_BROADCAST, send each
// packet (hex in argv) to 255.255.255.255:67, print every datagram received for listenMs.
const PROBE_SCRIPT = `
const dgram = require('node:dgram');
const [packets, listenMs, stopAfter, lingerMs] = JSON.parse(process.argv[1]);
let got = 0;
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let t0 = Date.now();
s.on('error', (e) => { out({ error: e.message }); process.exit(2); });
s.on('message', (m, r) => {
  out({ from: r.address, port: r.port, hex: m.toString('hex'), at: Date.now() - t0 });
  if (stopAfter && ++got === stopAfter) setTimeout(() => { s.close(); process.exit(0); }, lingerMs);
});
s.bind(68, '0.0.0.0', async () => {
  s.setBroadcast(true);
  t0 = Date.now();
  for (const hex of packets) {
    await new Promise((res, rej) => s.send(Buffer.from(hex, 'hex'), 67, '255.255.255.255', (e) => (e ? rej(e) : res())));
    out({ sent: hex.length / 2 });
  }
  setTimeout(() => { s.close(); process.exit(0); }, listenMs);
});
`;

/**
 * Broadcasts `packets` from 0.0.0.0:68 in `member` (whose `ifname` may have no address:
 * a host route 255.255.255.255/32 dev ifname is added) and returns what came back to
 * port 68 within `listenMs`, or until `lingerMs` after the `stopAfter`th reply: a probe
 * that expects an answer gives a long listenMs (it only stops a test whose server is
 * silent) and stopAfter, so a loaded machine is never taken for a missing reply; the
 * linger catches a duplicate sent right after it.
 */
export async function probe(
  lab: NetLab,
  member: string,
  packets: Buffer[],
  opts: { listenMs?: number; ifname?: string; stopAfter?: number; lingerMs?: number } = {},
): Promise<{ replies: ProbeReply[]; sent: number; output: string }> {
  lab.exec(member, 'ip', ['route', 'replace', '255.255.255.255/32', 'dev', opts.ifname ?? 'eth0']);
  const listenMs = opts.listenMs ?? 2000;
  const proc = lab.spawn(member, process.execPath, [
    '-e',
    PROBE_SCRIPT,
    JSON.stringify([packets.map((p) => p.toString('hex')), listenMs, opts.stopAfter ?? 0, opts.lingerMs ?? 0]),
  ]);
  const timer = setTimeout(() => {
    void proc.stop();
  }, listenMs + 15_000);
  const { code } = await proc.exited;
  clearTimeout(timer);
  const replies: ProbeReply[] = [];
  let sent = 0;
  for (const line of proc.stdout().split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as {
      from?: string;
      port?: number;
      hex?: string;
      at?: number;
      sent?: number;
      error?: string;
    };
    if (j.error) throw new Error(`probe in ${member}: ${j.error}`);
    if (j.sent) sent += 1;
    if (j.hex !== undefined) replies.push({ from: j.from!, port: j.port!, data: Buffer.from(j.hex, 'hex'), at: j.at! });
  }
  if (code !== 0) throw new Error(`probe in ${member} exited ${code}: ${proc.stderr()}`);
  return { replies, sent, output: proc.stdout() };
}

// ---------------------------------------------------------------------------------------
// tcpdump capture, parsed from the pcap file

export interface Frame {
  srcMac: string;
  dstMac: string;
  /** Set for IPv4/UDP frames. */
  udp?: { src: string; dst: string; sport: number; dport: number; payload: Buffer };
  /** Set when the UDP ports are 67/68 and the payload parses as BOOTP. */
  bootp?: Bootp;
}

const macAt = (b: Buffer, o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Parses a classic pcap file of Ethernet frames (microsecond or nanosecond, either byte order). */
export function parsePcap(file: Buffer): Frame[] {
  if (file.length < 24) return [];
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) le = true;
  else if (file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`pcap link type ${u32(20)}, expected 1 (Ethernet)`);
  const frames: Frame[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const incl = u32(o + 8);
    const f = file.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    if (f.length < 14) continue;
    const frame: Frame = { dstMac: macAt(f, 0), srcMac: macAt(f, 6) };
    frames.push(frame);
    if (f.readUInt16BE(12) !== 0x0800 || f.length < 34) continue;
    const ihl = (f[14] & 0x0f) * 4;
    if (f[23] !== 17 || f.length < 14 + ihl + 8) continue;
    const u = 14 + ihl;
    const sport = f.readUInt16BE(u);
    const dport = f.readUInt16BE(u + 2);
    const payload = f.subarray(u + 8, u + f.readUInt16BE(u + 4));
    frame.udp = { src: ipAt(f, 26), dst: ipAt(f, 30), sport, dport, payload };
    if ([67, 68].includes(sport) || [67, 68].includes(dport)) {
      try { frame.bootp = parseBootp(payload); } catch { /* not BOOTP */ }
    }
  }
  return frames;
}

export class Capture {
  private constructor(readonly proc: LabProcess, readonly file: string) {}

  /**
   * tcpdump -i `iface` in `member`, writing every packet at once to a pcap under `dir`.
   * --immediate-mode: without it packets wait in the kernel buffer up to a second and a
   * stop in that second loses them ("8 packets received by filter, 0 captured").
   */
  static async start(lab: NetLab, member: string, iface: string, dir: string, filter = 'udp'): Promise<Capture> {
    const file = join(dir, `${member.replace(/[^\w-]/g, '_')}-${iface}-${Date.now()}.pcap`);
    const proc = lab.spawn(member, 'tcpdump', ['-i', iface, '-n', '--immediate-mode', '-U', '-s', '2000', '-w', file, filter]);
    let exited = false;
    void proc.exited.then(() => { exited = true; });
    const ok = await waitFor(() => exited || /listening on/.test(proc.stderr()), 10_000);
    if (!ok || exited) throw new Error(`tcpdump on ${iface} did not start: ${proc.stderr()}`);
    return new Capture(proc, file);
  }

  /** What has been captured so far (tcpdump -U writes each packet as it comes). */
  frames(): Frame[] {
    return existsSync(this.file) ? parsePcap(readFileSync(this.file)) : [];
  }

  /** Stops tcpdump (SIGTERM by PID; it flushes the file) and returns every frame. */
  async stop(): Promise<Frame[]> {
    await sleep(300); // the last packets' way through the bridge and tcpdump
    await this.proc.stop();
    const counts = /(\d+) packets? captured\n(\d+) packets? received by filter/.exec(this.proc.stderr());
    if (counts && counts[1] !== counts[2]) throw new Error(`tcpdump on ${this.file} lost packets: ${this.proc.stderr()}`);
    return this.frames();
  }
}

// ---------------------------------------------------------------------------------------
// dnsmasq as a DHCP relay

/**
 * `dnsmasq --dhcp-relay=<local>,<server>` in `member`: requests arriving on the interface
 * that holds `local` are relayed to `server` with giaddr = `local`; replies to giaddr are
 * passed back to the client. DNS off (--port=0), no config file, no pid file, log to stderr.
 */
export async function startRelay(lab: NetLab, member: string, local: string, server: string): Promise<LabProcess> {
  const proc = lab.spawn(member, 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--pid-file=', '--log-facility=-', '--log-dhcp',
    `--dhcp-relay=${local},${server}`,
  ]);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const ok = await waitFor(() => exited || /started, version/.test(proc.stderr() + proc.stdout()), 10_000);
  if (!ok || exited) throw new Error(`dnsmasq relay did not start: ${proc.stderr()}`);
  return proc;
}
