// appliance.yaml loading: every problem is one line `FILE:LINE key.path: message`
// pointing at the right line; defaults fill what is missing; relative paths resolve
// against the config file's folder.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appSpec, ConfigError, parseConfig, type AppConfig } from '../../services/core/config.js';
import { loadConfig, parseAppConfig } from '../../services/runtime/load-config.js';
import { defaults } from '../../services/core/schema.js';
import { Remapper } from '../../services/core/remap.js';

const FILE = '/etc/bootlab/appliance.yaml';

/** The error lines `parse` (parseConfig by default) throws for `text`, or null when it parses. */
function errorsOf(
  text: string,
  file = FILE,
  parse: (text: string, file: string) => unknown = parseConfig,
): string[] | null {
  try {
    parse(text, file);
    return null;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.lines;
  }
}

const y = (...lines: string[]) => lines.join('\n') + '\n';

interface Bad { name: string; text: string; lines: (string | RegExp)[]; anyOrder?: boolean }

const bad: Bad[] = [
  {
    name: 'wrong type: a string for an integer',
    text: y('tftp:', '  port: "69"'),
    lines: [`${FILE}:2 tftp.port: must be an integer 0-65535`],
  },
  {
    name: 'out of range',
    text: y('# comment', 'log:', '  level: info', '', 'tftp:', '  enabled: true', '  port: 70000'),
    lines: [`${FILE}:7 tftp.port: must be an integer 0-65535`],
  },
  {
    name: 'out of range: negative',
    text: y('tftp:', '  port: -1'),
    lines: [`${FILE}:2 tftp.port: must be an integer 0-65535`],
  },
  {
    name: 'not an integer',
    text: y('tftp:', '  timeout: 2.5'),
    lines: [`${FILE}:2 tftp.timeout: must be an integer 1-255`],
  },
  {
    name: 'a value on the line after its key',
    text: y('tftp:', '  port:', '    70000'),
    lines: [`${FILE}:3 tftp.port: must be an integer 0-65535`],
  },
  {
    name: 'null for an integer',
    text: y('tftp:', '  maxRetries:'),
    lines: [/^\/etc\/bootlab\/appliance\.yaml:2 tftp\.maxRetries: must be an integer 1-100/],
  },
  {
    name: 'wrong type: "yes" is not a boolean (YAML 1.2)',
    text: y('tftp:', '  singlePort: yes'),
    lines: [`${FILE}:2 tftp.singlePort: must be true or false`],
  },
  {
    name: 'wrong type: a scalar for a mapping',
    text: y('log:', '  level: info', 'tftp: 5'),
    lines: [`${FILE}:3 tftp: must be a mapping`],
  },
  {
    name: 'wrong type: a mapping for a list',
    text: y('tftp:', '  write:', '    dirs:', '      a: b'),
    lines: [`${FILE}:4 tftp.write.dirs: must be a list`],
  },
  {
    name: 'a bad list item names its index and line',
    text: y('tftp:', '  write:', '    dirs:', '      - uploads', '      - 5'),
    lines: [`${FILE}:5 tftp.write.dirs.1: must be a folder under tftp.root`],
  },
  {
    name: 'unknown key with did-you-mean',
    text: y('tftp:', '  prot: 69'),
    lines: [`${FILE}:2 tftp.prot: unknown key (did you mean tftp.port?)`],
  },
  {
    name: 'unknown nested key with did-you-mean',
    text: y('tftp:', '  port: 69', '  options:', '    blksize: true', '    tsise: false'),
    lines: [`${FILE}:5 tftp.options.tsise: unknown key (did you mean tftp.options.tsize?)`],
  },
  {
    name: 'unknown top-level key with did-you-mean',
    text: y('', 'tfpt:', '  port: 69'),
    lines: [`${FILE}:2 tfpt: unknown key (did you mean tftp?)`],
  },
  {
    name: 'unknown key whose value is a mapping: the line of the key',
    text: y('tftp:', '  wirte:', '    enabled: true'),
    lines: [`${FILE}:2 tftp.wirte: unknown key (did you mean tftp.write?)`],
  },
  {
    name: 'unknown key in a remap rule',
    text: y('tftp:', '  remap:', '    - match: a', '      replace: b', '    - mtach: c'),
    lines: [`${FILE}:5 tftp.remap.1.mtach: unknown key (did you mean tftp.remap.1.match?)`],
  },
  {
    name: 'unknown key differing only in case',
    text: y('tftp:', '  Port: 69'),
    lines: [`${FILE}:2 tftp.Port: unknown key (did you mean tftp.port?)`],
  },
  {
    name: 'unknown key with no close match: no hint',
    text: y('tftp:', '  frobnicate: 1'),
    lines: [`${FILE}:2 tftp.frobnicate: unknown key`],
  },
  {
    name: 'enum',
    text: y('log:', '  level: loud'),
    lines: [`${FILE}:2 log.level: must be one of trace, debug, info, warn, error, fatal, silent`],
  },
  {
    name: 'enum of numbers',
    text: y('tftp:', '  rollover: 2'),
    lines: [`${FILE}:2 tftp.rollover: must be one of 0, 1`],
  },
  {
    name: 'enum in a remap rule',
    text: y('tftp:', '  remap:', '    - match: a', '      action: deny'),
    lines: [`${FILE}:4 tftp.remap.0.action: must be one of rewrite, refuse`],
  },
  {
    name: 'bad regex in tftp.remap',
    text: y('tftp:', '  remap:', '    - match: "^ok$"', '      replace: x', '    - match: "(unclosed"', '      replace: y'),
    lines: [/^\/etc\/bootlab\/appliance\.yaml:5 tftp\.remap\.1\.match: is not a valid regular expression: .*Unterminated group/],
  },
  {
    name: 'remap flags other than g and i',
    text: y('tftp:', '  remap:', '    - match: a', '      flags: gx'),
    lines: [`${FILE}:4 tftp.remap.0.flags: must be made of the letters g and i, each at most once`],
  },
  {
    name: 'a pattern mismatch (address)',
    text: y('tftp:', '  address: localhost'),
    lines: [`${FILE}:2 tftp.address: must be an IPv4 or IPv6 address`],
  },
  {
    name: 'portRange out of order',
    text: y('tftp:', '  portRange: 5000-4000'),
    lines: [`${FILE}:2 tftp.portRange: must be a range low-high within 1-65535`],
  },
  {
    name: 'a write dir with ..',
    text: y('tftp:', '  write:', '    dirs:', '      - ../etc'),
    lines: [`${FILE}:4 tftp.write.dirs.0: must stay under tftp.root (no "..")`],
  },
  {
    name: 'several problems: one line each',
    text: y('tftp:', '  port: -1', '  timeout: 999', '  prot: 1'),
    anyOrder: true,
    lines: [
      `${FILE}:2 tftp.port: must be an integer 0-65535`,
      `${FILE}:3 tftp.timeout: must be an integer 1-255`,
      `${FILE}:4 tftp.prot: unknown key (did you mean tftp.port?)`,
    ],
  },
];

t.test('validation errors: one line each, FILE:LINE key.path: message', async (t) => {
  for (const c of bad) {
    const got = errorsOf(c.text);
    t.ok(got, `${c.name}: refused`);
    if (!got) continue;
    const lines = c.anyOrder ? [...got].sort() : got;
    t.equal(lines.length, c.lines.length, `${c.name}: ${c.lines.length} line(s)`);
    c.lines.forEach((want, i) => {
      if (typeof want === 'string') t.equal(lines[i], want, c.name);
      else t.match(lines[i], want, c.name);
      t.notMatch(lines[i] ?? '', /\n/, `${c.name}: a single line`);
    });
  }
});

t.test('the ConfigError message is the lines joined', async (t) => {
  try {
    parseConfig(y('tftp:', '  port: -1', '  timeout: 0'), 'a.yaml');
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ConfigError);
    t.equal((e as ConfigError).name, 'ConfigError');
    t.equal((e as Error).message, 'a.yaml:2 tftp.port: must be an integer 0-65535\na.yaml:3 tftp.timeout: must be an integer 1-255');
  }
});

t.test('YAML syntax errors: FILE:LINE, one line per error', async (t) => {
  // The line is the YAML parser's: where it noticed the problem (null: not checked).
  const cases: [string, string, number | null][] = [
    ['an unclosed flow sequence', y('log:', '  level: info', 'tftp:', '  remap: [', '  port: 69'), null],
    ['a mapping in a compact mapping', y('log:', '  level: info', 'tftp: port: 69'), 3],
    ['a tab as indentation', y('tftp:', '\tport: 69'), 2],
    ['a duplicate key', y('tftp:', '  port: 69', '  timeout: 5', '  port: 70'), 4],
    ['a bad indentation', y('tftp:', '  port: 69', ' timeout: 5'), 3],
  ];
  for (const [name, text, line] of cases) {
    const lines = errorsOf(text);
    t.ok(lines && lines.length >= 1, `${name}: refused`);
    if (!lines) continue;
    for (const l of lines) {
      t.match(l, /^\/etc\/bootlab\/appliance\.yaml:\d+ \S/, `${name}: "${l}" starts with FILE:LINE`);
      t.notMatch(l, /\n/);
    }
    if (line !== null) t.equal(lines[0].slice(FILE.length + 1).split(' ')[0], String(line), `${name}: first error on line ${line}`);
  }
});

t.test('defaults fill missing keys', async (t) => {
  const d = defaults(appSpec);
  const base = dirname(FILE);
  const expected: AppConfig = {
    ...d,
    stateDir: resolve(base, d.stateDir),
    hosts: resolve(base, d.hosts),
    tftp: { ...d.tftp, root: resolve(base, d.tftp.root) },
    admin: { ...d.admin, web: resolve(base, d.admin.web) },
  };
  t.same(parseConfig('', FILE), expected, 'an empty file is all defaults');
  t.same(parseConfig('# only a comment\n', FILE), expected, 'a file of comments too');
  const partial = parseConfig(y('tftp:', '  port: 1069', '  options:', '    tsize: false', '  write:', '    enabled: true'), FILE);
  t.equal(partial.tftp.port, 1069);
  t.equal(partial.tftp.options.tsize, false);
  t.equal(partial.tftp.options.blksize, true, 'a sibling of a given key keeps its default');
  t.equal(partial.tftp.write.enabled, true);
  t.same(partial.tftp.write.dirs, ['uploads']);
  t.equal(partial.tftp.write.policy, 'create-only');
  t.equal(partial.tftp.timeout, 5);
  t.equal(partial.log.level, 'info');
  t.same(partial.tftp.remap, []);
  const rule = parseConfig(y('tftp:', '  remap:', '    - match: "^a$"'), FILE).tftp.remap[0];
  t.same(rule, { match: '^a$', replace: '', flags: '', action: 'rewrite', stop: false, requests: 'both' }, 'a remap rule gets its defaults');
  t.equal(parseConfig(y('tftp:', '  portRange: null'), FILE).tftp.portRange, null, 'portRange may be null');
  t.equal(parseConfig(y('tftp:', '  portRange: 49152-49407'), FILE).tftp.portRange, '49152-49407');
});

t.test('defaults are not shared between parses', async (t) => {
  const a = parseConfig('', FILE);
  a.tftp.write.dirs.push('mutated');
  const b = parseConfig('', FILE);
  t.same(b.tftp.write.dirs, ['uploads']);
});

t.test('relative paths resolve against the config file\'s folder', async (t) => {
  const c = parseConfig(y('stateDir: ../state', 'tftp:', '  root: boot/files'), '/opt/bootlab/config/appliance.yaml');
  t.equal(c.stateDir, '/opt/bootlab/state');
  t.equal(c.tftp.root, '/opt/bootlab/config/boot/files');
  const d = parseConfig('', '/opt/bootlab/config/appliance.yaml');
  t.equal(d.tftp.root, '/opt/bootlab/tftpboot', 'the default ../tftpboot too');
  t.equal(d.stateDir, '/opt/bootlab/state');
  t.equal(d.admin.web, '/opt/bootlab/web', 'the dashboard folder too');
  const abs = parseConfig(y('stateDir: /var/lib/bootlab', 'tftp:', '  root: /srv/tftp'), '/opt/bootlab/config/appliance.yaml');
  t.equal(abs.stateDir, '/var/lib/bootlab', 'absolute paths are kept');
  t.equal(abs.tftp.root, '/srv/tftp');
  const rel = parseConfig(y('tftp:', '  root: tftp'), 'conf/appliance.yaml');
  t.equal(rel.tftp.root, resolve('conf', 'tftp'), 'a relative config file name: against the working directory + its folder');
});

/** The error lines loadConfig throws for `file`, or null when it loads. */
function loadErrors(file: string): string[] | null {
  try {
    loadConfig(file);
    return null;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.lines;
  }
}

t.test('loadConfig', async (t) => {
  const dir = t.testdir({
    'good.yaml': y('tftp:', '  port: 6969', '  root: files'),
    'bad.yaml': y('tftp:', '  port: 6969', '  maxRetries: 0'),
    sub: {},
  });
  const good = loadConfig(join(dir, 'good.yaml'));
  t.equal(good.tftp.port, 6969);
  t.equal(good.tftp.root, join(dir, 'files'), 'root resolved against the file\'s folder');
  t.same(loadErrors(join(dir, 'bad.yaml')), [`${join(dir, 'bad.yaml')}:3 tftp.maxRetries: must be an integer 1-100`]);
  const missing = join(dir, 'nope.yaml');
  t.same(loadErrors(missing), [`${missing}: cannot read the config file: ENOENT`], 'missing file: one line naming it');
  t.same(loadErrors(join(dir, 'sub')), [`${join(dir, 'sub')}: cannot read the config file: EISDIR`], 'a folder');
});

t.test('the shipped config/appliance.yaml parses without error', async (t) => {
  // dist/test/core/config.test.js → the repository root is three folders up.
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const file = join(repo, 'config', 'appliance.yaml');
  let config: AppConfig | null = null;
  try {
    config = loadConfig(file);
  } catch (e) {
    t.fail(`config/appliance.yaml: ${(e as Error).message}`);
  }
  if (!config) return;
  t.equal(config.tftp.root, join(repo, 'tftpboot'), 'root is the repository\'s tftpboot folder');
  t.equal(config.stateDir, join(repo, 'state'));
  t.equal(config.tftp.port, 69);
  t.doesNotThrow(() => new Remapper(config!.tftp.remap), 'its remap rules compile');
});

// Values the schema accepts must be usable by the code that reads them.
t.test('accepted remap rules can be compiled by the Remapper', async (t) => {
  for (const flags of ['', 'g', 'i', 'gi', 'ig', 'gg', 'ii']) {
    const text = y('tftp:', '  remap:', '    - match: a', `      flags: "${flags}"`);
    let config: AppConfig | null = null;
    try { config = parseConfig(text, FILE); } catch { /* refused: fine */ }
    if (config) t.doesNotThrow(() => new Remapper(config!.tftp.remap), `flags "${flags}": accepted and compiles`);
    else t.pass(`flags "${flags}": refused at load`);
  }
});

t.test('a remap rule without match is refused', async (t) => {
  // An empty pattern matches every name: `match: ""` is refused, and so must a missing one be.
  t.same(errorsOf(y('tftp:', '  remap:', '    - match: ""')), [`${FILE}:3 tftp.remap.0.match: must be a regular expression`], 'match: ""');
  const lines = errorsOf(y('tftp:', '  remap:', '    - replace: x'));
  t.ok(lines && lines.length === 1 && /^\/etc\/bootlab\/appliance\.yaml:3 tftp\.remap\.0\.match: /.test(lines[0]), `missing match: ${JSON.stringify(lines)}`);
});

t.test('tftp.port 0: any free port, as for http.port and admin.port', async (t) => {
  const c = parseConfig(y('tftp:', '  port: 0', 'http:', '  port: 0', 'admin:', '  port: 0'), FILE);
  t.same([c.tftp.port, c.http.port, c.admin.port], [0, 0, 0]);
});

t.test('tftp.workers: auto or a number, as the shipped file documents', async (t) => {
  t.equal(parseConfig(y('tftp:', '  workers: auto'), FILE).tftp.workers, 'auto');
  t.equal(errorsOf(y('tftp:', '  workers: "2"')), null, 'a quoted number');
  t.equal(errorsOf(y('tftp:', '  workers: 2')), null, 'an unquoted number (a YAML integer) is accepted');
  t.equal(errorsOf(y('tftp:', '  workers: 0')), null, '0: the main thread');
  t.same(errorsOf(y('tftp:', '  workers: many')), [`${FILE}:2 tftp.workers: must be auto or an integer 0-64`]);
});

t.test('config files written to disk keep their line numbers', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'etc'));
  const file = join(dir, 'etc', 'a.yaml');
  writeFileSync(file, y('# bootlab', '', 'log:', '  level: info', '', 'tftp:', '  # the port', '  port: 99999'));
  t.same(loadErrors(file), [`${file}:8 tftp.port: must be an integer 0-65535`]);
});

t.test('dhcp and hosts keys: defaults, and errors naming key and line', async (t) => {
  const cfg = parseConfig('', FILE);
  t.equal(cfg.dhcp.mode, 'proxy', 'proxyDHCP is the default: safe beside a site DHCP server');
  t.same(cfg.dhcp.interfaces, []);
  t.equal(cfg.dhcp.leaseTime, 3600);
  t.equal(cfg.hosts, '/etc/bootlab/hosts.yaml', 'hosts resolves against the config folder');
  const full = parseConfig(y('dhcp:', '  mode: full', '  interfaces: [eth1]', '  pool: { start: 192.0.2.100, end: 192.0.2.150 }'), FILE);
  t.same(full.dhcp.pool, { start: '192.0.2.100', end: '192.0.2.150' });
  // No pool key to point at: the line of the nearest key that exists (mode: full).
  t.same(errorsOf(y('dhcp:', '  mode: full', '  interfaces: [eth1]')), [`${FILE}:2 dhcp.pool.start: is required in full mode (with dhcp.pool.end): the addresses to hand out`]);
  t.same(errorsOf(y('dhcp:', '  pool:', '    start: 192.0.2.200', '    end: 192.0.2.100')), [`${FILE}:4 dhcp.pool.end: must not be below dhcp.pool.start (192.0.2.200)`]);
  t.match(errorsOf(y('dhcp:', '  mode: proxyy'))![0], /^\/etc\/bootlab\/appliance\.yaml:2 dhcp\.mode: must be one of/);
  t.match(errorsOf(y('dhcp:', '  pool:', '    start: 192.0.2.300', '    end: 192.0.2.10'))![0], /:3 dhcp\.pool\.start: must be an IPv4 address/);
  t.match(errorsOf(y('dhcp:', '  interfaces: ["eth 0"]'))![0], /:2 dhcp\.interfaces\.0: must be an interface name/);
  t.same(errorsOf(y('dhcp:', '  interfaces:', '    - eth0', '    - eth0')), [`${FILE}:4 dhcp.interfaces.1: names eth0 twice (it would answer every request twice)`]);
  t.match(errorsOf(y('dhcp:', '  leaseTime: 5'))![0], /:2 dhcp\.leaseTime: must be an integer 60-/);
  t.match(errorsOf(y('dhcp:', '  relayPools:', '    - { start: 198.51.100.10, end: 198.51.100.20 }'))![0], /:3 dhcp\.relayPools\.0\.netmask: is required/);
});

t.test('multicast, mtftp and tftp.multicast: defaults, and errors naming key and line', async (t) => {
  const cfg = parseConfig('', FILE);
  t.same(cfg.multicast, { interface: null, ttl: 1 }, 'TTL 1 by default: nothing leaves the lab subnet');
  t.equal(cfg.mtftp.enabled, false);
  t.equal(cfg.mtftp.serverPort, 1759, 'iPXE\'s mtftp:// port');
  t.same(cfg.tftp.multicast, { enabled: false, addresses: '239.255.2.1-239.255.2.254', ports: '1758-1758', window: 8, gatherMs: 0 });
  const on = (...lines: string[]) => y('multicast: { interface: eth0 }', 'mtftp:', '  enabled: true', ...lines);
  t.same(errorsOf(on('  files: []')), [`${FILE}:4 mtftp.files: names no file: list the files to multicast (or set mtftp.atftpdFile)`]);
  t.same(errorsOf(on('  files:', '    - { file: a.bin, group: 192.0.2.5 }')),
    [`${FILE}:5 mtftp.files.0.group: must be an IPv4 multicast address (224.0.0.0-239.255.255.255), like 239.255.1.1`]);
  t.match(errorsOf(on('  files:', '    - { file: a.bin, group: 224.0.0.9 }'))![0], /:5 mtftp\.files\.0\.group: must not be in 224\.0\.0\.0\/24/);
  t.same(errorsOf(on('  files:', '    - { group: 239.255.1.1 }')), [`${FILE}:5 mtftp.files.0.file: is required: the file name under tftp.root`]);
  t.same(errorsOf(y('mtftp:', '  enabled: true', '  files: [{ file: a.bin, group: 239.255.1.1 }]')),
    [`${FILE}:1 multicast.interface: is required for multicast (or name one in dhcp.interfaces): the lab interface groups are sent on`]);
  const viaDhcp = parseConfig(y('dhcp: { interfaces: [eth1] }', 'tftp: { root: /nonexistent-bootlab }', 'mtftp:', '  enabled: true', '  files: [{ file: a.bin, group: 239.255.1.1 }]'), FILE);
  t.equal(viaDhcp.multicast.interface, null, 'a DHCP interface stands in for multicast.interface');
  t.match(errorsOf(y('tftp:', '  multicast:', '    enabled: true', '    addresses: 198.51.100.1-198.51.100.9', 'multicast: { interface: eth0 }'))![0],
    /:4 tftp\.multicast\.addresses: both ends must be an IPv4 multicast address/);
  t.match(errorsOf(y('tftp:', '  multicast:', '    enabled: true', '    addresses: 239.255.2.9-239.255.2.1', 'multicast: { interface: eth0 }'))![0], /:4 tftp\.multicast\.addresses: must be a range low-high/);
  t.match(errorsOf(y('tftp:', '  multicast:', '    enabled: true', '    ports: 1760-1758', 'multicast: { interface: eth0 }'))![0], /:4 tftp\.multicast\.ports: must be a range/);
  t.match(errorsOf(y('multicast:', '  ttl: 0'))![0], /:2 multicast\.ttl: must be an integer 1-255/);
});

t.test('mtftp files: the 65535-block limit, duplicate names, a shared group, and atftpd --mtftp files, with file and line', async (t) => {
  const dir = t.testdir({
    boot: {
      'ok.bin': Buffer.alloc(65534 * 512 + 511),
      'big.bin': Buffer.alloc(65535 * 512),
    },
    'atftpd.conf': '# atftpd --mtftp file\npxelinux.0 239.255.1.2 1760\n\nbad-line 239.255.1.3\nx.bin 198.51.100.7 1761\ny.bin 239.255.1.4 70000\n',
    'good.conf': 'pxelinux.0  239.255.1.2  1760   # trailing comment\n/other.bin 239.255.1.5 1761\n',
  });
  const cfgFile = join(dir, 'appliance.yaml');
  const base = ['tftp: { root: boot }', 'multicast: { interface: eth0 }', 'mtftp:', '  enabled: true'];
  const errs = (...lines: string[]) => errorsOf(y(...base, ...lines), cfgFile, parseAppConfig);
  t.same(errs('  files: [{ file: ok.bin, group: 239.255.1.1 }]'), null, 'the largest file that fits: 65534 full blocks and 511 bytes');
  t.same(errs('  files:', '    - { file: ok.bin, group: 239.255.1.1 }', '    - { file: big.bin, group: 239.255.1.9 }'),
    [`${cfgFile}:7 mtftp.files.1.file: big.bin has 33553920 bytes, over PXE MTFTP's limit of 33553919 (65535 blocks of 512 bytes); serve it over TFTP or HTTP instead, or load it from a smaller first stage`]);
  t.same(errs('  files:', '    - { file: ok.bin, group: 239.255.1.1 }', '    - { file: /ok.bin, group: 239.255.1.9 }'),
    [`${cfgFile}:7 mtftp.files.1.file: names ok.bin again (already at mtftp.files.0.file)`]);
  // iPXE's mtftp:// listens on one group for every file (docs/decisions/0008-mtftp-shared-group.md).
  t.same(errs('  files:', '    - { file: ok.bin, group: 239.255.1.1 }', '    - { file: two.bin, group: 239.255.1.1 }'), null,
    'two files on one group and port are accepted (the group is then shared: sent unicast)');
  t.same(errs('  atftpdFile: atftpd.conf'), [
    `${join(dir, 'atftpd.conf')}:4: expected "filename multicast-group client-port", found 2 word(s)`,
    `${join(dir, 'atftpd.conf')}:5: group 198.51.100.7 must be an IPv4 multicast address (224.0.0.0-239.255.255.255), like 239.255.1.1`,
    `${join(dir, 'atftpd.conf')}:6: client port 70000 must be an integer 1-65535`,
  ], 'each bad line of the atftpd file named by file and line');
  t.match(errs('  atftpdFile: missing.conf')![0], new RegExp(`^${cfgFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5 mtftp\\.atftpdFile: cannot read .*missing\\.conf: ENOENT`));
  const merged = parseAppConfig(y(...base, '  files: [{ file: ok.bin, group: 239.255.1.1 }]', '  atftpdFile: good.conf'), cfgFile);
  t.same(merged.mtftp.files, [
    { file: 'ok.bin', group: '239.255.1.1', clientPort: 3001 },
    { file: 'pxelinux.0', group: '239.255.1.2', clientPort: 1760 },
    { file: 'other.bin', group: '239.255.1.5', clientPort: 1761 },
  ], 'the atftpd file\'s entries join mtftp.files, leading slashes dropped');
  t.same(errs('  files: [{ file: pxelinux.0, group: 239.255.1.1 }]', '  atftpdFile: good.conf'),
    [`${join(dir, 'good.conf')}:1: names pxelinux.0 again (already at mtftp.files.0.file)`], 'a file in both places is refused');
  // parseConfig itself reads nothing: the files are the loader's (services/runtime/load-config.ts).
  const text = y(...base, '  files: [{ file: big.bin, group: 239.255.1.1 }]', '  atftpdFile: missing.conf');
  const pure = parseConfig(text, cfgFile);
  t.same(pure.mtftp.files, [{ file: 'big.bin', group: '239.255.1.1', clientPort: 3001 }], 'parseConfig leaves mtftp.files as written');
  t.equal(pure.mtftp.atftpdFile, join(dir, 'missing.conf'), 'and only anchors the atftpd path');
  t.equal(errorsOf(text, cfgFile, parseAppConfig)?.length, 2, 'the loader finds both: the missing atftpd file and the file over the limit');
});
