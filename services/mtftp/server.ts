// The PXE MTFTP service (PXE 2.1; atftpd tftpd_mtftp.c): one socket on mtftp.serverPort,
// pinned to multicast.interface, that takes the RRQs and ACKs of every configured file
// and sends their DATA, from that same port: EDK2's legacy client accepts DATA only from
// source port = server port (atftpd sends from an ephemeral port; only atftp copes).
// Each file has its group and client port; a plain RRQ for a file not being sent opens a
// round (pxe.ts), an RRQ for one being sent is ignored: that client listens.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig, MtftpFile } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { bindToInterface, interfaceInfo, multicastInterfaceName, multicastSender, type InterfaceInfo } from '../core/net.js';
import { BindError, isFatalSocketError, StartError, type Service, type ServiceContext, type ServiceStatus } from '../core/service.js';
import { FileLayer, isRefusal } from '../tftp/files.js';
import { decode, ErrorCode, errorPacket, isDecodeError } from '../tftp/packet.js';
import { Remapper } from '../tftp/remap.js';
import { sendTo } from '../tftp/sockets.js';
import { realClock, type TransferParams } from '../tftp/transfer.js';
import { MAX_MTFTP_FILE_SIZE, mtftpName } from './files.js';
import { PxeRound } from './pxe.js';
import { RoundReport } from './report.js';

interface Channel {
  file: MtftpFile;
  group: string;
  round: PxeRound | null;
  report: RoundReport | null;
  /** The master's "address|port", while a round runs. */
  masterKey: string | null;
  opening: boolean;
  rounds: number;
}

export interface MtftpStats {
  rounds: number;
  roundsDone: number;
  roundsFailed: number;
  bytesSent: number;
  retransmits: number;
  listenersIgnored: number;
  refused: number;
  malformed: number;
  /** Datagrams heard on our groups from another sender (another MTFTP server on the lab network). */
  foreignSenders: number;
}

export class MtftpServer implements Service {
  readonly name = 'mtftp' as const;
  private socket: Socket | null = null;
  private readonly channels = new Map<string, Channel>();
  private readonly counters: MtftpStats = { rounds: 0, roundsDone: 0, roundsFailed: 0, bytesSent: 0, retransmits: 0, listenersIgnored: 0, refused: 0, malformed: 0, foreignSenders: 0 };
  /** Sockets that join our groups, on multicast.interface only, to hear other senders. */
  private watchers: Socket[] = [];
  private readonly warned = new Map<string, number>();
  private state: ServiceStatus['state'] = 'stopped';
  private since = Date.now();
  private lastError: string | null = null;
  private readonly files: FileLayer;
  private readonly params: TransferParams;
  /**
   * A round whose master has been silent this long is handed to the next client that
   * asks: half the shortest wait the clients were told (option 43), so a re-opening
   * listener always finds it given up, while a master merely recovering a loss (ms) keeps it.
   */
  private readonly takeoverMs: number;

  /** Called when the server socket breaks (ServiceContext.fail). */
  fail: ((e: Error) => void) | undefined;

  constructor(private readonly config: AppConfig, private readonly iface: InterfaceInfo, private readonly log: Logger, private readonly events: EventBus) {
    const t = config.tftp;
    this.files = new FileLayer({ root: t.root, maxFilenameLength: t.maxFilenameLength, caseInsensitive: t.caseInsensitive, remapper: new Remapper([]), writeDirs: [] });
    this.params = {
      blockSize: 512, windowSize: 1, timeoutMs: t.timeout * 1000, minRetransmitMs: t.minRetransmitMs, maxRetries: t.maxRetries,
      firstReplyRetries: t.firstReplyRetries, rollover: 0, progressIntervalMs: t.progressIntervalMs,
    };
    this.takeoverMs = Math.min(config.mtftp.openTimeout, config.mtftp.reopenDelay) * 500;
    for (const file of config.mtftp.files) {
      this.channels.set(this.nameKey(file.file), { file, group: `${file.group}:${file.clientPort}`, round: null, report: null, masterKey: null, opening: false, rounds: 0 });
    }
  }

  private nameKey(name: string): string {
    const n = mtftpName(name);
    return this.config.tftp.caseInsensitive ? n.toLowerCase() : n;
  }

  get stats(): MtftpStats {
    return { ...this.counters };
  }

  status(): ServiceStatus {
    const a = this.socket?.address();
    const active = [...this.channels.values()].filter((c) => c.round).length;
    return {
      state: this.state, since: this.since, lastError: this.lastError,
      bound: a ? [{ protocol: 'udp', address: `${a.address}%${this.iface.name}`, port: a.port }] : [],
      stats: { ...this.counters, active },
    };
  }

  async listen(): Promise<void> {
    this.state = 'starting';
    const port = this.config.mtftp.serverPort;
    const socket = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('mtftp.serverPort', '0.0.0.0', port, e.code ?? e.message)));
      socket.bind({ address: '0.0.0.0', port, exclusive: true }, () => resolve());
    });
    // Only the lab interface is answered, and multicast leaves by it alone.
    bindToInterface(socket, this.iface.index);
    multicastSender(socket, this.iface, this.config.multicast.ttl);
    try { socket.setSendBufferSize(1 << 20); } catch { /* capped by net.core.wmem_max */ }
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (e) => {
      this.lastError = e.message;
      this.log.error({ err: e }, 'mtftp socket error');
      if (isFatalSocketError(e)) this.fail?.(e);
    });
    this.socket = socket;
    await this.watchGroups();
    for (const c of this.channels.values()) {
      try {
        statSync(join(this.config.tftp.root, mtftpName(c.file.file)));
      } catch {
        this.log.warn({ file: c.file.file, root: this.config.tftp.root }, 'mtftp file not found under tftp.root: requests for it are refused until it exists');
      }
    }
    this.state = 'running';
    this.since = Date.now();
    this.log.info({ port, interface: this.iface.name, ttl: this.config.multicast.ttl, files: [...this.channels.values()].map((c) => `${c.file.file} ${c.group}`) }, 'mtftp listening');
  }

  /**
   * Joins every group, on multicast.interface only, on its client port: a second MTFTP
   * server sending on one of our groups (an old atftpd, a forgotten WDS) would mix its
   * blocks into every listener's file, so it is logged as a warning. Our own datagrams
   * never come back (multicast loopback is off).
   */
  private async watchGroups(): Promise<void> {
    const byPort = new Map<number, Set<string>>();
    for (const c of this.channels.values()) {
      const groups = byPort.get(c.file.clientPort) ?? new Set<string>();
      groups.add(c.file.group!);
      byPort.set(c.file.clientPort, groups);
    }
    for (const [port, groups] of byPort) {
      const w = createSocket({ type: 'udp4', reuseAddr: true });
      await new Promise<void>((resolve, reject) => {
        w.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('mtftp.files.clientPort', '0.0.0.0', port, e.code ?? e.message)));
        w.bind({ address: '0.0.0.0', port }, () => resolve());
      });
      bindToInterface(w, this.iface.index);
      for (const g of groups) w.addMembership(g, this.iface.address);
      w.on('message', (_msg, rinfo) => this.onForeign(rinfo, port));
      w.on('error', (e) => this.log.warn({ err: e.message, port }, 'mtftp group watcher error'));
      this.watchers.push(w);
    }
  }

  private onForeign(rinfo: RemoteInfo, port: number): void {
    if (rinfo.address === this.iface.address) return;
    this.counters.foreignSenders++;
    const now = Date.now();
    const last = this.warned.get(rinfo.address) ?? 0;
    if (now - last < 60_000) return;
    this.warned.set(rinfo.address, now);
    this.log.warn({ sender: rinfo.address, sourcePort: rinfo.port, port }, 'mtftp: another sender uses one of our multicast groups; listeners may mix its blocks into their files (is a second PXE server on this network?)');
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    if (msg.length >= 2 && msg[0] === 0 && msg[1] !== 1) {
      // ACK or ERROR: for the round this client leads; anything else is stray.
      for (const c of this.channels.values()) {
        if (c.masterKey === key && c.round) {
          c.round.onPacket(msg);
          return;
        }
      }
      return;
    }
    const packet = decode(msg);
    if (isDecodeError(packet) || packet.op !== 'RRQ') {
      this.counters.malformed++;
      this.log.debug({ client: rinfo.address, port: rinfo.port, error: isDecodeError(packet) ? packet.message : packet.op }, 'mtftp: malformed packet dropped');
      return;
    }
    const client = { address: rinfo.address, port: rinfo.port };
    const channel = this.channels.get(this.nameKey(packet.filename));
    if (!channel) {
      this.counters.refused++;
      this.log.info({ client: rinfo.address, file: packet.filename }, 'mtftp: request for a file not in mtftp.files refused');
      sendTo(this.socket!, errorPacket(ErrorCode.FileNotFound, 'file not offered by MTFTP'), rinfo.port, rinfo.address);
      return;
    }
    if (channel.round && channel.round.silentMs() > this.takeoverMs) {
      // The master went away mid-round (switched off): listeners took the silence for the
      // end of the round and ask again. Waiting out its retries would stall the whole
      // room, so the round ends and the one asking leads a new one.
      this.log.warn({ client: rinfo.address, file: channel.file.file, silentMs: Math.round(channel.round.silentMs()) }, 'mtftp: the master went silent; a new client takes the file over');
      channel.round.fail(`master silent for ${Math.round(channel.round.silentMs())} ms; ${rinfo.address} took over`, false);
    }
    if (channel.round || channel.opening) {
      // PXE 2.1: a transfer of this file is running; the client listens to it.
      this.counters.listenersIgnored++;
      channel.report?.receiver(rinfo.address, rinfo.port, false, 'listening');
      this.log.debug({ client: rinfo.address, port: rinfo.port, file: channel.file.file }, 'mtftp: request while the file is being sent: the client listens');
      return;
    }
    channel.opening = true;
    this.open(channel, client)
      .catch((e: Error) => {
        this.lastError = e.message;
        this.log.error({ err: e, client: client.address, file: channel.file.file }, 'mtftp round failed to start');
        sendTo(this.socket!, errorPacket(ErrorCode.NotDefined, 'internal error'), client.port, client.address);
      })
      .finally(() => { channel.opening = false; });
  }

  private refuse(client: { address: string; port: number }, file: string, code: number, message: string, reason: string): void {
    this.counters.refused++;
    this.log.info({ client: client.address, file, code, reason }, 'mtftp request refused');
    sendTo(this.socket!, errorPacket(code, message), client.port, client.address);
  }

  private async open(channel: Channel, client: { address: string; port: number }): Promise<void> {
    const target = await this.files.openRead(channel.file.file, client);
    if (isRefusal(target)) return this.refuse(client, channel.file.file, target.code, target.message, target.reason);
    let data: Buffer;
    if (target.kind === 'memory') data = target.data;
    else {
      try { data = await target.handle.readFile(); } finally { await target.handle.close(); }
    }
    if (data.length > MAX_MTFTP_FILE_SIZE) {
      return this.refuse(client, channel.file.file, ErrorCode.NotDefined, 'file too large for MTFTP', `${data.length} bytes is over 65535 blocks of 512`);
    }
    const socket = this.socket;
    if (!socket || this.state !== 'running') return;
    channel.rounds++;
    this.counters.rounds++;
    const group = channel.file.group!;
    const blocks = Math.floor(data.length / 512) + 1;
    const report = new RoundReport(this.events, this.log, 'pxe', channel.group, channel.file.file, channel.rounds, blocks, data.length);
    const totals = () => ({ blocksSent: round.counters.dataPackets, dataBytes: round.counters.dataBytes, retransmits: round.counters.retransmits });
    const round: PxeRound = new PxeRound(this.params, {
      send: (p) => sendTo(socket, p, client.port, client.address),
      sendGroup: (p) => sendTo(socket, p, channel.file.clientPort, group),
      clock: realClock,
      onProgress: () => report.progress(round.acked, totals()),
      onEnd: (o) => {
        channel.round = null;
        channel.report = null;
        channel.masterKey = null;
        this.counters.bytesSent += round.counters.dataBytes;
        this.counters.retransmits += round.counters.retransmits;
        if (o.ok) {
          this.counters.roundsDone++;
          report.clientDone(client.address, 'master-ack');
        } else this.counters.roundsFailed++;
        report.end(client.address, o.ok, o.ok ? '' : o.reason, totals());
      },
    }, data);
    channel.round = round;
    channel.report = report;
    channel.masterKey = `${client.address}|${client.port}`;
    report.receiver(client.address, client.port, true);
    report.start(client.address);
    round.start();
  }

  async close(): Promise<void> {
    if (!this.socket) return;
    this.state = 'stopping';
    for (const c of this.channels.values()) c.round?.fail('server shutting down', false, { code: ErrorCode.NotDefined, message: 'server shutting down' });
    const socket = this.socket;
    this.socket = null;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.state = 'stopped';
    this.since = Date.now();
    this.log.info({ stats: this.stats }, 'mtftp stopped');
  }
}

export async function start(ctx: ServiceContext): Promise<MtftpServer> {
  const name = multicastInterfaceName(ctx.config);
  const iface = name === null ? 'no interface named (set multicast.interface)' : interfaceInfo(name);
  if (typeof iface === 'string') throw new StartError(`multicast.interface: ${iface}`);
  const server = new MtftpServer(ctx.config, iface, ctx.log.child({ service: 'mtftp' }), ctx.events);
  server.fail = ctx.fail;
  await server.listen();
  return server;
}
