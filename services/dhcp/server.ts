// The DHCP service: sockets, one pair per configured interface (port 67 and the PXE boot
// server port 4011), each pinned to its interface with SO_BINDTOIFINDEX so a request on
// any other interface is never seen and a reply never leaves through another one (the
// teacher's laptop with Wi-Fi and a lab cable). Each datagram: decode (packet.ts) ->
// decide (respond.ts) -> encode -> send, with a log line and an event. A bad packet is a
// debug line and a counter; an exception in a decision is contained and counted.
import dgram, { type Socket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import type { AppConfig, DhcpConfig } from '../core/config.js';
import type { DhcpMessage, DhcpMessageKind } from '../core/events.js';
import { type HostMap } from '../core/hostmap.js';
import type { Logger } from '../core/log.js';
import { bindToInterface, growReceiveBuffer, interfaceInfo, systemNameServers, type InterfaceInfo } from '../core/net.js';
import { BindError, isFatalSocketError, type Service, type ServiceContext, type ServiceStatus } from '../core/service.js';
import { LeaseStore } from './leases.js';
import { BOOTREQUEST, MESSAGE_NAMES, decode, encode, isDecodeError, macOf, messageType, optIp, Opt } from './packet.js';
import { classify, mtftpSubOptions } from './pxe.js';
import { mtftpName } from '../mtftp/files.js';
import { httpBaseFor, httpPort } from '../boot/providers.js';
import { respond, type Decision, type RespondContext, type Request, type ResolvedDhcpConfig } from './respond.js';

export const DHCP_PORT = 67;
export const PXE_PORT = 4011;

/** A problem that stops the service from starting, said in one line. */
export class DhcpStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DhcpStartError';
  }
}

type EventBase = Omit<DhcpMessage, 'kind' | 'at'>;

/** dhcp.discover ... dhcp.inform for a message type, or null for one that has no event. */
function eventKind(type: number | null): DhcpMessage['kind'] | null {
  const name = type === null ? undefined : MESSAGE_NAMES[type];
  return name ? `dhcp.${name.toLowerCase() as DhcpMessageKind}` : null;
}

const RECEIVED_COUNTER: Record<number, 'discovers' | 'requests' | 'declines' | 'releases' | 'informs'> = { 1: 'discovers', 3: 'requests', 4: 'declines', 7: 'releases', 8: 'informs' };

function countReceived(counters: Record<'discovers' | 'requests' | 'declines' | 'releases' | 'informs', number>, type: number | null): void {
  const key = type === null ? undefined : RECEIVED_COUNTER[type];
  if (key) counters[key] += 1;
}

interface LinkSockets { info: InterfaceInfo; dhcp: Socket | null; pxe: Socket | null }

export interface DhcpStats {
  received: number;
  malformed: number;
  ignored: number;
  replies: number;
  offers: number;
  acks: number;
  naks: number;
  errors: number;
  leases: number;
  [key: string]: number;
}

/** Option 43 MTFTP sub-options per boot file name, for BIOS clients (empty when mtftp is off). */
export function mtftpAdverts(config: AppConfig): Map<string, Buffer> {
  const m = config.mtftp;
  const out = new Map<string, Buffer>();
  if (!m.enabled) return out;
  for (const f of m.files) {
    out.set(mtftpName(f.file), mtftpSubOptions({ group: f.group!, clientPort: f.clientPort, serverPort: m.serverPort, openTimeout: m.openTimeout, reopenDelay: m.reopenDelay }));
  }
  return out;
}

export class DhcpServer implements Service {
  readonly name = 'dhcp';
  private readonly links: LinkSockets[] = [];
  private readonly reserved = new Map<string, string>();
  private state: ServiceStatus['state'] = 'starting';
  private since = Date.now();
  private lastError: string | null = null;
  private readonly counters = {
    received: 0, malformed: 0, ignored: 0, replies: 0, offers: 0, acks: 0, naks: 0, errors: 0,
    // Received, by message type (the admin's /metrics reads them: no event per packet).
    discovers: 0, requests: 0, declines: 0, releases: 0, informs: 0,
  };
  private readonly config: ResolvedDhcpConfig;
  private readonly log: Logger;
  private readonly unsubscribe: () => void;
  /** What every decision reads; only `now` changes from packet to packet. */
  private readonly respondCtx: RespondContext;

  constructor(private readonly ctx: ServiceContext, private readonly hosts: HostMap, readonly leases: LeaseStore, cfg: DhcpConfig) {
    this.config = {
      ...cfg, dns: cfg.dns.length > 0 ? cfg.dns : systemNameServers(), mtftp: mtftpAdverts(ctx.config),
      loaders: ctx.config.boot, httpBase: (server) => httpBaseFor(ctx.config, server, httpPort()),
    };
    this.log = ctx.log.child({ service: 'dhcp' });
    this.respondCtx = { config: this.config, hosts, reservedBy: (ip) => this.reserved.get(ip), leases, now: Date.now() };
    const index = () => {
      this.reserved.clear();
      for (const h of hosts.hosts.values()) if (h.ip) this.reserved.set(h.ip, h.mac);
    };
    index();
    hosts.on('change', index);
    this.unsubscribe = () => hosts.off('change', index);
  }

  get stats(): DhcpStats {
    return { ...this.counters, leases: this.leases.all().filter((l) => l.state === 'bound').length };
  }

  status(): ServiceStatus {
    const bound = this.links.flatMap((l) => [l.dhcp, l.pxe].filter((s): s is Socket => s !== null)
      .map((s) => ({ protocol: 'udp' as const, address: `0.0.0.0%${l.info.name}`, port: s.address().port })));
    return { state: this.state, since: this.since, bound, lastError: this.lastError ?? this.leases.lastError, stats: this.stats };
  }

  async listen(ports: { dhcp: number; pxe: number }): Promise<void> {
    for (const name of this.config.interfaces) {
      const info = interfaceInfo(name);
      if (typeof info === 'string') throw new DhcpStartError(`dhcp.interfaces: ${info}`);
      const link: LinkSockets = { info, dhcp: null, pxe: null };
      this.links.push(link);
      link.dhcp = await this.open(link, ports.dhcp, false);
      link.pxe = await this.open(link, ports.pxe, true);
    }
    this.state = 'running';
    this.since = Date.now();
    this.log.info({ mode: this.config.mode, interfaces: this.links.map((l) => `${l.info.name} ${l.info.address}`), ports: [ports.dhcp, ports.pxe] }, 'dhcp listening');
  }

  private open(link: LinkSockets, port: number, bootServer: boolean): Promise<Socket> {
    const info = link.info;
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      sock.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('dhcp', '0.0.0.0', port, e.code ?? e.message)));
      sock.bind({ address: '0.0.0.0', port }, () => {
        try {
          bindToInterface(sock, info.index);
          sock.setBroadcast(true);
          growReceiveBuffer(sock, 4 * 1024 * 1024);
        } catch (e) {
          sock.close();
          reject(new DhcpStartError(`dhcp.interfaces: cannot bind a socket to interface ${info.name}: ${(e as Error).message} (Linux before 5.7 needs root or CAP_NET_RAW for this)`));
          return;
        }
        sock.removeAllListeners('error');
        sock.on('error', (e) => {
          this.lastError = `socket on ${info.name}:${port}: ${e.message}`;
          this.log.error({ err: e, iface: info.name, port }, 'dhcp socket error');
          if (isFatalSocketError(e)) this.ctx.fail?.(e);
        });
        sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo, link, bootServer));
        resolve(sock);
      });
    });
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo, link: LinkSockets, bootServer: boolean): void {
    this.counters.received += 1;
    try {
      this.handle(buf, rinfo, link, bootServer);
    } catch (e) {
      this.counters.errors += 1;
      this.lastError = (e as Error).message;
      this.log.error({ err: e, iface: link.info.name, from: rinfo.address }, 'dhcp: error while handling a packet (dropped)');
    }
  }

  private handle(buf: Buffer, rinfo: dgram.RemoteInfo, link: LinkSockets, bootServer: boolean): void {
    const info = link.info;
    const packet = decode(buf);
    if (isDecodeError(packet)) {
      this.counters.malformed += 1;
      this.log.debug({ iface: info.name, from: `${rinfo.address}:${rinfo.port}`, error: packet.error }, 'dhcp malformed packet dropped');
      return;
    }
    if (packet.op !== BOOTREQUEST) return;
    const mac = macOf(packet);
    const type = messageType(packet);
    // A child logger per packet costs; make one only when its lines would be written.
    const log = this.log.isLevelEnabled('info') ? this.log.child({ mac, xid: `0x${packet.xid.toString(16).padStart(8, '0')}`, iface: info.name }) : this.log;
    if (!mac) {
      this.counters.ignored += 1;
      log.debug({ reason: `hardware type ${packet.htype} length ${packet.hlen} is not Ethernet` }, 'dhcp ignored');
      return;
    }
    const kind = classify(packet);
    countReceived(this.counters, type);
    const received = eventKind(type);
    // Events feed each machine's boot progress: they are made for firmware that boots from
    // the network and for machines in the host map, not for every laptop of the site (at
    // 5000 DORA/s an event per packet cost bootlab a third more CPU and p99 0.6 → 25 ms).
    const heard = received !== null && this.ctx.events.wants(received) && (kind.firmware !== 'other' || this.hosts.lookup(mac) !== undefined);
    const base: EventBase | null = heard
      ? { mac, xid: packet.xid, iface: info.name, arch: kind.archCode, vendorClass: kind.vendorClass, firmware: kind.firmware, mode: this.config.mode as 'proxy' | 'full' }
      : null;
    if (base) this.ctx.events.emit({ kind: received!, ...base, ip: optIp(packet, Opt.RequestedIp) ?? (packet.ciaddr !== '0.0.0.0' ? packet.ciaddr : undefined) });
    const req: Request = { packet, mac, kind, link: info, bootServer, source: { address: rinfo.address, port: rinfo.port } };
    this.respondCtx.now = Date.now();
    this.act(respond(req, this.respondCtx), req, link, log, base, type);
  }

  /** `base`: the event fields when this client's messages are announced (handle), else null. */
  private act(d: Decision, req: Request, link: LinkSockets, log: Logger, base: EventBase | null, type: number | null): void {
    const typeName = type === null ? 'BOOTP' : MESSAGE_NAMES[type] ?? `type ${type}`;
    if (d.kind === 'ignore') {
      this.counters.ignored += 1;
      log.debug({ type: typeName, reason: d.reason }, 'dhcp ignored');
      if (d.exhausted) this.warnExhausted(d.reason);
      return;
    }
    if (d.kind === 'noted') {
      log.info({ type: typeName, what: d.what }, 'dhcp noted');
      return;
    }
    const bytes = encode(d.packet);
    const name = MESSAGE_NAMES[d.type];
    const sock = (req.bootServer ? link.pxe : link.dhcp)!;
    const send = () => {
      sock.send(bytes, d.to.port, d.to.address, (err) => {
        if (err) log.warn({ err, to: d.to }, 'dhcp reply not sent');
      });
      this.counters.replies += 1;
      if (name === 'OFFER') this.counters.offers += 1;
      else if (name === 'ACK') this.counters.acks += 1;
      else if (name === 'NAK') this.counters.naks += 1;
      if (log.isLevelEnabled('info')) log.info({ type: name, yiaddr: d.ip, bootFile: d.bootFile, to: `${d.to.address}:${d.to.port}`, ...(d.reason ? { reason: d.reason } : {}) }, 'dhcp reply');
      if (base) this.ctx.events.emit({ ...base, kind: eventKind(d.type)!, ip: d.ip ?? undefined, bootFile: d.bootFile, reason: d.reason });
    };
    const ready = d.persisted ?? null;
    const delay = this.config.replyDelayMs;
    if (ready) void ready.then(() => (delay > 0 ? setTimeout(send, delay) : send()));
    else if (delay > 0) setTimeout(send, delay);
    else send();
  }

  private lastExhaustWarning = 0;
  private warnExhausted(reason: string): void {
    const now = Date.now();
    if (now - this.lastExhaustWarning < 10_000) return;
    this.lastExhaustWarning = now;
    this.log.warn({ reason }, 'dhcp: no address left to offer; reserved machines are still served (widen dhcp.pool)');
  }

  async close(): Promise<void> {
    this.state = 'stopping';
    this.unsubscribe();
    await Promise.all(this.links.flatMap((l) => [l.dhcp, l.pxe]).filter((s): s is Socket => s !== null).map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.leases.close();
    this.state = 'stopped';
    this.log.info({ stats: this.stats }, 'dhcp stopped');
  }
}

/** Starts the DHCP service on `dhcp.interfaces` (ports can be moved for tests). */
export async function start(ctx: ServiceContext, hosts: HostMap, ports = { dhcp: DHCP_PORT, pxe: PXE_PORT }): Promise<DhcpServer> {
  const cfg = ctx.config.dhcp;
  let leases: LeaseStore;
  if (cfg.mode === 'full') {
    mkdirSync(ctx.config.stateDir, { recursive: true });
    leases = LeaseStore.open(ctx.config.stateDir);
  } else {
    leases = LeaseStore.memory();
  }
  const server = new DhcpServer(ctx, hosts, leases, cfg);
  try {
    await server.listen(ports);
  } catch (e) {
    await server.close().catch(() => undefined);
    throw e;
  }
  return server;
}
