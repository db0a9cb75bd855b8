// Typed boot-progress events. Services emit plain data; consumers (the admin API, the
// dashboard, logs, tests) subscribe. Nothing here touches sockets or files.
import { EventEmitter } from 'node:events';

interface Base {
  /** Milliseconds since the epoch. */
  at: number;
  /** Client IP address (the TFTP peer), when known. */
  ip?: string;
  mac?: string;
}

export type TransferDirection = 'read' | 'write';

export interface TftpStart extends Base {
  kind: 'tftp.start';
  id: number;
  direction: TransferDirection;
  file: string;
  port: number;
  /** Bytes to send, when known (RRQ of a file in octet mode, or the WRQ's tsize). */
  size: number | null;
  blockSize: number;
  windowSize: number;
}

export interface TftpProgress extends Base {
  kind: 'tftp.progress';
  id: number;
  direction: TransferDirection;
  file: string;
  bytes: number;
  size: number | null;
  /** Bytes per second since the transfer started. */
  rate: number;
}

export interface TftpDone extends Base {
  kind: 'tftp.done';
  id: number;
  direction: TransferDirection;
  file: string;
  bytes: number;
  seconds: number;
  /** Bytes per second over the whole transfer. */
  throughput: number;
  retransmits: number;
  /** DATA packets this server sent (reads) including retransmits; ACKs it received. */
  dataPackets: number;
  /** DATA payload bytes sent including retransmits: the ideal is `bytes`. */
  dataBytes: number;
  acksReceived: number;
}

export interface TftpFailed extends Base {
  kind: 'tftp.failed';
  id: number;
  direction: TransferDirection;
  file: string;
  bytes: number;
  reason: string;
  /** True when the client ended the transfer itself (EDK2's tsize probe aborts on purpose). */
  clientAbort: boolean;
}

export interface TftpRefused extends Base {
  kind: 'tftp.refused';
  direction: TransferDirection;
  file: string;
  code: number;
  reason: string;
}

export type DhcpMessageKind = 'discover' | 'offer' | 'request' | 'ack' | 'nak' | 'release' | 'decline' | 'inform';

/** One DHCP message received or sent (kind dhcp.<message>). */
export interface DhcpMessage extends Base {
  kind: `dhcp.${DhcpMessageKind}`;
  mac: string;
  xid: number;
  iface: string;
  /** RFC 4578 option 93 code, when the client sent one. */
  arch: number | null;
  vendorClass: string | null;
  /** bios, uefi, ipxe, http, other. */
  firmware: string;
  /** The address given (offer, ack) or asked for (request, release, decline). */
  ip?: string;
  /** The boot file in the reply, if any. */
  bootFile?: string | null;
  /** Why a NAK was sent. */
  reason?: string;
  mode: 'proxy' | 'full';
}

/** pxe: PXE MTFTP (a fixed group per file); rfc2090: the TFTP "multicast" option. */
export type MulticastProtocol = 'pxe' | 'rfc2090';

interface MulticastBase extends Base {
  protocol: MulticastProtocol;
  /** "address:port" of the group. */
  group: string;
  file: string;
  /** Counts the group's transfers of this file since start: 1, 2, ... */
  round: number;
}

/** A round (one pass over the file, led by master clients) started or ended. */
export interface MtftpRound extends MulticastBase {
  kind: 'mtftp.round';
  phase: 'start' | 'end';
  /** The client whose ACKs pace the round (the first one). */
  master: string;
  blocks: number;
  size: number;
  /** End only: */
  ok?: boolean;
  reason?: string;
  blocksSent?: number;
  /** DATA payload bytes sent, retransmissions included: about `size` when the group works. */
  dataBytes?: number;
  retransmits?: number;
  seconds?: number;
  receivers?: number;
}

/** A client asked for the file of a group (an RRQ, a listener's re-open, a new RFC 2090 member). */
export interface MtftpReceiver extends MulticastBase {
  kind: 'mtftp.receiver';
  ip: string;
  port: number;
  /** Whether it leads the round (its ACKs pace it), or listens. */
  master: boolean;
  receivers: number;
}

export interface MtftpProgress extends MulticastBase {
  kind: 'mtftp.progress';
  blocks: number;
  /** Blocks the current master holds (from its ACKs). */
  acked: number;
  blocksSent: number;
  dataBytes: number;
  receivers: number;
  /** DATA payload bytes per second since the round started. */
  rate: number;
}

/** A client has the whole file: the master's last ACK, or a listener's final ACK (RFC 2090). */
export interface MtftpClientDone extends MulticastBase {
  kind: 'mtftp.client-done';
  ip: string;
  via: 'master-ack' | 'final-ack';
}

/** An HTTP boot download (services/http): the same life as a TFTP read. */
export interface HttpStart extends Base {
  kind: 'http.start';
  id: number;
  file: string;
  /** Bytes this response sends (the range's length for a 206). */
  size: number;
  method: 'GET';
  /** The byte range asked for and granted, inclusive; null: the whole file. */
  range: [number, number] | null;
}

export interface HttpProgress extends Base {
  kind: 'http.progress';
  id: number;
  file: string;
  bytes: number;
  size: number;
  /** Bytes per second since the response started. */
  rate: number;
}

export interface HttpDone extends Base {
  kind: 'http.done';
  id: number;
  file: string;
  bytes: number;
  seconds: number;
  throughput: number;
}

export interface HttpFailed extends Base {
  kind: 'http.failed';
  id: number;
  file: string;
  bytes: number;
  reason: string;
  /** The client closed the connection before the end (a range probe, a cancelled boot). */
  clientAbort: boolean;
}

export interface HttpRefused extends Base {
  kind: 'http.refused';
  file: string;
  /** The HTTP status sent (404, 403, 500). */
  code: number;
  reason: string;
}

/** A machine reported that it booted (its iPXE script's last step, its OS, or the admin API). */
export interface ClientBooted extends Base {
  kind: 'client.booted';
  mac: string;
  /** Who said so: the script/OS over HTTP, or the admin API. */
  via: 'http' | 'api';
  message?: string;
  /** 'local': the report of the script's local-disk step: the machine left the network boot for its own disk. */
  target?: 'local';
}

/**
 * bootlab stopped a machine's network boot itself and says why in plain words: a chain that
 * keeps coming back to the machine's own script (a script or chain URL that leads to itself).
 */
export interface ClientStopped extends Base {
  kind: 'client.stopped';
  mac: string;
  cause: 'chain-loop';
  /** One sentence for the machine's row, e.g. "its boot chain came back to its own script 10 times ...". */
  reason: string;
}

export type BootEvent = TftpStart | TftpProgress | TftpDone | TftpFailed | TftpRefused | DhcpMessage
  | MtftpRound | MtftpReceiver | MtftpProgress | MtftpClientDone
  | HttpStart | HttpProgress | HttpDone | HttpFailed | HttpRefused | ClientBooted | ClientStopped;
export type BootEventKind = BootEvent['kind'];
export type EventOf<K extends BootEventKind> = K extends DhcpMessage['kind'] ? DhcpMessage & { kind: K } : Extract<BootEvent, { kind: K }>;

/** Distributive Omit, so each member of the union keeps its own fields. */
export type EventInput = BootEvent extends infer E ? (E extends BootEvent ? Omit<E, 'at'> & { at?: number } : never) : never;

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Many SSE clients and test listeners may subscribe; none of them is a leak.
    this.emitter.setMaxListeners(0);
  }

  emit(event: EventInput): void {
    const full = { ...event, at: event.at ?? Date.now() } as BootEvent;
    this.emitter.emit(full.kind, full);
    this.emitter.emit('*', full);
  }

  /** Whether anyone listens to `kind`: lets a hot path skip building an event nobody reads. */
  wants(kind: BootEventKind): boolean {
    return this.emitter.listenerCount(kind) > 0 || this.emitter.listenerCount('*') > 0;
  }

  on<K extends BootEventKind>(kind: K, fn: (e: EventOf<K>) => void): () => void {
    this.emitter.on(kind, fn as (e: unknown) => void);
    return () => this.emitter.off(kind, fn as (e: unknown) => void);
  }

  onAny(fn: (e: BootEvent) => void): () => void {
    this.emitter.on('*', fn);
    return () => this.emitter.off('*', fn);
  }
}
