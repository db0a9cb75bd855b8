// The DHCP decisions, pure apart from the lease store they update: a decoded request, the
// link it came in on, the host map and the time in; a reply and where to send it (or the
// reason for silence) out. One function per mode, as smee has one handler per mode.
//   proxy: PXE clients only, yiaddr 0, on ports 67 and 4011 (PXE 2.1 proxyDHCP).
//   full:  RFC 2131 with pool, leases, reservations, relays; PXE options on top.
import type { DhcpConfig } from '../core/config.js';
import { inSubnet, intToIp, ipToInt } from '../core/net.js';
import { mtftpName } from '../core/multicast.js';
import { chooseBoot, type BootChoice, type BootFilesConfig } from '../boot/choose.js';
import type { HostView } from '../core/hostmap-parse.js';
import { LeaseStore, type Range } from './leases.js';
import {
  BOOTREPLY, MessageType, Opt, messageType, optIp, optText, value, type DhcpPacket,
} from './packet.js';
import type { ClientKind } from '../core/firmware.js';
import { biosVendorOptions, uuidProblem } from './pxe.js';

export interface Link {
  name: string;
  /** The interface's own IPv4 address and netmask. */
  address: string;
  netmask: string;
  /** The gateway of the default route through this interface (procnet.ts), if any. */
  gateway?: string | null;
}

/** dhcp config with the defaults that depend on the host resolved (dns). */
export type ResolvedDhcpConfig = DhcpConfig & {
  dns: string[];
  /** The loaders of kernel images (boot.pxelinux, boot.grub). */
  loaders?: BootFilesConfig['loaders'];
  /** The HTTP boot server's base URL for a server address; absent or null: HTTP is off. */
  httpBase?: BootFilesConfig['httpBase'];
  /** PXE MTFTP: option 43 sub-options 1-5 by boot file name (mtftp.files), when mtftp is on. */
  mtftp?: Map<string, Buffer>;
};

export interface RespondContext {
  config: ResolvedDhcpConfig;
  hosts: HostView;
  /** The MAC a reserved address belongs to (host map `ip`), if any. */
  reservedBy(ip: string): string | undefined;
  leases: LeaseStore;
  now: number;
}

export interface Request {
  packet: DhcpPacket;
  mac: string;
  /** What the packet says of the client (pxe.ts classify), worked out once per packet. */
  kind: ClientKind;
  link: Link;
  /** Arrived on the PXE boot server port (4011: unicast requests for the boot file), not on 67. */
  bootServer: boolean;
  source: { address: string; port: number };
}

export type Decision =
  | { kind: 'reply'; type: MessageType; packet: DhcpPacket; to: { address: string; port: number }; ip: string | null; bootFile: string | null; reason?: string; persisted?: Promise<void> }
  | { kind: 'ignore'; reason: string; exhausted?: true }
  | { kind: 'noted'; what: string };

const ZERO = '0.0.0.0';
/** How long an offered address is held for the client's REQUEST. */
const OFFER_HOLD_MS = 60_000;

export const serverAddress = (cfg: DhcpConfig, link: Link) => cfg.serverAddress ?? link.address;

interface Subnet {
  /** The pool's allocation cursor in the lease store. */
  poolKey: string;
  range: Range | null;
  netmask: string;
  network: string;
  /** Options 1, 3 (when known for the whole subnet), 6 and 15, encoded once: the same in every reply on it. */
  options: Array<[number, Buffer]>;
  /** A relay pool without a router of its own: option 3 is each request's relay (giaddr). */
  routerIsRelay: boolean;
}

/**
 * Subnets by config, then by link or relay pool: worked out on first use, not per packet.
 * The key never holds a value from the packet (a giaddr, say), so the memo stays as small
 * as the config, whatever arrives (decision 0009).
 */
const subnetMemo = new WeakMap<DhcpConfig, Map<string, Subnet>>();

function subnet(cfg: ResolvedDhcpConfig, key: string, poolKey: string, range: Range | null, netmask: string, network: string, router: string | null | 'relay'): Subnet {
  let memo = subnetMemo.get(cfg);
  if (!memo) subnetMemo.set(cfg, (memo = new Map()));
  let s = memo.get(key);
  if (!s) {
    const options: Array<[number, Buffer]> = [[Opt.SubnetMask, value.ip(netmask)]];
    if (router !== null && router !== 'relay') options.push([Opt.Router, value.ip(router)]);
    if (cfg.dns.length > 0) options.push([Opt.DomainServer, value.ips(cfg.dns)]);
    if (cfg.domain) options.push([Opt.DomainName, value.text(cfg.domain)]);
    s = { poolKey, range, netmask, network, options, routerIsRelay: router === 'relay' };
    memo.set(key, s);
  }
  return s;
}

const rangeOf = (start: string | null, end: string | null): Range | null =>
  start && end ? { start: ipToInt(start), end: ipToInt(end) } : null;

/** The subnet a request is for: the relay's (by giaddr, RFC 2131 4.3.1) or the link's own. */
function subnetFor(req: Request, cfg: ResolvedDhcpConfig): Subnet | null {
  const giaddr = req.packet.giaddr;
  const netmask = cfg.netmask ?? req.link.netmask;
  if (giaddr !== ZERO) {
    for (const [i, p] of cfg.relayPools.entries()) {
      if (p.start && p.end && p.netmask && inSubnet(giaddr, p.start, p.netmask)) {
        // The router defaults to the relay's own address (a relay agent is the subnet's router, RFC 1542).
        return subnet(cfg, `relay${i}`, `relay${i}`, rangeOf(p.start, p.end), p.netmask, p.start, p.router ?? 'relay');
      }
    }
    // A relay on the interface's own network (or perfdhcp, which acts as one) gets its pool.
    if (!inSubnet(giaddr, req.link.address, netmask)) return null;
  }
  // No router unless one is configured or the interface has a default gateway: bootlab
  // does not route, and an installer told to go through it reaches no mirror (issue 15).
  return subnet(cfg, `link:${req.link.name}`, 'link', rangeOf(cfg.pool.start, cfg.pool.end), netmask, req.link.address, cfg.router ?? req.link.gateway ?? null);
}

/** The reply skeleton: header echoed from the request (RFC 2131 table 3). */
function replyTo(req: Request, type: MessageType, server: string): DhcpPacket {
  const p = req.packet;
  const options = new Map<number, Buffer>([[Opt.MessageType, value.u8(type)], [Opt.ServerId, value.ip(server)]]);
  return {
    op: BOOTREPLY, htype: p.htype, hlen: p.hlen, hops: 0, xid: p.xid, secs: 0, flags: p.flags,
    ciaddr: ZERO, yiaddr: ZERO, siaddr: ZERO, giaddr: p.giaddr, chaddr: p.chaddr, sname: '', file: '', options,
  };
}

/** RFC 2131 4.1: where a reply goes. */
function destination(req: Request, type: MessageType): { address: string; port: number } {
  if (req.bootServer) return req.source; // PXE boot server: unicast back to the client
  const p = req.packet;
  if (p.giaddr !== ZERO) return { address: p.giaddr, port: 67 };
  if (type === MessageType.Nak) return { address: '255.255.255.255', port: 68 };
  if (p.ciaddr !== ZERO) return { address: p.ciaddr, port: 68 };
  // No ARP entry can be made from Node for a client without an address: broadcast.
  return { address: '255.255.255.255', port: 68 };
}

/** PXE fields on a reply: boot file in `file` and option 67, server in siaddr, sname, 66. */
function addBoot(reply: DhcpPacket, req: Request, boot: BootChoice, server: string, ctx: RespondContext): void {
  const o = reply.options;
  const kind = req.kind;
  o.set(Opt.VendorClass, value.text(kind.http ? 'HTTPClient' : 'PXEClient'));
  const uuid = req.packet.options.get(Opt.ClientUuid);
  if (uuid) o.set(Opt.ClientUuid, uuid);
  if (!boot.file) return;
  // BIOS ROMs (and iPXE): boot the file in this reply, no boot server discovery; a BIOS
  // ROM also learns the file's MTFTP group when mtftp sends it. UEFI firmware gets no
  // option 43: through proxyDHCP it then asks port 4011 for the file (pixiecore,
  // dnsmasq), and EDK2 drops offers with the MTFTP sub-options.
  if (kind.firmware === 'bios' || kind.firmware === 'ipxe') {
    const mtftp = kind.firmware === 'bios' ? ctx.config.mtftp?.get(mtftpName(boot.file)) ?? null : null;
    o.set(Opt.VendorSpecific, biosVendorOptions(mtftp));
  }
  reply.siaddr = server;
  reply.sname = server;
  o.set(Opt.TftpServerName, value.text(server));
  o.set(Opt.BootfileName, value.text(boot.file));
  // pxelinux and GRUB read only `file`; it holds 127 bytes. Longer names go in 67 only.
  if (Buffer.byteLength(boot.file) <= 127) reply.file = boot.file;
}

function echoRelayInfo(reply: DhcpPacket, req: Request): void {
  const ri = req.packet.options.get(Opt.RelayAgentInfo);
  if (ri) reply.options.set(Opt.RelayAgentInfo, ri); // RFC 3046 2.2: echoed unchanged
}

export function respond(req: Request, ctx: RespondContext): Decision {
  const type = messageType(req.packet);
  if (type === null) return { kind: 'ignore', reason: 'no DHCP message type (option 53)' };
  const uuid = uuidProblem(req.packet);
  if (uuid && (req.kind.pxe || req.kind.http)) return { kind: 'ignore', reason: uuid };
  if (req.bootServer) {
    // Port 4011: a PXE client asks for its boot file (after a proxy offer without option 43).
    if (type !== MessageType.Request && type !== MessageType.Inform) return { kind: 'ignore', reason: `message type ${type} on the PXE boot server port` };
    return bootOnly(req, ctx, MessageType.Ack);
  }
  if (ctx.config.mode === 'full') return respondFull(req, ctx, type);
  // The site's DHCP server answers REQUESTs; a proxy answers DISCOVERs only (PXE 2.1 2.2.5).
  if (type !== MessageType.Discover) return { kind: 'ignore', reason: 'proxy mode: only DISCOVERs are answered on port 67' };
  return bootOnly(req, ctx, MessageType.Offer);
}

/** A reply with the boot part only, no address: the proxy OFFER, and the boot server's ACK. */
function bootOnly(req: Request, ctx: RespondContext, type: MessageType.Offer | MessageType.Ack): Decision {
  if (!req.kind.pxe && !req.kind.http) return { kind: 'ignore', reason: 'not a PXE client (option 60 is not PXEClient or HTTPClient)' };
  const server = serverAddress(ctx.config, req.link);
  const boot = chooseBoot(req.kind, req.mac, ctx.hosts, ctx.config, server);
  if (!boot.file) return { kind: 'ignore', reason: boot.reason };
  const reply = replyTo(req, type, server);
  if (type === MessageType.Ack) reply.ciaddr = req.packet.ciaddr;
  addBoot(reply, req, boot, server, ctx);
  echoRelayInfo(reply, req);
  return { kind: 'reply', type, packet: reply, to: destination(req, type), ip: null, bootFile: boot.file };
}

/** Lease time, T1 (half) and T2 (seven eighths), RFC 2131 4.4.5: encoded once per config. */
const leaseMemo = new WeakMap<DhcpConfig, Array<[number, Buffer]>>();
function leaseOptions(cfg: DhcpConfig): Array<[number, Buffer]> {
  let o = leaseMemo.get(cfg);
  if (!o) {
    o = [
      [Opt.LeaseTime, value.u32(cfg.leaseTime)],
      [Opt.RenewalTime, value.u32(Math.floor(cfg.leaseTime / 2))],
      [Opt.RebindingTime, value.u32(Math.floor((cfg.leaseTime * 7) / 8))],
    ];
    leaseMemo.set(cfg, o);
  }
  return o;
}

/** Network options of an OFFER or ACK (and INFORM's ACK, without lease times). */
function addNetwork(reply: DhcpPacket, req: Request, ctx: RespondContext, subnet: Subnet, lease: boolean): void {
  const o = reply.options;
  if (lease) for (const [code, v] of leaseOptions(ctx.config)) o.set(code, v);
  for (const [code, v] of subnet.options) o.set(code, v);
  if (subnet.routerIsRelay) o.set(Opt.Router, value.ip(req.packet.giaddr));
  const host = ctx.hosts.lookup(req.mac);
  if (host?.hostname) o.set(Opt.HostName, value.text(host.hostname));
  echoRelayInfo(reply, req);
}

/** The host map's fixed address for this client, when it is on the subnet. */
function reservation(req: Request, ctx: RespondContext, subnet: Subnet): string | null {
  const ip = ctx.hosts.lookup(req.mac)?.ip;
  return ip && inSubnet(ip, subnet.network, subnet.netmask) ? ip : null;
}

const inRange = (ip: string, r: Range | null) => r !== null && ipToInt(ip) >= r.start && ipToInt(ip) <= r.end;

function withBoot(reply: DhcpPacket, req: Request, ctx: RespondContext, server: string): string | null {
  if (!req.kind.pxe && !req.kind.http) return null;
  const boot = chooseBoot(req.kind, req.mac, ctx.hosts, ctx.config, server);
  addBoot(reply, req, boot, server, ctx);
  return boot.file;
}

function respondFull(req: Request, ctx: RespondContext, type: number): Decision {
  const server = serverAddress(ctx.config, req.link);
  const sid = optIp(req.packet, Opt.ServerId);
  if (sid !== null && sid !== server && sid !== req.link.address && type !== MessageType.Discover) {
    if (type === MessageType.Request) {
      // The client chose another server's offer (RFC 2131 4.3.2): free ours at once.
      ctx.leases.withdrawOffer(req.mac, ctx.now);
    }
    return { kind: 'ignore', reason: `message for another server (${sid})` };
  }
  const subnet = subnetFor(req, ctx.config);
  if (!subnet) return { kind: 'ignore', reason: `relayed from ${req.packet.giaddr}, which no dhcp.relayPools entry contains` };
  switch (type) {
    case MessageType.Discover: return discover(req, ctx, subnet, server);
    case MessageType.Request: return request(req, ctx, subnet, server);
    case MessageType.Release: {
      const ok = ctx.leases.release(req.mac, req.packet.ciaddr);
      return ok ? { kind: 'noted', what: `released ${req.packet.ciaddr}` } : { kind: 'ignore', reason: `RELEASE of ${req.packet.ciaddr}, which this client does not hold` };
    }
    case MessageType.Decline: {
      const ip = optIp(req.packet, Opt.RequestedIp);
      if (!ip) return { kind: 'ignore', reason: 'DECLINE without option 50' };
      if (!ctx.leases.decline(ip, req.mac, ctx.now + ctx.config.declineQuarantine * 1000)) return { kind: 'ignore', reason: `DECLINE of ${ip}, which this client was not given` };
      return { kind: 'noted', what: `${ip} declined (in use on the network): quarantined for ${ctx.config.declineQuarantine} s` };
    }
    case MessageType.Inform: {
      const reply = replyTo(req, MessageType.Ack, server);
      reply.ciaddr = req.packet.ciaddr;
      addNetwork(reply, req, ctx, subnet, false);
      const bootFile = withBoot(reply, req, ctx, server);
      return { kind: 'reply', type: MessageType.Ack, packet: reply, to: destination(req, MessageType.Ack), ip: null, bootFile };
    }
    default:
      return { kind: 'ignore', reason: `message type ${type} is not for a server` };
  }
}

function discover(req: Request, ctx: RespondContext, subnet: Subnet, server: string): Decision {
  const fixed = reservation(req, ctx, subnet);
  let ip: string | null = fixed;
  if (!ip && subnet.range) {
    const wanted = optIp(req.packet, Opt.RequestedIp);
    const taken = (a: string) => { const m = ctx.reservedBy(a); return m !== undefined && m !== req.mac; };
    if (wanted && inRange(wanted, subnet.range) && ctx.leases.freeFor(wanted, req.mac, ctx.now) && !taken(wanted))
      ip = wanted;
    else ip = ctx.leases.allocate(subnet.poolKey, subnet.range, req.mac, ctx.now, taken);
  }
  if (!ip) return subnet.range ? { kind: 'ignore', reason: `pool ${intToIp(subnet.range.start)}-${intToIp(subnet.range.end)} exhausted`, exhausted: true } : { kind: 'ignore', reason: 'no pool on this network' };
  ctx.leases.offer(req.mac, ip, ctx.now, OFFER_HOLD_MS, ctx.hosts.lookup(req.mac)?.hostname ?? null);
  const reply = replyTo(req, MessageType.Offer, server);
  reply.yiaddr = ip;
  addNetwork(reply, req, ctx, subnet, true);
  const bootFile = withBoot(reply, req, ctx, server);
  return { kind: 'reply', type: MessageType.Offer, packet: reply, to: destination(req, MessageType.Offer), ip, bootFile };
}

function nak(req: Request, server: string, reason: string): Decision {
  const reply = replyTo(req, MessageType.Nak, server);
  reply.options.set(Opt.Message, value.text(reason));
  echoRelayInfo(reply, req);
  return { kind: 'reply', type: MessageType.Nak, packet: reply, to: destination(req, MessageType.Nak), ip: null, bootFile: null, reason };
}

/** Why `ip` cannot be this client's, or null when it can. */
function refusal(ip: string, req: Request, ctx: RespondContext, subnet: Subnet): string | null {
  if (!inSubnet(ip, subnet.network, subnet.netmask)) return `${ip} is not on this network`;
  const fixed = reservation(req, ctx, subnet);
  if (fixed && fixed !== ip) return `this machine's address is ${fixed}`;
  const owner = ctx.reservedBy(ip);
  if (owner && owner !== req.mac) return `${ip} is reserved for another machine`;
  if (!fixed && !inRange(ip, subnet.range)) return `${ip} is not in the pool`;
  if (!ctx.leases.freeFor(ip, req.mac, ctx.now)) return `${ip} is in use`;
  // An address is bound only to a client it was offered or given before (or reserved for):
  // a REQUEST out of nowhere, from a MAC never seen, would hold a pool address for a whole
  // lease time (forged ones exhaust the pool: issue 15). The NAK sends a client that lost
  // its lease back to DISCOVER at once, where it may ask for the same address (option 50).
  if (fixed !== ip && !ctx.leases.knows(req.mac, ip)) return `${ip} was not offered to this client (DISCOVER first)`;
  return null;
}

/** REQUEST in SELECTING (option 54 ours), INIT-REBOOT (option 50) or RENEWING/REBINDING (ciaddr). */
function request(req: Request, ctx: RespondContext, subnet: Subnet, server: string): Decision {
  const p = req.packet;
  const ip = optIp(p, Opt.RequestedIp) ?? (p.ciaddr !== ZERO ? p.ciaddr : null);
  if (!ip) return { kind: 'ignore', reason: 'REQUEST names no address (neither option 50 nor ciaddr)' };
  const why = refusal(ip, req, ctx, subnet);
  if (why) return nak(req, server, why);
  const hostname = ctx.hosts.lookup(req.mac)?.hostname ?? optText(p, Opt.HostName);
  const persisted = ctx.leases.bind(req.mac, ip, ctx.now + ctx.config.leaseTime * 1000, hostname);
  const reply = replyTo(req, MessageType.Ack, server);
  reply.yiaddr = ip;
  reply.ciaddr = p.ciaddr;
  addNetwork(reply, req, ctx, subnet, true);
  const bootFile = withBoot(reply, req, ctx, server);
  return { kind: 'reply', type: MessageType.Ack, packet: reply, to: destination(req, MessageType.Ack), ip, bootFile, persisted };
}
