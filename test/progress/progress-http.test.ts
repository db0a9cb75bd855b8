// The progress model with HTTP downloads (issue 6): an iPXE boot whose script, kernel and
// initrd come over HTTP follows the same stages as over TFTP, with http-<n> transfers;
// the booted report (client.booted) ends it; a 404 of the kernel fails the boot, a 416
// or 405 (the client's own mistake) does not; and file-done is emitted only for a whole file.
import t from 'tap';
import { join } from 'node:path';
import { EventBus, type EventInput } from '../../services/core/events.js';
import { HostMap } from '../../services/core/hostmap.js';
import { silentLogger } from '../../services/core/log.js';
import { ClientTracker, type FileDone } from '../../services/progress/tracker.js';

const PC01 = '52:54:00:00:00:01';
const IP = '192.0.2.101';
const HOSTS = `images:
  debian: { kernel: debian/linux, initrd: debian/initrd.gz }
hosts:
  ${PC01}: { hostname: pc01, image: debian }
`;

async function lab(t: { testdir(f: Record<string, string>): string; teardown(fn: () => unknown): void }) {
  const dir = t.testdir({ 'hosts.yaml': HOSTS });
  const hosts = await HostMap.open(join(dir, 'hosts.yaml'), silentLogger());
  const events = new EventBus();
  let now = 2_000_000;
  const tracker = new ClientTracker({ events, hosts, ttlMs: 60_000, now: () => now, log: silentLogger() });
  const fileDone: FileDone[] = [];
  tracker.on('file-done', (d: FileDone) => fileDone.push(d));
  t.teardown(() => { tracker.close(); hosts.close(); });
  const feed = (e: EventInput) => { events.emit({ ...e, at: now } as EventInput); now += 10; };
  return { tracker, feed, fileDone };
}

const start = (id: number, file: string, size: number, range: [number, number] | null = null) =>
  ({ kind: 'http.start', id, ip: IP, file, size, method: 'GET', range }) as EventInput;
const progress = (id: number, file: string, bytes: number, size: number) =>
  ({ kind: 'http.progress', id, ip: IP, file, bytes, size, rate: 5_000_000 }) as EventInput;
const done = (id: number, file: string, bytes: number) =>
  ({ kind: 'http.done', id, ip: IP, file, bytes, seconds: 0.2, throughput: bytes * 5 }) as EventInput;
const refused = (file: string, code: number) => ({ kind: 'http.refused', ip: IP, file, code, reason: `status ${code}` }) as EventInput;

t.test('an iPXE boot over HTTP: script, kernel, initrd, booted report', async (t) => {
  const { tracker, feed, fileDone } = await lab(t);
  // The script's name carries the MAC: the IP is learnt from it, as over TFTP.
  feed(start(1, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  t.match(tracker.client(PC01), { stage: 'script', ip: IP, file: 'bootlab/52-54-00-00-00-01.ipxe' });
  t.same(tracker.transfers().map((x) => [x.id, x.protocol, x.direction, x.mac]), [['http-1', 'http', 'read', PC01]]);
  feed(done(1, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  feed(start(2, 'debian/linux', 8_000_000));
  feed(progress(2, 'debian/linux', 4_000_000, 8_000_000));
  t.match(tracker.client(PC01), { stage: 'kernel', bytes: 4_000_000, total: 8_000_000, percent: 50 });
  t.match(tracker.transfers()[0], { id: 'http-2', protocol: 'http', percent: 50 });
  feed(done(2, 'debian/linux', 8_000_000));
  t.match(tracker.client(PC01), { stage: 'kernel', percent: 100 });
  t.same(tracker.transfers(), [], 'ended transfers leave the list');
  feed(start(3, 'debian/initrd.gz', 20_000_000));
  feed(done(3, 'debian/initrd.gz', 20_000_000));
  t.same(fileDone.map((d) => [d.mac, d.file, d.role]), [[PC01, 'bootlab/52-54-00-00-00-01.ipxe', 'script'], [PC01, 'debian/linux', 'kernel'], [PC01, 'debian/initrd.gz', 'initrd']]);
  feed({ kind: 'client.booted', mac: PC01, via: 'http', ip: IP });
  t.match(tracker.client(PC01), { stage: 'booted', bootedAt: 2_000_000 + 70 });
  t.match(tracker.history(PC01)?.at(-1), { kind: 'client.booted', text: 'booted (reported by its boot script or OS)' });
});

t.test('refusals over HTTP: 404 of the kernel fails the boot; 416 and 405 do not', async (t) => {
  const { tracker, feed } = await lab(t);
  feed(start(1, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  feed(done(1, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  feed(refused('debian/linux', 416));
  feed(refused('debian/linux', 405));
  t.equal(tracker.client(PC01)?.stage, 'script', 'a 416 or 405 is not a failed boot');
  feed(refused('debian/linux', 404));
  t.match(tracker.client(PC01), { stage: 'failed', reason: 'debian/linux refused: status 404' });
});

t.test('a byte range of the kernel is not the kernel sent: no file-done', async (t) => {
  const { feed, fileDone } = await lab(t);
  feed(start(1, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  feed(start(2, 'debian/linux', 65_536, [0, 65_535]));
  feed(done(2, 'debian/linux', 65_536));
  t.same(fileDone.map((d) => d.file), [], 'the partial download made no file-done (the script has not ended either)');
  feed(start(3, 'debian/linux', 8_000_000));
  feed(done(3, 'debian/linux', 8_000_000));
  t.same(fileDone.map((d) => [d.file, d.role]), [['debian/linux', 'kernel']]);
});
