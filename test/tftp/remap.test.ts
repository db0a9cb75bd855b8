// Filename remapping (tftp-hpa --map-file semantics with ordered rules): table-driven.
import t from 'tap';
import type { RemapRule } from '../../services/core/config.js';
import { ipToHex, Remapper, type RemapResult } from '../../services/core/remap.js';

function rule(r: Partial<RemapRule> & { match: string }): RemapRule {
  return { replace: '', flags: '', action: 'rewrite', stop: false, requests: 'both', ...r };
}

t.test('ipToHex', async (t) => {
  const cases: [string, string][] = [
    ['192.0.2.10', 'C000020A'],
    ['198.51.100.1', 'C6336401'],
    ['255.255.255.255', 'FFFFFFFF'],
    ['0.0.0.0', '00000000'],
    ['::ffff:192.0.2.10', 'C000020A'],
    ['2001:db8::1', ''],
    ['::1', ''],
  ];
  for (const [ip, want] of cases) t.equal(ipToHex(ip), want, `${ip} → "${want}"`);
});

interface Case {
  name: string;
  rules: RemapRule[];
  input: string;
  dir?: 'read' | 'write';
  ip?: string;
  want: RemapResult;
}

const cases: Case[] = [
  {
    name: 'no rules: unchanged, no rule',
    rules: [], input: 'pxelinux.0',
    want: { name: 'pxelinux.0', refused: false, rule: null },
  },
  {
    name: 'no rule matches',
    rules: [rule({ match: '^efi/', replace: 'x' })], input: 'pxelinux.0',
    want: { name: 'pxelinux.0', refused: false, rule: null },
  },
  {
    name: 'group \\1',
    rules: [rule({ match: '^pxelinux\\.cfg/(.*)$', replace: 'cfg/\\1' })], input: 'pxelinux.cfg/default',
    want: { name: 'cfg/default', refused: false, rule: 0 },
  },
  {
    name: 'groups \\2 \\1 swapped, \\0 whole match',
    rules: [rule({ match: '^(\\w+)-(\\w+)$', replace: '\\2/\\1 (\\0)' })], input: 'boot-x64',
    want: { name: 'x64/boot (boot-x64)', refused: false, rule: 0 },
  },
  {
    name: 'a group that did not take part is empty',
    rules: [rule({ match: '^a(b)?(c)$', replace: '[\\1][\\2]' })], input: 'ac',
    want: { name: '[][c]', refused: false, rule: 0 },
  },
  {
    name: 'a group number beyond the groups is empty',
    rules: [rule({ match: '^(a)$', replace: '\\1\\5' })], input: 'a',
    want: { name: 'a', refused: false, rule: 0 },
  },
  {
    name: 'only the matched part is replaced (unanchored)',
    rules: [rule({ match: 'old', replace: 'new' })], input: 'dir/old/file',
    want: { name: 'dir/new/file', refused: false, rule: 0 },
  },
  {
    name: '\\\\ is a literal backslash',
    rules: [rule({ match: '^a$', replace: 'x\\\\y' })], input: 'a',
    want: { name: 'x\\y', refused: false, rule: 0 },
  },
  {
    name: '$ in the replacement is literal (not JavaScript $1)',
    rules: [rule({ match: '^(a)$', replace: '$1$&' })], input: 'a',
    want: { name: '$1$&', refused: false, rule: 0 },
  },
  {
    name: '\\i is the client IP',
    rules: [rule({ match: '^boot\\.ipxe$', replace: 'hosts/\\i.ipxe' })], input: 'boot.ipxe', ip: '192.0.2.10',
    want: { name: 'hosts/192.0.2.10.ipxe', refused: false, rule: 0 },
  },
  {
    name: '\\x is the client IP in upper-case hex (pxelinux.cfg name)',
    rules: [rule({ match: '^pxelinux\\.cfg/default$', replace: 'pxelinux.cfg/\\x' })], input: 'pxelinux.cfg/default', ip: '192.0.2.10',
    want: { name: 'pxelinux.cfg/C000020A', refused: false, rule: 0 },
  },
  {
    name: 'IPv4-mapped IPv6: \\i is the plain IPv4 address',
    rules: [rule({ match: '^f$', replace: '\\i' })], input: 'f', ip: '::ffff:192.0.2.10',
    want: { name: '192.0.2.10', refused: false, rule: 0 },
  },
  {
    name: 'IPv4-mapped IPv6: \\x is its hex',
    rules: [rule({ match: '^f$', replace: '\\x' })], input: 'f', ip: '::ffff:203.0.113.7',
    want: { name: 'CB007107', refused: false, rule: 0 },
  },
  {
    name: 'IPv6 client: \\i is the address, \\x empty',
    rules: [rule({ match: '^f$', replace: '<\\i><\\x>' })], input: 'f', ip: '2001:db8::7',
    want: { name: '<2001:db8::7><>', refused: false, rule: 0 },
  },
  {
    name: 'case-sensitive by default',
    rules: [rule({ match: '^pxelinux\\.0$', replace: 'x' })], input: 'PXELINUX.0',
    want: { name: 'PXELINUX.0', refused: false, rule: null },
  },
  {
    name: 'flag i: case-insensitive',
    rules: [rule({ match: '^pxelinux\\.0$', replace: 'x', flags: 'i' })], input: 'PXELinux.0',
    want: { name: 'x', refused: false, rule: 0 },
  },
  {
    name: 'without g only the first match is replaced',
    rules: [rule({ match: '\\\\', replace: '/' })], input: 'a\\b\\c',
    want: { name: 'a/b\\c', refused: false, rule: 0 },
  },
  {
    name: 'flag g: every match is replaced',
    rules: [rule({ match: '\\\\', replace: '/', flags: 'g' })], input: 'a\\b\\c',
    want: { name: 'a/b/c', refused: false, rule: 0 },
  },
  {
    name: 'flags gi together',
    rules: [rule({ match: 'a', replace: 'o', flags: 'gi' })], input: 'bAnana',
    want: { name: 'bonono', refused: false, rule: 0 },
  },
  {
    name: 'rules apply in order, each to the result of the one before',
    rules: [
      rule({ match: '^pxelinux\\.cfg/(.*)$', replace: 'cfg/\\1' }),
      rule({ match: '^cfg/', replace: 'bios/cfg/' }),
    ],
    input: 'pxelinux.cfg/default',
    want: { name: 'bios/cfg/default', refused: false, rule: 1 },
  },
  {
    name: 'order matters: the second rule sees the first one\'s output, not the input',
    rules: [
      rule({ match: '^a$', replace: 'b' }),
      rule({ match: '^a$', replace: 'WRONG' }),
      rule({ match: '^b$', replace: 'c' }),
    ],
    input: 'a',
    want: { name: 'c', refused: false, rule: 2 },
  },
  {
    name: 'rule reports the last rule that matched',
    rules: [rule({ match: '^x', replace: 'y' }), rule({ match: '^q', replace: 'r' })], input: 'x1',
    want: { name: 'y1', refused: false, rule: 0 },
  },
  {
    name: 'stop: no rule after it runs',
    rules: [
      rule({ match: '^a$', replace: 'b', stop: true }),
      rule({ match: '^b$', replace: 'c' }),
    ],
    input: 'a',
    want: { name: 'b', refused: false, rule: 0 },
  },
  {
    name: 'stop only when it matched',
    rules: [
      rule({ match: '^z$', replace: 'y', stop: true }),
      rule({ match: '^a$', replace: 'c' }),
    ],
    input: 'a',
    want: { name: 'c', refused: false, rule: 1 },
  },
  {
    name: 'refuse',
    rules: [rule({ match: '^secret/', action: 'refuse' })], input: 'secret/key',
    want: { name: 'secret/key', refused: true, rule: 0 },
  },
  {
    name: 'refuse after a rewrite sees the rewritten name and reports its index',
    rules: [
      rule({ match: '^hidden/', replace: 'secret/' }),
      rule({ match: '^secret/', action: 'refuse' }),
      rule({ match: '^secret/', replace: 'public/' }),
    ],
    input: 'hidden/x',
    want: { name: 'secret/x', refused: true, rule: 1 },
  },
  {
    name: 'a refuse rule that does not match lets the request through',
    rules: [rule({ match: '^secret/', action: 'refuse' }), rule({ match: '^a', replace: 'b' })], input: 'abc',
    want: { name: 'bbc', refused: false, rule: 1 },
  },
  {
    name: 'a rewrite before stops a later refuse from matching',
    rules: [rule({ match: '^secret/', replace: 'open/', stop: true }), rule({ match: '^secret/', action: 'refuse' })], input: 'secret/x',
    want: { name: 'open/x', refused: false, rule: 0 },
  },
  {
    name: 'requests get: applies to reads',
    rules: [rule({ match: '^f$', replace: 'r', requests: 'get' })], input: 'f', dir: 'read',
    want: { name: 'r', refused: false, rule: 0 },
  },
  {
    name: 'requests get: skipped for writes',
    rules: [rule({ match: '^f$', replace: 'r', requests: 'get' })], input: 'f', dir: 'write',
    want: { name: 'f', refused: false, rule: null },
  },
  {
    name: 'requests put: applies to writes',
    rules: [rule({ match: '^f$', replace: 'w', requests: 'put' })], input: 'f', dir: 'write',
    want: { name: 'w', refused: false, rule: 0 },
  },
  {
    name: 'requests put: skipped for reads',
    rules: [rule({ match: '^f$', replace: 'w', requests: 'put' })], input: 'f', dir: 'read',
    want: { name: 'f', refused: false, rule: null },
  },
  {
    name: 'a refuse for puts only does not refuse a read',
    rules: [rule({ match: '.', action: 'refuse', requests: 'put' })], input: 'f', dir: 'read',
    want: { name: 'f', refused: false, rule: null },
  },
  {
    name: 'a refuse for puts only refuses a write',
    rules: [rule({ match: '.', action: 'refuse', requests: 'put' })], input: 'f', dir: 'write',
    want: { name: 'f', refused: true, rule: 0 },
  },
  {
    name: 'requests both: reads and writes',
    rules: [rule({ match: '^f$', replace: 'b' })], input: 'f', dir: 'write',
    want: { name: 'b', refused: false, rule: 0 },
  },
];

t.test('rules', async (t) => {
  for (const c of cases) {
    const m = new Remapper(c.rules);
    t.equal(m.size, c.rules.length, `${c.name}: size`);
    t.same(m.apply(c.input, c.dir ?? 'read', c.ip ?? '192.0.2.1'), c.want, c.name);
  }
});

t.test('a Remapper gives the same answer every time (g regexes keep no state)', async (t) => {
  const m = new Remapper([rule({ match: 'a', replace: 'o', flags: 'g' }), rule({ match: '^o', replace: 'X', flags: 'g' })]);
  const first = m.apply('aba', 'read', '198.51.100.1');
  t.same(first, { name: 'Xbo', refused: false, rule: 1 });
  for (let i = 0; i < 5; i++) t.same(m.apply('aba', 'read', '198.51.100.1'), first, `call ${i + 2}`);
  t.same(m.apply('cat', 'read', '198.51.100.1'), { name: 'cot', refused: false, rule: 0 });
});

t.test('substitutions use the client of each call', async (t) => {
  const m = new Remapper([rule({ match: '^f$', replace: '\\x' })]);
  t.equal(m.apply('f', 'read', '192.0.2.10').name, 'C000020A');
  t.equal(m.apply('f', 'read', '198.51.100.255').name, 'C63364FF');
});
