// Boot-once (services/boot/bootonce.ts) over the real pieces: a HostMap on a temporary
// hosts.yaml, an EventBus and the progress model (ClientTracker) that says whose file a
// download is. booted: a client.booted event ends it; kernel: only a whole download of
// the image's kernel by that machine does (its IP learnt from DHCP or from its script).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BootOnce } from '../../services/boot/bootonce.js';
import { bootSpec, type BootConfig } from '../../services/core/config.js';
import { EventBus, type EventInput } from '../../services/core/events.js';
import { HostMap } from '../../services/core/hostmap.js';
import { silentLogger } from '../../services/core/log.js';
import { ClientTracker } from '../../services/progress/tracker.js';
import { defaults } from '../../services/core/schema.js';

const PC01 = '52:54:00:00:00:01';
const PC02 = '52:54:00:00:00:02';
const PC03 = '52:54:00:00:00:03';
const IP02 = '192.0.2.62';
const IP03 = '192.0.2.63';

const HOSTS = `# Room B12
images:
  debian:
    kernel: debian/linux # the installer
    initrd: debian/initrd.gz
hosts:
  # the teacher's machine, always debian
  52:54:00:00:00:01: { hostname: pc01, image: debian }
  # installs once, then the menu
  52:54:00:00:00:02:
    hostname: pc02
    image: debian
    bootOnce: true
  52:54:00:00:00:03: { hostname: pc03, image: debian, bootOnce: true }
`;
const AFTER_PC02 = HOSTS.replace('    hostname: pc02\n    image: debian\n    bootOnce: true\n', '    hostname: pc02\n');

interface T { teardown(fn: () => unknown): void; testdir(files?: Record<string, string>): string }

async function lab(t: T, ends: BootConfig['bootOnceEnds']) {
  const dir = t.testdir({ 'hosts.yaml': HOSTS });
  const file = join(dir, 'hosts.yaml');
  const hosts = await HostMap.open(file, silentLogger());
  const events = new EventBus();
  const tracker = new ClientTracker({ events, hosts, ttlMs: 60_000, log: silentLogger() });
  const cfg = { boot: { ...defaults(bootSpec), bootOnceEnds: ends } as BootConfig };
  const bootOnce = new BootOnce({ events, hosts, tracker, config: () => cfg, log: silentLogger() });
  t.teardown(() => { bootOnce.close(); tracker.close(); hosts.close(); });
  const text = () => readFileSync(file, 'utf8');
  let id = 0;
  const tftp = (ip: string, file: string, size: number, done = true) => {
    const n = ++id;
    events.emit({ kind: 'tftp.start', id: n, ip, direction: 'read', file, port: 2000 + n, size, blockSize: 1432, windowSize: 4 } as EventInput);
    if (done) events.emit({ kind: 'tftp.done', id: n, ip, direction: 'read', file, bytes: size, seconds: 0.5, throughput: size * 2, retransmits: 0, dataPackets: 1, dataBytes: size, acksReceived: 1 } as EventInput);
    return n;
  };
  const http = (ip: string, file: string, size: number, range: [number, number] | null = null) => {
    const n = ++id;
    const bytes = range ? range[1] - range[0] + 1 : size;
    events.emit({ kind: 'http.start', id: n, ip, file, size: bytes, method: 'GET', range } as EventInput);
    events.emit({ kind: 'http.done', id: n, ip, file, bytes, seconds: 0.1, throughput: bytes * 10 } as EventInput);
  };
  const ack = (mac: string, ip: string) => events.emit({ kind: 'dhcp.ack', mac, ip, xid: 1, iface: 'lab0', arch: 0, vendorClass: 'PXEClient:Arch:00000', firmware: 'bios', mode: 'full', bootFile: 'undionly.kpxe' } as EventInput);
  return { file, hosts, events, tracker, bootOnce, cfg, text, tftp, http, ack };
}

t.test('booted: a client.booted event clears image and bootOnce; the file keeps its comments', async (t) => {
  const l = await lab(t, 'booted');
  t.equal(l.hosts.lookup(PC02)?.bootOnce, true);
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'http', ip: IP02 });
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), AFTER_PC02, 'only pc02\'s image and bootOnce lines are gone');
  t.match(l.hosts.lookup(PC02), { hostname: 'pc02', image: null, bootOnce: false });
  t.match(l.hosts.lookup(PC03), { image: 'debian', bootOnce: true }, 'the other boot-once host is untouched');
  t.same(l.tracker.history(PC02)?.map((h) => h.kind), ['client.seen', 'client.booted', 'host.boot-once-ended']);
  t.match(l.tracker.history(PC02)?.at(-1), { kind: 'host.boot-once-ended', text: 'boot-once of image debian done (it reported booted): the machine follows the defaults again' });
  t.equal(l.tracker.client(PC02)?.stage, 'booted');
});

t.test('booted: a host without bootOnce, or not in the map, is untouched', async (t) => {
  const l = await lab(t, 'booted');
  l.events.emit({ kind: 'client.booted', mac: PC01, via: 'api' });
  await l.bootOnce.settled(PC01);
  l.events.emit({ kind: 'client.booted', mac: '52:54:00:00:00:99', via: 'http' });
  await l.bootOnce.settled('52:54:00:00:00:99');
  t.equal(l.text(), HOSTS, 'the file is byte for byte the same');
  t.match(l.hosts.lookup(PC01), { image: 'debian', bootOnce: false });
});

t.test('booted: the local-disk step\'s report (target local) does not end it: the image did not boot', async (t) => {
  const l = await lab(t, 'booted');
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'http', ip: IP02, target: 'local' });
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, true);
});

t.test('booted: a whole kernel download does not end it', async (t) => {
  const l = await lab(t, 'booted');
  l.ack(PC02, IP02);
  l.tftp(IP02, 'debian/linux', 4096);
  l.http(IP02, 'debian/linux', 4096);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS);
});

t.test('kernel: client.booted does nothing', async (t) => {
  const l = await lab(t, 'kernel');
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'http', ip: IP02 });
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, true);
});

t.test('kernel: a whole TFTP download of the kernel by the machine (IP from dhcp.ack) ends it; the initrd does not', async (t) => {
  const l = await lab(t, 'kernel');
  l.ack(PC02, IP02);
  l.tftp(IP02, 'debian/initrd.gz', 8192);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS, 'an initrd is not the kernel');
  l.tftp(IP02, 'debian/linux', 4096, false);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS, 'a kernel download still running is not the kernel sent');
  l.events.emit({ kind: 'tftp.failed', id: 2, ip: IP02, direction: 'read', file: 'debian/linux', bytes: 1432, reason: 'timeout', clientAbort: false } as EventInput);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS, 'a failed kernel download is not the kernel sent');
  l.tftp(IP02, '/debian/linux', 4096);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), AFTER_PC02, 'the whole kernel (asked as /debian/linux) ends it');
  t.match(l.tracker.history(PC02)?.at(-1), { kind: 'host.boot-once-ended', text: 'boot-once of image debian done (its kernel /debian/linux was sent): the machine follows the defaults again' });
  t.match(l.hosts.lookup(PC03), { bootOnce: true }, 'pc03 is untouched');
});

t.test('kernel: a whole HTTP download after the machine fetched its script (IP from the script name) ends it', async (t) => {
  const l = await lab(t, 'kernel');
  l.http(IP03, 'bootlab/52-54-00-00-00-03.ipxe', 300);
  l.http(IP03, 'debian/initrd.gz', 8192);
  await l.bootOnce.settled(PC03);
  t.match(l.hosts.lookup(PC03), { image: 'debian', bootOnce: true }, 'the initrd does not end it');
  l.http(IP03, 'debian/linux', 4096);
  await l.bootOnce.settled(PC03);
  t.match(l.hosts.lookup(PC03), { hostname: 'pc03', image: null, bootOnce: false });
  t.match(l.text(), /^ {2}52:54:00:00:00:03: \{ hostname: pc03 \}$/m);
  t.match(l.hosts.lookup(PC02), { bootOnce: true });
});

t.test('kernel: the same over TFTP, IP from the script fetched over TFTP', async (t) => {
  const l = await lab(t, 'kernel');
  l.tftp(IP03, 'bootlab/52-54-00-00-00-03.ipxe', 300);
  l.tftp(IP03, 'debian/linux', 4096);
  await l.bootOnce.settled(PC03);
  t.match(l.hosts.lookup(PC03), { image: null, bootOnce: false });
});

t.test('kernel: a range request of part of the kernel does not end it (neither part does)', async (t) => {
  const l = await lab(t, 'kernel');
  l.ack(PC02, IP02);
  l.http(IP02, 'debian/linux', 4096, [0, 1023]);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS, 'the first KiB of the kernel is not the kernel');
  l.http(IP02, 'debian/linux', 4096, [1024, 4095]);
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS, 'nor is the rest of it on its own');
});

t.test('kernel: another machine\'s kernel, or one from an unknown address, does not end it', async (t) => {
  const l = await lab(t, 'kernel');
  l.ack(PC02, IP02);
  l.tftp('192.0.2.99', 'debian/linux', 4096);
  l.tftp(IP03, 'debian/linux', 4096);
  l.http('192.0.2.98', 'debian/linux', 4096);
  await l.bootOnce.settled(PC02);
  await l.bootOnce.settled(PC03);
  t.equal(l.text(), HOSTS);
});

t.test('the trigger is read from the config at each event (a reload applies at once)', async (t) => {
  const l = await lab(t, 'kernel');
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'api' });
  await l.bootOnce.settled(PC02);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, true);
  l.cfg.boot.bootOnceEnds = 'booted';
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'api' });
  await l.bootOnce.settled(PC02);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, false);
});

t.test('settled(): the end in progress, shared by concurrent ends; resolved when there is none', async (t) => {
  const l = await lab(t, 'booted');
  await l.bootOnce.settled(PC02); // nothing running: resolves at once
  const first = l.bootOnce.end(PC02, 'test');
  t.equal(l.bootOnce.end(PC02, 'again'), first, 'a second end while the first runs joins it');
  t.equal(l.bootOnce.settled(PC02), first);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, true, 'not written yet: settled is worth waiting for');
  await l.bootOnce.settled(PC02);
  t.equal(l.hosts.lookup(PC02)?.bootOnce, false);
  t.equal(l.text(), AFTER_PC02, 'written once');
  await l.bootOnce.end(PC02, 'later');
  t.equal(l.text(), AFTER_PC02, 'a host no longer boot-once: nothing more');
});

t.test('close(): no more ends', async (t) => {
  const l = await lab(t, 'booted');
  l.bootOnce.close();
  l.events.emit({ kind: 'client.booted', mac: PC02, via: 'http' });
  await l.bootOnce.settled(PC02);
  t.equal(l.text(), HOSTS);
});
