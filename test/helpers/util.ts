// Small things every tier's tests and helpers share: the tap test type, a teardown
// registrar, and finding a program on the PATH.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type tap from 'tap';

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
