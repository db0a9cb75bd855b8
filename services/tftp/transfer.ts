// What read and write transfers share: the injected clock and send, the one-deadline
// retransmission timer, block-number rollover, the retry budget and the outcome. The
// state machines (read.ts, write.ts) hold no sockets, so tests drive them with values.
import { errorPacket } from './packet.js';
import { RetransmitTimer } from './rto.js';

export interface Clock {
  /** Milliseconds, monotonic, sub-millisecond resolution. */
  now(): number;
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Sends one datagram: a Buffer, or header and payload as two pieces (no copy). */
export type Send = (packet: Buffer | Buffer[]) => void;

export interface TransferParams {
  blockSize: number;
  windowSize: number;
  /** Ceiling of the retransmission timer, ms (the negotiated or configured timeout). */
  timeoutMs: number;
  /** Floor of the retransmission timer, ms. */
  minRetransmitMs: number;
  /** Retransmissions of one packet before the transfer is given up. */
  maxRetries: number;
  /** Retransmissions of the first reply (OACK, DATA 1 or ACK 0) before any answer: caps reflection. */
  firstReplyRetries: number;
  /** The block number after 65535: 0 (tftp-hpa, most clients) or 1. */
  rollover: 0 | 1;
  progressIntervalMs: number;
}

export interface TransferCounters {
  bytes: number;
  dataPackets: number;
  dataBytes: number;
  acksReceived: number;
  retransmits: number;
}

export type Outcome =
  | { ok: true }
  | { ok: false; reason: string; clientAbort: boolean };

export interface TransferHooks {
  send: Send;
  clock: Clock;
  onProgress?(bytes: number): void;
  onEnd(outcome: Outcome): void;
  /** Writes only: the dally after the final ACK is over, the socket can go. */
  onDallyEnd?(): void;
}

/** The 16-bit number on the wire of absolute block n (n >= 1; 0 is the OACK's ACK). */
export function wireBlock(n: number, rollover: 0 | 1): number {
  if (n < 65536) return n;
  return rollover === 0 ? n & 0xffff : ((n - 1) % 65535) + 1;
}

/**
 * The absolute block in [from, to] whose wire number is `wire`, or -1. The span is at
 * most a window, far under the 65535-block period, so at most one block matches.
 */
export function absoluteBlock(wire: number, from: number, to: number, rollover: 0 | 1): number {
  if (to < from) return -1;
  if (from < 65536 && to < 65536) return wire >= from && wire <= to ? wire : -1;
  for (let n = Math.max(from, 0); n <= to; n++) if (wireBlock(n, rollover) === wire) return n;
  return -1;
}

/** A single pending deadline: re-arming per packet costs a number, not a timer. */
export class Deadline {
  private at = 0;
  private scheduledAt = 0;
  private handle: { cancel(): void } | null = null;

  constructor(private readonly clock: Clock, private readonly fire: () => void) {}

  arm(ms: number): void {
    this.at = this.clock.now() + ms;
    if (this.handle && this.scheduledAt <= this.at) return;
    this.handle?.cancel();
    this.schedule(ms);
  }

  cancel(): void {
    this.at = 0;
    this.handle?.cancel();
    this.handle = null;
  }

  private schedule(ms: number): void {
    this.scheduledAt = this.clock.now() + ms;
    this.handle = this.clock.setTimer(this.check, Math.max(1, Math.ceil(ms)));
  }

  private readonly check = (): void => {
    this.handle = null;
    if (this.at === 0) return;
    const left = this.at - this.clock.now();
    if (left > 0.5) {
      this.schedule(left);
      return;
    }
    this.at = 0;
    this.fire();
  };
}

/** Timeouts at the ceiling an answered transfer sits through before it gives up. */
export const CEILING_WAITS = 2;

/**
 * The retransmission timer and the retry budget of one peer, shared by the unicast
 * transfers and the multicast groups (one per master). Before the peer ever answered, a
 * strict count caps what a spoofed request costs. Once it has, give up only after the
 * retries and also CEILING_WAITS silences of a full timeout: a client that re-ACKs only
 * after its own timeout of silence (Debian's atftp) must get that silence first.
 */
export class RetryBudget {
  readonly rto: RetransmitTimer;
  private retries = 0;
  private ceilingWaits = 0;
  /** True once the peer answered our first reply: from then maxRetries applies. */
  private answered = false;

  constructor(private readonly params: Pick<TransferParams, 'minRetransmitMs' | 'timeoutMs' | 'maxRetries' | 'firstReplyRetries'>) {
    this.rto = new RetransmitTimer(params.minRetransmitMs, params.timeoutMs);
  }

  /** The peer answered: the budget starts over. */
  heard(): void {
    this.answered = true;
    this.retries = 0;
    this.ceilingWaits = 0;
    this.rto.progress();
  }

  /** A timeout: true (and the wait backed off) to retransmit, false when the budget is spent. */
  timedOut(): boolean {
    this.retries++;
    if (this.rto.atCeiling) this.ceilingWaits++;
    const exhausted = this.answered
      ? this.retries > this.params.maxRetries && this.ceilingWaits >= CEILING_WAITS
      : this.retries > this.params.firstReplyRetries;
    if (exhausted) return false;
    this.rto.backOff();
    return true;
  }

  /** Retransmissions made before the budget was spent (for messages). */
  get spent(): number { return this.retries - 1; }

  /** Timeouts since the peer last answered. */
  get unanswered(): number { return this.retries; }
}

export abstract class Transfer {
  readonly counters: TransferCounters = { bytes: 0, dataPackets: 0, dataBytes: 0, acksReceived: 0, retransmits: 0 };
  protected readonly budget: RetryBudget;
  protected readonly deadline: Deadline;
  protected ended = false;
  private lastProgress = 0;
  readonly startedAt: number;

  constructor(protected readonly params: TransferParams, protected readonly hooks: TransferHooks) {
    this.budget = new RetryBudget(params);
    this.deadline = new Deadline(hooks.clock, () => this.onTimeout());
    this.startedAt = hooks.clock.now();
  }

  protected get rto(): RetransmitTimer { return this.budget.rto; }

  get done(): boolean { return this.ended; }

  /** The current retransmission wait, ms (for logs and tests). */
  get retransmitMs(): number { return this.rto.current(); }

  abstract start(): void;
  /** A datagram from the transfer's peer (already checked to come from its TID). */
  abstract onPacket(buf: Buffer): void;
  protected abstract retransmit(): void;

  /** The peer answered: the retry budget starts over. */
  protected heard(): void {
    this.budget.heard();
  }

  protected arm(): void {
    this.deadline.arm(this.rto.current());
  }

  private onTimeout(): void {
    if (this.ended) return;
    if (!this.budget.timedOut()) {
      this.fail(`timed out after ${this.budget.spent} retransmissions`, false, { code: 0, message: 'timeout' });
      return;
    }
    this.counters.retransmits++;
    this.retransmit();
  }

  protected progress(): void {
    if (!this.hooks.onProgress) return;
    const now = this.hooks.clock.now();
    if (now - this.lastProgress < this.params.progressIntervalMs) return;
    this.lastProgress = now;
    this.hooks.onProgress(this.counters.bytes);
  }

  protected finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.deadline.cancel();
    this.hooks.onEnd({ ok: true });
  }

  /** Ends the transfer; `error` is sent to the peer first (omitted when the peer aborted). */
  fail(reason: string, clientAbort: boolean, error?: { code: number; message: string }): void {
    if (this.ended) return;
    this.ended = true;
    this.deadline.cancel();
    if (error) this.hooks.send(errorPacket(error.code, error.message));
    this.hooks.onEnd({ ok: false, reason, clientAbort });
  }
}
