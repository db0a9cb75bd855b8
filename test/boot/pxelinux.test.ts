// Generated pxelinux configs (services/boot/pxelinux.ts), whole files: a host with a
// kernel image, a host on the local disk, a host on the menu, a machine the map does not
// name (null: pxelinux itself falls back to pxelinux.cfg/default), the menu's default and
// timeout (tenths of a second), defaults none, a non-kernel image (local boot), and the
// provider's name matching.
import t from 'tap';
import { pxelinuxDefault, pxelinuxHostConfig, pxelinuxProvider } from '../../services/boot/pxelinux.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import { IMAGES, IP, lines, map, MENU, SITE } from './loader-fixtures.js';

const DEBIAN_PC01 = ['LABEL debian', '  MENU LABEL debian', '  KERNEL /debian/linux', `  APPEND initrd=/debian/initrd.gz hostname=pc01 ip=${IP} BOOTIF=52:54:00:00:00:01`];
const RESCUE = ['LABEL rescue', '  MENU LABEL rescue', '  KERNEL /rescue/vmlinuz'];
const LOCAL = ['LABEL local', '  MENU LABEL Boot from the local disk', '  LOCALBOOT 0'];

t.test('a host with a kernel image: its one entry, no prompt, variables rendered', async (t) => {
  t.equal(pxelinuxHostConfig('52:54:00:00:00:01', MENU, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:01',
    'DEFAULT debian', 'PROMPT 0', 'TIMEOUT 0',
    ...DEBIAN_PC01,
  ));
});

t.test('a host with a kernel image and no client address: {{ip}} is the host map\'s ip', async (t) => {
  const v = hostView(`${IMAGES}hosts:\n  52:54:00:00:00:01: { hostname: pc01, image: debian, ip: 192.0.2.41 }\n`);
  t.match(pxelinuxHostConfig('52:54:00:00:00:01', v, null, SITE), /^ {2}APPEND initrd=\/debian\/initrd\.gz hostname=pc01 ip=192\.0\.2\.41 BOOTIF=52:54:00:00:00:01$/m);
});

t.test('a host on the local disk (defaults local)', async (t) => {
  t.equal(pxelinuxHostConfig('52:54:00:00:00:02', map('{ action: local }'), IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:02',
    'DEFAULT local', 'PROMPT 0',
    ...LOCAL,
  ));
});

t.test('a host whose image is not a kernel (a chain): null, pxelinux reads its default (the image that started it decides)', async (t) => {
  t.equal(pxelinuxHostConfig('52:54:00:00:00:03', MENU, IP, SITE), null);
});

t.test('a host on the menu: every kernel image plus the local disk; default debian, 5 s = TIMEOUT 50', async (t) => {
  // The file is this machine's own (01-<mac>): its variables are its own, as in its iPXE menu.
  t.equal(pxelinuxHostConfig('52:54:00:00:00:02', MENU, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:02 (the menu)',
    'DEFAULT debian', 'PROMPT 1', 'TIMEOUT 50',
    'SAY bootlab: debian, rescue, local (default debian)',
    'LABEL debian', '  MENU LABEL debian', '  KERNEL /debian/linux', `  APPEND initrd=/debian/initrd.gz hostname=pc02 ip=${IP} BOOTIF=52:54:00:00:00:02`,
    ...RESCUE,
    ...LOCAL,
  ));
});

t.test('a machine the map does not name: null (pxelinux asks for default next)', async (t) => {
  t.equal(pxelinuxHostConfig('52:54:00:00:00:99', MENU, IP, SITE), null);
  t.equal(pxelinuxHostConfig('52:54:00:00:00:99', map('{ action: local }'), IP, SITE), null);
});

t.test('pxelinux.cfg/default: the menu with menuDefault an image and menuTimeout 5', async (t) => {
  t.equal(pxelinuxDefault(MENU, IP, SITE), lines(
    '# bootlab: default (the menu)',
    'DEFAULT debian', 'PROMPT 1', 'TIMEOUT 50',
    'SAY bootlab: debian, rescue, local (default debian)',
    'LABEL debian', '  MENU LABEL debian', '  KERNEL /debian/linux', `  APPEND initrd=/debian/initrd.gz hostname= ip=${IP} BOOTIF=`,
    ...RESCUE,
    ...LOCAL,
  ));
});

t.test('the menu with menuTimeout 0 boots its default at once: PROMPT 0, TIMEOUT 0', async (t) => {
  t.equal(pxelinuxDefault(map('{ action: menu, menuDefault: rescue, menuTimeout: 0 }'), IP, SITE), lines(
    '# bootlab: default (the menu)',
    'DEFAULT rescue', 'PROMPT 0', 'TIMEOUT 0',
    'SAY bootlab: debian, rescue, local (default rescue)',
    'LABEL debian', '  MENU LABEL debian', '  KERNEL /debian/linux', `  APPEND initrd=/debian/initrd.gz hostname= ip=${IP} BOOTIF=`,
    ...RESCUE,
    ...LOCAL,
  ));
});

t.test('the menu\'s default when it is local, or an image pxelinux cannot boot: local; the default timeout is 10 s', async (t) => {
  const local = pxelinuxDefault(map('{ action: menu }'), IP, SITE)!;
  t.equal(local.split('\n').slice(1, 5).join('\n'), 'DEFAULT local\nPROMPT 1\nTIMEOUT 100\nSAY bootlab: debian, rescue, local (default local)');
  const chain = pxelinuxDefault(map('{ action: menu, menuDefault: netboot, menuTimeout: 3 }'), IP, SITE)!;
  t.equal(chain.split('\n').slice(1, 5).join('\n'), 'DEFAULT local\nPROMPT 1\nTIMEOUT 30\nSAY bootlab: debian, rescue, local (default local)');
  t.notMatch(chain, /netboot/, 'a chain image has no pxelinux entry');
});

t.test('defaults none: no default file, and no file for a host without an image', async (t) => {
  const none = map('{ action: none }');
  t.equal(pxelinuxDefault(none, IP, SITE), null);
  t.equal(pxelinuxHostConfig('52:54:00:00:00:02', none, IP, SITE), null);
  t.equal(pxelinuxHostConfig('52:54:00:00:00:01', none, IP, SITE), lines(
    '# bootlab: 52:54:00:00:00:01', 'DEFAULT debian', 'PROMPT 0', 'TIMEOUT 0', ...DEBIAN_PC01,
  ), 'a host with its own image still boots it');
});

t.test('defaults local and defaults image for pxelinux.cfg/default', async (t) => {
  t.equal(pxelinuxDefault(map('{ action: local }'), IP, SITE), lines('# bootlab: default', 'DEFAULT local', 'PROMPT 0', ...LOCAL));
  t.equal(pxelinuxDefault(map('{ action: image, image: rescue }'), IP, SITE), lines('# bootlab: default', 'DEFAULT rescue', 'PROMPT 0', 'TIMEOUT 0', ...RESCUE));
  t.equal(pxelinuxDefault(map('{ action: image, image: netboot }'), IP, SITE), lines('# bootlab: default', 'DEFAULT local', 'PROMPT 0', ...LOCAL), 'a chain default image: local');
});

t.test('labels are one word; the menu label keeps the name', async (t) => {
  const v = hostView('defaults: { action: menu, menuDefault: "my image" }\nimages:\n  "my image": { kernel: k }\n');
  t.equal(pxelinuxDefault(v, IP, SITE), lines(
    '# bootlab: default (the menu)', 'DEFAULT my_image', 'PROMPT 1', 'TIMEOUT 100',
    'SAY bootlab: my_image, local (default my_image)',
    'LABEL my_image', '  MENU LABEL my image', '  KERNEL /k',
    ...LOCAL,
  ));
});

t.test('the provider: pxelinux.cfg/01-<mac> in either case, pxelinux.cfg/default, nothing else', async (t) => {
  const p = pxelinuxProvider(MENU, SITE);
  const c = { address: IP };
  const pc01 = pxelinuxHostConfig('52:54:00:00:00:01', MENU, IP, SITE);
  t.equal(p('pxelinux.cfg/01-52-54-00-00-00-01', c), pc01);
  const upper = hostView(`${IMAGES}hosts:\n  52:54:00:AB:CD:EF: { hostname: pc01, image: debian }\n`);
  const pu = pxelinuxProvider(upper, SITE);
  t.match(pu('pxelinux.cfg/01-52-54-00-ab-cd-ef', c), /^# bootlab: 52:54:00:ab:cd:ef\n/, 'lower-case hex (what pxelinux sends)');
  t.match(pu('pxelinux.cfg/01-52-54-00-AB-CD-EF', c), /^# bootlab: 52:54:00:ab:cd:ef\n/, 'upper-case hex');
  t.equal(p('pxelinux.cfg/default', c), pxelinuxDefault(MENU, IP, SITE));
  t.match(p('pxelinux.cfg/default', { address: '192.0.2.77' }), /ip=192\.0\.2\.77 /, 'the asking client\'s address');
  t.equal(p('pxelinux.cfg/01-52-54-00-00-00-99', c), null, 'a machine the map does not name: not found, so pxelinux takes default');
  for (const name of [
    'pxelinux.cfg/C0000232', 'pxelinux.cfg/C000', 'pxelinux.cfg/C', // its IP in hex, shorter and shorter
    'pxelinux.cfg/564d4f2a-0000-0000-0000-000000000001', // its UUID
    'pxelinux.cfg/52-54-00-00-00-01', 'pxelinux.cfg/01-52:54:00:00:00:01', 'pxelinux.cfg/01-52-54-00-00-00',
    'pxelinux.cfg/01-52-54-00-00-00-01.cfg', 'pxelinux.cfg/02-52-54-00-00-00-01', 'pxelinux.cfg/default.bak',
    'pxelinux.cfg/', 'pxelinux.cfg', 'boot/pxelinux.cfg/default', 'grub/grub.cfg', 'bootlab/52-54-00-00-00-01.ipxe', 'pxelinux.0',
  ]) t.equal(p(name, c), null, `not answered: ${name}`);
});

t.test('the provider under defaults none answers no default', async (t) => {
  t.equal(pxelinuxProvider(map('{ action: none }'), SITE)('pxelinux.cfg/default', { address: IP }), null);
});
