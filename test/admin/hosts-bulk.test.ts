// POST /api/hosts: a classroom list as JSON or CSV, in one atomic write. Rows set what
// they give and keep the rest; any bad row refuses the whole list, names the row, and
// leaves hosts.yaml byte-identical.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { adminFixture, type AdminFixture } from '../helpers/admin.js';
import { HOSTNAME_RULE, MAC_FORMS, PC02, SAMPLE, TEACHER } from '../helpers/hosts-sample.js';

const CSV = { 'content-type': 'text/csv' };
const row = (mac: string, more: Record<string, unknown> = {}) => ({
  mac,
  hostname: null,
  image: null,
  ip: null,
  bootOnce: false,
  labels: {},
  ...more,
});
const IMAGES = '(debian, rescue)';
const ACCEPTED = 'mac: MAC, MAC address, Hardware address, HW address, Ethernet, Ethernet address, Physical address; '
  + 'hostname: Hostname, Host name, Name, Computer name, Computer, PC, PC name, Machine, Device name; '
  + 'image: Image, OS, Operating system, Boot image; ip: IP, IP address, IPv4, IPv4 address, Fixed IP';

/** Sends each bad list and checks the exact refusal, then that the file did not change. */
async function refused(
  t: Tap,
  f: AdminFixture,
  cases: [unknown, number, unknown, Record<string, string>?][],
): Promise<void> {
  const before = readFileSync(f.hostsFile);
  for (const [body, status, want, headers] of cases) {
    const res = await f.send('POST', '/api/hosts', body, headers);
    t.equal(res.statusCode, status, JSON.stringify(body));
    t.same(res.json(), want, JSON.stringify(body));
  }
  t.same(readFileSync(f.hostsFile), before, 'every refused list left the file byte-identical');
  t.same((await f.get('/api/hosts')).json().hosts, [TEACHER, PC02], 'and the map as it was');
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('JSON: one write creates the new hosts and updates the known ones, keeping their other fields and the comments', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const res = await f.send('POST', '/api/hosts', { hosts: [
    { mac: '52-54-00-00-00-11', hostname: 'pc11', image: 'debian' },
    { mac: 'AABBCCDDEE02', image: 'rescue' },
    { mac: '5254.0000.0012', ip: '192.0.2.12', hostname: null },
    { mac: '52:54:00:00:00:01', labels: undefined, hostname: 'teacher' },
  ] });
  t.equal(res.statusCode, 200);
  const hosts = [row('52:54:00:00:00:11', { hostname: 'pc11', image: 'debian' }), { ...PC02, image: 'rescue' }, row('52:54:00:00:00:12', { ip: '192.0.2.12' }), TEACHER];
  t.same(res.json(), { created: 2, updated: 2, hosts });
  t.same((await f.get('/api/hosts')).json().hosts, [TEACHER, { ...PC02, image: 'rescue' }, hosts[0], hosts[2]]);
  const text = readFileSync(f.hostsFile, 'utf8');
  t.ok(text.startsWith('# Room B12: the host map (this comment must survive every write)\n'), 'the head comment stays');
  t.match(text, /  # the teacher's machine\n  52:54:00:00:00:01:\n/);
  t.match(text, /  AA-BB-CC-DD-EE-02: \{ hostname: pc02, bootOnce: true, image: rescue \} # written by hand, dashes\n/, 'the hand-written line keeps its key, style and comment');
  t.match(text, /  52:54:00:00:00:11:\n    hostname: pc11\n    image: debian\n  52:54:00:00:00:12:\n    ip: 192.0.2.12\n$/, 'new hosts appended in list order');
});

t.test('JSON: a bad row refuses the whole list, named by its index', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const list = (...hosts: unknown[]) => ({ hosts });
  const ok = { mac: '52:54:00:00:00:20', hostname: 'pc20', image: 'debian' };
  await refused(t, f, [
    [list(ok, { mac: '52:54:00:00:00:21' }, { mac: 'zz' }), 400, { error: 'bad_request', message: `hosts[2].mac: "zz" is not a MAC address (${MAC_FORMS})`, field: 'hosts[2].mac' }],
    [list(ok, { mac: '5254.0000.0020' }), 400, { error: 'bad_request', message: 'hosts[1].mac: 52:54:00:00:00:20 is listed twice (first at hosts[0])', field: 'hosts[1].mac' }],
    [list(ok, { mac: '52:54:00:00:00:21', image: 'nope' }), 422, { error: 'unknown_image', message: `hosts[1].image: "nope" is not in the host map's images ${IMAGES}`, field: 'hosts[1].image' }],
    [list(ok, { mac: '52:54:00:00:00:21', hostname: 'pc 21' }), 400, { error: 'bad_request', message: `hosts[1].hostname: ${HOSTNAME_RULE}`, field: 'hosts[1].hostname' }],
    [list(ok, { mac: '52:54:00:00:00:01', ip: '10.0.0' }), 400, { error: 'bad_request', message: 'hosts[1].ip: must be an IPv4 address', field: 'hosts[1].ip' }],
    [list({ mac: '52:54:00:00:00:21', hostname: 'a_b' }, ok, { mac: '52:54:00:00:00:22', ip: '1.2.3.4.5' }), 400, {
      error: 'bad_request', message: `hosts[0].hostname: ${HOSTNAME_RULE} (and 1 more: see lines)`, field: 'hosts[0].hostname',
      lines: [`hosts[0].hostname: ${HOSTNAME_RULE}`, 'hosts[2].ip: must be an IPv4 address'],
    }],
    [list({ mac: 'x' }, ok, { mac: '52:54:00:00:00:21', image: 'nope' }), 400, {
      error: 'bad_request', message: `hosts[0].mac: "x" is not a MAC address (${MAC_FORMS}) (and 1 more: see lines)`, field: 'hosts[0].mac',
      lines: [`hosts[0].mac: "x" is not a MAC address (${MAC_FORMS})`, `hosts[2].image: "nope" is not in the host map's images ${IMAGES}`],
    }],
    [list(ok, { mac: '52:54:00:00:00:21', bootOnce: true }), 400, { error: 'bad_request', message: 'hosts[1].bootOnce: is not a known field', field: 'hosts[1].bootOnce' }],
    [list({ hostname: 'pc' }), 400, { error: 'bad_request', message: 'hosts[0].mac: is required', field: 'hosts[0].mac' }],
    [list(), 400, { error: 'bad_request', message: 'hosts: must NOT have fewer than 1 items', field: 'hosts' }],
    [{}, 400, { error: 'bad_request', message: 'hosts: is required', field: 'hosts' }],
    [undefined, 400, { error: 'bad_request', message: 'body: send {"hosts": [...]} as application/json, or a list as text/csv', field: 'body' }],
    ['{"hosts": [', 400, { error: 'bad_request', message: 'body: not valid JSON (Body is not valid JSON but content-type is set to \'application/json\')', field: 'body' }, { 'content-type': 'application/json' }],
    ['<hosts/>', 415, { error: 'unsupported_media_type', message: 'content type application/xml is not accepted: send application/json or text/csv' }, { 'content-type': 'application/xml' }],
  ]);
});

t.test('CSV: header optional, comments and blank lines skipped, quotes and CRLF read; empty cells keep what a host had', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const list = [
    '\uFEFF# Room B12, row 2 (exported from the school spreadsheet)',
    'MAC,Hostname,Image',
    '',
    '52-54-00-00-00-31,pc31,debian',
    '  # seat 32 is broken this week',
    '"5254.0000.0033", "pc33" ,rescue',
    '52:54:00:00:00:01,,rescue',
    '',
  ].join('\r\n');
  const res = await f.send('POST', '/api/hosts', list, CSV);
  t.equal(res.statusCode, 200);
  const hosts = [row('52:54:00:00:00:31', { hostname: 'pc31', image: 'debian' }), row('52:54:00:00:00:33', { hostname: 'pc33', image: 'rescue' }), { ...TEACHER, image: 'rescue' }];
  t.same(res.json(), { created: 2, updated: 1, hosts });

  // No header, an ip column, text/plain (a paste), then a header naming the columns in another order.
  const plain = await f.send('POST', '/api/hosts', '52:54:00:00:00:34,pc34,debian,192.0.2.34\n52:54:00:00:00:35\n', { 'content-type': 'text/plain; charset=utf-8' });
  t.equal(plain.statusCode, 200);
  t.same(plain.json(), { created: 2, updated: 0, hosts: [row('52:54:00:00:00:34', { hostname: 'pc34', image: 'debian', ip: '192.0.2.34' }), row('52:54:00:00:00:35')] });
  const reordered = await f.send('POST', '/api/hosts', 'image,mac\ndebian,52:54:00:00:00:35\n', CSV);
  t.same(reordered.json(), { created: 0, updated: 1, hosts: [row('52:54:00:00:00:35', { image: 'debian' })] });

  // Pasted from a spreadsheet: tab-separated.
  const tabs = await f.send('POST', '/api/hosts', 'mac\thostname\n52:54:00:00:00:36\tpc36\n', CSV);
  t.same(tabs.json(), { created: 1, updated: 0, hosts: [row('52:54:00:00:00:36', { hostname: 'pc36' })] });
  t.ok(readFileSync(f.hostsFile, 'utf8').startsWith('# Room B12: the host map'), 'comments kept');
});

t.test('CSV: a bad line refuses the list, named by its line number', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const bad = (message: string, field: string, error = 'bad_request') => ({ error, message: `${field}: ${message}`, field });
  await refused(t, f, [
    ['mac,hostname,image\n52:54:00:00:00:41,pc41,debian\n52:54:00:00:00:4g,pc42\n', 400, bad(`"52:54:00:00:00:4g" is not a MAC address (${MAC_FORMS})`, 'line 3: mac'), CSV],
    ['# list\n52:54:00:00:00:41,pc41\n\n5254.0000.0041,pc41b\n', 400, bad('52:54:00:00:00:41 is listed twice (first at line 2)', 'line 4: mac'), CSV],
    ['52:54:00:00:00:41,pc41,nope\n', 422, bad(`"nope" is not in the host map's images ${IMAGES}`, 'line 1: image', 'unknown_image'), CSV],
    ['52:54:00:00:00:41,pc41\n52:54:00:00:00:42,-pc42\n', 400, bad(HOSTNAME_RULE, 'line 2: hostname'), CSV],
    ['52:54:00:00:00:41,pc41,debian,192.0.2.1,extra\n', 400, bad('has 5 fields; expected at most 4 (mac,hostname,image,ip)', 'line 1'), CSV],
    ['mac,colour\n52:54:00:00:00:41,red\n', 400, bad(`is not a column bootlab knows; it accepts (in any case, with or without spaces) ${ACCEPTED}`, 'line 1: colour'), CSV],
    ['mac,hostname,mac\n', 400, bad('is a column named twice (mac is the mac column too)', 'line 1: mac'), CSV],
    ['52:54:00:00:00:41,"pc41\n52:54:00:00:00:42,pc42\n', 400, bad('a quoted field is not closed', 'line 1'), CSV],
    ['# only a comment\n\nmac,hostname\n', 400, bad('the list has no host lines', 'body'), CSV],
    ['', 400, bad('the list has no host lines', 'body'), CSV],
  ]);
});

t.test('a list against a host map file broken by a hand edit: 409, the edit is not overwritten', async (t) => {
  const f = await adminFixture(t, { hosts: SAMPLE });
  const broken = `${SAMPLE}  this is: [not closed\n`;
  writeFileSync(f.hostsFile, broken);
  const res = await f.send('POST', '/api/hosts', '52:54:00:00:00:51,pc51\n', CSV);
  t.equal(res.statusCode, 409);
  const body = res.json();
  t.equal(body.error, 'conflict');
  t.ok(body.lines.length > 0 && body.lines.every((l: string) => l.startsWith(`${f.hostsFile}:`)), 'lines name the file and line');
  t.same(body, { error: 'conflict', message: `the host map file has an error to fix first (a hand edit?): ${body.lines[0]}`, lines: body.lines });
  t.equal(readFileSync(f.hostsFile, 'utf8'), broken);
});
