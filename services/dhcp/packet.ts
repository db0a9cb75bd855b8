// The DHCP wire codec: an adapter over the `dhcp` package (node-dhcp) that the rest of
// bootlab uses, and the only module that touches it (decision 0004).
//
// node-dhcp's SeqBuffer and option type table do the field work: header fields and typed
// option values (IP, UInt32, ASCII...) are read and written by its getters and adders.
// Its option-area walk (SeqBuffer.getOptions) and packet framing are not used, because of
// defects that cannot be fixed from outside, each covered by a test in
// test/dhcp/packet.test.ts:
//   - a pad option (code 0) swallows the byte after it;
//   - unknown option codes are printed with console.error and dropped, while PXE needs
//     43, 60, 77, 93, 94, 97, 175 and relays need 82 as raw bytes;
//   - option lengths are not checked against the packet (a length past the end reads
//     garbage or throws a RangeError);
//   - replies are not padded to the 300-byte BOOTP minimum (RFC 951; dnsmasq pads);
//   - option overload (52: options continued in `file` and `sname`) is ignored;
//   - options split over several instances (RFC 3396) overwrite each other.
// So the options field is walked here (bounds-checked, RFC 3396 concatenation, overload),
// values stay raw Buffers, and the typed accessors below decode them with node-dhcp.
import { createRequire } from 'node:module';

interface SeqBufferApi {
  _r: number;
  _w: number;
  getUInt8(): number;
  getUInt16(): number;
  getUInt32(): number;
  getIP(): string;
  getUTF8(len: number): string;
  getASCII(len: number): string;
  getUInt8s(len: number): number[];
  getUInt16s(len: number): number[];
  addUInt8(v: number): void;
  addUInt16(v: number): void;
  addUInt32(v: number): void;
  addIP(ip: string): void;
  addIPs(ips: string[]): void;
  addUTF8Pad(v: string, len: number): void;
  addASCII(v: string): void;
}
type SeqBufferCtor = new (buf?: Buffer, len?: number) => SeqBufferApi;

const require = createRequire(import.meta.url);
const SeqBuffer = require('dhcp/lib/seqbuffer.js') as SeqBufferCtor;

/** RFC 2131 / 2132 message types (option 53). */
export enum MessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

export const MESSAGE_NAMES: Record<number, string> = {
  1: 'DISCOVER', 2: 'OFFER', 3: 'REQUEST', 4: 'DECLINE', 5: 'ACK', 6: 'NAK', 7: 'RELEASE', 8: 'INFORM',
};

/** Option codes bootlab reads or writes (RFC 2132, 3046, 4578, PXE 2.1, iPXE). */
export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainServer: 6,
  HostName: 12,
  DomainName: 15,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  RelayAgentInfo: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  Ipxe: 175,
  End: 255,
} as const;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
/** op..file: the fixed BOOTP header (RFC 951), before the magic cookie. */
const HEADER_LENGTH = 236;
const OPTIONS_OFFSET = HEADER_LENGTH + 4;
/** RFC 951: a BOOTP message is at least 300 bytes; some relays and ROMs drop shorter. */
export const BOOTP_MIN_LENGTH = 300;
const SNAME_OFFSET = 44;
const FILE_OFFSET = 108;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte client hardware address field, as sent. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Option code -> value, raw; repeated instances concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export interface DecodeError { error: string }

export function isDecodeError(x: unknown): x is DecodeError {
  return typeof x === 'object' && x !== null && 'error' in x;
}

/** Walks one option area; returns an error text when an option runs past the area. */
function walkOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer>, where: string): string | null {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === Opt.End) return null;
    if (code === Opt.Pad) { i += 1; continue; }
    if (i + 1 >= end) return `option ${code} in ${where} has no length byte`;
    const len = buf[i + 1];
    if (i + 2 + len > end) return `option ${code} in ${where} claims ${len} bytes, only ${end - i - 2} left`;
    const value = buf.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, value]) : value);
    i += 2 + len;
  }
  return null; // No End option: tolerated (the area simply ends), as dnsmasq does.
}

/** Decodes a BOOTP/DHCP message. Never throws: a malformed message gives { error }. */
export function decode(buf: Buffer): DhcpPacket | DecodeError {
  if (buf.length < OPTIONS_OFFSET) return { error: `too short (${buf.length} bytes, a DHCP message has at least ${OPTIONS_OFFSET})` };
  const sb = new SeqBuffer(buf);
  const op = sb.getUInt8();
  const htype = sb.getUInt8();
  const hlen = sb.getUInt8();
  const hops = sb.getUInt8();
  const xid = sb.getUInt32();
  const secs = sb.getUInt16();
  const flags = sb.getUInt16();
  const ciaddr = sb.getIP();
  const yiaddr = sb.getIP();
  const siaddr = sb.getIP();
  const giaddr = sb.getIP();
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { error: `bad op ${op}` };
  if (hlen > 16) return { error: `bad hlen ${hlen}` };
  const chaddr = Buffer.from(buf.subarray(28, 44));
  sb._r = SNAME_OFFSET;
  let sname = sb.getUTF8(64);
  let file = sb.getUTF8(128);
  if (sb.getUInt32() !== MAGIC_COOKIE) return { error: 'no DHCP magic cookie (a plain BOOTP message)' };
  const options = new Map<number, Buffer>();
  const err = walkOptions(buf, OPTIONS_OFFSET, buf.length, options, 'options');
  if (err) return { error: err };
  // RFC 2132 9.3: with overload, `file` and then `sname` hold more options.
  const overload = options.get(Opt.Overload);
  if (overload && overload.length === 1) {
    const o = overload[0];
    if (o & 1) {
      const e = walkOptions(buf, FILE_OFFSET, FILE_OFFSET + 128, options, 'file');
      if (e) return { error: e };
      file = '';
    }
    if (o & 2) {
      const e = walkOptions(buf, SNAME_OFFSET, SNAME_OFFSET + 64, options, 'sname');
      if (e) return { error: e };
      sname = '';
    }
    options.delete(Opt.Overload);
  }
  return { op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options };
}

/** The MAC in normal form (aa:bb:cc:dd:ee:ff) for Ethernet (htype 1, hlen 6), else null. */
export function macOf(p: DhcpPacket): string | null {
  if (p.htype !== 1 || p.hlen !== 6) return null;
  const h = p.chaddr.toString('hex', 0, 6);
  return `${h[0]}${h[1]}:${h[2]}${h[3]}:${h[4]}${h[5]}:${h[6]}${h[7]}:${h[8]}${h[9]}:${h[10]}${h[11]}`;
}

// Typed accessors: null when the option is absent or has the wrong length.
const reader = (v: Buffer) => new SeqBuffer(v);

export function messageType(p: DhcpPacket): number | null {
  const v = p.options.get(Opt.MessageType);
  return v && v.length === 1 ? v[0] : null;
}

export function optIp(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  return v && v.length === 4 ? reader(v).getIP() : null;
}

export function optUInt16(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length >= 2 ? reader(v).getUInt16() : null;
}

export function optUInt32(p: DhcpPacket, code: number): number | null {
  const v = p.options.get(code);
  return v && v.length === 4 ? reader(v).getUInt32() : null;
}

/** A text option, up to its first NUL (some firmware NUL-terminates strings). */
export function optText(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  return v && v.length > 0 ? reader(v).getASCII(v.length) : null;
}

// Value builders for replies, written by node-dhcp's adders.
function build(len: number, write: (sb: SeqBufferApi) => void): Buffer {
  const buf = Buffer.alloc(len);
  write(new SeqBuffer(buf));
  return buf;
}

export const value = {
  ip: (ip: string) => build(4, (sb) => sb.addIP(ip)),
  ips: (ips: string[]) => build(4 * ips.length, (sb) => sb.addIPs(ips)),
  u8: (n: number) => build(1, (sb) => sb.addUInt8(n)),
  u16: (n: number) => build(2, (sb) => sb.addUInt16(n)),
  u32: (n: number) => build(4, (sb) => sb.addUInt32(n)),
  text: (s: string) => Buffer.from(s, 'latin1'),
};

/** The option area's bytes for `options`, 53 first, long values split per RFC 3396. */
function optionBytes(options: Map<number, Buffer>): number {
  let n = 1; // End
  for (const v of options.values()) n += Math.max(1, Math.ceil(v.length / 255)) * 2 + v.length;
  return n;
}

/**
 * Encodes a message, padded to the 300-byte BOOTP minimum. Option 53 goes first (some
 * clients look only there). `sname` and `file` must fit (63 and 127 bytes) and are never
 * used for overload: pxelinux and GRUB read them as plain strings.
 */
export function encode(p: DhcpPacket): Buffer {
  const length = Math.max(BOOTP_MIN_LENGTH, OPTIONS_OFFSET + optionBytes(p.options));
  const buf = Buffer.alloc(length);
  const sb = new SeqBuffer(buf);
  sb.addUInt8(p.op);
  sb.addUInt8(p.htype);
  sb.addUInt8(p.hlen);
  sb.addUInt8(p.hops);
  sb.addUInt32(p.xid);
  sb.addUInt16(p.secs);
  sb.addUInt16(p.flags);
  sb.addIP(p.ciaddr);
  sb.addIP(p.yiaddr);
  sb.addIP(p.siaddr);
  sb.addIP(p.giaddr);
  p.chaddr.copy(buf, 28, 0, 16);
  sb._w = SNAME_OFFSET;
  sb.addUTF8Pad(p.sname, 63);
  sb._w = FILE_OFFSET;
  sb.addUTF8Pad(p.file, 127);
  sb._w = HEADER_LENGTH;
  sb.addUInt32(MAGIC_COOKIE);
  let w = OPTIONS_OFFSET;
  const put = (code: number, v: Buffer) => {
    let off = 0;
    do {
      const chunk = Math.min(255, v.length - off);
      buf[w] = code;
      buf[w + 1] = chunk;
      v.copy(buf, w + 2, off, off + chunk);
      w += 2 + chunk;
      off += chunk;
    } while (off < v.length);
  };
  const type = p.options.get(Opt.MessageType);
  if (type) put(Opt.MessageType, type);
  for (const [code, v] of p.options) if (code !== Opt.MessageType) put(code, v);
  buf[w] = Opt.End;
  return buf;
}
