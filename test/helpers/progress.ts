// The progress model on a real event bus and a real host map (a hosts.yaml in the test's
// folder), on an injected clock, for test/progress/*.test.ts: `feed` emits an event
// as a service would, `dhcp` a DHCP message with a PXE firmware's fields.
import { join } from 'node:path';
import { EventBus, type DhcpMessage, type EventInput } from '../../services/core/events.js';
import { HostMap } from '../../services/core/hostmap.js';
import { silentLogger } from '../../services/core/log.js';
import { ClientTracker, type ActivityItem, type TrackerOptions } from '../../services/progress/tracker.js';
import type { Teardown as Teardown0 } from './util.js';

export const HOSTS = `images:
  debian:
    kernel: debian/linux
    initrd: debian/initrd.gz
    cmdline: auto=true
hosts:
  52:54:00:00:00:01: { hostname: pc01, image: debian }
  52:54:00:00:00:02: { hostname: pc02, image: debian }
  52:54:00:00:00:03: { hostname: pc03, image: debian }
`;
export const PC01 = '52:54:00:00:00:01';
export const PC02 = '52:54:00:00:00:02';
export const PC03 = '52:54:00:00:00:03';

interface Teardown extends Teardown0 { testdir(files?: Record<string, string>): string }

export async function lab(t: Teardown, opts: Partial<TrackerOptions> = {}, hostsText = HOSTS) {
  const dir = t.testdir({ 'hosts.yaml': hostsText });
  const hosts = await HostMap.open(join(dir, 'hosts.yaml'), silentLogger());
  const events = new EventBus();
  const clock = { t: 1_000_000 };
  const tracker = new ClientTracker({ events, hosts, ttlMs: 60_000, now: () => clock.t, log: silentLogger(), ...opts });
  const activity: ActivityItem[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  tracker.on('activity', (a: ActivityItem) => activity.push(a));
  tracker.on('client', (key: string) => changed.push(key));
  tracker.on('removed', (key: string) => removed.push(key));
  t.teardown(() => { tracker.close(); hosts.close(); });
  /** Emits with `at` = the clock, then moves the clock on by `step` ms. */
  const feed = (e: EventInput, step = 10) => { events.emit({ ...e, at: clock.t } as EventInput); clock.t += step; };
  const dhcp = (kind: DhcpMessage['kind'], mac: string, fields: Partial<DhcpMessage> = {}) => feed({
    kind, mac, xid: 0x1234, iface: 'lab0', arch: 0, vendorClass: 'PXEClient:Arch:00000', firmware: 'bios', mode: 'full', ...fields,
  } as EventInput);
  return { dir, hosts, events, clock, tracker, activity, changed, removed, feed, dhcp };
}

export const tftpStart = (id: number, ip: string, file: string, size: number | null, direction: 'read' | 'write' = 'read') =>
  ({ kind: 'tftp.start', id, ip, direction, file, port: 2000 + id, size, blockSize: 1432, windowSize: 1 }) as EventInput;
export const tftpProgress = (id: number, ip: string, file: string, bytes: number, size: number | null) =>
  ({ kind: 'tftp.progress', id, ip, direction: 'read', file, bytes, size, rate: 1_000_000 }) as EventInput;
export const tftpDone = (id: number, ip: string, file: string, bytes: number, direction: 'read' | 'write' = 'read') =>
  ({ kind: 'tftp.done', id, ip, direction, file, bytes, seconds: 0.5, throughput: bytes * 2, retransmits: 0, dataPackets: 1, dataBytes: bytes, acksReceived: 1 }) as EventInput;
export const tftpFailed = (id: number, ip: string, file: string, reason: string, clientAbort: boolean) =>
  ({ kind: 'tftp.failed', id, ip, direction: 'read', file, bytes: 0, reason, clientAbort }) as EventInput;
export const tftpRefused = (ip: string, file: string, reason = 'file not found') =>
  ({ kind: 'tftp.refused', ip, direction: 'read', file, code: 1, reason }) as EventInput;
