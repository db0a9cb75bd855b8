// Bearer-token checks for the admin API.
// - The token comes from admin.token, else $BOOTLAB_ADMIN_TOKEN, else a file in the state
//   folder, generated at the first start (mode 0600) and printed once (runtime/token.ts).
// - Tokens are compared as SHA-256 digests with timingSafeEqual: constant time whatever
//   the length of the guess.
// - Failed attempts are counted per address; past admin.maxAuthFailures in a minute the
//   address gets 429 until the minute is over, and each refusal is logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { AdminConfig } from '../core/config.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export class TokenCheck {
  private readonly expected: Buffer;
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    token: string, private readonly maxFailures: number,
    private readonly windowMs = 60_000, private readonly now = () => Date.now(),
  ) {
    this.expected = digest(token);
  }

  /** Seconds the address must wait, when it has failed too often; else 0. */
  blockedFor(address: string): number {
    const f = this.failures.get(address);
    if (!f) return 0;
    const left = f.windowStart + this.windowMs - this.now();
    if (left <= 0) { this.failures.delete(address); return 0; }
    return f.count >= this.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  /** Whether the Authorization header carries the token. */
  matches(header: string | undefined): boolean {
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m !== null && timingSafeEqual(digest(m[1]), this.expected);
  }

  /** Counts a failure; returns the failures of this address in the current window. */
  fail(address: string): number {
    const t = this.now();
    let f = this.failures.get(address);
    if (!f || t - f.windowStart >= this.windowMs) {
      f = { count: 0, windowStart: t };
      this.failures.set(address, f);
    }
    f.count++;
    // Bound the table: a scan of many addresses cannot grow it without end.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
    return f.count;
  }
}

/** Whether the admin address keeps the API on this machine. */
export function isLoopback(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  if (isIPv6(address)) return address === '::1';
  return address === 'localhost';
}

export function readsProtected(admin: AdminConfig): boolean {
  if (admin.protectReads === 'always') return true;
  if (admin.protectReads === 'never') return false;
  return !isLoopback(admin.address);
}
