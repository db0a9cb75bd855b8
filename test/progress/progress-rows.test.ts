// Who a row is (issue 15, D1-D3): a device that never did DHCP with bootlab keeps a row by
// its address after its transfer ended, bounded and aged like machine rows, and merged
// into the MAC's row when DHCP (or its own script) names it; /api/transfers' recent
// finished list; a stranger fetching a machine's script URL does not take that machine's
// address; a machine that chose its local disk ends booted "from the local disk"; a boot
// bootlab stopped (a chain loop) fails with the reason. Real bus, real host map.
import t from 'tap';
import type { EventInput } from '../../services/core/events.js';
import { lab, PC01, PC02, PC03, tftpDone, tftpFailed, tftpProgress, tftpStart } from '../helpers/progress.js';

const STATIC = '198.51.100.7';
const SWITCH = '198.51.100.20';

t.test('a device that never did DHCP: a row by its address that outlives its transfer', async (t) => {
  const { tracker, clock, activity, feed } = await lab(t);
  feed(tftpStart(1, STATIC, 'pxelinux.0', 40_000));
  t.match(tracker.transfers(), [{ id: 'tftp-1', ip: STATIC, mac: null }]);
  t.match(tracker.clients(), [{ key: `ip:${STATIC}`, mac: null, ip: STATIC, hostname: null, image: null, stage: 'bootloader', file: 'pxelinux.0', total: 40_000, percent: 0 }]);
  feed(tftpProgress(1, STATIC, 'pxelinux.0', 20_000, 40_000));
  t.match(tracker.client(`ip:${STATIC}`), { bytes: 20_000, percent: 50 });
  const endedAt = clock.t;
  feed(tftpDone(1, STATIC, 'pxelinux.0', 40_000));
  t.same(tracker.transfers(), [], 'off the active list');
  t.match(tracker.clients(), [{ key: `ip:${STATIC}`, mac: null, stage: 'bootloader', file: 'pxelinux.0', bytes: 40_000, percent: 100 }], 'the row stays after the transfer');
  t.same(tracker.history(`ip:${STATIC}`)!.map((h) => h.kind), ['client.seen', 'tftp.start', 'tftp.done']);
  t.match(activity[0], { mac: null, ip: STATIC, level: 'info', text: `${STATIC}: new device seen (it did no DHCP with bootlab: known by its address)` });
  t.match(tracker.finishedTransfers(), [{ id: 'tftp-1', protocol: 'tftp', file: 'pxelinux.0', ip: STATIC, mac: null, ok: true, reason: null, bytes: 40_000, size: 40_000, percent: 100, rate: 80_000, endedAt }]);

  // A switch saving its configuration (a TFTP write): listed too, at its own stage, not "booting".
  feed(tftpStart(2, SWITCH, 'backup/switch-7.cfg', null, 'write'));
  feed(tftpDone(2, SWITCH, 'backup/switch-7.cfg', 2_300, 'write'));
  t.match(tracker.client(`ip:${SWITCH}`), { mac: null, ip: SWITCH, stage: 'seen', file: null });
  t.match(tracker.finishedTransfers()[0], { id: 'tftp-2', direction: 'write', ip: SWITCH, ok: true, bytes: 2_300 }, 'newest first');

  // A failed transfer: the row fails with the reason; the list says how it ended. A later
  // transfer from the same address starts the row over (no DHCP marks a new boot for it).
  feed(tftpStart(3, STATIC, 'debian/linux', 8_000_000));
  feed(tftpFailed(3, STATIC, 'debian/linux', 'timeout after 5 retries', false));
  t.match(tracker.client(`ip:${STATIC}`), { stage: 'failed', reason: 'debian/linux: timeout after 5 retries' });
  t.match(tracker.finishedTransfers()[0], { id: 'tftp-3', ok: false, reason: 'timeout after 5 retries', ip: STATIC });
  feed(tftpStart(4, STATIC, 'pxelinux.0', 40_000));
  t.match(tracker.client(`ip:${STATIC}`), { stage: 'bootloader', reason: null, file: 'pxelinux.0' });
  t.same(tracker.history(`ip:${STATIC}`)!.slice(-2).map((h) => h.kind), ['client.new-boot', 'tftp.start']);
});

t.test('DHCP naming the address merges the address row into the machine\'s row, history kept', async (t) => {
  const { tracker, removed, dhcp, feed } = await lab(t);
  dhcp('dhcp.discover', PC01, { mode: 'proxy' });
  const seenAt = tracker.client(PC01)!.firstSeen;
  // PXE_DISCOVERY_CONTROL lets the firmware go straight to TFTP: bootlab has not seen its address yet.
  feed(tftpStart(1, STATIC, 'undionly.kpxe', 70_000));
  feed(tftpDone(1, STATIC, 'undionly.kpxe', 70_000));
  feed(tftpStart(2, STATIC, 'tools/memtest.bin', 1_000_000));
  t.match(tracker.client(PC01), { stage: 'dhcp', ip: null });
  t.match(tracker.client(`ip:${STATIC}`), { stage: 'bootloader', file: 'tools/memtest.bin' });

  // iPXE's own DHCP asks for the address it has (option 50): now bootlab knows whose it is.
  dhcp('dhcp.request', PC01, { ip: STATIC, firmware: 'ipxe', mode: 'proxy' });
  t.equal(tracker.client(`ip:${STATIC}`), undefined, 'the address row is gone');
  t.ok(removed.includes(`ip:${STATIC}`), 'and the dashboards were told');
  t.match(tracker.client(PC01), { key: PC01, mac: PC01, ip: STATIC, stage: 'bootloader', file: 'tools/memtest.bin', firstSeen: seenAt });
  t.same(tracker.history(PC01)!.map((h) => h.kind), [
    'client.seen', 'dhcp.discover', 'tftp.start', 'tftp.done', 'tftp.start', 'client.merged', 'dhcp.request',
  ], 'the address row\'s history joined the machine\'s, in time order (its "new device seen" line aside)');
  t.match(tracker.history(PC01)!.find((h) => h.kind === 'client.merged'), { ip: STATIC, text: `the transfers from ${STATIC} before bootlab knew its MAC are this machine's` });
  t.match(tracker.transfers(), [{ id: 'tftp-2', ip: STATIC, mac: PC01 }], 'the running transfer is the machine\'s now');
  feed(tftpProgress(2, STATIC, 'tools/memtest.bin', 500_000, 1_000_000));
  t.match(tracker.client(PC01), { percent: 50 }, 'and the machine\'s row follows it');
  feed(tftpStart(3, STATIC, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  t.equal(tracker.client(PC01)?.stage, 'script');
  t.same(tracker.clients().map((c) => c.key), [PC01]);
});

t.test('address rows are bounded by maxClients and age out like machine rows', async (t) => {
  const { tracker, clock, removed, feed, dhcp } = await lab(t, { maxClients: 20, ttlMs: 10_000 });
  dhcp('dhcp.discover', PC01);
  for (let i = 0; i < 100; i++) {
    feed(tftpStart(i + 1, `198.51.100.${i + 1}`, 'probe.bin', 1));
    if (i % 5 === 4) dhcp('dhcp.request', PC01);
  }
  t.ok(tracker.clients().length <= 20, `at most 20 listed (${tracker.clients().length})`);
  t.ok(removed.includes('ip:198.51.100.1'), 'the address silent longest went first');
  t.ok(tracker.client(PC01), 'the machine that kept talking stays');
  clock.t += 10_000;
  tracker.sweep();
  t.same(tracker.clients(), [], 'silent for ttl: every row aged out, address rows too');
  t.ok(tracker.finishedTransfers().length === 0 && tracker.transfers().length === 100, 'those transfers never ended: still active');
  clock.t += 120_000;
  tracker.sweep();
  t.same(tracker.transfers(), []);
  t.equal(tracker.finishedTransfers().length, 100);
  t.match(tracker.finishedTransfers()[0], { ok: false, reason: 'its end was never heard (its service stopped or restarted)' });
  for (let i = 0; i < 250; i++) {
    feed(tftpStart(1000 + i, STATIC, 'probe.bin', 1));
    feed(tftpDone(1000 + i, STATIC, 'probe.bin', 1));
  }
  t.equal(tracker.finishedTransfers().length, 200, 'the finished list is a ring of the last 200');
  t.equal(tracker.finishedTransfers()[0].id, 'tftp-1249');
});

t.test('a stranger fetching a machine\'s script URL does not take that machine\'s address (D2)', async (t) => {
  const { tracker, dhcp, feed } = await lab(t);
  const pc01Ip = '192.0.2.101';
  const stranger = '198.51.100.50';
  dhcp('dhcp.discover', PC01);
  dhcp('dhcp.ack', PC01, { ip: pc01Ip, bootFile: 'undionly.kpxe' });
  feed(tftpStart(1, stranger, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  feed(tftpDone(1, stranger, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  t.match(tracker.client(PC01), { ip: pc01Ip, stage: 'bound' }, 'pc01 keeps its DHCP address and its stage');
  t.match(tracker.finishedTransfers(), [{ id: 'tftp-1', ip: stranger, mac: null }], 'the fetch is the stranger\'s');
  t.match(tracker.client(`ip:${stranger}`), { ip: stranger, file: 'bootlab/52-54-00-00-00-01.ipxe', stage: 'seen' }, 'shown in the stranger\'s own row, which another machine\'s script does not move');
  feed(tftpStart(2, stranger, 'debian/linux', 8_000_000));
  t.equal(tracker.client(PC01)?.stage, 'bound', 'the stranger\'s next download is not pc01\'s either');
  feed(tftpStart(3, pc01Ip, 'bootlab/52-54-00-00-00-01.ipxe', 300));
  t.match(tracker.client(PC01), { ip: pc01Ip, stage: 'script' }, 'pc01\'s own fetch is pc01\'s');

  // No address known yet (a routed machine): the first fetch of its script tells it; a later stranger does not.
  feed(tftpStart(4, '198.51.100.60', 'bootlab/52-54-00-00-00-02.ipxe', 300));
  t.match(tracker.client(PC02), { ip: '198.51.100.60', stage: 'script' });
  feed(tftpStart(5, '198.51.100.61', 'bootlab/52-54-00-00-00-02.ipxe', 300));
  t.equal(tracker.client(PC02)?.ip, '198.51.100.60');
  // A machine whose address DHCP gave (pc03) fetching a machine's script that has none: still pc03's address.
  dhcp('dhcp.ack', PC03, { ip: '192.0.2.103' });
  feed(tftpStart(6, '192.0.2.103', 'bootlab/aa-bb-cc-dd-ee-09.ipxe', 300));
  t.match(tracker.transfers().find((x) => x.id === 'tftp-6'), { mac: PC03 });
  t.match(tracker.client(PC03), { ip: '192.0.2.103', stage: 'bound' });
  t.equal(tracker.client('aa:bb:cc:dd:ee:09'), undefined, 'no row for a machine that was only looked at');
  // A refused fetch of a script that makes no row leaves no trace in the index: the address's next download is its own.
  feed({ kind: 'tftp.refused', ip: '198.51.100.70', direction: 'read', file: 'bootlab/aa-bb-cc-dd-ee-0a.ipxe', code: 1, reason: 'file not found' } as EventInput);
  feed(tftpStart(7, '198.51.100.70', 'memtest.bin', 10));
  t.equal(tracker.client('aa:bb:cc:dd:ee:0a'), undefined);
  t.match(tracker.client('ip:198.51.100.70'), { mac: null, file: 'memtest.bin' });
  // A booted report naming pc02 from someone else's address does not move pc02 either.
  feed({ kind: 'client.booted', mac: PC02, via: 'http', ip: '192.0.2.103' } as EventInput);
  t.match(tracker.client(PC02), { ip: '198.51.100.60', stage: 'booted' });
});

t.test('a machine that chose its local disk ends booted from the local disk', async (t) => {
  const { tracker, activity, dhcp, feed } = await lab(t);
  const ip = '192.0.2.101';
  dhcp('dhcp.discover', PC01);
  dhcp('dhcp.ack', PC01, { ip, bootFile: 'tftp://192.0.2.1/bootlab/52-54-00-00-00-01.ipxe', firmware: 'ipxe' });
  feed(tftpStart(1, ip, 'bootlab/52-54-00-00-00-01.ipxe', 200));
  feed(tftpDone(1, ip, 'bootlab/52-54-00-00-00-01.ipxe', 200));
  t.match(tracker.client(PC01), { stage: 'script', bootedFrom: null });
  feed({ kind: 'client.booted', mac: PC01, via: 'http', ip, target: 'local' } as EventInput);
  t.match(tracker.client(PC01), { stage: 'booted', bootedFrom: 'local', reason: null, rate: 0 });
  t.match(tracker.history(PC01)!.at(-1), { kind: 'client.booted', target: 'local', text: 'booted from the local disk (its boot script\'s local-disk step)' });
  t.match(activity.at(-1), { level: 'info', mac: PC01, text: 'pc01: booted from the local disk' });
  t.equal(tracker.clear('finished'), 1, 'finished, not booting');

  // A network boot says so; the next boot starts with no answer.
  dhcp('dhcp.discover', PC02);
  feed({ kind: 'client.booted', mac: PC02, via: 'http' } as EventInput);
  t.match(tracker.client(PC02), { stage: 'booted', bootedFrom: 'network' });
  dhcp('dhcp.discover', PC02);
  t.match(tracker.client(PC02), { stage: 'dhcp', bootedFrom: null });
});

t.test('bootlab stopping a boot (a chain loop) fails the row with its reason, until the next boot', async (t) => {
  const { tracker, activity, dhcp, feed } = await lab(t);
  const ip = '192.0.2.101';
  const reason = 'its boot chain came back to its own script 10 times (a chain URL that leads to itself)';
  dhcp('dhcp.discover', PC01);
  dhcp('dhcp.ack', PC01, { ip });
  feed(tftpStart(1, ip, 'bootlab/52-54-00-00-00-01.ipxe', 200));
  feed({ kind: 'client.stopped', mac: '52-54-00-00-00-01', cause: 'chain-loop', reason } as EventInput);
  t.match(tracker.client(PC01), { stage: 'failed', reason: `stopped by bootlab: ${reason}` });
  t.match(tracker.history(PC01)!.at(-1), { kind: 'client.stopped', cause: 'chain-loop', text: `stopped by bootlab: ${reason}` });
  t.match(activity.at(-1), { level: 'error', mac: PC01, ip, text: `pc01: failed: stopped by bootlab: ${reason}` });
  t.equal(activity.filter((a) => a.level === 'error').length, 1, 'said once');
  feed(tftpStart(2, ip, 'bootlab/52-54-00-00-00-01.ipxe', 200));
  t.match(tracker.client(PC01), { stage: 'failed', reason: `stopped by bootlab: ${reason}` }, 'the loop\'s next fetch does not revive it');
  dhcp('dhcp.discover', PC01);
  t.match(tracker.client(PC01), { stage: 'dhcp', reason: null }, 'a new DISCOVER is a new boot');
  // A stop for a machine never seen still makes its row (the reason must be readable somewhere).
  feed({ kind: 'client.stopped', mac: PC03, cause: 'chain-loop', reason } as EventInput);
  t.match(tracker.client(PC03), { hostname: 'pc03', stage: 'failed' });
});
