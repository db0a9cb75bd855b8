// The DHCP service: sockets, three per configured interface, each pinned to its interface
// with SO_BINDTOIFINDEX so a request on any other interface is never seen and a reply never
// leaves through another one (the teacher's laptop with Wi-Fi and a lab cable):
//   - 0.0.0.0:67, which alone receives broadcasts and sends the broadcast replies;
//   - <interface address>:67, which receives the requests unicast to the server (the
//     kernel gives a datagram to the most specific socket bound to its port, so each
//     request still reaches one socket) and sends every unicast reply, to ciaddr or a
//     relay, at most MAX_QUEUED_UNICAST waiting (decision 0009: a reply to an address
//     nobody answers ARP for must not hold up the broadcasts of every other client);
//   - 0.0.0.0:4011, the PXE boot server port (unicast replies, bounded the same way).
// Each datagram: decode (packet.ts) -> decide (respond.ts) -> encode -> send, with a log
// line and an event. A bad packet is a debug line and a counter; an exception in a
// decision is contained and counted; DHCPINFORMs are answered at a bounded rate per sender.
import dgram, { type Socket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import type { AppConfig, DhcpConfig } from '../core/config.js';
import type { DhcpMessage, DhcpMessageKind } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { bindToInterface, growReceiveBuffer, interfaceInfo, systemNameServers, type InterfaceInfo } from '../core/net.js';
import { BacklogGauge, INFORM_BURST, INFORM_PER_SECOND, MAX_LIMITED_SOURCES, MAX_QUEUED_UNICAST, OVERFLOW_CHECK_MS, RECEIVE_BUFFER, RateLimiter, sendBounded } from './limits.js';
import { interfaceGateway, udpDrops } from './procnet.js';
import { BindError, ServiceBase, StartError, type BoundAddress, type ServiceContext, type ServiceStatus } from '../core/service.js';
import { LeaseStore } from './leases.js';
import { BOOTREQUEST, MESSAGE_NAMES, MessageType, decode, encode, isDecodeError, macOf, messageType, optIp, Opt } from './packet.js';
import { classify, mtftpSubOptions } from './pxe.js';
import { channelKey, mtftpName, sharedChannels } from '../core/multicast.js';
import { respond, type Decision, type Link, type RespondContext, type Request, type ResolvedDhcpConfig } from './respond.js';
import { RECEIVED_COUNTER, type DhcpCounterKey, type ReceivedCounter } from './counters.js';

export const DHCP_PORT = 67;
export const PXE_PORT = 4011;

type EventBase = Omit<DhcpMessage, 'kind' | 'at'>;

/** dhcp.discover ... dhcp.inform for a message type, or null for one that has no event. */
function eventKind(type: number | null): DhcpMessage['kind'] | null {
  const name = type === null ? undefined : MESSAGE_NAMES[type];
  return name ? `dhcp.${name.toLowerCase() as DhcpMessageKind}` : null;
}

function countReceived(counters: Record<ReceivedCounter, number>, type: number | null): void {
  const key = type === null ? undefined : RECEIVED_COUNTER.get(type);
  if (key) counters[key] += 1;
}

interface LinkSockets {
  info: InterfaceInfo;
  /** What the decisions read of the interface: its address, netmask and default gateway. */
  link: Link;
  dhcp: Socket | null;
  unicast: Socket | null;
  pxe: Socket | null;
}

export interface DhcpStats extends Record<DhcpCounterKey, number> {
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
  // A file on a shared group is sent to nobody by multicast (decision 0008): advertising it
  // would make a BIOS ROM listen and retry MTFTP in vain before it falls back to TFTP.
  const shared = sharedChannels(m.files);
  for (const f of m.files) {
    if (shared.has(channelKey(f))) continue;
    const { serverPort, openTimeout, reopenDelay } = m;
    const advert = mtftpSubOptions({ group: f.group!, clientPort: f.clientPort, serverPort, openTimeout, reopenDelay });
    out.set(mtftpName(f.file), advert);
  }
  return out;
}

export class DhcpServer extends ServiceBase {
  readonly name = 'dhcp';
  private readonly links: LinkSockets[] = [];
  /** Every socket opened, in order, with what it is bound to (kept after close, for the last stats). */
  private readonly sockets: Array<{ sock: Socket; address: string; port: number; iface: string }> = [];
  private readonly reserved = new Map<string, string>();
  private readonly counters = {
    received: 0, malformed: 0, ignored: 0, replies: 0, offers: 0, acks: 0, naks: 0, errors: 0,
    // Received, by message type (the admin's /metrics reads them: no event per packet).
    discovers: 0, requests: 0, declines: 0, releases: 0, informs: 0,
    // Shed under abuse (decision 0009): INFORMs over a sender's rate, unicast replies over
    // the waiting limit. The kernel's receive-buffer drops are read from /proc (stats).
    informsLimited: 0, unicastDropped: 0, discoversShed: 0,
  };

  private readonly backlog = new BacklogGauge();
  /** The kernel's drop count on our sockets when last read, when, and whether it had grown. */
  private readonly overflow = { drops: 0, at: 0, growing: false };
  private readonly informLimiter = new RateLimiter(INFORM_PER_SECOND, INFORM_BURST, MAX_LIMITED_SOURCES);
  private readonly config: ResolvedDhcpConfig;
  private readonly log: Logger;
  private readonly unsubscribe: () => void;
  /** What every decision reads; only `now` changes from packet to packet. */
  private readonly respondCtx: RespondContext;

  constructor(private readonly ctx: ServiceContext, readonly leases: LeaseStore, cfg: DhcpConfig) {
    super(ctx.fail);
    const hosts = ctx.hosts;
    this.config = {
      ...cfg, dns: cfg.dns.length > 0 ? cfg.dns : systemNameServers(), mtftp: mtftpAdverts(ctx.config),
      loaders: ctx.config.boot, httpBase: (server) => ctx.site.httpBase(ctx.config, server),
    };
    this.log = ctx.log.child({ service: 'dhcp' });
    this.respondCtx = {
      config: this.config,
      hosts,
      reservedBy: (ip) => this.reserved.get(ip),
      leases,
      now: Date.now(),
    };
    const index = () => {
      this.reserved.clear();
      for (const h of hosts.hosts.values()) if (h.ip) this.reserved.set(h.ip, h.mac);
    };
    index();
    hosts.on('change', index);
    this.unsubscribe = () => hosts.off('change', index);
  }

  get stats(): DhcpStats {
    const sizes = this.leases.sizes();
    return {
      ...this.counters,
      kernelDropped: udpDrops(this.ports()) ?? 0,
      offersReclaimed: this.leases.reclaimed,
      leases: this.leases.all().filter((l) => l.state === 'bound').length,
      // How big the state is (bounded by the pool; the fuzz test reads them).
      leaseRecords: sizes.records, quarantined: sizes.quarantined, journalLines: sizes.journalLines,
      rateLimitSources: this.informLimiter.size,
    };
  }

  private ports(): number[] {
    return [...new Set(this.sockets.map((s) => s.port))];
  }

  protected bound(): BoundAddress[] {
    return this.sockets.map((s) => ({ protocol: 'udp' as const, address: `${s.address}%${s.iface}`, port: s.port }));
  }

  protected counts(): Record<string, number> {
    return this.stats;
  }

  /** The lease journal's last error shows when the service has none of its own. */
  override status(): ServiceStatus {
    const s = super.status();
    return { ...s, lastError: s.lastError ?? this.leases.lastError };
  }

  async listen(ports: { dhcp: number; pxe: number }): Promise<void> {
    this.setState('starting');
    for (const name of this.config.interfaces) {
      const info = interfaceInfo(name);
      if (typeof info === 'string') throw new StartError(`dhcp.interfaces: ${info}`);
      // The interface's own default gateway is the clients' router when dhcp.router is unset;
      // bootlab itself does not route (decision 0009).
      const link: LinkSockets = {
        info,
        link: { ...info, gateway: interfaceGateway(info.name, info.address, info.netmask) },
        dhcp: null,
        unicast: null,
        pxe: null,
      };
      this.links.push(link);
      link.dhcp = await this.open(link, '0.0.0.0', ports.dhcp, false);
      // The same port as the broadcast socket (which may have been given an ephemeral one).
      link.unicast = await this.open(link, info.address, link.dhcp.address().port, false);
      link.pxe = await this.open(link, '0.0.0.0', ports.pxe, true);
    }
    this.setState('running');
    this.log.info({
      mode: this.config.mode, interfaces: this.links.map((l) => `${l.info.name} ${l.info.address}`), ports: [ports.dhcp, ports.pxe],
      ...(this.config.mode === 'full' ? { router: this.config.router ?? this.links.map((l) => `${l.info.name}: ${l.link.gateway ?? 'none'}`) } : {}),
    }, 'dhcp listening');
  }

  private open(link: LinkSockets, address: string, port: number, bootServer: boolean): Promise<Socket> {
    const info = link.info;
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      sock.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('dhcp', address, port, e.code ?? e.message)));
      sock.bind({ address, port }, () => {
        try {
          bindToInterface(sock, info.index);
          sock.setBroadcast(true);
          growReceiveBuffer(sock, RECEIVE_BUFFER);
        } catch (e) {
          sock.close();
          reject(new StartError(`dhcp.interfaces: cannot bind a socket to interface ${info.name}: ${(e as Error).message} (Linux before 5.7 needs root or CAP_NET_RAW for this)`));
          return;
        }
        sock.removeAllListeners('error');
        sock.on('error', (e) => this.socketError(e, this.log, { iface: info.name, port }, `socket on ${info.name}:${port}: ${e.message}`));
        sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo, link, bootServer));
        this.sockets.push({ sock, address, port: sock.address().port, iface: info.name });
        resolve(sock);
      });
    });
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo, link: LinkSockets, bootServer: boolean): void {
    this.counters.received += 1;
    try {
      this.handle(buf, rinfo, link, bootServer, this.behind());
    } catch (e) {
      this.counters.errors += 1;
      this.lastError = (e as Error).message;
      this.log.error({ err: e, iface: link.info.name, from: rinfo.address }, 'dhcp: error while handling a packet (dropped)');
    }
  }

  /**
   * Whether to shed DISCOVERs now: a backlog is being read (BacklogGauge) and it overflowed,
   * the kernel dropping requests since the last look (read at most every OVERFLOW_CHECK_MS,
   * and only while behind). A stall the buffer absorbs (the process descheduled for a
   * moment on a busy machine) is answered in order, late by what it holds; only a real
   * overload sheds.
   */
  private behind(): boolean {
    if (!this.backlog.behind()) return false;
    const now = Date.now();
    const o = this.overflow;
    if (now - o.at >= OVERFLOW_CHECK_MS) {
      const drops = udpDrops(this.ports()) ?? 0;
      o.growing = drops > o.drops;
      o.drops = drops;
      o.at = now;
    }
    return o.growing;
  }

  private handle(buf: Buffer, rinfo: dgram.RemoteInfo, link: LinkSockets, bootServer: boolean, behind: boolean): void {
    const info = link.info;
    // Behind a backlog, DISCOVERs go before anything is decoded (option 53 is almost always
    // the first option, at byte 240): the cheapest way to catch up (limits.ts BacklogGauge).
    const discover = buf.length > 242 && buf[240] === Opt.MessageType && buf[242] === MessageType.Discover;
    if (behind && !bootServer && discover) {
      this.counters.discovers += 1;
      this.counters.discoversShed += 1;
      this.warnAtMostEvery10s('shed', { discoversShed: this.counters.discoversShed }, 'dhcp: behind a backlog of requests: new DISCOVERs are dropped until it is read');
      return;
    }
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
    // RFC 2131 4.3.5: an INFORM is answered unicast to its ciaddr, which the sender chooses;
    // one host (or a broken one) asking hundreds of times a second gets a few answers. The
    // sender is its source address, or behind a relay (all from the relay's address) its MAC.
    const sender = packet.giaddr === '0.0.0.0' ? rinfo.address : `${packet.giaddr} ${mac}`;
    if (type === MessageType.Inform && !this.informLimiter.take(sender, Date.now())) {
      this.counters.informsLimited += 1;
      log.debug({ from: sender, ciaddr: packet.ciaddr }, 'dhcp INFORM over the per-sender rate: not answered');
      this.warnAtMostEvery10s('inform', { from: sender, informsLimited: this.counters.informsLimited }, 'dhcp: a sender asks with DHCPINFORM faster than it is answered (the rest are dropped)');
      return;
    }
    const received = eventKind(type);
    // Events feed each machine's boot progress: they are made for firmware that boots from
    // the network and for machines in the host map, not for every laptop of the site (at
    // 5000 DORA/s an event per packet cost bootlab a third more CPU and p99 0.6 → 25 ms).
    const heard = received !== null && this.ctx.events.wants(received) && (kind.firmware !== 'other' || this.ctx.hosts.lookup(mac) !== undefined);
    const base: EventBase | null = heard
      ? { mac, xid: packet.xid, iface: info.name, arch: kind.archCode, vendorClass: kind.vendorClass, firmware: kind.firmware, mode: this.config.mode as 'proxy' | 'full' }
      : null;
    if (base) this.ctx.events.emit({ kind: received!, ...base, ip: optIp(packet, Opt.RequestedIp) ?? (packet.ciaddr !== '0.0.0.0' ? packet.ciaddr : undefined) });
    const source = { address: rinfo.address, port: rinfo.port };
    const req: Request = { packet, mac, kind, link: link.link, bootServer, source };
    this.respondCtx.now = Date.now();
    this.act(respond(req, this.respondCtx), req, link, log, base, type);
  }

  /** `base`: the event fields when this client's messages are announced (handle), else null. */
  private act(
    d: Decision, req: Request, link: LinkSockets, log: Logger, base: EventBase | null, type: number | null,
  ): void {
    const typeName = type === null ? 'BOOTP' : MESSAGE_NAMES[type] ?? `type ${type}`;
    if (d.kind === 'ignore') {
      this.counters.ignored += 1;
      log.debug({ type: typeName, reason: d.reason }, 'dhcp ignored');
      if (d.exhausted) this.warnAtMostEvery10s('exhausted', { reason: d.reason }, 'dhcp: no address left to offer; reserved machines are still served (widen dhcp.pool)');
      return;
    }
    if (d.kind === 'noted') {
      log.info({ type: typeName, what: d.what }, 'dhcp noted');
      return;
    }
    const bytes = encode(d.packet);
    const name = MESSAGE_NAMES[d.type];
    const broadcast = !req.bootServer && d.to.address === '255.255.255.255';
    const sock = (req.bootServer ? link.pxe : broadcast ? link.dhcp : link.unicast)!;
    const send = () => {
      const done = (err: Error | null) => { if (err) log.warn({ err, to: d.to }, 'dhcp reply not sent'); };
      if (broadcast) sock.send(bytes, d.to.port, d.to.address, done);
      else if (!sendBounded(sock, bytes, d.to, MAX_QUEUED_UNICAST, done)) {
        this.counters.unicastDropped += 1;
        log.debug({ type: name, to: `${d.to.address}:${d.to.port}` }, 'dhcp reply dropped: too many unicast replies wait for their destination');
        this.warnAtMostEvery10s('unicast', { unicastDropped: this.counters.unicastDropped }, 'dhcp: unicast replies dropped: too many wait for addresses that do not answer ARP');
        return;
      }
      this.counters.replies += 1;
      if (name === 'OFFER') this.counters.offers += 1;
      else if (name === 'ACK') this.counters.acks += 1;
      else if (name === 'NAK') this.counters.naks += 1;
      if (log.isLevelEnabled('info')) log.info({ type: name, yiaddr: d.ip, bootFile: d.bootFile, to: `${d.to.address}:${d.to.port}`, ...(d.reason ? { reason: d.reason } : {}) }, 'dhcp reply');
      if (!base) return;
      const ip = d.ip ?? undefined;
      this.ctx.events.emit({ ...base, kind: eventKind(d.type)!, ip, bootFile: d.bootFile, reason: d.reason });
    };
    const ready = d.persisted ?? null;
    const delay = this.config.replyDelayMs;
    if (ready) void ready.then(() => (delay > 0 ? setTimeout(send, delay) : send()));
    else if (delay > 0) setTimeout(send, delay);
    else send();
  }

  /** Warnings that a flood would repeat per packet: one line per kind every 10 s at most. */
  private readonly lastWarning = new Map<string, number>();
  private warnAtMostEvery10s(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - (this.lastWarning.get(kind) ?? 0) < 10_000) return;
    this.lastWarning.set(kind, now);
    this.log.warn(fields, msg);
  }

  async close(): Promise<void> {
    this.setState('stopping');
    this.unsubscribe();
    await Promise.all(this.sockets.map(({ sock }) => new Promise<void>((r) => sock.close(() => r()))));
    this.leases.close();
    this.setState('stopped');
    this.log.info({ stats: this.stats }, 'dhcp stopped');
  }
}

/** Starts the DHCP service on `dhcp.interfaces` (ports can be moved for tests). */
export async function start(ctx: ServiceContext, ports = { dhcp: DHCP_PORT, pxe: PXE_PORT }): Promise<DhcpServer> {
  const cfg = ctx.config.dhcp;
  let leases: LeaseStore;
  if (cfg.mode === 'full') {
    mkdirSync(ctx.config.stateDir, { recursive: true });
    leases = LeaseStore.open(ctx.config.stateDir);
  } else {
    leases = LeaseStore.memory();
  }
  const server = new DhcpServer(ctx, leases, cfg);
  try {
    await server.listen(ports);
  } catch (e) {
    await server.close().catch(() => undefined);
    throw e;
  }
  return server;
}
