// The transfer engine: runs accepted transfers, each on its own socket (a fresh transfer
// ID), or on the shared listening socket in single-port mode. It knows nothing of limits,
// names or policy: the server decided all that and hands over a Job. An engine runs in a
// worker thread (worker.ts) or in the server's own thread, and talks back only through
// Reports, which are plain data so they cross threads unchanged.
import { promises as fsp, constants } from 'node:fs';
import type { Socket } from 'node:dgram';
import { FileSource, MemorySource, type BlockSource } from './blocks.js';
import { ErrorCode, errorPacket } from './packet.js';
import { ReadTransfer } from './read.js';
import { closeWhenSent, openTransferSocket, sendTo, type ListenInfo } from './sockets.js';
import { realClock, type Clock, type Transfer, type TransferCounters, type TransferParams } from './transfer.js';
import { UploadSink } from './upload.js';
import { WriteTransfer } from './write.js';

export interface Peer { address: string; port: number }

interface JobBase {
  id: number;
  client: Peer;
  params: TransferParams;
  /** The OACK's options in order, or null for none. */
  oack: [string, string][] | null;
}

export interface ReadJob extends JobBase {
  op: 'read';
  source: { kind: 'file'; path: string; size: number } | { kind: 'memory'; data: Uint8Array };
}

export interface WriteJob extends JobBase {
  op: 'write';
  path: string;
  overwrite: boolean;
  fileMode: number;
  maxSize: number;
  netascii: boolean;
}

export type Job = ReadJob | WriteJob;

export type Report =
  | { type: 'started'; id: number; port: number }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'ended'; id: number; ok: boolean; clientAbort: boolean; reason: string; counters: TransferCounters; seconds: number }
  /** The transfer's socket is gone (after a write's dally): its limits slot is free. */
  | { type: 'closed'; id: number }
  /** The job could not start; the server answers the client with this error. */
  | { type: 'refused'; id: number; code: number; message: string; reason: string }
  | { type: 'log'; level: 'debug' | 'warn'; id: number; msg: string; data: Record<string, unknown> };

interface Session { transfer: Transfer; socket: Socket | null; release: () => Promise<void> }

/** How long a transfer socket stays open after the ERROR that ended the transfer. */
const ERROR_LINGER_MS = 200;

export class Engine {
  private readonly sessions = new Map<number, Session>();
  /** Transfer sockets waiting for their last datagrams to leave (closeWhenSent). */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly report: (r: Report) => void,
    private readonly listen: ListenInfo,
    private readonly portRange: string | null,
    /** Single-port mode: every transfer on this socket; the server delivers packets. */
    private readonly shared: Socket | null = null,
    private readonly clock: Clock = realClock,
  ) {}

  get active(): number { return this.sessions.size; }

  /** A packet for a transfer, in single-port mode (the server demultiplexes). */
  deliver(id: number, msg: Buffer): void {
    this.sessions.get(id)?.transfer.onPacket(msg);
  }

  async run(job: Job): Promise<void> {
    let prepared: {
      make: (hooks: ConstructorParameters<typeof ReadTransfer>[1]) => Transfer;
      release: () => Promise<void>;
    };
    try {
      prepared = job.op === 'read' ? await this.prepareRead(job) : await this.prepareWrite(job);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.report({ type: 'refused', id: job.id, code: code === 'ENOSPC' ? ErrorCode.DiskFull : ErrorCode.NotDefined,
        message: job.op === 'read' ? 'cannot read the file' : 'cannot create the file', reason: `${job.op}: ${code ?? (e as Error).message}` });
      return;
    }
    let socket: Socket | null = null;
    if (!this.shared) {
      try {
        socket = await openTransferSocket(this.listen, this.portRange);
      } catch (e) {
        await prepared.release();
        this.report({ type: 'refused', id: job.id, code: ErrorCode.NotDefined, message: 'server busy, try again later', reason: (e as Error).message });
        return;
      }
    }
    const out = socket ?? this.shared!;
    const { client, id } = job;
    const session: Session = { socket, release: prepared.release, transfer: undefined as unknown as Transfer };
    session.transfer = prepared.make({
      send: (p) => sendTo(out, p, client.port, client.address),
      clock: this.clock,
      onProgress: (bytes) => this.report({ type: 'progress', id, bytes }),
      onEnd: (o) => {
        const counters = { ...session.transfer.counters };
        const seconds = (this.clock.now() - session.transfer.startedAt) / 1000;
        this.report({ type: 'ended', id, ok: o.ok, clientAbort: o.ok ? false : o.clientAbort, reason: o.ok ? '' : o.reason, counters, seconds });
        void session.release();
        const dallying = session.transfer instanceof WriteTransfer && session.transfer.dallying;
        // Ended by an ERROR of ours: linger so the client's late ACKs don't hide it (sockets.ts).
        if (!dallying) this.close(id, o.ok || o.clientAbort ? 0 : ERROR_LINGER_MS);
      },
      onDallyEnd: () => this.close(id),
    });
    if (socket) {
      socket.on('message', (msg, rinfo) => {
        if (rinfo.port === client.port && rinfo.address === client.address) {
          session.transfer.onPacket(msg);
          return;
        }
        // RFC 1350: a packet from a foreign TID gets error 5 and does not disturb the transfer.
        this.report({ type: 'log', level: 'debug', id, msg: 'packet from an unknown transfer ID', data: { from: rinfo.address, port: rinfo.port } });
        sendTo(socket!, errorPacket(ErrorCode.UnknownTid, 'unknown transfer ID'), rinfo.port, rinfo.address);
      });
      socket.on('error', (e) => this.report({ type: 'log', level: 'warn', id, msg: 'transfer socket error', data: { error: e.message } }));
    }
    this.sessions.set(id, session);
    this.report({ type: 'started', id, port: socket ? socket.address().port : this.listen.port });
    session.transfer.start();
  }

  private async prepareRead(job: ReadJob) {
    const { blockSize } = job.params;
    let source: BlockSource;
    if (job.source.kind === 'memory') {
      const d = job.source.data;
      source = new MemorySource(Buffer.from(d.buffer, d.byteOffset, d.byteLength), blockSize);
    } else {
      // The server checked this real path lies inside the root; O_NOFOLLOW refuses a
      // symlink swapped in since.
      const handle = await fsp.open(job.source.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      source = new FileSource(handle, job.source.size, blockSize);
    }
    const oack = job.oack ? new Map(job.oack) : null;
    return {
      make: (hooks: ConstructorParameters<typeof ReadTransfer>[1]) => new ReadTransfer(job.params, hooks, source, oack),
      release: () => source.close(),
    };
  }

  private async prepareWrite(job: WriteJob) {
    const sink = await UploadSink.create(job.path, job.overwrite, job.fileMode);
    const oack = job.oack ? new Map(job.oack) : null;
    const limits = { maxSize: job.maxSize, netascii: job.netascii };
    // A failed write removes its temporary file itself (WriteTransfer.fail).
    return {
      make: (hooks: ConstructorParameters<typeof ReadTransfer>[1]) =>
        new WriteTransfer(job.params, hooks, sink, oack, limits),
      release: async () => undefined,
    };
  }

  private close(id: number, lingerMs = 0): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    if (session.socket) {
      const closing = closeWhenSent(session.socket, lingerMs);
      this.closing.add(closing);
      void closing.then(() => this.closing.delete(closing));
    }
    this.report({ type: 'closed', id });
  }

  /** Ends every transfer with an ERROR to its client (server shutdown). */
  async shutdown(): Promise<void> {
    const settling: Promise<void>[] = [];
    for (const [id, session] of [...this.sessions]) {
      session.transfer.fail('server shutting down', false, { code: ErrorCode.NotDefined, message: 'server shutting down' });
      if (session.transfer instanceof WriteTransfer) {
        session.transfer.stopDally();
        settling.push(session.transfer.settled);
      }
      settling.push(session.release());
      this.close(id);
    }
    // The ERRORs just sent leave before the sockets close (and before a worker is terminated).
    await Promise.allSettled([...settling, ...this.closing]);
  }
}
