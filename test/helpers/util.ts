// Small things every tier's tests, helpers and benchmarks share: the tap test type, a
// teardown registrar, finding a program on the PATH, polling, and random files checked by
// SHA-256. One copy each (the review of issue 16 counted up to seven).
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, chmodSync, closeSync, constants, createReadStream, openSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type tap from 'tap';
import { prng } from './prng.js';

/** A tap test as its callback receives it. */
export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

/** Anything that takes teardown functions: a tap test, or a benchmark's own list. */
export interface Teardown { teardown(fn: () => unknown): void }

/**
 * The full path of an executable `bin` on the PATH, or null. /usr/sbin and /sbin are
 * searched too: a user's PATH often lacks them, and ip, tcpdump and dhclient live there.
 */
export function onPath(bin: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const full = join(dir, bin);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return null;
}

/** Every key optional, all the way down (arrays are replaced whole). */
export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

/** `base` with `over` laid on top, objects merged key by key, anything else replaced. */
export function merge<T>(base: T, over: DeepPartial<T> | undefined): T {
  if (!over) return base;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const b = (base as Record<string, unknown>)[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? merge(b, v as never) : v;
  }
  return out as T;
}

// ---------------------------------------------------------------------------------------
// Polling. The time limits are ceilings for a test that would otherwise hang, never
// assertions: no test asserts how long something took (README, Tests).

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Falsy = undefined | null | false | 0 | '';

/**
 * Calls `get` (sync or async) every `everyMs` until it returns something truthy, and
 * returns that; undefined once `timeoutMs` has passed without.
 */
export async function waitFor<T>(
  get: () => T | Falsy | Promise<T | Falsy>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() >= end) return undefined;
    await sleep(everyMs);
  }
}

/** waitFor that throws `timed out waiting for <what>` instead of returning undefined. */
export async function until(cond: () => unknown, what: string, timeoutMs = 5000, everyMs = 20): Promise<void> {
  if ((await waitFor(async () => Boolean(await cond()), timeoutMs, everyMs)) === undefined) {
    throw new Error(`timed out waiting for ${what}`);
  }
}

// ---------------------------------------------------------------------------------------
// Files served in tests, compared by SHA-256.

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Writes `size` bytes to dir/name and returns their SHA-256: random ones, or with `seed`
 * the same bytes every run (mulberry32, four bytes a draw). World-readable (0644), since
 * peer servers such as atftpd serve as "nobody"; written in 4 MiB pieces, so size is not
 * bounded by memory.
 */
export function randomFile(dir: string, name: string, size: number, seed?: number): string {
  const rnd = seed === undefined ? null : prng(seed);
  const h = createHash('sha256');
  const file = join(dir, name);
  const fd = openSync(file, 'w', 0o644);
  try {
    for (let left = size; left > 0;) {
      const n = Math.min(left, 4 * 1024 * 1024);
      const chunk = rnd ? seeded(rnd, n) : randomBytes(n);
      writeSync(fd, chunk);
      h.update(chunk);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o644);
  return h.digest('hex');
}

/** `n` bytes from `rnd` (n a multiple of 4 except at the end of a file). */
function seeded(rnd: () => number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) buf.writeUInt32LE(Math.floor(rnd() * 4294967296), i);
  for (; i < n; i++) buf[i] = Math.floor(rnd() * 256);
  return buf;
}
