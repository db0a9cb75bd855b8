// Generated GRUB configs (services/boot/grub.ts), whole files: a host with a kernel image,
// a host on the local disk, a host on the menu, a machine the map does not name (null:
// GRUB falls back to grub/grub.cfg), the menu's default (an index) and timeout (seconds),
// defaults none, a non-kernel image (local boot), and the provider's name matching.
import t from 'tap';
import { grubDefault, grubHostConfig, grubProvider } from '../../services/boot/grub.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import { IMAGES, IP, lines, map, MENU, SITE } from './loader-fixtures.js';

const RESCUE = ["menuentry 'rescue' {", '  linux /rescue/vmlinuz', '}'];
const LOCAL = ["menuentry 'Boot from the local disk' {", '  exit', '}'];
const debian = (hostname: string, mac: string) => ["menuentry 'debian' {", `  linux /debian/linux hostname=${hostname} ip=${IP} BOOTIF=${mac}`, '  initrd /debian/initrd.gz', '}'];

t.test('a host with a kernel image: its one entry, booted at once, variables rendered', async (t) => {
  t.equal(grubHostConfig('52:54:00:00:00:01', MENU, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:01', 'set default=0', 'set timeout=0',
    ...debian('pc01', '52:54:00:00:00:01'),
  ));
});

t.test('a host on the local disk (defaults local), and a host whose image is not a kernel', async (t) => {
  t.equal(grubHostConfig('52:54:00:00:00:02', map('{ action: local }'), IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:02', 'set default=0', 'set timeout=0', ...LOCAL,
  ));
  t.equal(grubHostConfig('52:54:00:00:00:03', MENU, IP, SITE), null, 'a chain image: null, GRUB reads its default config');
});

t.test('a host on the menu: kernels then local; menuDefault debian = index 0, timeout 5', async (t) => {
  // The file is this machine's own (grub.cfg-01-<mac>): its variables are its own, as in its iPXE menu.
  t.equal(grubHostConfig('52:54:00:00:00:02', MENU, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:02 (the menu)', 'set default=0', 'set timeout=5',
    ...debian('pc02', '52:54:00:00:00:02'), ...RESCUE, ...LOCAL,
  ));
});

t.test('a machine the map does not name: null (GRUB asks for grub.cfg next)', async (t) => {
  t.equal(grubHostConfig('52:54:00:00:00:99', MENU, IP, SITE), null);
});

t.test('grub/grub.cfg: the menu; the default is the entry\'s index', async (t) => {
  t.equal(grubDefault(MENU, IP, SITE), lines(
    '# bootlab: default (the menu)', 'set default=0', 'set timeout=5',
    ...debian('', ''), ...RESCUE, ...LOCAL,
  ));
  const at = (defaults: string) => grubDefault(map(defaults), IP, SITE)!.split('\n').slice(1, 3);
  t.same(at('{ action: menu, menuDefault: rescue, menuTimeout: 5 }'), ['set default=1', 'set timeout=5']);
  t.same(at('{ action: menu, menuDefault: local, menuTimeout: 5 }'), ['set default=2', 'set timeout=5'], 'local is the last entry');
  t.same(at('{ action: menu }'), ['set default=2', 'set timeout=10'], 'the defaults: local, 10 s');
  t.same(at('{ action: menu, menuDefault: netboot, menuTimeout: 5 }'), ['set default=2', 'set timeout=5'], 'an image GRUB cannot boot: local');
});

t.test('menuTimeout 0: set timeout=0 (GRUB boots the default at once)', async (t) => {
  t.equal(grubDefault(map('{ action: menu, menuDefault: rescue, menuTimeout: 0 }'), IP, SITE), lines(
    '# bootlab: default (the menu)', 'set default=1', 'set timeout=0',
    ...debian('', ''), ...RESCUE, ...LOCAL,
  ));
});

t.test('defaults none, local and image', async (t) => {
  const none = map('{ action: none }');
  t.equal(grubDefault(none, IP, SITE), null);
  t.equal(grubHostConfig('52:54:00:00:00:02', none, IP, SITE), null);
  t.equal(grubHostConfig('52:54:00:00:00:01', none, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:01', 'set default=0', 'set timeout=0', ...debian('pc01', '52:54:00:00:00:01'),
  ), 'a host with its own image still boots it');
  t.equal(grubDefault(map('{ action: local }'), IP, SITE), lines('# bootlab: default', 'set default=0', 'set timeout=0', ...LOCAL));
  t.equal(grubDefault(map('{ action: image, image: rescue }'), IP, SITE), lines('# bootlab: default', 'set default=0', 'set timeout=0', ...RESCUE));
});

t.test('names with a quote are quoted for GRUB', async (t) => {
  const v = hostView("defaults: { action: menu }\nimages:\n  \"it's\": { kernel: k, cmdline: \"a  b\" }\n");
  t.equal(grubDefault(v, IP, SITE), lines(
    '# bootlab: default (the menu)', 'set default=1', 'set timeout=10',
    "menuentry 'it'\\''s' {", '  linux /k a  b', '}', ...LOCAL,
  ));
});

t.test('the provider: grub/grub.cfg-01-<mac> in either case, grub/grub.cfg, nothing else', async (t) => {
  const p = grubProvider(MENU, SITE);
  const c = { address: IP };
  t.equal(p('grub/grub.cfg-01-52-54-00-00-00-01', c), grubHostConfig('52:54:00:00:00:01', MENU, IP, SITE));
  const upper = hostView(`${IMAGES}hosts:\n  52:54:00:AB:CD:EF: { hostname: pc01, image: debian }\n`);
  const pu = grubProvider(upper, SITE);
  t.match(pu('grub/grub.cfg-01-52-54-00-ab-cd-ef', c), /^# bootlab: 52:54:00:ab:cd:ef\n/, 'lower-case hex (what GRUB sends)');
  t.match(pu('grub/grub.cfg-01-52-54-00-AB-CD-EF', c), /^# bootlab: 52:54:00:ab:cd:ef\n/, 'upper-case hex');
  t.equal(p('grub/grub.cfg', c), grubDefault(MENU, IP, SITE));
  t.match(p('grub/grub.cfg', { address: '192.0.2.77' }), /ip=192\.0\.2\.77 /, 'the asking client\'s address');
  t.equal(p('grub/grub.cfg-01-52-54-00-00-00-99', c), null, 'a machine the map does not name');
  for (const name of [
    'grub/grub.cfg-C0000232', 'grub/grub.cfg-C000', // its IP in hex
    'grub/grub.cfg-52-54-00-00-00-01', 'grub/grub.cfg-01-52:54:00:00:00:01', 'grub/grub.cfg-01-52-54-00-00-00',
    'grub/grub.cfg-01-52-54-00-00-00-01.bak', 'grub.cfg', 'grub.cfg-01-52-54-00-00-00-01', 'boot/grub/grub.cfg',
    'grub/grub.cfg.bak', 'grub/', 'pxelinux.cfg/default', 'pxelinux.cfg/01-52-54-00-00-00-01', 'grubx64.efi',
  ]) t.equal(p(name, c), null, `not answered: ${name}`);
  t.equal(grubProvider(map('{ action: none }'), SITE)('grub/grub.cfg', c), null, 'defaults none: no grub.cfg');
});
