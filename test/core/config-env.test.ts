// appliance.yaml's http and boot sections (issue 6) and the environment overrides the
// config loader applies after the file (compose.yaml, systemd): each variable sets its
// key, an empty one is ignored, and a bad value is named by its variable, not a line.
// (Beside config.test.ts, which is at its size limit.)
import t from 'tap';
import { join } from 'node:path';
import { appSpec, bootSpec, ConfigError, ENV_OVERRIDES, httpSpec, parseConfig } from '../../services/core/config.js';
import { loadConfig } from '../../services/runtime/load-config.js';
import { defaults } from '../../services/core/schema.js';

const FILE = '/etc/bootlab/appliance.yaml';
const y = (...lines: string[]) => lines.join('\n') + '\n';
const POOL = y('dhcp:', '  interfaces: [eth0]', '  pool: { start: 192.0.2.100, end: 192.0.2.150 }');

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] | null {
  try {
    parseConfig(text, FILE, env);
    return null;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.lines;
  }
}

t.test('http and boot: their defaults', async (t) => {
  const c = parseConfig('', FILE);
  t.same(c.http, { enabled: true, address: '0.0.0.0', port: 80, baseUrl: null });
  t.same(c.boot, { bootOnceEnds: 'booted', pxelinux: 'pxelinux.0', grub: { uefi64: 'grubx64.efi', arm64: 'grubaa64.efi' } });
  t.same(defaults(httpSpec), c.http);
  t.same(defaults(bootSpec), c.boot);
  t.same(defaults(appSpec).http, c.http);
});

t.test('http and boot: values given, and bad values naming key and line', async (t) => {
  const c = parseConfig(y('http:', '  enabled: false', '  address: 127.0.0.1', '  port: 0', '  baseUrl: http://192.0.2.1:8069', 'boot:', '  bootOnceEnds: kernel', '  pxelinux: syslinux/lpxelinux.0'), FILE);
  t.same(c.http, { enabled: false, address: '127.0.0.1', port: 0, baseUrl: 'http://192.0.2.1:8069' });
  t.same(c.boot, { bootOnceEnds: 'kernel', pxelinux: 'syslinux/lpxelinux.0', grub: { uefi64: 'grubx64.efi', arm64: 'grubaa64.efi' } });
  t.same(errorsOf(y('http:', '  port: 70000')), [`${FILE}:2 http.port: must be an integer 0-65535`]);
  t.same(errorsOf(y('http:', '  port: -1')), [`${FILE}:2 http.port: must be an integer 0-65535`]);
  t.same(errorsOf(y('http:', '  enabled: yes please')), [`${FILE}:2 http.enabled: must be true or false`]);
  t.same(errorsOf(y('http:', '  address: localhost')), [`${FILE}:2 http.address: must be an IPv4 or IPv6 address`]);
  t.same(errorsOf(y('http:', '  baseUrl: ftp://192.0.2.1/')), [`${FILE}:2 http.baseUrl: must be a URL like http://192.0.2.1:8069 or null`]);
  t.same(errorsOf(y('boot:', '  bootOnceEnds: never')), [`${FILE}:2 boot.bootOnceEnds: must be one of booted, kernel`]);
  t.same(errorsOf(y('boot:', '  grub:', '    uefi64: ""')), [`${FILE}:3 boot.grub.uefi64: must be a file under tftp.root`]);
  t.same(errorsOf(y('boot:', '  loader: grub')), [`${FILE}:2 boot.loader: unknown key`]);
});

t.test('the override table names the contract\'s variables', async (t) => {
  const vars = ENV_OVERRIDES.map((o) => o.variable);
  for (const v of ['BOOTLAB_INTERFACE', 'BOOTLAB_DHCP_MODE', 'BOOTLAB_HTTP_PORT', 'BOOTLAB_ADMIN_PORT']) t.ok(vars.includes(v), v);
  t.notOk(vars.includes('BOOTLAB_ADMIN_TOKEN'), 'the token is read by the admin, never put in the config object');
});

t.test('environment overrides: each sets its key, over the file', async (t) => {
  t.same(parseConfig('', FILE, { BOOTLAB_INTERFACE: 'eth1, eth2' }).dhcp.interfaces, ['eth1', 'eth2']);
  t.same(parseConfig('', FILE, { BOOTLAB_INTERFACE: 'eth1' }).dhcp.interfaces, ['eth1']);
  t.same(parseConfig(y('dhcp:', '  interfaces: [eth0]'), FILE, { BOOTLAB_INTERFACE: 'lab0,lab1' }).dhcp.interfaces, ['lab0', 'lab1'], 'replaces the file\'s list');
  t.equal(parseConfig(POOL, FILE, { BOOTLAB_DHCP_MODE: 'full' }).dhcp.mode, 'full');
  t.equal(parseConfig(y('dhcp:', '  mode: proxy'), FILE, { BOOTLAB_DHCP_MODE: 'off' }).dhcp.mode, 'off');
  t.equal(parseConfig('', FILE, { BOOTLAB_HTTP_PORT: '8069' }).http.port, 8069);
  t.equal(parseConfig(y('http:', '  port: 80'), FILE, { BOOTLAB_HTTP_PORT: '8069' }).http.port, 8069, 'over the file');
  t.equal(parseConfig('', FILE, { BOOTLAB_ADMIN_PORT: '9090' }).admin.port, 9090);
  t.equal(parseConfig('', FILE, { BOOTLAB_STATE_DIR: '/var/lib/bootlab' }).stateDir, '/var/lib/bootlab', 'an absolute state folder as given');
  t.equal(parseConfig('', FILE, { BOOTLAB_LOG_LEVEL: 'debug' }).log.level, 'debug');
  t.equal(parseConfig('', FILE, { BOOTLAB_SERVER_ADDRESS: '192.0.2.1' }).dhcp.serverAddress, '192.0.2.1');
  t.equal(parseConfig('', FILE, { BOOTLAB_ADMIN_TOKEN: 'a-token-of-twenty-chars' }).admin.token, null, 'BOOTLAB_ADMIN_TOKEN is not in the config');
  const all = parseConfig(POOL, FILE, { BOOTLAB_INTERFACE: 'eth1,eth2', BOOTLAB_DHCP_MODE: 'full', BOOTLAB_HTTP_PORT: '8069', PATH: '/usr/bin', BOOTLAB_UNKNOWN: 'x' });
  t.same([all.dhcp.interfaces, all.dhcp.mode, all.http.port], [['eth1', 'eth2'], 'full', 8069], 'together; other variables ignored');
  t.same(all.dhcp.pool, { start: '192.0.2.100', end: '192.0.2.150' }, 'the rest of the file stays');
});

t.test('an empty variable is ignored', async (t) => {
  const c = parseConfig(y('dhcp:', '  mode: off', '  interfaces: [eth0]', 'http:', '  port: 8080'), FILE, { BOOTLAB_DHCP_MODE: '', BOOTLAB_INTERFACE: '', BOOTLAB_HTTP_PORT: '', BOOTLAB_ADMIN_PORT: '' });
  t.equal(c.dhcp.mode, 'off');
  t.same(c.dhcp.interfaces, ['eth0']);
  t.equal(c.http.port, 8080);
  t.equal(c.admin.port, 8080);
  t.same(parseConfig('', FILE, { BOOTLAB_HTTP_PORT: '' }).http, defaults(httpSpec));
});

t.test('a bad value names the variable and the key, not a line of the file', async (t) => {
  const mode = errorsOf('', { BOOTLAB_DHCP_MODE: 'maybe' });
  t.equal(mode?.length, 1);
  t.ok(mode?.[0].startsWith('environment BOOTLAB_DHCP_MODE=maybe: dhcp.mode:'), String(mode?.[0]));
  t.same(mode, ['environment BOOTLAB_DHCP_MODE=maybe: dhcp.mode: must be one of proxy, full, off']);
  t.same(errorsOf('', { BOOTLAB_HTTP_PORT: 'eighty' }), ['environment BOOTLAB_HTTP_PORT=eighty: http.port: must be an integer 0-65535']);
  t.same(errorsOf('', { BOOTLAB_HTTP_PORT: '70000' }), ['environment BOOTLAB_HTTP_PORT=70000: http.port: must be an integer 0-65535']);
  t.same(errorsOf('', { BOOTLAB_ADMIN_PORT: '-1' }), ['environment BOOTLAB_ADMIN_PORT=-1: admin.port: must be an integer 0-65535']);
  t.same(errorsOf('', { BOOTLAB_INTERFACE: 'eth0,eth0' }), ['environment BOOTLAB_INTERFACE=eth0,eth0: dhcp.interfaces.1: names eth0 twice (it would answer every request twice)']);
  const full = errorsOf('', { BOOTLAB_DHCP_MODE: 'full' });
  t.equal(full?.length, 1, 'full mode from the environment without a pool in the file: refused');
  t.match(full?.[0], /dhcp\.pool\.start: is required in full mode/);
  const both = errorsOf(y('tftp:', '  port: -1'), { BOOTLAB_HTTP_PORT: 'x' });
  t.same(both, ['environment BOOTLAB_HTTP_PORT=x: http.port: must be an integer 0-65535', `${FILE}:2 tftp.port: must be an integer 0-65535`], 'environment lines and file lines together');
});

t.test('loadConfig(file, env): the same overrides; the process environment only by default', async (t) => {
  const dir = t.testdir({ 'a.yaml': y('http:', '  port: 80', 'dhcp:', '  pool: { start: 192.0.2.100, end: 192.0.2.150 }') });
  const file = join(dir, 'a.yaml');
  const c = loadConfig(file, { BOOTLAB_INTERFACE: 'eth1, eth2', BOOTLAB_DHCP_MODE: 'full', BOOTLAB_HTTP_PORT: '8069' });
  t.same([c.dhcp.interfaces, c.dhcp.mode, c.http.port], [['eth1', 'eth2'], 'full', 8069]);
  t.equal(loadConfig(file, {}).http.port, 80, 'an empty environment: the file');
  try {
    loadConfig(file, { BOOTLAB_DHCP_MODE: 'maybe' });
    t.fail('accepted');
  } catch (e) {
    t.same((e as ConfigError).lines, ['environment BOOTLAB_DHCP_MODE=maybe: dhcp.mode: must be one of proxy, full, off']);
  }
});
