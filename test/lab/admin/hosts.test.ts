// REST for one host: GET, PUT, PATCH, DELETE /api/hosts/:mac and boot-once, through
// app.inject with exact bodies; the file after each write (comments kept, a refused write
// leaves it byte-identical); the token on every write; and the write live at once for
// DHCP's decision and for a real TFTP client fetching the generated iPXE script.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chooseBoot } from '../../../services/boot/choose.js';
import type { ClientKind } from '../../../services/core/firmware.js';
import { adminFixture } from '../../helpers/admin.js';
import { HOSTNAME_RULE, MAC_FORMS, PC02, SAMPLE, TEACHER, UNAUTHORIZED, UNKNOWN_NOPE } from '../../helpers/hosts-sample.js';

const run = promisify(execFile);

t.test('GET /api/hosts lists the map, its defaults and no error', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const res = await f.get('/api/hosts');
  t.equal(res.statusCode, 200);
  t.same(res.json(), { hosts: [TEACHER, PC02], defaults: { action: 'menu', image: null, menuDefault: 'local', menuTimeout: 10 }, lastError: null, warnings: [], bootOnceEnds: 'booted' });
});

t.test('GET /api/hosts/:mac takes every usual MAC notation; a bad one is a 400, a missing one a 404', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  for (const mac of ['aa:bb:cc:dd:ee:02', 'AA-BB-CC-DD-EE-02', 'aabb.ccdd.ee02', 'AABBCCDDEE02', 'aa%3Abb%3Acc%3Add%3Aee%3A02']) {
    const res = await f.get(`/api/hosts/${mac}`);
    t.equal(res.statusCode, 200, mac);
    t.same(res.json(), PC02, mac);
  }
  const bad = await f.get('/api/hosts/aa:bb:cc:dd:ee');
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: `mac: "aa:bb:cc:dd:ee" is not a MAC address (${MAC_FORMS})`, field: 'mac' });
  const missing = await f.get('/api/hosts/AA-BB-CC-DD-EE-99');
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'not_found', message: 'host aa:bb:cc:dd:ee:99 not found' });
});

t.test('PUT creates (201) and replaces (200): fields not given are removed; comments and notations stay', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const created = await f.send('PUT', '/api/hosts/5254.0000.0003', { hostname: 'pc03', image: 'rescue', ip: '192.0.2.3', labels: { seat: '3' } });
  t.equal(created.statusCode, 201);
  const pc03 = { mac: '52:54:00:00:00:03', hostname: 'pc03', image: 'rescue', ip: '192.0.2.3', bootOnce: false, labels: { seat: '3' } };
  t.same(created.json(), pc03);
  t.same((await f.get('/api/hosts/52:54:00:00:00:03')).json(), pc03);

  const replaced = await f.send('PUT', '/api/hosts/52-54-00-00-00-01', { hostname: 'teacher-2' });
  t.equal(replaced.statusCode, 200);
  t.same(replaced.json(), { mac: '52:54:00:00:00:01', hostname: 'teacher-2', image: null, ip: null, bootOnce: false, labels: {} });

  // A row read back from GET (nulls and all) can be PUT again.
  const again = await f.send('PUT', '/api/hosts/aa:bb:cc:dd:ee:02', { hostname: 'pc02', image: null, ip: null, bootOnce: true, labels: {} });
  t.equal(again.statusCode, 200);
  t.same(again.json(), PC02);

  // The whole file: every comment where it was, the hand-written key as written, the
  // replaced host without its image and labels, the new one appended.
  t.equal(readFileSync(f.hostsFile, 'utf8'), `${SAMPLE.slice(0, SAMPLE.indexOf('  52:54:00:00:00:01:'))}  52:54:00:00:00:01:
    hostname: teacher-2
  AA-BB-CC-DD-EE-02: { hostname: pc02, bootOnce: true } # written by hand, dashes
  52:54:00:00:00:03:
    hostname: pc03
    image: rescue
    ip: 192.0.2.3
    labels:
      seat: "3"
`.replace('debian/linux        # the', 'debian/linux # the'));
  t.same(f.runtime.hosts.lookup('52:54:00:00:00:03'), pc03, 'the shared host map has it');
});

t.test('concurrent writes are serialised: none is lost', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:00:01:${i.toString(16).padStart(2, '0')}`);
  const results = await Promise.all([
    ...macs.map((mac, i) => f.send('PUT', `/api/hosts/${mac}`, { hostname: `pc${i}` })),
    f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { bootOnce: true }),
  ]);
  t.same(results.map((r) => r.statusCode), [...macs.map(() => 201), 200]);
  const hosts = (await f.get('/api/hosts')).json().hosts;
  t.same(hosts, [{ ...TEACHER, bootOnce: true }, PC02, ...macs.map((mac, i) => ({ mac, hostname: `pc${i}`, image: null, ip: null, bootOnce: false, labels: {} }))]);
});

t.test('PUT refuses bad data with the field named, and leaves the file byte-identical', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const before = readFileSync(f.hostsFile);
  const cases: [string, unknown, number, unknown][] = [
    ['/api/hosts/52:54:00:00:00:01', { image: 'nope' }, 422, UNKNOWN_NOPE],
    ['/api/hosts/52:54:00:00:00:01', { hostname: 'bad name' }, 400, { error: 'bad_request', message: `hostname: ${HOSTNAME_RULE}`, field: 'hostname' }],
    ['/api/hosts/52:54:00:00:00:01', { ip: '300.1.1.1' }, 400, { error: 'bad_request', message: 'ip: must be an IPv4 address', field: 'ip' }],
    ['/api/hosts/52:54:00:00:00:01', { ip: 'fe80::1' }, 400, { error: 'bad_request', message: 'ip: must be an IPv4 address', field: 'ip' }],
    ['/api/hosts/52:54:00:00:00:01', { colour: 'red' }, 400, { error: 'bad_request', message: 'colour: is not a known field', field: 'colour' }],
    ['/api/hosts/52:54:00:00:00:01', { bootOnce: 'yes' }, 400, { error: 'bad_request', message: 'bootOnce: must be boolean', field: 'bootOnce' }],
    ['/api/hosts/52:54:00:00:00:01', { labels: { seat: 1 } }, 400, { error: 'bad_request', message: 'labels.seat: must be string', field: 'labels.seat' }],
    ['/api/hosts/52:54:00:00:00:01', { image: '' }, 400, { error: 'bad_request', message: 'image: must NOT have fewer than 1 characters', field: 'image' }],
    ['/api/hosts/not-a-mac', { hostname: 'x' }, 400, { error: 'bad_request', message: `mac: "not-a-mac" is not a MAC address (${MAC_FORMS})`, field: 'mac' }],
    ['/api/hosts/52:54:00:00:00:01', { hostname: 'bad name', ip: '1.2.3' }, 400, {
      error: 'bad_request', message: `hostname: ${HOSTNAME_RULE} (and 1 more: see lines)`, field: 'hostname',
      lines: [`hostname: ${HOSTNAME_RULE}`, 'ip: must be an IPv4 address'],
    }],
  ];
  for (const [url, body, status, want] of cases) {
    const res = await f.send('PUT', url, body);
    t.equal(res.statusCode, status, JSON.stringify(body));
    t.same(res.json(), want, JSON.stringify(body));
  }
  t.same(readFileSync(f.hostsFile), before, 'the file is byte-identical');
  t.same((await f.get('/api/hosts/52:54:00:00:00:01')).json(), TEACHER);
});

t.test('PATCH merges: given fields change, null removes, the rest stays; 404 when missing', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const res = await f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { image: 'rescue', labels: null, ip: '192.0.2.1' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { ...TEACHER, image: 'rescue', labels: {}, ip: '192.0.2.1' });
  const off = await f.send('PATCH', '/api/hosts/aabbccddee02', { bootOnce: false, hostname: null });
  t.equal(off.statusCode, 200);
  t.same(off.json(), { ...PC02, bootOnce: false, hostname: null });
  t.match(readFileSync(f.hostsFile, 'utf8'), /AA-BB-CC-DD-EE-02: \{\}/, 'both fields left the file');

  const before = readFileSync(f.hostsFile);
  const missing = await f.send('PATCH', '/api/hosts/52:54:00:00:00:99', { hostname: 'x' });
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'not_found', message: 'host 52:54:00:00:00:99 not found' });
  const unknown = await f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { image: 'nope' });
  t.equal(unknown.statusCode, 422);
  t.same(unknown.json(), UNKNOWN_NOPE);
  const bad = await f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { hostname: '-x-' });
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: `hostname: ${HOSTNAME_RULE}`, field: 'hostname' });
  t.same(readFileSync(f.hostsFile), before, 'refused patches leave the file byte-identical');
});

t.test('DELETE removes (204) and then finds nothing (404); the comments stay', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const res = await f.send('DELETE', '/api/hosts/52:54:00:00:00:01');
  t.equal(res.statusCode, 204);
  t.equal(res.body, '');
  const again = await f.send('DELETE', '/api/hosts/52:54:00:00:00:01');
  t.equal(again.statusCode, 404);
  t.same(again.json(), { error: 'not_found', message: 'host 52:54:00:00:00:01 not found' });
  const bad = await f.send('DELETE', '/api/hosts/xyz');
  t.equal(bad.statusCode, 400);
  t.same(bad.json(), { error: 'bad_request', message: `mac: "xyz" is not a MAC address (${MAC_FORMS})`, field: 'mac' });
  t.same((await f.get('/api/hosts')).json().hosts, [PC02]);
  let text = readFileSync(f.hostsFile, 'utf8');
  t.ok(text.includes('# Room B12: the host map') && text.includes('# the installer kernel') && text.includes("# the teacher's machine"), 'comments kept');
  t.equal((await f.send('DELETE', '/api/hosts/aabb.ccdd.ee02')).statusCode, 204, 'the hand-written key, named in another notation');
  text = readFileSync(f.hostsFile, 'utf8');
  t.notMatch(text, /AA-BB-CC-DD-EE-02/);
  t.same((await f.get('/api/hosts')).json().hosts, []);
});

t.test('boot-once sets the image and bootOnce, creating the host when new', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const res = await f.send('POST', '/api/hosts/52:54:00:00:00:01/boot-once', { image: 'rescue' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { ...TEACHER, image: 'rescue', bootOnce: true });
  const created = await f.send('POST', '/api/hosts/52-54-00-00-00-07/boot-once', { image: 'debian' });
  t.equal(created.statusCode, 201);
  t.same(created.json(), { mac: '52:54:00:00:00:07', hostname: null, image: 'debian', ip: null, bootOnce: true, labels: {} });
  const before = readFileSync(f.hostsFile);
  for (const [body, status, want] of [
    [{ image: 'nope' }, 422, UNKNOWN_NOPE],
    [{}, 400, { error: 'bad_request', message: 'image: is required', field: 'image' }],
    [{ image: 'debian', bootOnce: false }, 400, { error: 'bad_request', message: 'bootOnce: is not a known field', field: 'bootOnce' }],
  ] as const) {
    const bad = await f.send('POST', '/api/hosts/52:54:00:00:00:01/boot-once', body);
    t.equal(bad.statusCode, status, JSON.stringify(body));
    t.same(bad.json(), want, JSON.stringify(body));
  }
  t.same(readFileSync(f.hostsFile), before, 'refused: file unchanged');
});

t.test('every write needs the token (401, file unchanged); reads do not on loopback', async (t) => {
  // Eleven refused attempts: past the default limit of failures a minute (429).
  const f = await adminFixture(t, { hosts: SAMPLE, admin: ['maxAuthFailures: 100'] });
  const before = readFileSync(f.hostsFile);
  const writes: [string, string, unknown][] = [
    ['PUT', '/api/hosts/52:54:00:00:00:01', { hostname: 'x' }],
    ['PATCH', '/api/hosts/52:54:00:00:00:01', { hostname: 'x' }],
    ['DELETE', '/api/hosts/52:54:00:00:00:01', undefined],
    ['POST', '/api/hosts/52:54:00:00:00:01/boot-once', { image: 'rescue' }],
    ['POST', '/api/hosts', { hosts: [{ mac: '52:54:00:00:00:09' }] }],
  ];
  for (const [method, url, body] of writes) {
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }]) {
      const res = await f.app.inject({ method: method as 'PUT', url, headers, ...(body === undefined ? {} : { payload: body as object }) });
      t.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`);
      t.same(res.json(), UNAUTHORIZED);
    }
  }
  const csv = await f.app.inject({ method: 'POST', url: '/api/hosts', headers: { 'content-type': 'text/csv' }, payload: '52:54:00:00:00:09,pc09\n' });
  t.equal(csv.statusCode, 401, 'CSV bulk');
  t.same(csv.json(), UNAUTHORIZED);
  t.same(readFileSync(f.hostsFile), before, 'no write landed');
  t.equal((await f.app.inject({ url: '/api/hosts' })).statusCode, 200, 'reads are open on loopback');
  t.equal((await f.app.inject({ url: '/api/hosts/52:54:00:00:00:01' })).statusCode, 200);
});

t.test('reads need the token when protectReads is on', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE, admin: ['protectReads: always'] });
  for (const url of ['/api/hosts', '/api/hosts/52:54:00:00:00:01']) {
    const res = await f.app.inject({ url });
    t.equal(res.statusCode, 401, url);
    t.same(res.json(), UNAUTHORIZED);
  }
});

t.test('a hand edit that broke the file: writes are refused with 409 and its lines, GET shows lastError', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const broken = SAMPLE.replace('action: menu', 'action: sideways');
  writeFileSync(f.hostsFile, broken);
  const line = `${f.hostsFile}:3 defaults.action: must be one of menu, local, image, none`;
  const conflict = { error: 'conflict', message: `the host map file has an error to fix first (a hand edit?): ${line}`, lines: [line] };
  for (const [method, url, body] of [
    ['PUT', '/api/hosts/52:54:00:00:00:05', { hostname: 'pc05' }],
    ['DELETE', '/api/hosts/52:54:00:00:00:01', undefined],
    ['POST', '/api/hosts/52:54:00:00:00:01/boot-once', { image: 'rescue' }],
  ] as const) {
    const res = await f.send(method, url, body);
    t.equal(res.statusCode, 409, `${method} ${url}`);
    t.same(res.json(), conflict);
  }
  t.equal(readFileSync(f.hostsFile, 'utf8'), broken, 'the hand edit is not overwritten');
  // The watcher refuses the edit within a second; the last good map stays and GET says why.
  const end = Date.now() + 3000;
  let body = (await f.get('/api/hosts')).json();
  while (body.lastError === null && Date.now() < end) { await sleep(50); body = (await f.get('/api/hosts')).json(); }
  t.same(body, { hosts: [TEACHER, PC02], defaults: { action: 'menu', image: null, menuDefault: 'local', menuTimeout: 10 }, lastError: [line], warnings: [], bootOnceEnds: 'booted' });
});

t.test('a hand edit that broke one host: a write to that host is refused with 409, not blamed on its fields', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const broken = SAMPLE.replace('    image: debian\n', '    image: debian\n    ip: 999.1.1.1\n');
  writeFileSync(f.hostsFile, broken);
  const line = `${f.hostsFile}:18 hosts.52:54:00:00:00:01.ip: must be an IPv4 address`;
  const conflict = { error: 'conflict', message: `the host map file has an error to fix first (a hand edit?): ${line}`, lines: [line] };
  for (const [method, body] of [['PATCH', { hostname: 'teacher-2' }], ['PUT', { ip: '192.0.2.1' }], ['PATCH', { ip: null }]] as const) {
    const res = await f.send(method, '/api/hosts/52:54:00:00:00:01', body);
    t.equal(res.statusCode, 409, `${method} ${JSON.stringify(body)}`);
    t.same(res.json(), conflict);
  }
  t.equal(readFileSync(f.hostsFile, 'utf8'), broken, 'the hand edit is left for its author to fix');
});

const PXE_ROM: ClientKind = { pxe: true, http: false, ipxe: false, archCode: 0, arch: 'bios', firmware: 'bios', vendorClass: 'PXEClient:Arch:00000' };

t.test('a write is live at once: DHCP decides with it, and a real TFTP client gets the new script within a second', async (t) => {
  const hosts = `${SAMPLE.replace('  rescue:\n', '  pxelinux:\n    files: { bios: pxelinux.0 }\n  rescue:\n')}`;
  const f = await adminFixture(t, { hosts, tftp: [], files: { 'debian/linux': 'kernel', 'rescue.ipxe': '#!ipxe\n' } });
  t.equal(f.runtime.supervisor.row('tftp').state, 'running');
  const port = f.runtime.supervisor.row('tftp').bound[0].port;
  const fetchScript = async (mac: string) => (await run('curl', ['-sS', '--max-time', '5', `tftp://127.0.0.1:${port}/bootlab/${mac}.ipxe`])).stdout;

  const kernelLine = /^kernel \/debian\/linux initrd=initrd.gz auto=true$/m;
  t.match(await fetchScript('aa-bb-cc-dd-ee-02'), /^menu bootlab: choose what this machine boots$/m, 'before: pc02 has no image and gets the menu');
  const res = await f.send('PUT', '/api/hosts/AA-BB-CC-DD-EE-02', { hostname: 'pc02', image: 'debian' });
  t.equal(res.statusCode, 200);
  const script = await fetchScript('aa-bb-cc-dd-ee-02');
  t.match(script, kernelLine, 'after: the script loads the debian kernel');
  t.match(script, /^initrd \/debian\/initrd.gz$/m);
  t.notMatch(script, /^menu /m);
  const patched = await f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { image: 'rescue' });
  t.equal(patched.statusCode, 200);
  t.match(await fetchScript('52-54-00-00-00-01'), /^chain \/rescue.ipxe$/m, 'a PATCH too: the teacher now chains the rescue script');

  // A new machine registered by boot-once, and a list: their kernel line from the next TFTP read.
  await f.send('POST', '/api/hosts/52:54:00:00:00:0a/boot-once', { image: 'debian' });
  t.match(await fetchScript('52-54-00-00-00-0a'), kernelLine);
  await f.send('POST', '/api/hosts', '52:54:00:00:00:0b,pc0b,debian\n', { 'content-type': 'text/csv' });
  t.match(await fetchScript('52-54-00-00-00-0b'), kernelLine);

  // DHCP reads the same HostMap instance: its next decision follows the write.
  const cfg = f.runtime.config.dhcp;
  t.same(chooseBoot(PXE_ROM, '52:54:00:00:00:01', f.runtime.hosts, cfg, '127.0.0.1').file, cfg.bootFiles.bios, 'a PXE ROM first gets iPXE');
  await f.send('PATCH', '/api/hosts/52:54:00:00:00:01', { image: 'pxelinux' });
  t.same(chooseBoot(PXE_ROM, '52:54:00:00:00:01', f.runtime.hosts, cfg, '127.0.0.1'), { file: 'pxelinux.0', reason: 'image pxelinux (bios)' });
  await f.send('DELETE', '/api/hosts/52:54:00:00:00:01');
  t.match(await fetchScript('52-54-00-00-00-01'), /^menu bootlab: choose what this machine boots$/m, 'deleted: back to the defaults (the menu)');
});
