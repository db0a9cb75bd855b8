// The TFTP service: the listening socket, one session per transfer on its own socket
// with a fresh transfer ID (RFC 1350; a port from tftp.portRange when set), or all on
// the listening port in single-port mode (dnsmasq's tftp-single-port, for NAT and
// containers). Limits answer with an ERROR, never with silence.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { TftpConfig } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { BindError, type Service, type ServiceContext, type ServiceStatus } from '../core/service.js';
import { FileSource, MemorySource, type BlockSource } from './blocks.js';
import { FileLayer, isRefusal, type Client } from './files.js';
import { toNetascii } from './netascii.js';
import { isNegotiationError, negotiate, type NegotiationPolicy } from './negotiate.js';
import { decode, ErrorCode, errorPacket, isDecodeError, type Request } from './packet.js';
import { ReadTransfer } from './read.js';
import { Remapper } from './remap.js';
import { realClock, type Clock, type Outcome, type Transfer, type TransferParams } from './transfer.js';
import { UploadSink } from './upload.js';
import { WriteTransfer } from './write.js';
import { openTransferSocket, sendTo } from './sockets.js';

/** netascii reads are converted in memory; bigger files must be fetched in octet mode. */
const MAX_NETASCII_FILE = 64 * 1024 * 1024;

export interface TftpStats {
  active: number;
  filesSent: number;
  filesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  failed: number;
  clientAborts: number;
  refused: number;
  retransmits: number;
  malformed: number;
}

export interface TftpService extends Service {
  readonly name: 'tftp';
  readonly files: FileLayer;
  readonly stats: TftpStats;
}

interface Session {
  id: number;
  key: string;
  client: Client;
  transfer: Transfer;
  socket: Socket | null; // null in single-port mode
}

/** Client addresses as people read them: IPv4-mapped IPv6 shown as IPv4. */
export function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class TftpServer implements TftpService {
  readonly name = 'tftp' as const;
  readonly files: FileLayer;
  readonly stats: TftpStats = {
    active: 0, filesSent: 0, filesReceived: 0, bytesSent: 0, bytesReceived: 0,
    failed: 0, clientAborts: 0, refused: 0, retransmits: 0, malformed: 0,
  };
  private socket: Socket | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly perClient = new Map<string, number>();
  private readonly pending = new Set<string>();
  private nextId = 1;
  private state: ServiceStatus['state'] = 'stopped';
  private since = Date.now();
  private lastError: string | null = null;
  private readonly policy: NegotiationPolicy;

  constructor(
    private readonly cfg: TftpConfig,
    private readonly log: Logger,
    private readonly events: EventBus,
    private readonly clock: Clock = realClock,
  ) {
    this.files = new FileLayer({
      root: cfg.root,
      maxFilenameLength: cfg.maxFilenameLength,
      caseInsensitive: cfg.caseInsensitive,
      remapper: new Remapper(cfg.remap),
      writeDirs: cfg.write.dirs,
    });
    this.policy = {
      options: cfg.options,
      maxBlockSize: cfg.maxBlockSize,
      maxWindowSize: cfg.maxWindowSize,
      maxWindowBytes: cfg.maxWindowBytes,
      timeout: cfg.timeout,
      maxUploadSize: cfg.write.maxSize,
    };
  }

  async listen(): Promise<void> {
    this.setState('starting');
    const socket = createSocket({ type: this.cfg.address.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('tftp.port', this.cfg.address, this.cfg.port, e.code ?? e.message)));
      socket.bind(this.cfg.port, this.cfg.address, () => resolve());
    });
    socket.on('error', (e) => { this.lastError = e.message; this.log.error({ err: e }, 'tftp socket error'); });
    socket.on('message', (msg, rinfo) => this.onListenMessage(msg, rinfo));
    try { socket.setRecvBufferSize(4 * 1024 * 1024); } catch { /* capped by net.core.rmem_max */ }
    this.socket = socket;
    this.setState('running');
    const a = socket.address();
    this.log.info({ address: a.address, port: a.port, root: this.cfg.root, writes: this.cfg.write.enabled }, 'tftp listening');
  }

  private setState(state: ServiceStatus['state']): void {
    this.state = state;
    this.since = Date.now();
  }

  status(): ServiceStatus {
    const a = this.socket?.address();
    return {
      state: this.state,
      since: this.since,
      bound: a ? [{ protocol: 'udp', address: a.address, port: a.port }] : [],
      lastError: this.lastError,
      stats: { ...this.stats, active: this.sessions.size },
    };
  }

  private onListenMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const session = this.sessions.get(key);
    if (session && !session.socket) {
      session.transfer.onPacket(msg);
      return;
    }
    const packet = decode(msg);
    if (isDecodeError(packet)) {
      this.stats.malformed++;
      this.log.debug({ client: rinfo.address, port: rinfo.port, error: packet.message }, 'malformed packet dropped');
      // A malformed request deserves an answer; stray DATA/ACK garbage does not.
      if (msg.length >= 2 && (msg[1] === 1 || msg[1] === 2) && msg[0] === 0) this.sendError(rinfo, ErrorCode.IllegalOperation, `malformed request: ${packet.message}`);
      return;
    }
    if (packet.op !== 'RRQ' && packet.op !== 'WRQ') {
      this.log.debug({ client: rinfo.address, op: packet.op }, 'packet for no transfer dropped');
      return;
    }
    // A repeated request while the first is being answered: the session retransmits.
    if (session || this.pending.has(key)) return;
    this.pending.add(key);
    this.handleRequest(packet, { address: rinfo.address, port: rinfo.port }, key)
      .catch((e: Error) => {
        this.lastError = e.message;
        this.log.error({ err: e, client: rinfo.address, file: packet.filename }, 'request failed');
        this.sendError(rinfo, ErrorCode.NotDefined, 'internal error');
      })
      .finally(() => this.pending.delete(key));
  }

  private sendError(to: { address: string; port: number }, code: number, message: string, socket = this.socket): void {
    if (socket) sendTo(socket, errorPacket(code, message), to.port, to.address);
  }

  private refuse(req: Request, client: Client, code: number, message: string, reason: string): void {
    this.stats.refused++;
    const ip = plainAddress(client.address);
    this.log.info({ client: ip, file: req.filename, code, reason }, `tftp ${req.op} refused`);
    this.events.emit({ kind: 'tftp.refused', ip, direction: req.op === 'RRQ' ? 'read' : 'write', file: req.filename, code, reason });
    this.sendError(client, code, message);
  }

  private async handleRequest(req: Request, client: Client, key: string): Promise<void> {
    const ip = plainAddress(client.address);
    if (this.sessions.size >= this.cfg.maxTransfers) {
      return this.refuse(req, client, ErrorCode.NotDefined, 'server busy, try again later', `limit tftp.maxTransfers=${this.cfg.maxTransfers} reached`);
    }
    if ((this.perClient.get(ip) ?? 0) >= this.cfg.maxPerClient) {
      return this.refuse(req, client, ErrorCode.NotDefined, 'too many transfers from your address', `limit tftp.maxPerClient=${this.cfg.maxPerClient} reached`);
    }
    if (req.mode === 'mail') return this.refuse(req, client, ErrorCode.IllegalOperation, 'mail mode is not supported', 'mode mail');
    if (req.mode !== 'octet' && req.mode !== 'netascii') {
      return this.refuse(req, client, ErrorCode.IllegalOperation, `unknown transfer mode "${req.mode}"`, `mode ${req.mode}`);
    }
    if (req.op === 'RRQ') return this.startRead(req, client, key, ip);
    if (!this.cfg.write.enabled) return this.refuse(req, client, ErrorCode.AccessViolation, 'writes are disabled on this server', 'tftp.write.enabled is false');
    return this.startWrite(req, client, key, ip);
  }

  private params(blockSize: number, windowSize: number, timeout: number): TransferParams {
    return {
      blockSize, windowSize, timeoutMs: timeout * 1000,
      minRetransmitMs: this.cfg.minRetransmitMs, maxRetries: this.cfg.maxRetries,
      firstReplyRetries: this.cfg.firstReplyRetries, rollover: this.cfg.rollover,
      progressIntervalMs: this.cfg.progressIntervalMs,
    };
  }

  private async startRead(req: Request, client: Client, key: string, ip: string): Promise<void> {
    const target = await this.files.openRead(req.filename, client);
    if (isRefusal(target)) return this.refuse(req, client, target.code, target.message, target.reason);
    let data: Buffer | null = target.kind === 'memory' ? target.data : null;
    if (req.mode === 'netascii') {
      if (target.kind === 'file') {
        if (target.size > MAX_NETASCII_FILE) {
          await target.handle.close();
          return this.refuse(req, client, ErrorCode.NotDefined, 'file too large for netascii, use octet', `netascii file of ${target.size} bytes`);
        }
        data = await target.handle.readFile();
        await target.handle.close();
      }
      data = toNetascii(data!);
    }
    const size = data ? data.length : target.kind === 'file' ? target.size : 0;
    const neg = negotiate('read', req.options, this.policy, size);
    if (isNegotiationError(neg)) {
      if (target.kind === 'file' && !data) await target.handle.close();
      return this.refuse(req, client, neg.code, neg.message, neg.message);
    }
    const source: BlockSource = data || target.kind === 'memory'
      ? new MemorySource(data ?? Buffer.alloc(0), neg.blockSize)
      : new FileSource(target.handle, size, neg.blockSize);
    const session = await this.openSession(req, client, key, ip, (hooks) => new ReadTransfer(this.params(neg.blockSize, neg.windowSize, neg.timeout), hooks, source, neg.oack), size, neg.blockSize, neg.windowSize, () => source.close());
    if (!session) await source.close();
  }

  private async startWrite(req: Request, client: Client, key: string, ip: string): Promise<void> {
    const target = await this.files.resolveWrite(req.filename, client);
    if (isRefusal(target)) return this.refuse(req, client, target.code, target.message, target.reason);
    if (target.exists && this.cfg.write.policy === 'create-only') {
      return this.refuse(req, client, ErrorCode.FileExists, 'file already exists', `${target.name} exists (tftp.write.policy create-only)`);
    }
    const neg = negotiate('write', req.options, this.policy, null);
    if (isNegotiationError(neg)) return this.refuse(req, client, neg.code, neg.message, neg.message);
    let sink: UploadSink;
    try {
      sink = await UploadSink.create(target.path, this.cfg.write.policy === 'overwrite', parseInt(this.cfg.write.fileMode, 8));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return this.refuse(req, client, code === 'ENOSPC' ? ErrorCode.DiskFull : ErrorCode.AccessViolation, 'cannot create the file', `temp file: ${code}`);
    }
    const limits = { maxSize: this.cfg.write.maxSize, netascii: req.mode === 'netascii' };
    const session = await this.openSession(req, client, key, ip, (hooks) => new WriteTransfer(this.params(neg.blockSize, neg.windowSize, neg.timeout), hooks, sink, neg.oack, limits), neg.tsize, neg.blockSize, neg.windowSize, async () => undefined);
    if (!session) await sink.abort();
  }

  private async openSession(
    req: Request, client: Client, key: string, ip: string,
    make: (hooks: ConstructorParameters<typeof ReadTransfer>[1]) => Transfer,
    size: number | null, blockSize: number, windowSize: number, release: () => Promise<void>,
  ): Promise<Session | null> {
    const id = this.nextId++;
    const direction = req.op === 'RRQ' ? 'read' as const : 'write' as const;
    let socket: Socket | null = null;
    if (!this.cfg.singlePort) {
      try {
        socket = await openTransferSocket(this.socket!, this.cfg.portRange);
      } catch (e) {
        this.refuse(req, client, ErrorCode.NotDefined, 'server busy, try again later', (e as Error).message);
        return null;
      }
    }
    const out = socket ?? this.socket!;
    const log = this.log.child({ transfer: id, client: ip, file: req.filename });
    const session: Session = { id, key, client, socket, transfer: undefined as unknown as Transfer };
    const started = this.clock.now();
    const ended = (outcome: Outcome) => this.onEnd(session, outcome, log, direction, req.filename, started, release);
    session.transfer = make({
      send: (p) => sendTo(out, p, client.port, client.address),
      clock: this.clock,
      onProgress: (bytes) => {
        const secs = (this.clock.now() - started) / 1000;
        this.events.emit({ kind: 'tftp.progress', id, ip, direction, file: req.filename, bytes, size, rate: secs > 0 ? bytes / secs : 0 });
      },
      onEnd: ended,
      onDallyEnd: () => this.closeSession(session),
    });
    if (socket) {
      socket.on('message', (msg, rinfo) => {
        if (rinfo.port === client.port && rinfo.address === client.address) session.transfer.onPacket(msg);
        else {
          // RFC 1350: a packet from a foreign TID gets error 5 and does not disturb the transfer.
          log.debug({ from: rinfo.address, port: rinfo.port }, 'packet from an unknown transfer ID');
          sendTo(socket!, errorPacket(ErrorCode.UnknownTid, 'unknown transfer ID'), rinfo.port, rinfo.address);
        }
      });
      socket.on('error', (e) => log.warn({ err: e }, 'transfer socket error'));
    }
    this.sessions.set(key, session);
    this.perClient.set(ip, (this.perClient.get(ip) ?? 0) + 1);
    this.stats.active = this.sessions.size;
    log.info({ direction, size, blksize: blockSize, windowsize: windowSize, options: Object.fromEntries(req.options), port: socket?.address().port }, `tftp ${direction} start`);
    this.events.emit({ kind: 'tftp.start', id, ip, direction, file: req.filename, port: client.port, size, blockSize, windowSize });
    session.transfer.start();
    return session;
  }

  private onEnd(session: Session, outcome: Outcome, log: Logger, direction: 'read' | 'write', file: string, started: number, release: () => Promise<void>): void {
    const c = session.transfer.counters;
    const ip = plainAddress(session.client.address);
    const seconds = (this.clock.now() - started) / 1000;
    this.stats.retransmits += c.retransmits;
    if (direction === 'read') this.stats.bytesSent += c.dataBytes;
    else this.stats.bytesReceived += c.bytes;
    if (outcome.ok) {
      if (direction === 'read') this.stats.filesSent++;
      else this.stats.filesReceived++;
      const throughput = seconds > 0 ? c.bytes / seconds : 0;
      log.info({ bytes: c.bytes, seconds: +seconds.toFixed(3), mbps: +(throughput / 1e6).toFixed(2), retransmits: c.retransmits }, `tftp ${direction} done`);
      this.events.emit({
        kind: 'tftp.done', id: session.id, ip, direction, file, bytes: c.bytes, seconds, throughput,
        retransmits: c.retransmits, dataPackets: c.dataPackets, dataBytes: c.dataBytes, acksReceived: c.acksReceived,
      });
    } else {
      if (outcome.clientAbort) this.stats.clientAborts++;
      else this.stats.failed++;
      // EDK2's tsize probe ends with an ERROR on purpose: a debug line, not a warning.
      log[outcome.clientAbort ? 'debug' : 'warn']({ bytes: c.bytes, reason: outcome.reason }, `tftp ${direction} ended early`);
      this.events.emit({ kind: 'tftp.failed', id: session.id, ip, direction, file, bytes: c.bytes, reason: outcome.reason, clientAbort: outcome.clientAbort });
    }
    void release();
    const dallying = session.transfer instanceof WriteTransfer && session.transfer.dallying;
    if (!dallying) this.closeSession(session);
  }

  private closeSession(session: Session): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    const ip = plainAddress(session.client.address);
    const n = (this.perClient.get(ip) ?? 1) - 1;
    if (n > 0) this.perClient.set(ip, n);
    else this.perClient.delete(ip);
    this.stats.active = this.sessions.size;
    session.socket?.close();
  }

  async close(): Promise<void> {
    if (this.state === 'stopped' && !this.socket) return;
    this.setState('stopping');
    for (const session of [...this.sessions.values()]) {
      session.transfer.fail('server shutting down', false, { code: ErrorCode.NotDefined, message: 'server shutting down' });
      if (session.transfer instanceof WriteTransfer) session.transfer.stopDally();
      this.closeSession(session);
    }
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setState('stopped');
    this.log.info({ stats: this.stats }, 'tftp stopped');
  }
}

export async function start(ctx: ServiceContext): Promise<TftpService> {
  const server = new TftpServer(ctx.config.tftp, ctx.log.child({ service: 'tftp' }), ctx.events);
  await server.listen();
  return server;
}
