// The boot progress model, fed exact event sequences on a bus: a BIOS PXE boot from DHCP
// to booted, a UEFI boot with EDK2's tsize probe, refusals that matter and pxelinux's
// probing that does not, IP → MAC mapping, multicast receivers, aging on an injected
// clock, and a listener that throws without reaching the service that emitted.
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { classifyFile } from '../../services/progress/bootfiles.js';
import type { EventInput } from '../../services/core/events.js';
import { lab, PC01, PC02, PC03, tftpDone, tftpFailed, tftpProgress, tftpRefused, tftpStart } from '../helpers/progress.js';

t.test('a BIOS PXE boot: undionly.kpxe, its script, kernel, initrd, booted', async (t) => {
  const { tracker, clock, activity, dhcp, feed } = await lab(t);
  const ip = '192.0.2.101';
  dhcp('dhcp.discover', PC01);
  t.match(tracker.client(PC01), { mac: PC01, stage: 'dhcp', firmware: 'bios', arch: 0, hostname: 'pc01', image: 'debian', ip: null, firstSeen: 1_000_000 });
  dhcp('dhcp.offer', PC01, { ip, bootFile: 'undionly.kpxe' });
  t.equal(tracker.client(PC01)?.stage, 'offered');
  dhcp('dhcp.request', PC01, { ip });
  dhcp('dhcp.ack', PC01, { ip, bootFile: 'undionly.kpxe' });
  t.match(tracker.client(PC01), { stage: 'bound', ip });

  feed(tftpStart(1, ip, 'undionly.kpxe', 70_000));
  t.match(tracker.client(PC01), { stage: 'bootloader', file: 'undionly.kpxe', bytes: 0, total: 70_000, percent: 0 });
  t.same(tracker.transfers().map((x) => [x.id, x.protocol, x.mac, x.file, x.percent]), [['tftp-1', 'tftp', PC01, 'undionly.kpxe', 0]]);
  feed(tftpProgress(1, ip, 'undionly.kpxe', 35_000, 70_000));
  t.match(tracker.client(PC01), { bytes: 35_000, percent: 50, rate: 1_000_000 });
  t.match(tracker.transfers()[0], { bytes: 35_000, size: 70_000, percent: 50 });
  feed(tftpDone(1, ip, 'undionly.kpxe', 70_000));
  t.match(tracker.client(PC01), { stage: 'bootloader', bytes: 70_000, percent: 100, rate: 140_000 });
  t.same(tracker.transfers(), [], 'the done transfer left the active list');

  // iPXE does its own DHCP: the stage must not go back to dhcp/bound, the firmware stays BIOS.
  const script = 'tftp://192.0.2.1/bootlab/52-54-00-00-00-01.ipxe';
  dhcp('dhcp.discover', PC01, { firmware: 'ipxe', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
  dhcp('dhcp.offer', PC01, { ip, bootFile: script, firmware: 'ipxe' });
  dhcp('dhcp.request', PC01, { ip, firmware: 'ipxe' });
  dhcp('dhcp.ack', PC01, { ip, bootFile: script, firmware: 'ipxe' });
  t.match(tracker.client(PC01), { stage: 'bootloader', firmware: 'bios' });

  feed(tftpStart(2, ip, 'bootlab/52-54-00-00-00-01.ipxe', 120));
  feed(tftpDone(2, ip, 'bootlab/52-54-00-00-00-01.ipxe', 120));
  t.equal(tracker.client(PC01)?.stage, 'script');
  feed(tftpStart(3, ip, 'debian/linux', 8_000_000));
  t.match(tracker.client(PC01), { stage: 'kernel', file: 'debian/linux', total: 8_000_000, percent: 0 });
  feed(tftpProgress(3, ip, 'debian/linux', 2_000_000, 8_000_000));
  t.equal(tracker.client(PC01)?.percent, 25);
  feed(tftpDone(3, ip, 'debian/linux', 8_000_000));
  feed(tftpStart(4, ip, 'debian/initrd.gz', 30_000_000));
  t.equal(tracker.client(PC01)?.stage, 'initrd');
  feed(tftpProgress(4, ip, 'debian/initrd.gz', 10_000_000, 30_000_000));
  t.equal(tracker.client(PC01)?.percent, 33.3);
  feed(tftpDone(4, ip, 'debian/initrd.gz', 30_000_000));
  t.match(tracker.client(PC01), { stage: 'initrd', percent: 100, bootedAt: null });

  const bootedAt = clock.t;
  const row = tracker.markBooted('52-54-00-00-00-01', 'debian-installer up');
  t.match(row, { mac: PC01, stage: 'booted', bootedAt, reason: null, lastSeen: bootedAt });

  const history = tracker.history(PC01)!;
  t.same(history.map((h) => h.kind), [
    'client.seen', 'dhcp.discover', 'dhcp.offer', 'dhcp.request', 'dhcp.ack', 'tftp.start', 'tftp.done',
    'dhcp.discover', 'dhcp.offer', 'dhcp.request', 'dhcp.ack', 'tftp.start', 'tftp.done',
    'tftp.start', 'tftp.done', 'tftp.start', 'tftp.done', 'client.booted',
  ], 'progress events are not history; everything else is, in order');
  t.match(history[2], { kind: 'dhcp.offer', ip, bootFile: 'undionly.kpxe', text: 'DHCP offer of 192.0.2.101, boot file undionly.kpxe' });
  t.match(history[6], { kind: 'tftp.done', id: 1, text: 'TFTP: undionly.kpxe sent, 68.4 KiB in 0.50 s' });
  t.match(history.at(-1), { kind: 'client.booted', text: 'booted: debian-installer up', message: 'debian-installer up' });
  t.same(activity.map((a) => a.text), [
    'pc01: new machine seen', 'pc01: offered', 'pc01: address acknowledged', 'pc01: loading its boot loader (undionly.kpxe)',
    'pc01: reading its boot script (bootlab/52-54-00-00-00-01.ipxe)', 'pc01: loading the kernel (debian/linux)',
    'pc01: loading the initrd (debian/initrd.gz)', 'pc01: booted: debian-installer up',
  ]);
  t.ok(activity.every((a) => a.level === 'info' && a.mac === PC01));
});

t.test('UEFI through proxyDHCP: EDK2 aborts its tsize probe on purpose, the row does not fail', async (t) => {
  const { tracker, activity, dhcp, feed } = await lab(t);
  const ip = '192.0.2.57';
  const uefi = { firmware: 'uefi', arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', mode: 'proxy' } as const;
  dhcp('dhcp.discover', PC02, uefi);
  dhcp('dhcp.offer', PC02, { ...uefi, bootFile: 'ipxe.efi' }); // a proxy offer: no address
  t.match(tracker.client(PC02), { stage: 'offered', ip: null, firmware: 'uefi', arch: 7 });
  dhcp('dhcp.request', PC02, { ...uefi, ip }); // option 50: the address the site's DHCP server gave
  t.equal(tracker.client(PC02)?.ip, ip, 'the requested address is the machine\'s');
  dhcp('dhcp.ack', PC02, { ...uefi, bootFile: 'ipxe.efi' });

  feed(tftpStart(7, ip, 'ipxe.efi', 1_048_576));
  feed(tftpFailed(7, ip, 'ipxe.efi', 'client sent ERROR 8: User aborted the transfer', true));
  t.match(tracker.client(PC02), { stage: 'bootloader', reason: null, rate: 0 });
  t.same(tracker.transfers(), []);
  feed(tftpStart(8, ip, 'ipxe.efi', 1_048_576));
  feed(tftpProgress(8, ip, 'ipxe.efi', 524_288, 1_048_576));
  t.match(tracker.client(PC02), { stage: 'bootloader', percent: 50 });
  feed(tftpDone(8, ip, 'ipxe.efi', 1_048_576));
  t.match(tracker.client(PC02), { stage: 'bootloader', reason: null, percent: 100 });
  const abort = tracker.history(PC02)!.find((h) => h.kind === 'tftp.failed');
  t.match(abort, { clientAbort: true, text: /UEFI firmware does this to learn the size/ });
  t.equal(activity.filter((a) => a.level !== 'info').length, 0, 'nothing in red');
});

t.test('a refused kernel fails the boot with the reason; pxelinux probing config names does not', async (t) => {
  const { tracker, activity, dhcp, feed } = await lab(t);
  const ip = '192.0.2.103';
  dhcp('dhcp.discover', PC03);
  dhcp('dhcp.ack', PC03, { ip, bootFile: 'pxelinux.0' });
  feed(tftpStart(1, ip, 'pxelinux.0', 40_000));
  feed(tftpDone(1, ip, 'pxelinux.0', 40_000));
  for (const probe of ['pxelinux.cfg/01-52-54-00-00-00-03', 'pxelinux.cfg/C000026', 'pxelinux.cfg/C00002', 'ldlinux.c32']) feed(tftpRefused(ip, probe));
  t.match(tracker.client(PC03), { stage: 'bootloader', reason: null }, 'probes refused: still booting');
  feed(tftpStart(2, ip, 'pxelinux.cfg/default', 300));
  feed(tftpDone(2, ip, 'pxelinux.cfg/default', 300));
  t.equal(tracker.client(PC03)?.stage, 'script');
  feed(tftpRefused(ip, '/debian/linux', 'file not found'));
  t.match(tracker.client(PC03), { stage: 'failed', reason: '/debian/linux refused: file not found' });
  t.match(activity.at(-1), { level: 'error', mac: PC03, ip, text: 'pc03: failed: /debian/linux refused: file not found' });
  // Later trouble does not replace the cause, and a failed boot does not move on.
  feed(tftpStart(3, ip, 'debian/initrd.gz', 100));
  feed(tftpFailed(3, ip, 'debian/initrd.gz', 'timeout after 5 retries', false));
  t.match(tracker.client(PC03), { stage: 'failed', reason: '/debian/linux refused: file not found' });

  // A new DISCOVER from the firmware: a new boot; the history goes on.
  const before = tracker.history(PC03)!.length;
  dhcp('dhcp.discover', PC03);
  t.match(tracker.client(PC03), { stage: 'dhcp', reason: null, file: null, bytes: 0, percent: null });
  t.same(tracker.history(PC03)!.slice(before).map((h) => h.kind), ['client.new-boot', 'dhcp.discover']);
  dhcp('dhcp.ack', PC03, { ip, bootFile: 'pxelinux.0' });
  feed(tftpStart(4, ip, 'pxelinux.0', 40_000));
  feed(tftpFailed(4, ip, 'pxelinux.0', 'timeout after 5 retries', false));
  t.match(tracker.client(PC03), { stage: 'failed', reason: 'pxelinux.0: timeout after 5 retries' }, 'a transfer that fails (not a client abort) fails the boot');

  // The boot file itself refused (here: the script of a machine the host map does not boot) matters too.
  dhcp('dhcp.discover', PC01);
  dhcp('dhcp.ack', PC01, { ip: '192.0.2.104', bootFile: 'tftp://192.0.2.1/bootlab/52-54-00-00-00-01.ipxe', firmware: 'ipxe' });
  feed(tftpRefused('192.0.2.104', 'bootlab/52-54-00-00-00-01.ipxe', 'no network boot for this machine'));
  t.match(tracker.client(PC01), { stage: 'failed', reason: 'bootlab/52-54-00-00-00-01.ipxe refused: no network boot for this machine' });
});

t.test('IP to MAC: DHCP addresses, the script name, an address change, a release', async (t) => {
  const { tracker, dhcp, feed } = await lab(t);
  // Never seen by DHCP and no script name: a row by its address (progress-rows.test.ts).
  feed(tftpStart(1, '198.51.100.9', 'memtest.bin', 10));
  t.same(tracker.clients().map((c) => [c.key, c.mac, c.ip]), [['ip:198.51.100.9', null, '198.51.100.9']]);
  t.match(tracker.transfers(), [{ id: 'tftp-1', ip: '198.51.100.9', mac: null }]);
  feed(tftpDone(1, '198.51.100.9', 'memtest.bin', 10));

  // The script's name carries the MAC (dashes): the row is made and the IP learnt.
  feed(tftpStart(2, '198.51.100.7', 'bootlab/aa-bb-cc-dd-ee-02.ipxe', 200));
  t.match(tracker.client('aa:bb:cc:dd:ee:02'), { ip: '198.51.100.7', stage: 'script', hostname: null });
  feed(tftpStart(3, '198.51.100.7', 'vmlinuz', 5_000_000));
  t.match(tracker.client('AABB.CCDD.EE02'), { stage: 'kernel', file: 'vmlinuz' }, 'any notation finds the row');
  t.match(tracker.transfers().find((x) => x.id === 'tftp-3'), { mac: 'aa:bb:cc:dd:ee:02' });

  // A new address: the old one no longer names the machine.
  dhcp('dhcp.discover', PC01);
  dhcp('dhcp.ack', PC01, { ip: '192.0.2.10' });
  dhcp('dhcp.ack', PC01, { ip: '192.0.2.11' });
  feed(tftpStart(4, '192.0.2.10', 'undionly.kpxe', 1));
  t.equal(tracker.client(PC01)?.stage, 'bound', 'nothing from the old address');
  feed(tftpStart(5, '192.0.2.11', 'undionly.kpxe', 1));
  t.equal(tracker.client(PC01)?.stage, 'bootloader');
  dhcp('dhcp.release', PC01, { ip: '192.0.2.11', firmware: 'other' });
  feed(tftpStart(6, '192.0.2.11', 'debian/linux', 1));
  t.equal(tracker.client(PC01)?.stage, 'bootloader', 'released: the address is no longer this machine');

  // A laptop asking the full-mode server is not listed; a booted machine's OS doing DHCP is not a new boot.
  dhcp('dhcp.discover', '00:11:22:33:44:55', { firmware: 'other', vendorClass: null, arch: null });
  t.equal(tracker.client('00:11:22:33:44:55'), undefined);
  tracker.markBooted(PC01);
  dhcp('dhcp.discover', PC01, { firmware: 'other', vendorClass: 'udhcp 1.36', arch: null });
  t.equal(tracker.client(PC01)?.stage, 'booted');
});

t.test('multicast: receivers by IP, the round as a transfer, progress from the master\'s ACKs', async (t) => {
  const { tracker, dhcp, feed } = await lab(t);
  dhcp('dhcp.ack', PC01, { ip: '192.0.2.21', bootFile: 'undionly.kpxe' });
  dhcp('dhcp.ack', PC02, { ip: '192.0.2.22', bootFile: 'undionly.kpxe' });
  const base = { protocol: 'pxe', group: '239.255.1.1:3001', file: 'debian/initrd.gz', round: 1 } as const;
  feed({ kind: 'mtftp.receiver', ...base, ip: '192.0.2.21', port: 3001, master: true, receivers: 1 } as EventInput);
  feed({ kind: 'mtftp.round', ...base, phase: 'start', master: '192.0.2.21', blocks: 2001, size: 1_024_000 } as EventInput);
  feed({ kind: 'mtftp.receiver', ...base, ip: '192.0.2.22', port: 3001, master: false, receivers: 2 } as EventInput);
  t.match(tracker.transfers(), [{ id: 'pxe-mtftp-239.255.1.1:3001-1', protocol: 'pxe-mtftp', ip: '192.0.2.21', mac: PC01, size: 1_024_000, receivers: 2, percent: 0 }]);
  t.match(tracker.client(PC02), { stage: 'initrd', file: 'debian/initrd.gz', total: 1_024_000 });
  feed({ kind: 'mtftp.progress', ...base, blocks: 2001, acked: 1000, blocksSent: 1000, dataBytes: 512_000, receivers: 2, rate: 2e6 } as EventInput);
  t.match(tracker.transfers()[0], { bytes: 511_744, percent: 49.9, rate: 2e6 });
  t.match(tracker.client(PC01), { bytes: 511_744, percent: 49.9 });
  t.match(tracker.client(PC02), { bytes: 511_744, percent: 49.9 });
  feed({ kind: 'mtftp.client-done', ...base, ip: '192.0.2.21', via: 'master-ack' } as EventInput);
  t.match(tracker.client(PC01), { percent: 100, bytes: 1_024_000 });
  feed({ kind: 'mtftp.round', ...base, phase: 'end', master: '192.0.2.21', blocks: 2001, size: 1_024_000, ok: true, reason: '' } as EventInput);
  t.same(tracker.transfers(), []);
  t.match(tracker.history(PC02)!.at(-1), { kind: 'mtftp.round', phase: 'end', text: 'multicast: round 1 of debian/initrd.gz on 239.255.1.1:3001 ended' });
});

t.test('aging on the clock: finished rows after ttl from their end, silent ones after ttl from their last event', async (t) => {
  const { tracker, clock, removed, dhcp } = await lab(t, { ttlMs: 10_000, staleMs: 3_000 });
  const start = clock.t;
  dhcp('dhcp.discover', PC01); // silent from here
  tracker.markBooted(PC02); // at start + 10
  // A booted machine renewing its lease stays "finished since it booted".
  clock.t += 5_000;
  dhcp('dhcp.request', PC02, { ip: '192.0.2.2', firmware: 'other' });
  clock.t = start + 9_999;
  tracker.sweep();
  t.same(tracker.clients().map((c) => c.mac).sort(), [PC01, PC02]);
  clock.t = start + 10_009;
  tracker.sweep();
  t.same(tracker.clients().map((c) => c.mac), [PC02], 'pc01 silent for 10 s: gone; pc02 booted 9.999 s ago: kept');
  clock.t = start + 10_010;
  tracker.sweep();
  t.same(tracker.clients().map((c) => c.mac), [], 'both aged out');
  t.same(removed.sort(), [PC01, PC02]);
  t.equal(tracker.history(PC01), undefined, 'the history goes with the row');

  dhcp('dhcp.discover', PC01); // unfinished
  tracker.markBooted(PC02); // finished
  dhcp('dhcp.discover', PC03);
  clock.t += 2_000;
  dhcp('dhcp.offer', PC03, { ip: '192.0.2.3' }); // still talking
  clock.t += 1_500;
  t.equal(tracker.clear('stale'), 1, 'stale: pc01, silent 3.5 s (pc03 spoke 1.5 s ago)');
  t.equal(tracker.clear('finished'), 1, 'finished: pc02');
  t.same(tracker.clients().map((c) => c.mac), [PC03]);
  t.equal(tracker.clear('all'), 1);
  t.same(tracker.clients(), []);
});

t.test('a flood of made-up MACs cannot grow the list past maxClients: the longest silent go first', async (t) => {
  const { tracker, dhcp, removed } = await lab(t, { maxClients: 20 });
  dhcp('dhcp.discover', PC01);
  for (let i = 0; i < 100; i++) {
    dhcp('dhcp.discover', `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
    if (i % 5 === 4) dhcp('dhcp.request', PC01); // a real machine, busy booting meanwhile
  }
  t.ok(tracker.clients().length <= 20, `at most 20 listed (${tracker.clients().length})`);
  t.notOk(removed.includes(PC01), 'the machine that kept talking was never dropped');
  t.equal(tracker.client(PC01)?.stage, 'dhcp');
  t.notOk(tracker.client('02:00:00:00:00:00'), 'the one silent longest is gone');
  t.ok(removed.includes('02:00:00:00:00:00'), 'and the dashboards were told');
});

t.test('hostname and image follow the host map; the history is a bounded ring', async (t) => {
  const { tracker, hosts, changed, dhcp } = await lab(t, { historySize: 5 });
  dhcp('dhcp.discover', PC01);
  await hosts.setHost(PC01, { hostname: 'teacher', image: null });
  t.match(tracker.client(PC01), { hostname: 'teacher', image: null });
  t.equal(changed.at(-1), PC01, 'the change was announced');
  for (let i = 0; i < 10; i++) dhcp('dhcp.request', PC01, { ip: `192.0.2.${i}` });
  const h = tracker.history(PC01)!;
  t.equal(h.length, 5);
  t.same(h.map((x) => x.ip), ['192.0.2.5', '192.0.2.6', '192.0.2.7', '192.0.2.8', '192.0.2.9'], 'the newest kept, oldest first');
});

t.test('an exception in a listener is logged, never thrown into the service that emitted', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const { tracker, dhcp } = await lab(t, { log: pino({ level: 'error' }, sink) });
  tracker.on('client', () => { throw new Error('listener bug'); });
  t.doesNotThrow(() => dhcp('dhcp.discover', PC01));
  t.equal(tracker.client(PC01)?.stage, 'dhcp');
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]), { msg: /progress: an event could not be applied/, event: 'dhcp.discover', err: { message: 'listener bug' } });
});

t.test('files by role: the image\'s paths, scripts, the boot file, then names', async (t) => {
  const img = { name: 'd', kind: 'kernel', kernel: 'debian/linux', initrd: 'debian/initrd.gz', cmdline: '', loader: 'ipxe' } as const;
  const cases: [string, string | null, string | null][] = [
    ['debian/linux', null, 'kernel'], ['/debian/initrd.gz', null, 'initrd'],
    ['bootlab/52-54-00-00-00-01.ipxe', 'tftp://192.0.2.1/bootlab/52-54-00-00-00-01.ipxe', 'script'],
    ['pxelinux.cfg/default', null, 'script'], ['boot/grub/grub.cfg', null, 'script'], ['menu.ipxe', null, 'script'],
    ['vendor/loader.bin', 'vendor/loader.bin', 'bootloader'], ['undionly.kpxe', null, 'bootloader'], ['pxelinux.0', null, 'bootloader'],
    ['EFI/BOOT/grubx64.efi', null, 'bootloader'], ['ldlinux.c32', null, 'bootloader'],
    ['ubuntu/vmlinuz', null, 'kernel'], ['bzImage', null, 'kernel'], ['ubuntu/initrd.img', null, 'initrd'], ['root.cpio.gz', null, 'initrd'],
    ['memtest.bin', null, null],
  ];
  for (const [file, bootFile, want] of cases) t.equal(classifyFile(file, bootFile, img), want, file);
});
