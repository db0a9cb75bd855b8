// What a DHCP request says about the machine asking: PXE or not, firmware architecture
// (option 93), iPXE or not (options 77 and 175), and the PXE vendor options a reply
// carries. Pure functions over decoded packets (docs pxe-notes.md, "DHCP replies that PXE
// firmware accepts").
import { archName, type ClientKind, type Firmware } from '../core/firmware.js';
import { Opt, optText, type DhcpPacket } from './packet.js';

/** User class (77): iPXE sends the bare string "iPXE"; RFC 3004 length-prefixed also accepted. */
function userClassIsIpxe(v: Buffer | undefined): boolean {
  if (!v) return false;
  if (v.toString('latin1') === 'iPXE') return true;
  // RFC 3004: one or more [len][data] instances.
  for (let i = 0; i < v.length;) {
    const len = v[i];
    if (i + 1 + len > v.length) return false;
    if (v.toString('latin1', i + 1, i + 1 + len) === 'iPXE') return true;
    i += 1 + len;
  }
  return false;
}

export function classify(p: DhcpPacket): ClientKind {
  const vendorClass = optText(p, Opt.VendorClass);
  const pxe = vendorClass?.startsWith('PXEClient') ?? false;
  const http = vendorClass?.startsWith('HTTPClient') ?? false;
  const ipxe = userClassIsIpxe(p.options.get(Opt.UserClass)) || p.options.has(Opt.Ipxe);
  let archCode: number | null = null;
  const a = p.options.get(Opt.ClientArch);
  // Option 93 may list several architectures; the first is the one booting.
  if (a && a.length >= 2) archCode = a.readUInt16BE(0);
  else if (vendorClass) {
    const m = /^(?:PXE|HTTP)Client:Arch:(\d{5})/.exec(vendorClass);
    if (m) archCode = Number(m[1]);
  }
  if (archCode === null && pxe) archCode = 0; // PXE 2.1 clients without 93 are BIOS ROMs.
  const arch = archCode === null ? null : archName(archCode);
  const firmware: Firmware = ipxe ? 'ipxe' : http ? 'http' : !pxe ? 'other' : arch === 'bios' ? 'bios' : 'uefi';
  return { pxe, http, ipxe, archCode, arch, firmware, vendorClass };
}

/** Option 97: absent is fine (some Intel ROMs, pixiecore#21); else 17 bytes, type 0. */
export function uuidProblem(p: DhcpPacket): string | null {
  const v = p.options.get(Opt.ClientUuid);
  if (!v) return null;
  if (v.length !== 17) return `option 97 (client UUID) has ${v.length} bytes, not 17`;
  if (v[0] !== 0) return `option 97 (client UUID) type ${v[0]}, not 0`;
  return null;
}

/**
 * Option 43 for BIOS PXE ROMs: PXE_DISCOVERY_CONTROL (6) = 8, "boot the file in this
 * reply, skip boot server discovery" (PXE 2.1 table 2-1), then End.
 */
export const PXE_DISCOVERY_CONTROL = 6;
export function biosVendorOptions(mtftp: Buffer | null = null): Buffer {
  const control = Buffer.from([PXE_DISCOVERY_CONTROL, 1, 8, Opt.End]);
  return mtftp ? Buffer.concat([mtftp, control]) : control;
}

/** PXE 2.1 table 2-1: where and how a BIOS PXE ROM fetches its boot file by MTFTP. */
export const PXE_MTFTP_IP = 1;
export const PXE_MTFTP_CPORT = 2;
export const PXE_MTFTP_SPORT = 3;
export const PXE_MTFTP_TMOUT = 4;
export const PXE_MTFTP_DELAY = 5;

export interface MtftpAdvert {
  group: string;
  clientPort: number;
  serverPort: number;
  openTimeout: number;
  reopenDelay: number;
}

/** Option 43 sub-options 1 to 5 for one file. Only BIOS ROMs get them: EDK2 drops such offers. */
export function mtftpSubOptions(m: MtftpAdvert): Buffer {
  const b = Buffer.alloc(6 + 4 + 4 + 3 + 3);
  let o = 0;
  b[o++] = PXE_MTFTP_IP; b[o++] = 4;
  for (const part of m.group.split('.')) b[o++] = Number(part);
  b[o++] = PXE_MTFTP_CPORT; b[o++] = 2; b.writeUInt16BE(m.clientPort, o); o += 2;
  b[o++] = PXE_MTFTP_SPORT; b[o++] = 2; b.writeUInt16BE(m.serverPort, o); o += 2;
  b[o++] = PXE_MTFTP_TMOUT; b[o++] = 1; b[o++] = m.openTimeout;
  b[o++] = PXE_MTFTP_DELAY; b[o++] = 1; b[o++] = m.reopenDelay;
  return b;
}
