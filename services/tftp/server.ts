// The TFTP service: the listening socket and every decision about a request (limits,
// mode, the file layer, option negotiation). Accepted transfers run in engines
// (engine.ts), in worker threads so a busy server uses every core. Limits answer with an
// ERROR, never with silence.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { constants, promises as fsp } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { TftpConfig } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { plainAddress, type InterfaceInfo } from '../core/net.js';
import { bindUdp, multicastInterface, ServiceBase, type BoundAddress, type Service, type ServiceContext } from '../core/service.js';
import { MulticastGroups, type GroupStats } from './multicast/groups.js';
import type { Job, ReadJob, Report } from './engine.js';
import { FileLayer, isRefusal, type Client, type ReadTarget } from '../core/files.js';
import { toNetascii } from './netascii.js';
import { acceptRead, acceptWrite, admit, isRefused, netasciiPlan } from './accept.js';
import type { Negotiated, NegotiationPolicy } from './negotiate.js';
import { decode, ErrorCode, errorPacket, isDecodeError, tftpErrorFor, type Request } from './packet.js';
import { EnginePool } from './pool.js';
import { sendTo } from './sockets.js';
import type { TransferParams } from './transfer.js';

/** A multicast group holds its file in memory; bigger files go by unicast. */
const MAX_MULTICAST_FILE = 512 * 1024 * 1024;
/** Multicast block numbers do not roll over (atftp reads them as 16 bits). */
const MAX_MULTICAST_BLOCKS = 65535;

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

/** RFC 2090: where groups are sent (multicast.interface) and how far (multicast.ttl). */
export interface MulticastLink { iface: InterfaceInfo; ttl: number }

interface Session {
  id: number;
  key: string;
  ip: string;
  client: Client;
  file: string;
  direction: 'read' | 'write';
  size: number | null;
  startedAt: number;
  engine: number;
  log: Logger;
}

/** auto: one worker per core, at most 4; on a single core the server's own thread. */
export function workerCount(setting: number | 'auto'): number {
  if (setting !== 'auto') return setting;
  const cores = availableParallelism();
  return cores > 1 ? Math.min(4, cores) : 0;
}

export class TftpServer extends ServiceBase implements TftpService {
  readonly name = 'tftp' as const;
  readonly files: FileLayer;
  private readonly counters: Omit<TftpStats, 'active'> = {
    filesSent: 0, filesReceived: 0, bytesSent: 0, bytesReceived: 0,
    failed: 0, clientAborts: 0, refused: 0, retransmits: 0, malformed: 0,
  };

  private socket: Socket | null = null;
  private pool: EnginePool | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly byId = new Map<number, Session>();
  private readonly perClient = new Map<string, number>();
  private readonly pending = new Set<string>();
  private nextId = 1;
  private readonly policy: NegotiationPolicy;
  private readonly groups: MulticastGroups | null;

  constructor(
    private readonly cfg: TftpConfig, private readonly log: Logger, private readonly events: EventBus,
    multicast: MulticastLink | null = null, fail?: (e: Error) => void,
  ) {
    super(fail);
    this.files = FileLayer.fromConfig(cfg, { writes: true });
    this.policy = {
      options: cfg.options,
      maxBlockSize: cfg.maxBlockSize,
      maxWindowSize: cfg.maxWindowSize,
      maxWindowBytes: cfg.maxWindowBytes,
      timeout: cfg.timeout,
      maxUploadSize: cfg.write.maxSize,
      multicast: multicast !== null,
    };
    this.groups = multicast === null ? null : new MulticastGroups(cfg.multicast, multicast.iface, multicast.ttl, {
      timeoutMs: cfg.timeout * 1000, minRetransmitMs: cfg.minRetransmitMs, maxRetries: cfg.maxRetries,
      firstReplyRetries: cfg.firstReplyRetries, progressIntervalMs: cfg.progressIntervalMs,
    }, log, events);
  }

  async listen(): Promise<void> {
    this.setState('starting');
    const socket = createSocket({ type: this.cfg.address.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
    await bindUdp(socket, 'tftp.port', { address: this.cfg.address, port: this.cfg.port });
    socket.on('error', (e) => this.socketError(e, this.log));
    socket.on('message', (msg, rinfo) => this.onListenMessage(msg, rinfo));
    try { socket.setRecvBufferSize(4 * 1024 * 1024); } catch { /* capped by net.core.rmem_max */ }
    this.socket = socket;
    const a = socket.address();
    const workers = this.cfg.singlePort ? 0 : workerCount(this.cfg.workers);
    this.pool = new EnginePool(workers, { address: a.address, family: a.family, port: a.port }, this.cfg.portRange,
      this.cfg.singlePort ? socket : null, { report: (r) => this.onReport(r), crashed: (i, e) => this.onCrash(i, e) });
    await this.pool.start();
    this.setState('running');
    this.log.info({ address: a.address, port: a.port, root: this.cfg.root, writes: this.cfg.write.enabled, workers }, 'tftp listening');
  }

  /** Counters, and the transfers running now (derived, so it is never stale). */
  get stats(): TftpStats {
    return { ...this.counters, active: this.byId.size };
  }

  /** RFC 2090 groups: active now, and totals. Null when tftp.multicast is off. */
  get multicastStats(): GroupStats | null {
    return this.groups?.stats ?? null;
  }

  protected bound(): BoundAddress[] {
    const a = this.socket?.address();
    return a ? [{ protocol: 'udp', address: a.address, port: a.port }] : [];
  }

  protected counts(): Record<string, number> {
    return { ...this.stats, ...this.multicastStats };
  }

  private onListenMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const session = this.sessions.get(key);
    if (session && this.cfg.singlePort) {
      this.pool!.deliver(session.engine, session.id, msg);
      return;
    }
    const packet = decode(msg);
    if (isDecodeError(packet)) {
      this.counters.malformed++;
      this.log.debug({ client: rinfo.address, port: rinfo.port, error: packet.message }, 'malformed packet dropped');
      // A malformed request deserves an answer; stray garbage does not.
      if (msg.length >= 2 && msg[0] === 0 && (msg[1] === 1 || msg[1] === 2)) this.sendError(rinfo, ErrorCode.IllegalOperation, `malformed request: ${packet.message}`);
      return;
    }
    if (packet.op !== 'RRQ' && packet.op !== 'WRQ') {
      this.log.debug({ client: rinfo.address, op: packet.op }, 'packet for no transfer dropped');
      return;
    }
    // A repeated request while the first is being answered: that transfer retransmits.
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

  private sendError(to: { address: string; port: number }, code: number, message: string): void {
    if (this.socket) sendTo(this.socket, errorPacket(code, message), to.port, to.address);
  }

  private refuse(
    req: { op: string; filename: string }, client: Client, code: number, message: string, reason: string,
  ): void {
    this.counters.refused++;
    const ip = plainAddress(client.address);
    this.log.info({ client: ip, file: req.filename, code, reason }, `tftp ${req.op} refused`);
    this.events.emit({ kind: 'tftp.refused', ip, direction: req.op === 'RRQ' ? 'read' : 'write', file: req.filename, code, reason });
    this.sendError(client, code, message);
  }

  /** receive → admit → resolve the file → accept → dispatch (the rules: tftp/accept.ts). */
  private async handleRequest(req: Request, client: Client, key: string): Promise<void> {
    const load = { active: this.byId.size, fromClient: this.perClient.get(plainAddress(client.address)) ?? 0 };
    const refused = admit(req, load, this.cfg);
    if (refused) return this.refuse(req, client, refused.code, refused.message, refused.reason);
    return req.op === 'RRQ' ? this.startRead(req, client, key) : this.startWrite(req, client, key);
  }

  private params(neg: Negotiated): TransferParams {
    return {
      blockSize: neg.blockSize, windowSize: neg.windowSize, timeoutMs: neg.timeout * 1000,
      minRetransmitMs: this.cfg.minRetransmitMs, maxRetries: this.cfg.maxRetries,
      firstReplyRetries: this.cfg.firstReplyRetries, rollover: this.cfg.rollover,
      progressIntervalMs: this.cfg.progressIntervalMs,
    };
  }

  private async startRead(req: Request, client: Client, key: string): Promise<void> {
    const target = await this.files.openRead(req.filename, client);
    if (isRefusal(target)) return this.refuse(req, client, tftpErrorFor(target), target.message, target.reason);
    const plan = netasciiPlan(req, target.kind === 'file' ? target : { kind: 'memory', size: target.data.length });
    let data: Buffer | null = target.kind === 'memory' ? target.data : null;
    if (target.kind === 'file') {
      // The engine reopens the checked real path in its own thread.
      if (plan === 'read-into-memory') data = await target.handle.readFile();
      await target.handle.close();
    }
    if (isRefused(plan)) return this.refuse(req, client, plan.code, plan.message, plan.reason);
    if (data && req.mode === 'netascii') data = toNetascii(data);
    const size = data ? data.length : (target as { size: number }).size;
    const neg = acceptRead(req, size, this.policy);
    if (isRefused(neg)) return this.refuse(req, client, neg.code, neg.message, neg.reason);
    if (neg.multicast) {
      if (await this.joinGroup(req, client, target, neg)) return;
      // RFC 2347: an option the server does not take is left out of the OACK.
      neg.oack!.delete('multicast');
      if (neg.oack!.size === 0) neg.oack = null;
    }
    const source: ReadJob['source'] = data
      ? { kind: 'memory', data }
      : { kind: 'file', path: (target as { path: string }).path, size };
    this.dispatch({ op: 'read', id: this.nextId++, client, params: this.params(neg), oack: neg.oack ? [...neg.oack] : null, source }, req, key, size);
  }

  /**
   * RFC 2090: the client joins the group sending this file (started if none is). Only
   * files on disk, in octet mode, within 65535 blocks: generated files differ per client.
   */
  private async joinGroup(req: Request, client: Client, target: ReadTarget, neg: Negotiated): Promise<boolean> {
    if (!this.groups || target.kind !== 'file' || req.mode !== 'octet') return false;
    // Groups are IPv4; an IPv6 client is served by unicast.
    if (plainAddress(client.address).includes(':')) return false;
    const { size, path } = target;
    if (size > MAX_MULTICAST_FILE || Math.floor(size / neg.blockSize) + 1 > MAX_MULTICAST_BLOCKS) {
      this.log.info({ client: plainAddress(client.address), file: req.filename, size, blksize: neg.blockSize }, 'multicast refused: the file needs more than 65535 blocks at this block size; serving by unicast');
      return false;
    }
    const load = async () => {
      const h = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try { return await h.readFile(); } finally { await h.close(); }
    };
    // The group reports the client (mtftp.receiver events), not a unicast transfer.
    return this.groups.join({ file: req.filename, key: `${path}|${neg.blockSize}`, blockSize: neg.blockSize, options: [...neg.oack!], load }, { address: plainAddress(client.address), port: client.port });
  }

  private async startWrite(req: Request, client: Client, key: string): Promise<void> {
    const target = await this.files.resolveWrite(req.filename, client);
    if (isRefusal(target)) return this.refuse(req, client, tftpErrorFor(target), target.message, target.reason);
    const neg = acceptWrite(req, target, this.cfg.write, this.policy);
    if (isRefused(neg)) return this.refuse(req, client, neg.code, neg.message, neg.reason);
    this.dispatch({
      op: 'write', id: this.nextId++, client, params: this.params(neg), oack: neg.oack ? [...neg.oack] : null,
      path: target.path, overwrite: this.cfg.write.policy === 'overwrite', fileMode: parseInt(this.cfg.write.fileMode, 8),
      maxSize: this.cfg.write.maxSize, netascii: req.mode === 'netascii',
    }, req, key, neg.tsize);
  }

  private dispatch(job: Job, req: Request, key: string, size: number | null): void {
    if (!this.pool || !this.isRunning) return this.refuse(req, job.client, ErrorCode.NotDefined, 'server shutting down', 'not running');
    const ip = plainAddress(job.client.address);
    const direction = job.op;
    const session: Session = {
      id: job.id, key, ip, client: job.client, file: req.filename, direction, size, startedAt: Date.now(), engine: -1,
      log: this.log.child({ transfer: job.id, client: ip, file: req.filename }),
    };
    this.sessions.set(key, session);
    this.byId.set(job.id, session);
    this.perClient.set(ip, (this.perClient.get(ip) ?? 0) + 1);
    session.log.info({ direction, size, blksize: job.params.blockSize, windowsize: job.params.windowSize, options: Object.fromEntries(req.options) }, `tftp ${direction} start`);
    this.events.emit({ kind: 'tftp.start', id: job.id, ip, direction, file: req.filename, port: job.client.port, size, blockSize: job.params.blockSize, windowSize: job.params.windowSize });
    session.engine = this.pool.dispatch(job);
  }

  private onReport(r: Report): void {
    const s = this.byId.get(r.id);
    if (!s) return;
    switch (r.type) {
      case 'started':
        return;
      case 'progress': {
        const secs = (Date.now() - s.startedAt) / 1000;
        this.events.emit({ kind: 'tftp.progress', id: s.id, ip: s.ip, direction: s.direction, file: s.file, bytes: r.bytes, size: s.size, rate: secs > 0 ? r.bytes / secs : 0 });
        return;
      }
      case 'ended':
        return this.onEnded(s, r);
      case 'closed':
        return this.forget(s);
      case 'refused':
        this.forget(s);
        return this.refuse({ op: s.direction === 'read' ? 'RRQ' : 'WRQ', filename: s.file }, s.client, r.code, r.message, r.reason);
      case 'log':
        s.log[r.level](r.data, r.msg);
    }
  }

  private onEnded(s: Session, r: Extract<Report, { type: 'ended' }>): void {
    const c = r.counters;
    this.counters.retransmits += c.retransmits;
    if (s.direction === 'read') this.counters.bytesSent += c.dataBytes;
    else this.counters.bytesReceived += c.bytes;
    if (r.ok) {
      if (s.direction === 'read') this.counters.filesSent++;
      else this.counters.filesReceived++;
      const throughput = r.seconds > 0 ? c.bytes / r.seconds : 0;
      s.log.info({ bytes: c.bytes, seconds: +r.seconds.toFixed(3), mbps: +(throughput / 1e6).toFixed(2), retransmits: c.retransmits }, `tftp ${s.direction} done`);
      this.events.emit({
        kind: 'tftp.done', id: s.id, ip: s.ip, direction: s.direction, file: s.file, bytes: c.bytes, seconds: r.seconds, throughput,
        retransmits: c.retransmits, dataPackets: c.dataPackets, dataBytes: c.dataBytes, acksReceived: c.acksReceived,
      });
      return;
    }
    if (r.clientAbort) this.counters.clientAborts++;
    else this.counters.failed++;
    // EDK2's tsize probe ends with an ERROR on purpose: a debug line, not a warning.
    s.log[r.clientAbort ? 'debug' : 'warn']({ bytes: c.bytes, reason: r.reason }, `tftp ${s.direction} ended early`);
    this.events.emit({ kind: 'tftp.failed', id: s.id, ip: s.ip, direction: s.direction, file: s.file, bytes: c.bytes, reason: r.reason, clientAbort: r.clientAbort });
  }

  private forget(s: Session): void {
    if (this.byId.get(s.id) !== s) return;
    this.byId.delete(s.id);
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
    const n = (this.perClient.get(s.ip) ?? 1) - 1;
    if (n > 0) this.perClient.set(s.ip, n);
    else this.perClient.delete(s.ip);
  }

  private onCrash(engine: number, error: string): void {
    this.lastError = error;
    this.log.error({ engine, error }, 'tftp worker died; its transfers failed, worker restarted');
    for (const s of [...this.byId.values()]) {
      if (s.engine !== engine) continue;
      this.counters.failed++;
      this.events.emit({ kind: 'tftp.failed', id: s.id, ip: s.ip, direction: s.direction, file: s.file, bytes: 0, reason: `worker died: ${error}`, clientAbort: false });
      this.sendError(s.client, ErrorCode.NotDefined, 'server error');
      this.forget(s);
    }
  }

  async close(): Promise<void> {
    if (!this.socket) return;
    this.setState('stopping');
    this.groups?.close();
    await this.pool?.close();
    const socket = this.socket;
    this.socket = null;
    this.pool = null;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setState('stopped');
    this.log.info({ stats: this.stats }, 'tftp stopped');
  }
}

export async function start(ctx: ServiceContext): Promise<TftpService> {
  const multicast = ctx.config.tftp.multicast.enabled
    ? { iface: multicastInterface(ctx.config), ttl: ctx.config.multicast.ttl }
    : null;
  const server = new TftpServer(ctx.config.tftp, ctx.log.child({ service: 'tftp' }), ctx.events, multicast, ctx.fail);
  await server.listen();
  return server;
}
