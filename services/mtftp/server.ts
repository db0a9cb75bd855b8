// The PXE MTFTP service (PXE 2.1; atftpd tftpd_mtftp.c): one socket on mtftp.serverPort,
// pinned to multicast.interface, that takes the RRQs and ACKs of every configured file
// and sends their DATA, from that same port: EDK2's legacy client accepts DATA only from
// source port = server port (atftpd sends from an ephemeral port; only atftp copes).
// Each file has its group and client port; a plain RRQ for a file not being sent opens a
// round (pxe.ts), an RRQ for one being sent is ignored: that client listens.
// A group and port that several files name (iPXE's mtftp:// uses one for every file) is
// never sent to: each RRQ for such a file gets a unicast round of its own (shared.ts,
// docs/decisions/0008-mtftp-shared-group.md), so no listener ever keeps another file's blocks.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig, MtftpFile } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { bindToInterface, multicastSender, type InterfaceInfo } from '../core/net.js';
import { bindUdp, multicastInterface, ServiceBase, type BoundAddress, type ServiceContext } from '../core/service.js';
import { FileLayer, isRefusal } from '../core/files.js';
import { decode, ErrorCode, errorPacket, isDecodeError, tftpErrorFor } from '../tftp/packet.js';
import { sendTo } from '../tftp/sockets.js';
import { realClock, type TransferParams } from '../tftp/transfer.js';
import { FileCache } from './filecache.js';
import { channelKey, mtftpName, sharedChannels } from '../core/multicast.js';
import { MAX_MTFTP_FILE_SIZE } from './files.js';
import { PxeRound } from './pxe.js';
import { RoundReport } from '../tftp/multicast/report.js';
import { clientKey, decideUnicast } from './shared.js';

interface Channel {
  file: MtftpFile;
  group: string;
  /** Other files name the same group and port: nothing of this file goes to the group. */
  shared: boolean;
  /** The multicast round (channels that are not shared), or null. */
  round: Running | null;
  opening: boolean;
}

interface Client { address: string; port: number }

/** A round and its master: ACKs and ERRORs from the master's socket go to it. */
interface Running {
  channel: Channel;
  round: PxeRound;
  report: RoundReport;
  client: Client;
}

export interface MtftpStats {
  rounds: number;
  roundsDone: number;
  roundsFailed: number;
  bytesSent: number;
  retransmits: number;
  listenersIgnored: number;
  /** Rounds of shared channels: every block unicast to its master. */
  unicastRounds: number;
  /** RRQs of shared channels answered by a round already running (retransmitted RRQs). */
  duplicates: number;
  /** RRQs of shared channels ignored at tftp.maxTransfers or tftp.maxPerClient. */
  busy: number;
  refused: number;
  malformed: number;
  /** Datagrams heard on our groups from another sender (another MTFTP server on the lab network). */
  foreignSenders: number;
}

export class MtftpServer extends ServiceBase {
  readonly name = 'mtftp' as const;
  private socket: Socket | null = null;
  private readonly channels = new Map<string, Channel>();
  /** Every running round by its master's clientKey. */
  private readonly running = new Map<string, Running>();
  /** Unicast rounds being opened (the file is read), by clientKey: the file. A repeat waits for it. */
  private readonly opening = new Map<string, string>();
  private readonly cache = new FileCache();
  /**
   * Rounds so far per group:port. A round is known by protocol, group and number (events,
   * the dashboard's rows, metrics), so on a shared group the files count together.
   */
  private readonly roundsOf = new Map<string, number>();
  private readonly counters: MtftpStats = {
    rounds: 0, roundsDone: 0, roundsFailed: 0, bytesSent: 0, retransmits: 0, listenersIgnored: 0, unicastRounds: 0,
    duplicates: 0, busy: 0,
    refused: 0, malformed: 0, foreignSenders: 0,
  };

  /** Sockets that join our groups, on multicast.interface only, to hear other senders. */
  private watchers: Socket[] = [];
  private readonly warned = new Map<string, number>();
  private readonly files: FileLayer;
  private readonly params: TransferParams;
  /**
   * A round whose master has been silent this long is handed to the next client that
   * asks: half the shortest wait the clients were told (option 43), so a re-opening
   * listener always finds it given up, while a master merely recovering a loss (ms) keeps it.
   */
  private readonly takeoverMs: number;

  constructor(
    private readonly config: AppConfig, private readonly iface: InterfaceInfo, private readonly log: Logger,
    private readonly events: EventBus, fail?: (e: Error) => void,
  ) {
    super(fail);
    const t = config.tftp;
    this.files = FileLayer.fromConfig(t, { remap: false });
    this.params = {
      blockSize: 512,
      windowSize: 1,
      timeoutMs: t.timeout * 1000,
      minRetransmitMs: t.minRetransmitMs,
      maxRetries: t.maxRetries,
      firstReplyRetries: t.firstReplyRetries,
      rollover: 0,
      progressIntervalMs: t.progressIntervalMs,
    };
    this.takeoverMs = Math.min(config.mtftp.openTimeout, config.mtftp.reopenDelay) * 500;
    const shared = sharedChannels(config.mtftp.files);
    for (const file of config.mtftp.files) {
      const group = channelKey(file);
      this.channels.set(this.nameKey(file.file), {
        file,
        group,
        shared: shared.has(group),
        round: null,
        opening: false,
      });
    }
  }

  private nameKey(name: string): string {
    const n = mtftpName(name);
    return this.config.tftp.caseInsensitive ? n.toLowerCase() : n;
  }

  get stats(): MtftpStats {
    return { ...this.counters };
  }

  protected bound(): BoundAddress[] {
    const a = this.socket?.address();
    return a ? [{ protocol: 'udp', address: `${a.address}%${this.iface.name}`, port: a.port }] : [];
  }

  protected counts(): Record<string, number> {
    return { ...this.counters, active: this.running.size };
  }

  async listen(): Promise<void> {
    this.setState('starting');
    const port = this.config.mtftp.serverPort;
    const socket = createSocket({ type: 'udp4' });
    await bindUdp(socket, 'mtftp.serverPort', { address: '0.0.0.0', port, exclusive: true });
    // Only the lab interface is answered, and multicast leaves by it alone.
    bindToInterface(socket, this.iface.index);
    multicastSender(socket, this.iface, this.config.multicast.ttl);
    try { socket.setSendBufferSize(1 << 20); } catch { /* capped by net.core.wmem_max */ }
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (e) => this.socketError(e, this.log));
    this.socket = socket;
    await this.watchGroups();
    for (const c of this.channels.values()) {
      try {
        statSync(join(this.config.tftp.root, mtftpName(c.file.file)));
      } catch {
        this.log.warn({ file: c.file.file, root: this.config.tftp.root }, 'mtftp file not found under tftp.root: requests for it are refused until it exists');
      }
    }
    this.setState('running');
    const shared = [...sharedChannels(this.config.mtftp.files)].map(([group, files]) => ({ group, files }));
    this.log.info({ port, interface: this.iface.name, ttl: this.config.multicast.ttl, files: [...this.channels.values()].map((c) => `${c.file.file} ${c.group}`), shared }, 'mtftp listening');
    for (const s of shared) {
      this.log.info({ group: s.group, files: s.files }, 'mtftp: these files share one group and port, so they are sent unicast from the server port, never to the group (a listener would keep the other files\' blocks as its own)');
    }
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
      await bindUdp(w, 'mtftp.files.clientPort', { address: '0.0.0.0', port });
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
    if (msg.length >= 2 && msg[0] === 0 && msg[1] !== 1) {
      // ACK or ERROR: for the round this client leads; anything else is stray.
      this.running.get(clientKey(rinfo.address, rinfo.port))?.round.onPacket(msg);
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
    if (channel.shared) this.onSharedRrq(channel, client);
    else this.onGroupRrq(channel, client);
  }

  /** PXE 2.1: the first RRQ opens a multicast round; RRQs while it runs are listeners. */
  private onGroupRrq(channel: Channel, client: Client): void {
    const running = channel.round;
    if (running && running.round.silentMs() > this.takeoverMs) {
      // The master went away mid-round (switched off): listeners took the silence for the
      // end of the round and ask again. Waiting out its retries would stall the whole
      // room, so the round ends and the one asking leads a new one.
      const silentMs = Math.round(running.round.silentMs());
      this.log.warn({ client: client.address, file: channel.file.file, silentMs }, 'mtftp: the master went silent; a new client takes the file over');
      running.round.fail(`master silent for ${silentMs} ms; ${client.address} took over`, false);
    }
    if (channel.round || channel.opening) {
      // PXE 2.1: a transfer of this file is running; the client listens to it.
      this.counters.listenersIgnored++;
      channel.round?.report.receiver(client.address, client.port, false, 'listening');
      this.log.debug({ client: client.address, port: client.port, file: channel.file.file }, 'mtftp: request while the file is being sent: the client listens');
      return;
    }
    channel.opening = true;
    this.leave(clientKey(client.address, client.port), `it asked for ${channel.file.file}`);
    void this.open(channel, client).finally(() => { channel.opening = false; });
  }

  /** A shared channel: a unicast round per requester (shared.ts decides). */
  private onSharedRrq(channel: Channel, client: Client): void {
    const key = clientKey(client.address, client.port);
    const views = [...this.running].map(([k, r]) => ({
      key: k,
      address: r.client.address,
      file: r.channel.file.file,
      unicast: r.channel.shared,
    }));
    const t = this.config.tftp;
    const d = this.opening.get(key) === channel.file.file ? { kind: 'duplicate' as const } : decideUnicast(views, { ...client, file: channel.file.file }, { maxRounds: t.maxTransfers, maxPerClient: t.maxPerClient });
    if (d.kind === 'duplicate') {
      this.counters.duplicates++;
      this.log.debug({ client: client.address, port: client.port, file: channel.file.file }, 'mtftp: repeated request; its round answers it');
      return;
    }
    if (d.kind === 'busy') {
      this.counters.busy++;
      this.log.info({ client: client.address, port: client.port, file: channel.file.file, reason: d.reason }, 'mtftp: request ignored: too many unicast rounds');
      return;
    }
    for (const k of d.replace) this.leave(k, `${client.address}:${client.port} asked for ${channel.file.file}`);
    this.opening.set(key, channel.file.file);
    void this.open(channel, client).finally(() => {
      if (this.opening.get(key) === channel.file.file) this.opening.delete(key);
    });
  }

  /** Ends the round `key` leads: its master asked for something else, from it or a new port. */
  private leave(key: string, why: string): void {
    const r = this.running.get(key);
    if (!r) return;
    this.log.info({ client: r.client.address, port: r.client.port, file: r.channel.file.file, why }, 'mtftp: the master left its round');
    r.round.fail(`the master left: ${why}`, false);
  }

  private refuse(client: Client, file: string, code: number, message: string, reason: string): void {
    this.counters.refused++;
    this.log.info({ client: client.address, file, code, reason }, 'mtftp request refused');
    sendTo(this.socket!, errorPacket(code, message), client.port, client.address);
  }

  /** The file's bytes for one round, or null when it was refused (the client told why). */
  private async load(channel: Channel, client: Client): Promise<Buffer | null> {
    const target = await this.files.openRead(channel.file.file, client);
    if (isRefusal(target)) {
      this.refuse(client, channel.file.file, tftpErrorFor(target), target.message, target.reason);
      return null;
    }
    const data = target.kind === 'memory' ? target.data : await this.cache.read(channel.file.file, target.handle);
    if (data.length > MAX_MTFTP_FILE_SIZE) {
      this.cache.release(channel.file.file, data);
      this.refuse(client, channel.file.file, ErrorCode.NotDefined, 'file too large for MTFTP', `${data.length} bytes is over 65535 blocks of 512`);
      return null;
    }
    return data;
  }

  private async open(channel: Channel, client: Client): Promise<void> {
    try {
      const data = await this.load(channel, client);
      if (!data) return;
      if (!this.socket || !this.isRunning) {
        this.cache.release(channel.file.file, data);
        return;
      }
      this.startRound(channel, client, data);
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log.error({ err: e, client: client.address, file: channel.file.file }, 'mtftp round failed to start');
      if (this.socket) sendTo(this.socket, errorPacket(ErrorCode.NotDefined, 'internal error'), client.port, client.address);
    }
  }

  private startRound(channel: Channel, client: Client, data: Buffer): void {
    const socket = this.socket!;
    const multicast = !channel.shared;
    const number = (this.roundsOf.get(channel.group) ?? 0) + 1;
    this.roundsOf.set(channel.group, number);
    this.counters.rounds++;
    if (!multicast) this.counters.unicastRounds++;
    const group = channel.file.group!;
    const blocks = Math.floor(data.length / 512) + 1;
    const log = multicast ? this.log : this.log.child({ delivery: 'unicast' });
    const report = new RoundReport(this.events, log, 'pxe', channel.group, channel.file.file, number, blocks, data.length);
    const totals = () => ({
      blocksSent: round.counters.dataPackets,
      dataBytes: round.counters.dataBytes,
      retransmits: round.counters.retransmits,
    });
    const key = clientKey(client.address, client.port);
    const round: PxeRound = new PxeRound(this.params, {
      send: (p) => sendTo(socket, p, client.port, client.address),
      sendGroup: multicast ? (p) => sendTo(socket, p, channel.file.clientPort, group) : null,
      clock: realClock,
      onProgress: () => report.progress(round.acked, totals()),
      onEnd: (o) => {
        if (channel.round === entry) channel.round = null;
        if (this.running.get(key) === entry) this.running.delete(key);
        this.cache.release(channel.file.file, data);
        this.counters.bytesSent += round.counters.dataBytes;
        this.counters.retransmits += round.counters.retransmits;
        if (o.ok) {
          this.counters.roundsDone++;
          report.clientDone(client.address, 'master-ack');
        } else this.counters.roundsFailed++;
        report.end(client.address, o.ok, o.ok ? '' : o.reason, totals());
      },
    }, data);
    const entry: Running = { channel, round, report, client };
    this.running.set(key, entry);
    if (multicast) channel.round = entry;
    report.receiver(client.address, client.port, true);
    report.start(client.address);
    round.start();
  }

  async close(): Promise<void> {
    if (!this.socket) return;
    this.setState('stopping');
    for (const r of [...this.running.values()]) r.round.fail('server shutting down', false, { code: ErrorCode.NotDefined, message: 'server shutting down' });
    const socket = this.socket;
    this.socket = null;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setState('stopped');
    this.log.info({ stats: this.stats }, 'mtftp stopped');
  }
}

export async function start(ctx: ServiceContext): Promise<MtftpServer> {
  const server = new MtftpServer(ctx.config, multicastInterface(ctx.config), ctx.log.child({ service: 'mtftp' }), ctx.events, ctx.fail);
  await server.listen();
  return server;
}
