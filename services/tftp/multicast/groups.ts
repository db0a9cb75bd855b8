// RFC 2090 for the unicast TFTP server: the groups being sent right now, one per file and
// block size, each with an address and port from tftp.multicast's ranges and a socket of
// its own (its transfer ID: OACKs and DATA leave from it, ACKs come back to it). The
// socket sends multicast out of multicast.interface only, with multicast.ttl.
import { createSocket, type Socket } from 'node:dgram';
import type { EventBus } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { bindToInterface, intToIp, ipToInt, multicastSender, type InterfaceInfo } from '../../core/net.js';
import { ErrorCode, errorPacket } from '../packet.js';
import { realClock, type Clock } from '../transfer.js';
import { sendTo } from '../sockets.js';
import { RoundReport } from './report.js';
import { Rfc2090Group, type GroupParams, type Peer } from './rfc2090.js';

export interface MulticastSettings {
  addresses: string;
  ports: string;
  window: number;
  gatherMs: number;
}

export interface JoinRequest {
  /** The name the client asked for (logs, events). */
  file: string;
  /** What is sent: the real path (or generated name) and block size; equal keys share a group. */
  key: string;
  blockSize: number;
  /** The OACK's options in the client's order, "multicast" among them. */
  options: [string, string][];
  /** The content, read once when a group starts. */
  load(): Promise<Buffer>;
}

interface Active {
  group: Rfc2090Group;
  socket: Socket;
  report: RoundReport;
}

export interface GroupStats {
  groups: number;
  groupRounds: number;
  groupBytesSent: number;
  groupClientsDone: number;
  groupClientsLost: number;
}

export class MulticastGroups {
  private readonly active = new Map<string, Active>();
  private readonly starting = new Map<string, Promise<Active | null>>();
  private readonly rounds = new Map<string, number>();
  private readonly low: number;
  private readonly high: number;
  private readonly portLow: number;
  private readonly portHigh: number;
  private cursor = 0;
  private closed = false;
  private readonly totals = { groupRounds: 0, groupBytesSent: 0, groupClientsDone: 0, groupClientsLost: 0 };

  constructor(
    private readonly settings: MulticastSettings,
    private readonly iface: InterfaceInfo,
    private readonly ttl: number,
    private readonly params: Omit<GroupParams, 'blockSize' | 'window' | 'gatherMs'>,
    private readonly log: Logger,
    private readonly events: EventBus,
    private readonly clock: Clock = realClock,
  ) {
    const [a, b] = settings.addresses.split('-');
    this.low = ipToInt(a);
    this.high = ipToInt(b);
    [this.portLow, this.portHigh] = settings.ports.split('-').map(Number);
  }

  get stats(): GroupStats {
    return { groups: this.active.size, ...this.totals };
  }

  /**
   * Adds a client to the group sending `req.key`, starting the group if there is none.
   * False when no group can be had (every address busy): serve the client by unicast.
   */
  async join(req: JoinRequest, client: Peer): Promise<boolean> {
    if (this.closed) return false;
    let a = this.active.get(req.key);
    if (!a || a.group.done) {
      let pending = this.starting.get(req.key);
      if (!pending) {
        pending = this.open(req, client).finally(() => this.starting.delete(req.key));
        this.starting.set(req.key, pending);
      }
      const opened = await pending;
      if (!opened) return false;
      a = opened;
    }
    const master = a.group.receivers === 0;
    a.report.receiver(client.address, client.port, master);
    a.group.join(client, req.options);
    return true;
  }

  private allocate(): { address: string; port: number } | null {
    const used = new Set([...this.active.values()].map((a) => `${a.group.address}:${a.group.port}`));
    const span = this.high - this.low + 1;
    const ports = this.portHigh - this.portLow + 1;
    for (let i = 0; i < span; i++) {
      const n = this.cursor++;
      const address = intToIp((this.low + (n % span)) >>> 0);
      const port = this.portLow + (Math.floor(n / span) % ports);
      if (!used.has(`${address}:${port}`)) return { address, port };
    }
    return null;
  }

  private async open(req: JoinRequest, client: Peer): Promise<Active | null> {
    const where = this.allocate();
    if (!where) {
      this.log.warn({ file: req.file, addresses: this.settings.addresses }, 'no free multicast group in tftp.multicast.addresses: serving by unicast');
      return null;
    }
    const data = await req.load();
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '0.0.0.0', port: 0, exclusive: true }, () => { socket.off('error', reject); resolve(); });
    });
    bindToInterface(socket, this.iface.index);
    multicastSender(socket, this.iface, this.ttl);
    try { socket.setSendBufferSize(1 << 20); } catch { /* capped by net.core.wmem_max */ }

    const round = (this.rounds.get(req.key) ?? 0) + 1;
    this.rounds.set(req.key, round);
    this.totals.groupRounds++;
    const params: GroupParams = {
      ...this.params,
      blockSize: req.blockSize,
      window: this.settings.window,
      gatherMs: this.settings.gatherMs,
    };
    const blocks = Math.floor(data.length / req.blockSize) + 1;
    const report = new RoundReport(this.events, this.log, 'rfc2090', `${where.address}:${where.port}`, req.file, round, blocks, data.length);
    let master = client.address;
    const totals = () => ({
      blocksSent: group.counters.dataPackets,
      dataBytes: group.counters.dataBytes,
      retransmits: group.counters.retransmits,
    });
    const group: Rfc2090Group = new Rfc2090Group(params, {
      sendTo: (peer, p) => sendTo(socket, p, peer.port, peer.address),
      sendGroup: (p) => sendTo(socket, p, where.port, where.address),
      clock: this.clock,
      onMaster: (peer) => { master = peer.address; report.log.debug({ client: peer.address, port: peer.port }, 'mtftp master'); },
      onClientDone: (peer, via) => { this.totals.groupClientsDone++; report.clientDone(peer.address, via); },
      onClientLost: (peer, reason) => { this.totals.groupClientsLost++; report.log.warn({ client: peer.address, port: peer.port, reason }, 'mtftp client given up'); },
      onProgress: () => report.progress(group.acked, totals()),
      onEnd: ({ ok, reason }) => {
        this.totals.groupBytesSent += group.counters.dataBytes;
        report.end(master, ok, reason, totals());
        if (this.active.get(req.key)?.group === group) this.active.delete(req.key);
        socket.close();
      },
    }, data, where.address, where.port);
    socket.on('message', (msg, rinfo) => {
      const peer = { address: rinfo.address, port: rinfo.port };
      if (!group.onPacket(peer, msg)) sendTo(socket, errorPacket(ErrorCode.UnknownTid, 'unknown transfer ID'), peer.port, peer.address);
    });
    socket.on('error', (e) => report.log.warn({ err: e.message }, 'multicast group socket error'));
    const active = { group, socket, report };
    this.active.set(req.key, active);
    report.start(client.address);
    return active;
  }

  /** Server shutdown: every member gets an ERROR, every socket closes. */
  close(): void {
    this.closed = true;
    for (const a of [...this.active.values()]) a.group.abort(errorPacket(ErrorCode.NotDefined, 'server shutting down'), 'server shutting down');
    this.active.clear();
  }
}
