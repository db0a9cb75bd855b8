// What the kernel says about the DHCP service's network, read from /proc (Linux):
// - the default gateway of a lab interface (/proc/net/route), given to full-mode clients
//   as their router when dhcp.router is not set;
// - how many datagrams the kernel dropped on the service's own sockets because their
//   receive buffer was full (/proc/net/udp, "drops"): the load the service shed.
// Both are read seldom (at start; when the stats are asked for), never per packet.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { inSubnet, intToIp } from '../core/net.js';

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** An address as /proc/net/route prints it: 8 hex digits in the host's byte order. */
function routeHexToIp(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  if (endianness() === 'BE') return intToIp(n);
  return intToIp((((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0);
}

/**
 * The gateway of the default route that leaves through interface `name`, if it is on that
 * interface's subnet (the clients there must reach it directly); the lowest metric wins.
 * Null: no such route (a lab interface on its own network, or the default route leaves
 * by another interface, the Wi-Fi of a laptop), or /proc/net/route cannot be read.
 */
export function interfaceGateway(name: string, address: string, netmask: string, file = '/proc/net/route'): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  let best: { ip: string; metric: number } | null = null;
  for (const line of text.split('\n').slice(1)) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[0] !== name || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const flags = parseInt(f[3], 16);
    if (!(flags & RTF_UP) || !(flags & RTF_GATEWAY)) continue;
    const ip = routeHexToIp(f[2]);
    const metric = Number(f[6]);
    if (!inSubnet(ip, address, netmask)) continue;
    if (best === null || metric < best.metric) best = { ip, metric };
  }
  return best?.ip ?? null;
}

/** The inodes of this process's sockets (from /proc/self/fd). */
function ownSocketInodes(): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * Datagrams the kernel dropped on this process's UDP sockets bound to one of `ports`
 * (receive buffer full), summed over the lines of /proc/net/udp. The counters live as
 * long as the sockets: a restarted service starts again from 0. Null: not readable.
 */
export function udpDrops(ports: number[], file = '/proc/net/udp'): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const wanted = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  const inodes = ownSocketInodes();
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = f[1].split(':')[1];
    if (!wanted.has(port) || !inodes.has(f[9])) continue;
    drops += Number(f[12]) || 0;
  }
  return drops;
}
