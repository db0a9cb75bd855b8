// The host map: notations, validation lines, live reload of hand edits, refused edits
// that keep the last good map, and writes that keep comments, key order and hand edits.
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostMap, HostMapError, normalizeMac } from '../../services/core/hostmap.js';
import { parseHostMap } from '../../services/core/hostmap-parse.js';
import { silentLogger } from '../../services/core/log.js';
import { waitFor } from '../helpers/util.js';

const SAMPLE = `# Room B12, first row
defaults:
  action: menu

images:
  debian:
    kernel: debian/linux        # the installer kernel
    initrd: debian/initrd.gz
    cmdline: auto=true priority=critical
  rescue:
    script: rescue.ipxe

hosts:
  # the teacher's machine
  52:54:00:00:00:01:
    hostname: teacher
    image: debian
  AA-BB-CC-DD-EE-02: { hostname: pc02, bootOnce: true }
`;

t.test('MAC addresses in every usual notation come to one normal form', async (t) => {
  for (const [input, want] of [
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'], ['AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff'], ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'],
    ['AABBCCDDEEFF', 'aa:bb:cc:dd:ee:ff'], ['0:1:2:3:4:5', '00:01:02:03:04:05'], [' 52:54:00:12:34:56 ', '52:54:00:12:34:56'],
  ] as const) t.equal(normalizeMac(input), want, input);
  for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'gg:bb:cc:dd:ee:ff', 'aa:bb-cc:dd:ee:ff', 'aabb.ccdd.eef']) t.equal(normalizeMac(bad), null, `refused: "${bad}"`);
});

t.test('the sample parses; bare-digit MACs keep their leading zeros', async (t) => {
  const { data } = parseHostMap(`${SAMPLE}  001122334455:\n    labels: { room: B12, seat: 4 }\n`, 'hosts.yaml');
  t.same([...data.hosts.keys()], ['52:54:00:00:00:01', 'aa:bb:cc:dd:ee:02', '00:11:22:33:44:55']);
  t.same(data.hosts.get('aa:bb:cc:dd:ee:02'), { mac: 'aa:bb:cc:dd:ee:02', hostname: 'pc02', image: null, ip: null, bootOnce: true, labels: {} });
  t.same(data.hosts.get('00:11:22:33:44:55')?.labels, { room: 'B12', seat: '4' });
  t.same(data.images.get('debian'), { name: 'debian', kind: 'kernel', kernel: 'debian/linux', initrd: 'debian/initrd.gz', cmdline: 'auto=true priority=critical', loader: 'ipxe' });
  t.same(data.images.get('rescue'), { name: 'rescue', kind: 'script', script: 'rescue.ipxe' });
  t.same(data.defaults, { action: 'menu', image: null, menuDefault: 'local', menuTimeout: 10 });
});

t.test('errors name the file, the line and the key', async (t) => {
  const cases: [string, string][] = [
    ['hosts:\n  zz:00:00:00:00:00: {}\n', 'h.yaml:2 hosts.zz:00:00:00:00:00: is not a MAC address'],
    ['images:\n  a: { kernel: x, script: y }\n', 'h.yaml:2 images.a: has kernel and script: choose one'],
    ['images:\n  a: {}\n', 'h.yaml:2 images.a: needs one of kernel, script, chain or files'],
    ['images:\n  a:\n    chain: ftp://x/y\n', 'h.yaml:3 images.a.chain: must be an http://, https:// or tftp:// URL'],
    ['images:\n  a:\n    files: { bios: undionly.kpxe, mips: x }\n', 'h.yaml:3 images.a.files.mips: unknown key'],
    ['hosts:\n  aa:bb:cc:dd:ee:ff:\n    image: nope\n', 'h.yaml:3 hosts.aa:bb:cc:dd:ee:ff.image: names no image in images'],
    ['hosts:\n  aa:bb:cc:dd:ee:ff:\n    ip: 300.1.1.1\n', 'h.yaml:3 hosts.aa:bb:cc:dd:ee:ff.ip: must be an IPv4 address'],
    ['hosts:\n  aa:bb:cc:dd:ee:ff:\n    hostname: "bad name"\n', 'h.yaml:3 hosts.aa:bb:cc:dd:ee:ff.hostname: must be a host name'],
    ['hosts:\n  aa:bb:cc:dd:ee:ff: {}\n  AABBCCDDEEFF: {}\n', 'h.yaml:3 hosts.AABBCCDDEEFF: is the same MAC as aa:bb:cc:dd:ee:ff'],
    ['defaults:\n  action: image\n', 'h.yaml:2 defaults.image: is required when defaults.action is image'],
    ['hosts:\n  aa:bb:cc:dd:ee:ff:\n    colour: red\n', 'h.yaml:3 hosts.aa:bb:cc:dd:ee:ff.colour: unknown key'],
    ['hosts: [1\n', 'h.yaml:2 '],
  ];
  for (const [text, want] of cases) {
    try {
      parseHostMap(text, 'h.yaml');
      t.fail(`accepted: ${JSON.stringify(text)}`);
    } catch (e) {
      t.ok(e instanceof HostMapError, 'a HostMapError');
      t.equal((e as HostMapError).lines.length, 1, `one line for ${JSON.stringify(text)}`);
      t.ok((e as HostMapError).lines[0].startsWith(want), `${(e as HostMapError).lines[0]} starts with ${want}`);
    }
  }
});

t.test('lookups in any notation; a missing file is an empty map', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const map = await HostMap.open(join(dir, 'hosts.yaml'), silentLogger());
  t.equal(map.lookup('AA:BB:CC:DD:EE:02')?.hostname, 'pc02');
  t.equal(map.lookup('525400000001')?.hostname, 'teacher');
  t.equal(map.lookup('52:54:00:00:00:99'), undefined);
  t.equal(map.lookup('not a mac'), undefined);
  const empty = await HostMap.open(join(dir, 'none.yaml'), silentLogger());
  t.equal(empty.hosts.size, 0);
});

t.test('a hand edit is live within a second; an invalid one keeps the last good map', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  t.teardown(() => map.close());
  map.watch();
  writeFileSync(file, SAMPLE.replace('hostname: pc02', 'hostname: pc02b'));
  t.ok(await waitFor(() => map.lookup('aa:bb:cc:dd:ee:02')?.hostname === 'pc02b', 20_000), 'the edit is seen (no time is asserted)');
  writeFileSync(file, SAMPLE.replace('image: debian', 'image: missing'));
  t.ok(await waitFor(() => map.lastError !== null, 3000), 'the invalid edit is noticed');
  t.match(map.lastError?.[0], /hosts\.yaml:17 hosts\.52:54:00:00:00:01\.image: names no image/);
  t.equal(map.lookup('52:54:00:00:00:01')?.image, 'debian', 'the last good map is still served');
  t.equal(map.lookup('aa:bb:cc:dd:ee:02')?.hostname, 'pc02b');
  writeFileSync(file, SAMPLE);
  t.ok(await waitFor(() => map.lastError === null && map.lookup('aa:bb:cc:dd:ee:02')?.hostname === 'pc02', 3000), 'a fixed file clears the error');
});

t.test('writes keep comments and key order, and use the notation already in the file', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  const host = await map.setHost('aa-bb-cc-dd-ee-02', { image: 'rescue', bootOnce: null });
  t.same(host, { mac: 'aa:bb:cc:dd:ee:02', hostname: 'pc02', image: 'rescue', ip: null, bootOnce: false, labels: {} });
  await map.setHost('52:54:00:00:00:03', { hostname: 'pc03', ip: '192.0.2.103', labels: { seat: '3' } });
  const text = readFileSync(file, 'utf8');
  for (const kept of ['# Room B12, first row', '# the installer kernel', "# the teacher's machine"]) t.ok(text.includes(kept), `comment kept: ${kept}`);
  t.ok(text.indexOf('defaults:') < text.indexOf('images:') && text.indexOf('images:') < text.indexOf('hosts:'), 'top-level order kept');
  t.match(text, /AA-BB-CC-DD-EE-02: \{ hostname: pc02, image: rescue \}/, 'the existing key and flow style are kept');
  t.ok(text.indexOf('teacher') < text.indexOf('pc02') && text.indexOf('pc02') < text.indexOf('pc03'), 'the new host comes last');
  t.equal(map.lookup('52:54:00:00:00:03')?.ip, '192.0.2.103');
  t.same(readdirSync(dir), ['hosts.yaml'], 'no temporary file left');
  t.equal(await map.removeHost('525400000003'), true);
  t.equal(await map.removeHost('525400000003'), false, 'removing twice: false');
  t.equal(map.lookup('52:54:00:00:00:03'), undefined);
});

t.test('the first host added to an empty `hosts: {}` is written in block style, for hand edits', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': '# the room\nhosts: {}\n' });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  await map.setHost('52-54-00-00-00-01', { hostname: 'pc01', image: null });
  await map.setHost('52:54:00:00:00:02', { hostname: 'pc02' });
  t.equal(readFileSync(file, 'utf8'), '# the room\nhosts:\n  52:54:00:00:00:01:\n    hostname: pc01\n  52:54:00:00:00:02:\n    hostname: pc02\n');
  map.close();
});

t.test('an invalid write is refused and the file stays as it was', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  await t.rejects(map.setHost('52:54:00:00:00:01', { image: 'nope' }), HostMapError);
  await t.rejects(map.setHost('not-a-mac', { hostname: 'x' }), HostMapError);
  t.equal(readFileSync(file, 'utf8'), SAMPLE, 'untouched');
  t.equal(map.lookup('52:54:00:00:00:01')?.image, 'debian');
});

t.test('a hand edit made since the last read is kept by the next write', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger()); // not watching: the map has not seen the edit
  writeFileSync(file, `${SAMPLE}  # added by hand\n  52:54:00:00:00:09: { hostname: byhand }\n`);
  await map.setHost('52:54:00:00:00:01', { hostname: 'teacher2' });
  const text = readFileSync(file, 'utf8');
  t.match(text, /byhand/, 'the hand-added host is still in the file');
  t.match(text, /# added by hand/);
  t.equal(map.lookup('52:54:00:00:00:09')?.hostname, 'byhand', 'and in the map');
  t.equal(map.lookup('52:54:00:00:00:01')?.hostname, 'teacher2');
});

t.test('100 concurrent writes are serialised: all land, the file stays valid YAML with its comments', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  await Promise.all(Array.from({ length: 100 }, (_, i) => map.setHost(mac(i), { hostname: `seat${i}` })));
  const again = await HostMap.open(file, silentLogger());
  for (let i = 0; i < 100; i++) t.equal(again.lookup(mac(i))?.hostname, `seat${i}`);
  t.equal(again.hosts.size, 102);
  const text = readFileSync(file, 'utf8');
  const comments = SAMPLE.split('\n').filter((l) => l.trim().startsWith('#'));
  t.ok(comments.length > 0);
  for (const c of comments) t.ok(text.includes(c.trim()), `comment kept: ${c.trim()}`);
  t.same(readdirSync(dir), ['hosts.yaml'], 'no temporary file left');
});

t.test('the shipped config/hosts.yaml is valid', async (t) => {
  const file = new URL('../../../config/hosts.yaml', import.meta.url);
  const { data } = parseHostMap(readFileSync(file, 'utf8'), 'config/hosts.yaml');
  t.same(data.defaults, { action: 'menu', image: null, menuDefault: 'local', menuTimeout: 10 });
});

/** The one error line parseHostMap gives for `text`, or null when it parses. */
function oneError(t: { equal(a: unknown, b: unknown, m: string): unknown }, text: string): string | null {
  try {
    parseHostMap(text, 'h.yaml');
    return null;
  } catch (e) {
    t.equal((e as HostMapError).lines.length, 1, `one line for ${JSON.stringify(text)}`);
    return (e as HostMapError).lines[0];
  }
}

t.test('errors are structured: each issue has its key path, line and message; the lines are their text', async (t) => {
  const text = 'hosts:\n  52:54:00:00:00:01:\n    hostname: "bad name"\n    ip: 192.0.2.999\n  nonsense: {}\n';
  const e = (() => { try { parseHostMap(text, 'h.yaml'); } catch (err) { return err; } })() as HostMapError;
  t.ok(e instanceof HostMapError, 'refused');
  t.equal(e.file, 'h.yaml');
  t.same(e.issues, [
    {
      path: ['hosts', '52:54:00:00:00:01', 'hostname'], line: 3,
      message: 'must be a host name (letters, digits, hyphens; dots between labels)',
    },
    { path: ['hosts', '52:54:00:00:00:01', 'ip'], line: 4, message: 'must be an IPv4 address' },
    {
      path: ['hosts', 'nonsense'], line: 5,
      message: 'is not a MAC address (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff)',
    },
  ]);
  const expected = e.issues.map((i) => `h.yaml:${i.line} ${i.path.join('.')}: ${i.message}`);
  t.same(e.lines, expected, 'the text form, line by line');
  t.equal(e.message, e.lines.join('\n'));
  const syntax = (() => {
    try { parseHostMap('hosts: [\n', 'h.yaml'); } catch (err) { return err; }
  })() as HostMapError;
  const shape = syntax.issues.map((i) => [i.path, typeof i.line]);
  t.same(shape, syntax.issues.map(() => [[], 'number']), 'a YAML syntax error: no key path, a line');
  t.match(syntax.lines[0], /^h\.yaml:\d+ \S/);
});

t.test('images: the loader key', async (t) => {
  const { data } = parseHostMap(`images:
  a: { kernel: k }
  b: { kernel: k, loader: pxelinux }
  c: { kernel: k, loader: grub }
  d: { kernel: k, loader: ipxe }
  e: { kernel: k, loader: null }
`, 'h.yaml');
  t.same(['a', 'b', 'c', 'd', 'e'].map((n) => (data.images.get(n) as { loader: string }).loader), ['ipxe', 'pxelinux', 'grub', 'ipxe', 'ipxe']);
  t.same(data.images.get('b'), { name: 'b', kind: 'kernel', kernel: 'k', initrd: null, cmdline: '', loader: 'pxelinux' });
  const msg = 'images.a.loader: must be one of ipxe, pxelinux, grub';
  t.equal(oneError(t, 'images:\n  a:\n    kernel: k\n    loader: syslinux\n'), `h.yaml:4 ${msg}`);
  t.equal(oneError(t, 'images:\n  a:\n    kernel: k\n    loader: PXELINUX\n'), `h.yaml:4 ${msg}`, 'the case matters');
  t.equal(oneError(t, 'images:\n  a:\n    kernel: k\n    loader: [grub]\n'), `h.yaml:4 ${msg}`);
  t.equal(oneError(t, 'images:\n  a:\n    script: s.ipxe\n    loader: grub\n'), 'h.yaml:4 images.a.loader: applies to kernel images only');
  t.equal(oneError(t, 'images:\n  a:\n    chain: http://198.51.100.7/x\n    loader: pxelinux\n'), 'h.yaml:4 images.a.loader: applies to kernel images only');
  t.equal(oneError(t, 'images:\n  a:\n    files: { bios: pxelinux.0 }\n    loader: pxelinux\n'), 'h.yaml:4 images.a.loader: applies to kernel images only');
});

t.test('defaults.menuDefault: local or an image; an unknown one names its line', async (t) => {
  const images = 'images:\n  debian: { kernel: k }\n  rescue: { script: r.ipxe }\n';
  t.same(parseHostMap(`defaults:\n  menuDefault: debian\n${images}`, 'h.yaml').data.defaults, { action: 'menu', image: null, menuDefault: 'debian', menuTimeout: 10 }, 'before the images in the file is fine');
  t.equal(parseHostMap(`${images}defaults: { menuDefault: rescue }\n`, 'h.yaml').data.defaults.menuDefault, 'rescue', 'any kind of image');
  t.equal(parseHostMap(`${images}defaults: { menuDefault: local }\n`, 'h.yaml').data.defaults.menuDefault, 'local');
  t.equal(parseHostMap(`${images}defaults: { menuDefault: null }\n`, 'h.yaml').data.defaults.menuDefault, 'local', 'null: the default');
  t.equal(oneError(t, `${images}defaults:\n  action: menu\n  menuDefault: nope\n`), 'h.yaml:6 defaults.menuDefault: must be local or an image name (debian, rescue)');
  t.equal(oneError(t, 'defaults:\n  menuDefault: debian\n'), 'h.yaml:2 defaults.menuDefault: must be local or an image name');
  t.equal(oneError(t, `${images}defaults:\n  menuDefault: 5\n`), 'h.yaml:5 defaults.menuDefault: must be local or an image name (debian, rescue)');
  t.equal(oneError(t, `${images}defaults:\n  menuDefault: Debian\n`), 'h.yaml:5 defaults.menuDefault: must be local or an image name (debian, rescue)', 'names are case-sensitive');
});

t.test('defaults.menuTimeout: whole seconds 0-3600', async (t) => {
  for (const ok of [0, 1, 10, 3600]) t.equal(parseHostMap(`defaults: { menuTimeout: ${ok} }\n`, 'h.yaml').data.defaults.menuTimeout, ok, `${ok}`);
  const msg = 'h.yaml:2 defaults.menuTimeout: must be whole seconds, 0-3600 (0 boots the default at once)';
  for (const bad of ['-1', '3601', '1.5', '"10"', 'true', '[5]', '.inf']) t.equal(oneError(t, `defaults:\n  menuTimeout: ${bad}\n`), msg, `refused: ${bad}`);
  t.equal(oneError(t, 'defaults:\n  menuTimeot: 5\n'), 'h.yaml:2 defaults.menuTimeot: unknown key (expected one of action, image, menuDefault, menuTimeout)');
});

t.test('two hosts with one hostname: a warning naming both lines, or in full DHCP mode an error', async (t) => {
  const text = `hosts:
  52:54:00:00:00:05:
    hostname: pc05
  52:54:00:00:00:06: { hostname: pc06 }
  AA-BB-CC-DD-EE-07:
    hostname: PC05
  52:54:00:00:00:08: { hostname: pc05 }
  52:54:00:00:00:09: {}
`;
  const { data, warnings } = parseHostMap(text, 'h.yaml');
  t.equal(data.hosts.size, 5, 'allowed: the map loads');
  t.same(warnings, [
    'h.yaml:6 hosts.AA-BB-CC-DD-EE-07.hostname: "PC05" is also the hostname of 52:54:00:00:00:05 (line 3): DHCP gives both machines that name',
    'h.yaml:7 hosts.52:54:00:00:00:08.hostname: "pc05" is also the hostname of 52:54:00:00:00:05 (line 3): DHCP gives both machines that name',
  ], 'names compared without case, as DNS does (RFC 4343)');
  t.same(parseHostMap('hosts:\n  52:54:00:00:00:05: { hostname: pc05 }\n  52:54:00:00:00:06: {}\n  52:54:00:00:00:07: {}\n', 'h.yaml').warnings, [], 'hosts without a hostname share nothing');
  try {
    parseHostMap(text, 'h.yaml', { uniqueHostnames: true });
    t.fail('accepted in full mode');
  } catch (e) {
    t.same((e as HostMapError).lines, [
      'h.yaml:6 hosts.AA-BB-CC-DD-EE-07.hostname: "PC05" is also the hostname of 52:54:00:00:00:05 (line 3): in full DHCP mode each machine needs a name of its own',
      'h.yaml:7 hosts.52:54:00:00:00:08.hostname: "pc05" is also the hostname of 52:54:00:00:00:05 (line 3): in full DHCP mode each machine needs a name of its own',
    ]);
  }
});

t.test('the host map keeps the warnings of its file; in full DHCP mode a shared hostname refuses the file', async (t) => {
  const two = `${SAMPLE}  52:54:00:00:00:03: { hostname: teacher }\n`;
  const dir = t.testdir({ 'hosts.yaml': two, 'ok.yaml': SAMPLE });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger());
  t.same(map.warnings, [`${file}:19 hosts.52:54:00:00:00:03.hostname: "teacher" is also the hostname of 52:54:00:00:00:01 (line 16): DHCP gives both machines that name`]);
  const refused = await HostMap.open(file, silentLogger(), { uniqueHostnames: true }).catch((e: unknown) => e);
  t.ok(refused instanceof HostMapError, 'refused at start');
  t.same((refused as HostMapError).lines, [`${file}:19 hosts.52:54:00:00:00:03.hostname: "teacher" is also the hostname of 52:54:00:00:00:01 (line 16): in full DHCP mode each machine needs a name of its own`], 'naming both lines');

  // A hand edit that makes two names one: a warning, or (full mode) an edit refused like any invalid one.
  const strict = await HostMap.open(join(dir, 'ok.yaml'), silentLogger(), { uniqueHostnames: true, settleMs: 20 });
  const lenient = await HostMap.open(join(dir, 'ok.yaml'), silentLogger(), { settleMs: 20 });
  t.same(lenient.warnings, []);
  writeFileSync(join(dir, 'ok.yaml'), two);
  t.equal(await lenient.reload(), true);
  t.equal(lenient.warnings.length, 1);
  t.equal(lenient.lookup('52:54:00:00:00:03')?.hostname, 'teacher');
  t.equal(await strict.reload(), false);
  t.match(strict.lastError, [/ok\.yaml:19 hosts\.52:54:00:00:00:03\.hostname: "teacher" is also the hostname of 52:54:00:00:00:01 \(line 16\)/]);
  t.equal(strict.lookup('52:54:00:00:00:03'), undefined, 'the last good map stays');
  // The file fixed: the warning goes.
  writeFileSync(join(dir, 'ok.yaml'), SAMPLE);
  await lenient.reload();
  t.same(lenient.warnings, []);
});
