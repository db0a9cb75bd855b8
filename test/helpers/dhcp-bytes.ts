// Hand-built BOOTP/DHCP messages for codec and responder tests, written byte by byte
// without the codec under test (RFC 2131 figure 1: op htype hlen hops | xid | secs flags |
// ciaddr | yiaddr | siaddr | giaddr | chaddr[16] | sname[64] | file[128] | cookie | options);
// and the host map view the responder and the script generator read.
import { parseHostMap, type HostMapData } from '../../services/core/hostmap-parse.js';
import type { HostView } from '../../services/core/hostmap-parse.js';

export interface RawRequest {
  op?: number;
  htype?: number;
  hlen?: number;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  mac?: string;
  sname?: Buffer;
  file?: Buffer;
  /** The option area, exactly as given (codes, lengths, pads, end). */
  optionArea?: Buffer;
}

const ip = (s: string) => Buffer.from(s.split('.').map(Number));

export function tlv(code: number, value: Buffer | string | number[]): Buffer {
  const v = Buffer.isBuffer(value) ? value : typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value);
  return Buffer.concat([Buffer.from([code, v.length]), v]);
}

export function header(r: RawRequest): Buffer {
  const b = Buffer.alloc(240);
  b[0] = r.op ?? 1;
  b[1] = r.htype ?? 1;
  b[2] = r.hlen ?? 6;
  b.writeUInt32BE(r.xid ?? 0x12345678, 4);
  b.writeUInt16BE(r.flags ?? 0x8000, 10);
  ip(r.ciaddr ?? '0.0.0.0').copy(b, 12);
  ip(r.giaddr ?? '0.0.0.0').copy(b, 24);
  Buffer.from((r.mac ?? '52:54:00:12:34:56').split(':').map((h) => parseInt(h, 16))).copy(b, 28);
  r.sname?.copy(b, 44, 0, 64);
  r.file?.copy(b, 108, 0, 128);
  b.writeUInt32BE(0x63825363, 236);
  return b;
}

export function message(r: RawRequest): Buffer {
  return Buffer.concat([header(r), r.optionArea ?? Buffer.from([255])]);
}

/** A DHCP message of `type` with the given options (each TLV), then End. */
export function dhcp(type: number, opts: Buffer[] = [], r: RawRequest = {}): Buffer {
  return message({ ...r, optionArea: Buffer.concat([tlv(53, [type]), ...opts, Buffer.from([255])]) });
}

export const PXE_BIOS = [
  tlv(60, 'PXEClient:Arch:00000:UNDI:002001'),
  tlv(93, [0, 0]),
  tlv(94, [1, 2, 1]),
  tlv(97, [0, ...Array.from({ length: 16 }, (_, i) => i + 1)]),
];

export const PXE_UEFI = [
  tlv(60, 'PXEClient:Arch:00007:UNDI:003016'),
  tlv(93, [0, 7]),
  tlv(94, [1, 3, 16]),
  tlv(97, [0, ...Array.from({ length: 16 }, (_, i) => 0xa0 + i)]),
];

/** iPXE adds user class "iPXE" (bare string) and its encapsulated options (175). */
export const IPXE = [tlv(77, 'iPXE'), tlv(175, [0xb1, 0x05, 0x01, 0x10, 0xec, 0x10, 0x00])];

/** A host map view (services/core/hostmap-parse.ts HostView) from YAML text, as the HostMap module serves it. */
export function hostView(yaml: string): HostView & { data: HostMapData } {
  const { data } = parseHostMap(yaml, 'hosts.yaml');
  return { data, lookup: (m: string) => data.hosts.get(m), images: data.images, defaults: data.defaults };
}
