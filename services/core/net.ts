// Interface look-up and IPv4 arithmetic shared by the services. The per-interface socket
// binding (SO_BINDTOIFINDEX) lives here too: Node's dgram has no SO_BINDTODEVICE, and a
// socket bound to an interface's address does not receive 255.255.255.255 broadcasts
// (docs pxe-notes.md 12), so DHCP binds 0.0.0.0 and then pins the socket to the interface.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import type { Socket } from 'node:dgram';

/** Dotted quad to a 32-bit unsigned integer (called per packet: no split, no allocation). */
export const ipToInt = (ip: string): number => {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) { n = n * 256 + octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
};

export const intToIp = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

export const inSubnet = (ip: string, network: string, netmask: string): boolean => {
  const m = ipToInt(netmask);
  return ((ipToInt(ip) & m) >>> 0) === ((ipToInt(network) & m) >>> 0);
};

export interface InterfaceInfo {
  name: string;
  index: number;
  address: string;
  netmask: string;
  mac: string;
}

/** The IPv4 address, netmask and index of a named interface, or an error text. */
export function interfaceInfo(name: string): InterfaceInfo | string {
  const all = networkInterfaces();
  const addrs = all[name];
  if (!addrs) {
    const have = Object.keys(all).filter((n) => n !== 'lo').join(', ') || 'none';
    return `interface "${name}" does not exist or is down (this machine has: ${have})`;
  }
  const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal) ?? addrs.find((a) => a.family === 'IPv4');
  if (!v4) return `interface "${name}" has no IPv4 address`;
  let index: number;
  try {
    index = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    return `interface "${name}": cannot read its index from /sys/class/net`;
  }
  return { name, index, address: v4.address, netmask: v4.netmask, mac: v4.mac };
}

/** This machine's name servers from /etc/resolv.conf, loopback ones left out. */
export function systemNameServers(file = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n')
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
      .filter((ip): ip is string => ip !== undefined && !ip.startsWith('127.'));
  } catch {
    return [];
  }
}

const SOL_SOCKET = 1;
const SO_BINDTOIFINDEX = 62;
const SO_RCVBUFFORCE = 33;
let sockopt: { setsockopt(s: Socket, level: number, name: number, value: number): void } | null = null;

/**
 * Pins a bound UDP socket to one interface (Linux SO_BINDTOIFINDEX, kernel 5.0+): it then
 * receives only what arrives on that interface, and what it sends leaves through it,
 * whatever the routing table says. Linux 5.7 and later allow it unprivileged on a socket
 * not yet bound to a device; older kernels need CAP_NET_RAW.
 */
export function bindToInterface(socket: Socket, index: number): void {
  setIntOption(socket, SO_BINDTOIFINDEX, index);
}

/**
 * A receive buffer of `bytes`, past net.core.rmem_max when the process may (SO_RCVBUFFORCE
 * needs CAP_NET_ADMIN): a classroom booting at once is a burst, and a buffer that overflows
 * while the event loop is busy drops requests. Returns the size the kernel granted.
 */
export function growReceiveBuffer(socket: Socket, bytes: number): number {
  try {
    setIntOption(socket, SO_RCVBUFFORCE, bytes);
  } catch {
    try { socket.setRecvBufferSize(bytes); } catch { /* keep the default */ }
  }
  return socket.getRecvBufferSize();
}

/**
 * setsockopt(SOL_SOCKET, name, value) through the sockopt package. It reads
 * socket._handle, which Node reports once as deprecated (DEP0112); that one warning is
 * dropped while the call runs, and no other.
 */
function setIntOption(socket: Socket, name: number, value: number): void {
  sockopt ??= createRequire(import.meta.url)('sockopt') as typeof sockopt;
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code !== 'DEP0112') (emit as (...a: unknown[]) => void).call(process, w, ...rest);
  }) as typeof process.emitWarning;
  try {
    sockopt!.setsockopt(socket, SOL_SOCKET, name, value);
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * Makes a socket send multicast out of one interface only (IP_MULTICAST_IF, whatever the
 * routing table says), with `ttl` (1: the lab's own subnet), and never back to this host.
 */
export function multicastSender(socket: Socket, iface: InterfaceInfo, ttl: number): void {
  socket.setMulticastInterface(iface.address);
  socket.setMulticastTTL(ttl);
  socket.setMulticastLoopback(false);
}

/** The interface multicast uses: multicast.interface, else the first DHCP interface. */
export function multicastInterfaceName(cfg: {
  multicast: { interface: string | null };
  dhcp: { interfaces: string[] };
}): string | null {
  return cfg.multicast.interface ?? cfg.dhcp.interfaces[0] ?? null;
}

/** Client addresses as people read them: IPv4-mapped IPv6 (::ffff:192.0.2.5) shown as IPv4. */
export function plainAddress(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
