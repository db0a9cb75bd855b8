// The DHCP service's limits under abuse (decision 0009): what one sender may ask for, how
// many unicast replies may wait, and how big the receive backlog may grow.
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';

/**
 * Unicast replies allowed to wait in libuv for a socket's send buffer. A unicast reply to
 * an address nobody answers ARP for sits in the kernel's neighbour queue, charged to the
 * socket's send buffer, until ARP gives up (about 3 s); a flood of them fills the buffer,
 * and every later send on that socket waits behind them. Beyond this many waiting, a
 * reply is dropped (and counted) instead: its client asks again, as after any loss.
 */
export const MAX_QUEUED_UNICAST = 64;

/**
 * Receive buffer of each DHCP socket. The kernel drops what does not fit (counted in
 * /proc/net/udp), and that is the point: at 5000 DISCOVERs per second on a busy machine a
 * 4 MiB buffer held a second of requests, all answered too late to count. This size holds
 * a few hundred requests (a classroom of 60 machines booting at once sends a tenth of it)
 * and, at the rate bootlab answers, some tens of milliseconds of backlog.
 */
export const RECEIVE_BUFFER = 256 * 1024;

/** DHCPINFORMs answered per second per sender address, after a burst of INFORM_BURST. */
export const INFORM_PER_SECOND = 1;
export const INFORM_BURST = 5;
/** Senders remembered by the INFORM limit; past this the one heard from longest ago goes. */
export const MAX_LIMITED_SOURCES = 1024;

/** Token buckets by key (a sender's address), at most `maxKeys` of them (LRU). */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly maxKeys: number) {}

  /** Whether `key` may have one more now (a token is taken if so). */
  take(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-inserted below: the Map's order is the LRU order
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    } else {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/**
 * Sends `bytes` unless `max` sends already wait on `sock`; false: dropped. The callback
 * gets a send error (an unreachable network, say).
 */
export function sendBounded(
  sock: Socket,
  bytes: Buffer,
  to: { address: string; port: number },
  max: number,
  done: (err: Error | null) => void,
): boolean {
  if (sock.getSendQueueCount() >= max) return false;
  sock.send(bytes, to.port, to.address, done);
  return true;
}

/**
 * Datagrams read back to back, the event loop never waiting for the next one, after which
 * the service is reading a backlog. If the receive buffer also overflowed (the kernel's
 * drop count grew, read at most every OVERFLOW_CHECK_MS), it is overloaded and sheds new
 * DISCOVERs until it waits again; requests that finish an exchange (REQUEST) still go
 * through: a completed lease is worth more than another offer that would wait as long
 * for its REQUEST. 128 is twice a classroom booting at once.
 */
export const BACKLOG_STREAK = 128;
export const OVERFLOW_CHECK_MS = 250;
/** The loop waited for a datagram if its idle time grew by this much since the last one (ms). */
const WAITED_MS = 0.05;

/** Tells, per datagram, whether the service reads from a backlog (see BACKLOG_STREAK). */
export class BacklogGauge {
  private idle: number;
  private streak = 0;

  /** `idleMs`: the event loop's idle time so far (tests give their own). */
  constructor(
    private readonly limit = BACKLOG_STREAK,
    private readonly idleMs = () => performance.eventLoopUtilization().idle,
  ) {
    this.idle = idleMs();
  }

  /** Called once per datagram read: true while the last `limit` came without a wait. */
  behind(): boolean {
    const idle = this.idleMs();
    if (idle - this.idle >= WAITED_MS) this.streak = 0;
    else this.streak += 1;
    this.idle = idle;
    return this.streak > this.limit;
  }
}
