// What a lab or VM test needs from the machine (root, programs from Debian packages),
// checked in one place (docs/decisions/0013-test-tiers.md). Outside CI a test whose needs
// are unmet is skipped, and tap prints the reason; under CI (CI set, and not "false" or
// "0": .ci/run and scripts/test.sh set CI=true) it fails with the same reason, because CI
// runs as root with every package installed, so there an unmet need is a broken machine.
//
//   needsFile(asRoot('the netns loss test'), tools('atftp', 'nft'));   // top of a file
//   if (!needs(t, asRoot('a tmpfs mount'))) return;                     // inside one test
import { execFileSync } from 'node:child_process';
import tap from 'tap';
import { onPath, type TapTest } from './util.js';

/** The Debian package of each program the tests run (as `apt-get install` takes it). */
const PACKAGES: Record<string, string> = {
  atftp: 'atftp',
  tftp: 'tftp-hpa',
  curl: 'curl',
  busybox: 'busybox-static (or busybox)',
  dhclient: 'isc-dhcp-client',
  dnsmasq: 'dnsmasq-base (or dnsmasq)',
  tcpdump: 'tcpdump',
  ip: 'iproute2',
  tc: 'iproute2',
  nft: 'nftables',
  chromium: 'chromium',
  'qemu-system-x86_64': 'qemu-system-x86',
};

/** True under CI: there every need must be met, so an unmet one fails instead of skipping. */
export function underCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** Null when running as root; otherwise why `what` cannot run. */
export function asRoot(what: string): string | null {
  if (process.getuid?.() === 0) return null;
  return `${what}: needs root (running as uid ${process.getuid?.()})`;
}

/**
 * Null when every program is on the PATH (busybox with its udhcpc applet); otherwise which are
 * missing and how to install them.
 */
export function tools(...bins: string[]): string | null {
  const missing = bins.filter((b) => onPath(b) === null);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((b) => PACKAGES[b] ?? b))];
    return `missing ${missing.join(', ')}: apt-get install -y ${pkgs.join(' ')}`;
  }
  if (bins.includes('busybox')) {
    const list = execFileSync(onPath('busybox')!, ['--list'], { encoding: 'utf8' });
    if (!/^udhcpc$/m.test(list)) return 'this busybox has no udhcpc applet: apt-get install -y busybox-static';
  }
  return null;
}

function unmet(reasons: (string | null)[]): string | null {
  const r = reasons.filter((x): x is string => x !== null);
  return r.length > 0 ? r.join('; ') : null;
}

/**
 * For a whole test file, at its top: true when every need is met. Otherwise, outside CI,
 * the file is planned as skipped with the reason and its later t.test/t.teardown/hooks
 * calls do nothing (so the file needs no `if` around its body); under CI it throws the
 * reason, failing the file before anything starts.
 */
export function needsFile(...reasons: (string | null)[]): boolean {
  const why = unmet(reasons);
  if (why === null) return true;
  if (underCI()) throw new Error(`${why} (CI is set, so this fails instead of skipping)`);
  tap.plan(0, why);
  for (const k of ['test', 'teardown', 'before', 'after', 'beforeEach', 'afterEach'] as const) {
    Object.defineProperty(tap, k, { value: () => Promise.resolve(), configurable: true, writable: true });
  }
  return false;
}

/**
 * For one test, at the start of its callback: true when every need is met. Otherwise the
 * test is skipped with the reason (outside CI) or fails with it (under CI); the caller
 * returns at once.
 */
export function needs(t: TapTest, ...reasons: (string | null)[]): boolean {
  const why = unmet(reasons);
  if (why === null) return true;
  if (underCI()) t.fail(`${why} (CI is set, so this fails instead of skipping)`);
  else t.plan(0, why);
  return false;
}
