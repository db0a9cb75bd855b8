// Issue 15 D4: hostnames and the classroom list's header.
// - A write that gives a host a hostname another MAC has is refused (400 naming
//   `hostname`), in one host or in a list; a file that already has two only warns (GET
//   /api/hosts shows it), and in full DHCP mode it is refused at start, naming the lines.
// - A CSV header may name its columns the way spreadsheets do (Name, MAC address, OS...);
//   an unknown one is refused with the list of what is accepted.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../../services/runtime/runtime.js';
import { HostMapError } from '../../services/core/hostmap.js';
import { silentLogger } from '../../services/core/log.js';
import { adminFixture, applianceYaml } from '../helpers/admin.js';
import { PC02, SAMPLE, TEACHER } from '../helpers/hosts-sample.js';

const CSV = { 'content-type': 'text/csv' };
const TAKEN = (name: string, owner: string) => `"${name}" is already the hostname of ${owner}: each machine needs a name of its own`;
const row = (mac: string, more: Record<string, unknown> = {}) => ({
  mac,
  hostname: null,
  image: null,
  ip: null,
  bootOnce: false,
  labels: {},
  ...more,
});

t.test('a hostname another MAC has is refused, in any case; the host that has it may keep it', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const before = readFileSync(f.hostsFile);
  const cases: [string, string, unknown, unknown][] = [
    ['PUT', '/api/hosts/52:54:00:00:00:03', { hostname: 'teacher' }, { error: 'bad_request', message: `hostname: ${TAKEN('teacher', '52:54:00:00:00:01')}`, field: 'hostname' }],
    ['PUT', '/api/hosts/52:54:00:00:00:03', { hostname: 'PC02', image: 'debian' }, { error: 'bad_request', message: `hostname: ${TAKEN('PC02', 'aa:bb:cc:dd:ee:02')}`, field: 'hostname' }],
    ['PATCH', '/api/hosts/aa:bb:cc:dd:ee:02', { hostname: 'Teacher' }, { error: 'bad_request', message: `hostname: ${TAKEN('Teacher', '52:54:00:00:00:01')}`, field: 'hostname' }],
    ['POST', '/api/hosts', { hosts: [{ mac: '52:54:00:00:00:03', hostname: 'pc03' }, { mac: '52:54:00:00:00:04', hostname: 'teacher' }] },
      { error: 'bad_request', message: `hosts[1].hostname: ${TAKEN('teacher', '52:54:00:00:00:01')}`, field: 'hosts[1].hostname' }],
    ['POST', '/api/hosts', { hosts: [{ mac: '52:54:00:00:00:03', hostname: 'pc03' }, { mac: '52:54:00:00:00:04', hostname: 'PC03' }] },
      { error: 'bad_request', message: 'hosts[1].hostname: "PC03" is listed twice (first at hosts[0]): each machine needs a name of its own', field: 'hosts[1].hostname' }],
  ];
  for (const [method, url, body, want] of cases) {
    const res = await f.send(method as 'PUT', url, body);
    t.equal(res.statusCode, 400, `${method} ${url} ${JSON.stringify(body)}`);
    t.same(res.json(), want);
  }
  const csv = await f.send('POST', '/api/hosts', 'mac,hostname\n52:54:00:00:00:03,pc03\n52:54:00:00:00:04,pc02\n', CSV);
  t.equal(csv.statusCode, 400);
  t.same(csv.json(), { error: 'bad_request', message: `line 3: hostname: ${TAKEN('pc02', 'aa:bb:cc:dd:ee:02')}`, field: 'line 3: hostname' });
  t.same(readFileSync(f.hostsFile), before, 'nothing was written');

  // Its own name, given again (the dashboard's form sends every field): fine.
  const same = await f.send('PUT', '/api/hosts/52:54:00:00:00:01', { hostname: 'teacher', image: 'rescue' });
  t.equal(same.statusCode, 200);
  // Moving a name: free it first, then give it.
  t.equal((await f.send('PATCH', '/api/hosts/aa:bb:cc:dd:ee:02', { hostname: null })).statusCode, 200);
  const moved = await f.send('PUT', '/api/hosts/52:54:00:00:00:03', { hostname: 'pc02' });
  t.equal(moved.statusCode, 201);
  t.same(moved.json(), row('52:54:00:00:00:03', { hostname: 'pc02' }));
});

t.test('a file with two hosts of one hostname: loaded with a warning GET shows; their other fields can still be written', async (t) => {
  const hosts = `${SAMPLE}  52:54:00:00:00:07: { hostname: Teacher }\n`;
  const f = await adminFixture(t, { hosts });
  const warning = `${f.hostsFile}:20 hosts.52:54:00:00:00:07.hostname: "Teacher" is also the hostname of 52:54:00:00:00:01 (line 16): DHCP gives both machines that name`;
  const body = (await f.get('/api/hosts')).json();
  t.same(body.warnings, [warning]);
  t.same(body.hosts, [TEACHER, PC02, row('52:54:00:00:00:07', { hostname: 'Teacher' })]);
  const res = await f.send('PUT', '/api/hosts/52:54:00:00:00:07', { hostname: 'Teacher', image: 'debian' });
  t.equal(res.statusCode, 200, 'the host keeps the name it has');
  t.same((await f.get('/api/hosts')).json().warnings, [warning], 'still warned');
  const renamed = await f.send('PATCH', '/api/hosts/52:54:00:00:00:07', { hostname: 'pc07' });
  t.equal(renamed.statusCode, 200);
  t.same((await f.get('/api/hosts')).json().warnings, [], 'renamed: the warning goes');
});

t.test('full DHCP mode: a host map with two hosts of one hostname is refused at start, naming both lines', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-names-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hosts.yaml'), `${SAMPLE}  52:54:00:00:00:07: { hostname: pc02 }\n`);
  const config = applianceYaml(dir, {}).replace('dhcp:\n  mode: off\n', 'dhcp:\n  mode: full\n  pool: { start: 192.0.2.100, end: 192.0.2.150 }\n');
  t.match(config, /mode: full/);
  writeFileSync(join(dir, 'appliance.yaml'), config);
  const err = await createRuntime(join(dir, 'appliance.yaml'), { log: silentLogger(), processMetrics: false }).catch((e: unknown) => e);
  t.ok(err instanceof HostMapError, 'refused');
  t.same((err as HostMapError).lines, [`${join(dir, 'hosts.yaml')}:20 hosts.52:54:00:00:00:07.hostname: "pc02" is also the hostname of AA-BB-CC-DD-EE-02 (line 19): in full DHCP mode each machine needs a name of its own`]);
});

t.test('CSV headers as spreadsheets write them: any case, spaces, the usual names; ";" and tabs', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const lists: [string, string, Record<string, unknown>][] = [
    ['Name,MAC,Image\npc31,52:54:00:00:00:31,debian\n', '52:54:00:00:00:31', { hostname: 'pc31', image: 'debian' }],
    ['Computer name;MAC address;OS;IP address\npc32;52-54-00-00-00-32;rescue;192.0.2.32\n', '52:54:00:00:00:32', { hostname: 'pc32', image: 'rescue', ip: '192.0.2.32' }],
    ['  HOST NAME ,  Hardware Address\npc33,5254.0000.0033\n', '52:54:00:00:00:33', { hostname: 'pc33' }],
    ['PC\tEthernet\tIPv4\npc34\t525400000034\t192.0.2.34\n', '52:54:00:00:00:34', { hostname: 'pc34', ip: '192.0.2.34' }],
    ['mac_address,host-name,operating system\n52:54:00:00:00:35,pc35,debian\n', '52:54:00:00:00:35', { hostname: 'pc35', image: 'debian' }],
    ['Physical Address,Hostname\n52-54-00-00-00-36,pc36\n', '52:54:00:00:00:36', { hostname: 'pc36' }],
    // Empty columns at the end of every line, as spreadsheets export them.
    ['MAC,Name,,\n52:54:00:00:00:37,pc37,,\n', '52:54:00:00:00:37', { hostname: 'pc37' }],
  ];
  for (const [list, mac, fields] of lists) {
    const res = await f.send('POST', '/api/hosts', list, CSV);
    t.equal(res.statusCode, 200, JSON.stringify(list));
    t.same(res.json(), { created: 1, updated: 0, hosts: [row(mac, fields)] }, JSON.stringify(list));
  }
});

t.test('CSV headers: an unknown column lists what is accepted; a header without a MAC column, or one column named twice, is refused', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const before = readFileSync(f.hostsFile);
  const accepted = 'mac: MAC, MAC address, Hardware address, HW address, Ethernet, Ethernet address, Physical address; '
    + 'hostname: Hostname, Host name, Name, Computer name, Computer, PC, PC name, Machine, Device name; '
    + 'image: Image, OS, Operating system, Boot image; ip: IP, IP address, IPv4, IPv4 address, Fixed IP';
  const cases: [string, string, string][] = [
    ['Name,MAC,Room\npc31,52:54:00:00:00:31,B12\n', 'line 1: Room', `is not a column bootlab knows; it accepts (in any case, with or without spaces) ${accepted}`],
    ['Name,Image\npc31,debian\n', 'line 1', 'the header names no MAC column; it accepts MAC, MAC address, Hardware address, HW address, Ethernet, Ethernet address, Physical address'],
    ['MAC,Name,Hostname\n52:54:00:00:00:31,a,b\n', 'line 1: Hostname', 'is a column named twice (Name is the hostname column too)'],
    ['MAC,,Name\n52:54:00:00:00:31,x,pc31\n', 'line 1: column 2', 'has no name (name it, or remove the column)'],
    ['MAC,Name,,\n52:54:00:00:00:31,pc31,,B12\n', 'line 2', 'has 4 fields; expected at most 2 (mac,hostname)'],
  ];
  for (const [list, field, message] of cases) {
    const res = await f.send('POST', '/api/hosts', list, CSV);
    t.equal(res.statusCode, 400, JSON.stringify(list));
    t.same(res.json(), { error: 'bad_request', message: `${field}: ${message}`, field }, JSON.stringify(list));
  }
  t.same(readFileSync(f.hostsFile), before, 'nothing was written');
});
