// Boot progress over REST: /api/clients (list, one, history, clear, booted), /api/transfers
// and /api/leases, through app.inject on the real runtime; events are fed on its bus as
// the services would emit them. Exact bodies for every error, 401 for writes without the token.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventInput } from '../../../services/core/events.js';
import { silentLogger } from '../../../services/core/log.js';
import type { ServiceStatus } from '../../../services/core/service.js';
import type { ServiceDefinition } from '../../../services/runtime/supervisor.js';
import { LeaseStore } from '../../../services/dhcp/leases.js';
import { adminFixture, UNAUTHORIZED, type AdminFixture } from '../../helpers/admin.js';
import { curl } from '../../helpers/clients.js';
import { needs, tools } from '../../helpers/needs.js';

const HOSTS = `images:
  debian:
    kernel: debian/linux
    initrd: debian/initrd.gz
hosts:
  52:54:00:00:00:01: { hostname: pc01, image: debian }
  # boots the installer once, then the defaults again
  52:54:00:00:00:02: { hostname: pc02, image: debian, bootOnce: true }
`;
const PC01 = '52:54:00:00:00:01';
const PC02 = '52:54:00:00:00:02';
const MAC_FORMS = 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff';

const emit = (f: AdminFixture, e: Record<string, unknown>) => f.runtime.events.emit(e as unknown as EventInput);
const dhcp = (f: AdminFixture, kind: string, mac: string, at: number, more: Record<string, unknown> = {}) =>
  emit(f, { kind, mac, at, xid: 1, iface: 'lab0', arch: 0, vendorClass: 'PXEClient:Arch:00000', firmware: 'bios', mode: 'full', ...more });

/** pc01 offered and bound, downloading its kernel: 25 % of 8 MB. */
function bootPc01(f: AdminFixture): void {
  dhcp(f, 'dhcp.discover', PC01, 1000);
  dhcp(f, 'dhcp.offer', PC01, 1010, { ip: '192.0.2.101', bootFile: 'undionly.kpxe' });
  dhcp(f, 'dhcp.ack', PC01, 1020, { ip: '192.0.2.101', bootFile: 'undionly.kpxe' });
  emit(f, { kind: 'tftp.start', at: 1030, id: 7, ip: '192.0.2.101', direction: 'read', file: 'debian/linux', port: 2070, size: 8_000_000, blockSize: 1432, windowSize: 1 });
  emit(f, { kind: 'tftp.progress', at: 1040, id: 7, ip: '192.0.2.101', direction: 'read', file: 'debian/linux', bytes: 2_000_000, size: 8_000_000, rate: 4_000_000 });
}

const PC01_ROW = {
  key: PC01, mac: PC01, ip: '192.0.2.101', hostname: 'pc01', arch: 0, firmware: 'bios', image: 'debian', stage: 'kernel', reason: null,
  file: 'debian/linux', bytes: 2_000_000, total: 8_000_000, percent: 25, rate: 4_000_000, firstSeen: 1000, lastSeen: 1040, bootedAt: null, bootedFrom: null,
};

t.test('GET /api/clients, /api/clients/:mac in any notation, and the errors', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS });
  t.same((await f.get('/api/clients')).json(), { clients: [] });
  bootPc01(f);
  const list = await f.get('/api/clients');
  t.equal(list.statusCode, 200);
  t.same(list.json(), { clients: [PC01_ROW] });
  // Reads are open on loopback (protectReads auto): no token needed.
  const open = await f.app.inject({ url: '/api/clients/52-54-00-00-00-01' });
  t.equal(open.statusCode, 200);
  t.same(open.json(), PC01_ROW);
  t.same((await f.get('/api/clients/5254.0000.0001')).json(), PC01_ROW);
  t.same((await f.get('/api/clients/525400000001')).json(), PC01_ROW);

  const bad = await f.get('/api/clients/not-a-mac');
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: `mac: "not-a-mac" is not a MAC address (${MAC_FORMS})`, field: 'mac' });
  const missing = await f.get('/api/clients/52:54:00:00:00:09');
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'not_found', message: 'client 52:54:00:00:00:09 not found' });
});

t.test('reads need the token when protectReads says so', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS, admin: ['protectReads: always'] });
  for (const url of ['/api/clients', `/api/clients/${PC01}`, `/api/clients/${PC01}/events`, '/api/transfers', '/api/leases']) {
    const r = await f.app.inject({ url });
    t.equal(r.statusCode, 401, url);
    t.same(r.json(), UNAUTHORIZED);
  }
  t.equal((await f.get('/api/clients')).statusCode, 200);
});

t.test('GET /api/clients/:mac/events: the history with each event\'s fields and a sentence', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS });
  bootPc01(f);
  const r = await f.get('/api/clients/52:54:00:00:00:01/events');
  t.equal(r.statusCode, 200);
  const body = r.json();
  t.equal(body.mac, PC01);
  t.same(body.events.map((e: { kind: string }) => e.kind), ['client.seen', 'dhcp.discover', 'dhcp.offer', 'dhcp.ack', 'tftp.start']);
  t.same(body.events[2], {
    at: 1010, kind: 'dhcp.offer', text: 'DHCP offer of 192.0.2.101, boot file undionly.kpxe',
    mac: PC01, xid: 1, iface: 'lab0', arch: 0, vendorClass: 'PXEClient:Arch:00000', firmware: 'bios', mode: 'full', ip: '192.0.2.101', bootFile: 'undionly.kpxe',
  });
  t.match(body.events[4], { kind: 'tftp.start', id: 7, file: 'debian/linux', size: 8_000_000, text: 'TFTP: sending debian/linux (7.6 MiB), block size 1432' });
  const never = await f.get('/api/clients/52:54:00:00:00:09/events');
  t.equal(never.statusCode, 404);
  t.same(never.json(), { error: 'not_found', message: 'client 52:54:00:00:00:09 not found' });
  const bad = await f.get('/api/clients/52:54:00:00:00/events');
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: `mac: "52:54:00:00:00" is not a MAC address (${MAC_FORMS})`, field: 'mac' });
});

t.test('POST /api/clients/:mac/booted: the token, the row, the body, and the end of a boot-once', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS });
  bootPc01(f);
  const anonymous = await f.app.inject({ method: 'POST', url: `/api/clients/${PC01}/booted`, payload: {} });
  t.equal(anonymous.statusCode, 401);
  t.same(anonymous.json(), UNAUTHORIZED);
  t.equal(f.runtime.tracker.client(PC01)?.stage, 'kernel', 'nothing changed without the token');

  const before = Date.now();
  const ok = await f.send('POST', '/api/clients/52-54-00-00-00-01/booted', { message: 'debian 13 up' });
  t.equal(ok.statusCode, 200);
  const row = ok.json();
  t.same(row, { ...PC01_ROW, stage: 'booted', rate: 0, reason: null, lastSeen: row.bootedAt, bootedAt: row.bootedAt, bootedFrom: 'network' });
  t.ok(row.bootedAt >= before && row.bootedAt <= Date.now(), 'bootedAt (and lastSeen) is now');
  t.match((await f.get(`/api/clients/${PC01}/events`)).json().events.at(-1), { kind: 'client.booted', text: 'booted: debian 13 up', message: 'debian 13 up' });

  // No body at all (curl -X POST): fine; a machine never seen gets a row.
  const bare = await f.app.inject({ method: 'POST', url: '/api/clients/AA-BB-CC-DD-EE-03/booted', headers: { authorization: 'Bearer test-token-0123456789abcdef' } });
  t.equal(bare.statusCode, 200);
  t.match(bare.json(), { mac: 'aa:bb:cc:dd:ee:03', stage: 'booted', hostname: null, image: null, ip: null });

  const extra = await f.send('POST', `/api/clients/${PC01}/booted`, { message: 'x', colour: 'red' });
  t.equal(extra.statusCode, 400);
  t.same(extra.json(), { error: 'bad_request', message: 'colour: is not a known field', field: 'colour' });
  const wrongType = await f.send('POST', `/api/clients/${PC01}/booted`, { message: 42 });
  t.equal(wrongType.statusCode, 400);
  t.same(wrongType.json(), { error: 'bad_request', message: 'message: must be string', field: 'message' });
  const badMac = await f.send('POST', '/api/clients/xyz/booted', {});
  t.equal(badMac.statusCode, 400);
  t.same(badMac.json(), { error: 'bad_request', message: `mac: "xyz" is not a MAC address (${MAC_FORMS})`, field: 'mac' });

  // pc02 boots its image once: booted ends it in the host map (the file, comments kept).
  t.match(f.runtime.hosts.lookup(PC02), { image: 'debian', bootOnce: true });
  const once = await f.send('POST', `/api/clients/${PC02}/booted`);
  t.equal(once.statusCode, 200);
  t.match(once.json(), { mac: PC02, stage: 'booted', hostname: 'pc02', image: null });
  t.same(f.runtime.hosts.lookup(PC02), { mac: PC02, hostname: 'pc02', image: null, ip: null, bootOnce: false, labels: {} });
  const file = readFileSync(f.hostsFile, 'utf8');
  t.match(file, /# boots the installer once, then the defaults again/);
  t.notMatch(file, /bootOnce/);
  t.match((await f.get(`/api/clients/${PC02}/events`)).json().events.at(-1), {
    kind: 'host.boot-once-ended', text: 'boot-once of image debian done (it reported booted): the machine follows the defaults again',
  });
  // pc01 has no boot-once: its host entry is untouched.
  t.match(f.runtime.hosts.lookup(PC01), { image: 'debian', bootOnce: false });
});

t.test('DELETE /api/clients?which=: finished, stale, all; the token; a bad or missing which', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS });
  bootPc01(f); // unfinished, last seen at t=1000 ms in 1970: stale
  const now = Date.now();
  dhcp(f, 'dhcp.discover', PC02, now);
  await f.send('POST', '/api/clients/aa:bb:cc:dd:ee:03/booted');
  const anonymous = await f.app.inject({ method: 'DELETE', url: '/api/clients?which=all' });
  t.equal(anonymous.statusCode, 401);
  t.same(anonymous.json(), UNAUTHORIZED);

  const missing = await f.send('DELETE', '/api/clients');
  t.equal(missing.statusCode, 400);
  t.same(missing.json(), { error: 'bad_request', message: 'query parameter which: is required', field: 'which' });
  const bogus = await f.send('DELETE', '/api/clients?which=everything');
  t.equal(bogus.statusCode, 400);
  t.same(bogus.json(), { error: 'bad_request', message: 'query parameter which: must be equal to one of the allowed values', field: 'which' });

  t.same((await f.send('DELETE', '/api/clients?which=finished')).json(), { removed: 1 });
  t.same((await f.send('DELETE', '/api/clients?which=stale')).json(), { removed: 1 });
  t.same((await f.get('/api/clients')).json().clients.map((c: { mac: string }) => c.mac), [PC02], 'pc02 spoke just now: neither finished nor stale');
  t.same((await f.send('DELETE', '/api/clients?which=all')).json(), { removed: 1 });
  t.same((await f.get('/api/clients')).json(), { clients: [] });
});

t.test('GET /api/transfers: active TFTP transfers and multicast rounds, then the finished ones', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS });
  t.same((await f.get('/api/transfers')).json(), { transfers: [], finished: [] });
  bootPc01(f);
  emit(f, { kind: 'mtftp.round', at: 1050, protocol: 'rfc2090', group: '239.255.0.1:1758', file: 'debian/initrd.gz', round: 3, phase: 'start', master: '192.0.2.101', blocks: 100, size: 51_000 });
  const r = await f.get('/api/transfers');
  t.equal(r.statusCode, 200);
  t.same(r.json(), {
    transfers: [
      { id: 'tftp-7', protocol: 'tftp', direction: 'read', file: 'debian/linux', ip: '192.0.2.101', mac: PC01, bytes: 2_000_000, size: 8_000_000, percent: 25, rate: 4_000_000, receivers: null, startedAt: 1030 },
      { id: 'rfc2090-239.255.0.1:1758-3', protocol: 'rfc2090', direction: 'read', file: 'debian/initrd.gz', ip: '192.0.2.101', mac: PC01, bytes: 0, size: 51_000, percent: 0, rate: 0, receivers: 0, startedAt: 1050 },
    ],
    finished: [],
  });
  emit(f, { kind: 'tftp.done', at: 1060, id: 7, ip: '192.0.2.101', direction: 'read', file: 'debian/linux', bytes: 8_000_000, seconds: 2, throughput: 4e6, retransmits: 0, dataPackets: 1, dataBytes: 8e6, acksReceived: 1 });
  const after = (await f.get('/api/transfers')).json();
  t.same(after.transfers.map((x: { id: string }) => x.id), ['rfc2090-239.255.0.1:1758-3']);
  t.same(after.finished, [
    { id: 'tftp-7', protocol: 'tftp', direction: 'read', file: 'debian/linux', ip: '192.0.2.101', mac: PC01, bytes: 8_000_000, size: 8_000_000, percent: 100, rate: 4_000_000, receivers: null, startedAt: 1030, ok: true, reason: null, endedAt: 1060 },
  ], 'the finished transfer, with its outcome');
});

t.test('a device that never did DHCP: its real TFTP download stays listed after it ended (by address)', async (t) => {
  if (!needs(t, tools('curl'))) return;
  const loader = randomBytes(20_000);
  const f = await adminFixture(t, { hosts: HOSTS, tftp: [], files: { 'pxelinux.0': loader } });
  const port = f.runtime.supervisor.row('tftp').bound[0].port;
  const got = await curl('get', { port, remote: 'pxelinux.0', local: join(f.dir, 'pxelinux.0') });
  t.ok(got.ok, `curl fetched the boot loader (exit ${got.code})`);
  t.ok(readFileSync(join(f.dir, 'pxelinux.0')).equals(loader), 'whole');
  // The server's tftp.done follows curl's last ACK; poll for it (the limit only stops a hung test).
  type Row = { key: string; percent: number | null };
  let row: Row | undefined;
  for (let i = 0; i < 500 && row?.percent !== 100; i++) {
    if (i > 0) await sleep(20);
    row = ((await f.get('/api/clients')).json().clients as Row[]).find((c) => c.key === 'ip:127.0.0.1');
  }
  const want = {
    key: 'ip:127.0.0.1', mac: null, ip: '127.0.0.1', hostname: null, arch: null, firmware: null, image: null, stage: 'bootloader', reason: null,
    file: 'pxelinux.0', bytes: 20_000, total: 20_000, percent: 100, bootedAt: null, bootedFrom: null,
  };
  t.match(row, want, 'GET /api/clients lists the device by its address after its transfer ended');
  t.match((await f.get('/api/clients/ip:127.0.0.1')).json(), want, 'GET /api/clients/ip:<address>');
  const history = (await f.get('/api/clients/ip:127.0.0.1/events')).json();
  t.same(history.events.map((e: { kind: string }) => e.kind), ['client.seen', 'tftp.start', 'tftp.done'], 'its history');
  const transfers = (await f.get('/api/transfers')).json();
  t.same(transfers.transfers, [], 'nothing running');
  t.match(transfers.finished, [{ protocol: 'tftp', direction: 'read', file: 'pxelinux.0', ip: '127.0.0.1', mac: null, bytes: 20_000, size: 20_000, percent: 100, ok: true, reason: null }]);

  const bad = await f.get('/api/clients/ip:not-an-address');
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: 'mac: "ip:not-an-address" is not a client address (ip:<IPv4 address>)', field: 'mac' });
  const nobody = await f.get('/api/clients/ip:192.0.2.250/events');
  t.equal(nobody.statusCode, 404);
  t.same(nobody.json(), { error: 'not_found', message: 'client ip:192.0.2.250 not found' });
  const booted = await f.send('POST', '/api/clients/ip:127.0.0.1/booted');
  t.equal(booted.statusCode, 400, 'a booted report needs a MAC');
  t.same(booted.json(), { error: 'bad_request', message: `mac: "ip:127.0.0.1" is not a MAC address (${MAC_FORMS})`, field: 'mac' });
  t.same((await f.send('DELETE', '/api/clients?which=all')).json(), { removed: 1 });
});

/** A stand-in DHCP service with a lease store in memory (the real one needs an interface). */
function fakeDhcp(leases: LeaseStore): ServiceDefinition {
  return {
    name: 'dhcp', enabled: () => true, slice: (c) => c.dhcp,
    async start() {
      const status = (): ServiceStatus => ({ state: 'running', since: 0, bound: [], lastError: null, stats: {} });
      return { name: 'dhcp', leases, status, close: async () => undefined } as never;
    },
  };
}

t.test('GET /api/leases: the DHCP service\'s leases, named by the host map; none while it is stopped', async (t) => {
  const leases = LeaseStore.memory();
  const now = Date.now();
  await leases.bind(PC01, '192.0.2.101', now + 3_600_000, 'debian');
  leases.offer('aa:bb:cc:dd:ee:05', '192.0.2.105', now, 30_000, 'laptop');
  const f = await adminFixture(t, {
    hosts: HOSTS,
    runtime: { definitions: [fakeDhcp(leases)], log: silentLogger(), processMetrics: false },
  });
  f.runtime.config = { ...f.runtime.config, dhcp: { ...f.runtime.config.dhcp, mode: 'full' } };
  const r = await f.get('/api/leases');
  t.equal(r.statusCode, 200);
  t.same(r.json(), {
    mode: 'full',
    leases: [
      { mac: PC01, ip: '192.0.2.101', state: 'bound', expires: now + 3_600_000, hostname: 'pc01' },
      { mac: 'aa:bb:cc:dd:ee:05', ip: '192.0.2.105', state: 'offered', expires: now + 30_000, hostname: 'laptop' },
    ],
  });
  await f.send('POST', '/api/services/dhcp/stop');
  t.same((await f.get('/api/leases')).json(), { mode: 'full', leases: [] });
});
