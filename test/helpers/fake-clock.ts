// A manual clock for the transfer state machines (services/tftp/transfer.ts Clock):
// time stands still until advance(ms) moves it, and timers fire in due order (ties in
// the order they were set), each with now() equal to its due time. Timers set by a
// firing timer run in the same advance() when they fall due before its end.
import type { Clock, TransferParams } from '../../services/tftp/transfer.js';

interface Timer { at: number; seq: number; fn: () => void; cancelled: boolean }

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): { cancel(): void } {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`FakeClock.setTimer: bad delay ${ms}`);
    const timer: Timer = { at: this.t + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
        this.timers = this.timers.filter((x) => x !== timer);
      },
    };
  }

  /** Timers still waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** When the next timer is due, or null. */
  nextAt(): number | null {
    const next = this.earliest();
    return next ? next.at : null;
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers) if (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq)) best = x;
    return best;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`FakeClock.advance: bad step ${ms}`);
    const end = this.t + ms;
    for (;;) {
      const next = this.earliest();
      if (!next || next.at > end) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      if (!next.cancelled) next.fn();
    }
    this.t = end;
  }

  /** Moves time to the absolute instant `at` (not backwards). */
  advanceTo(at: number): void {
    this.advance(Math.max(0, at - this.t));
  }

  /** Fires timers until none is left (or `limit` fired); returns how many fired. */
  runAll(limit = 100_000): number {
    let fired = 0;
    for (;;) {
      const next = this.earliest();
      if (!next) return fired;
      if (++fired > limit) throw new Error(`FakeClock.runAll: more than ${limit} timers`);
      this.advanceTo(next.at);
    }
  }
}

/** Transfer parameters the state-machine tests start from (each test overrides what it is about). */
export const baseParams: TransferParams = {
  blockSize: 512,
  windowSize: 1,
  timeoutMs: 5000,
  minRetransmitMs: 20,
  maxRetries: 3,
  firstReplyRetries: 2,
  rollover: 0,
  progressIntervalMs: 250,
};
