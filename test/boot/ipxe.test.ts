// Per-machine iPXE scripts (services/boot/ipxe.ts) from a host map: a kernel image, a
// chain, local disk, the menu for unknown machines, nothing for defaults none; and the
// TFTP provider's name matching.
import t from 'tap';
import { BOOT_IPXE, BOOTLAB_BOOT_IPXE, dispatcherProvider, ipxeProvider, scriptFor } from '../../services/boot/ipxe.js';
import { scriptPath } from '../../services/core/bootnames.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import { IP, SITE } from './loader-fixtures.js';

const CTX = { site: SITE, clientIp: IP };

const view = hostView;

const lines = (...l: string[]) => `${l.join('\n')}\n`;
const REPORT = 'imgfetch --name bootlab-booted /bootlab/booted/52-54-00-00-00-01/k3y && imgfree bootlab-booted || echo bootlab: could not report booted';
/** The local-disk step: the report (target local), then BIOS sanboot or back to the firmware. */
const LOCAL = (machyp: string) => [
  'echo Booting from the local disk',
  `imgfetch --name bootlab-booted /bootlab/booted/${machyp}/k3y/local && imgfree bootlab-booted || echo bootlab: could not report the local boot`,
  'iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||',
  'exit',
];

const MAP = view(`
defaults: { action: menu }
images:
  linux: { kernel: debian/linux, initrd: debian/initrd.gz, cmdline: "console=ttyS0 quiet" }
  netboot: { chain: "http://198.51.100.7/boot.ipxe" }
  grub: { files: { bios: grub/core.0, uefi64: grub/grubx64.efi } }
hosts:
  52:54:00:00:00:01: { image: linux }
  52:54:00:00:00:02: { image: netboot }
  52:54:00:00:00:03: { image: grub }
`);

t.test('a kernel image: kernel with initrd= and cmdline, initrd, boot; paths absolute', async (t) => {
  const s = scriptFor('52:54:00:00:00:01', MAP, CTX)!;
  t.equal(s.split('\n')[0], '#!ipxe');
  t.match(s, /^kernel \/debian\/linux initrd=initrd\.gz console=ttyS0 quiet$/m);
  t.match(s, /^initrd \/debian\/initrd\.gz$/m);
  t.match(s, /^boot$/m);
});

t.test('a chain image chains its URL', async (t) => {
  t.match(scriptFor('52:54:00:00:00:02', MAP, CTX)!, /^chain http:\/\/198\.51\.100\.7\/boot\.ipxe$/m);
});

t.test('a raw-files image chains the file for the firmware iPXE runs on', async (t) => {
  const s = scriptFor('52:54:00:00:00:03', MAP, CTX)!;
  t.match(s, /^iseq \$\{platform\} pcbios && chain \/grub\/core\.0 \|\|$/m);
  t.match(s, /^iseq \$\{platform\} efi && iseq \$\{buildarch\} x86_64 && chain \/grub\/grubx64\.efi \|\|$/m);
  t.notMatch(s, /arm64/, 'no line for an architecture the image lacks');
  t.match(s, /^echo image grub has no boot file for \$\{platform\} \$\{buildarch\}$/m);
});

t.test('an unknown machine gets the menu: every image plus local disk, with a timeout', async (t) => {
  const s = scriptFor('52:54:00:00:00:99', MAP, CTX)!;
  t.match(s, /^item img-linux linux$/m);
  t.match(s, /^item img-netboot netboot$/m);
  t.match(s, /^item img-grub grub$/m);
  t.match(s, /^item local /m);
  t.match(s, /choose --timeout 10000 --default local target/);
  t.equal(s.slice(s.indexOf(':local\n')), lines(':local', ...LOCAL('52-54-00-00-00-99')));
});

t.test('defaults local and none', async (t) => {
  t.match(scriptFor('52:54:00:00:00:99', view('defaults: { action: local }\n'), CTX)!, /^exit$/m);
  t.equal(scriptFor('52:54:00:00:00:99', view('defaults: { action: none }\n'), CTX), null);
});

t.test('the provider serves bootlab/<mac>.ipxe for the name DHCP hands out, and nothing else', async (t) => {
  const p = ipxeProvider(MAP, SITE);
  const name = scriptPath('52:54:00:00:00:01');
  t.equal(name, 'bootlab/52-54-00-00-00-01.ipxe');
  t.match(p(name, { address: '192.0.2.50' }) ?? '', /kernel \/debian\/linux/);
  t.match(p('bootlab/52-54-00-00-00-01.IPXE', { address: '192.0.2.50' }) ?? '', /kernel/, 'case of the extension does not matter');
  t.equal(p('bootlab/zz-54-00-00-00-01.ipxe', { address: '192.0.2.50' }), null);
  t.equal(p('undionly.kpxe', { address: '192.0.2.50' }), null);
});

t.test('boot.ipxe and bootlab/boot.ipxe: exact text; the root one only as a fallback after the disk', async (t) => {
  const want = (dir: string) => lines(
    '#!ipxe',
    '# bootlab: chain to this machine\'s own script',
    `chain ${dir}\${mac:hexhyp}.ipxe || goto failed`,
    'exit',
    ':failed',
    'echo bootlab: no boot script for ${mac} (is the machine set to boot nothing?)',
    'exit',
  );
  t.equal(BOOT_IPXE, want('bootlab/'), 'at the root: the scripts are in bootlab/');
  t.equal(BOOTLAB_BOOT_IPXE, want(''), 'in bootlab/: beside the scripts');
  const p = ipxeProvider(MAP, SITE);
  t.equal(p('bootlab/boot.ipxe', { address: '192.0.2.50' }), want(''));
  t.equal(ipxeProvider(view('defaults: { action: none }\n'), SITE)('bootlab/boot.ipxe', { address: '198.51.100.20' }), want(''), 'the same under defaults none');
  t.equal(p('boot.ipxe', { address: '192.0.2.50' }), null, 'boot.ipxe at the root is not the before-the-disk provider\'s: a teacher\'s own wins');
  t.equal(dispatcherProvider()('boot.ipxe'), want('bootlab/'), 'the fallback provider answers boot.ipxe');
  for (const name of ['boot.ipxe.bak', 'bootlab/boot.ipxe', 'xboot.ipxe', 'bootlab/52-54-00-00-00-01.ipxe']) {
    t.equal(dispatcherProvider()(name), null, `the fallback does not answer ${name}`);
  }
  for (const name of ['boot.ipxe.bak', 'xboot.ipxe', 'bootlab/52-54-00-00-00-01.ipxe.bak', 'bootlab/52-54-00-00-00-01', 'bootlab/525400000001.ipxe', 'bootlab/01-52-54-00-00-00-01.ipxe']) {
    t.equal(p(name, { address: '192.0.2.50' }), null, `not answered: ${name}`);
  }
});

t.test('a kernel image: the whole script; the booted report is fetched from site.bootedPath before boot', async (t) => {
  t.equal(scriptFor('52:54:00:00:00:01', MAP, CTX), lines(
    '#!ipxe',
    '# bootlab: 52:54:00:00:00:01',
    'kernel /debian/linux initrd=initrd.gz console=ttyS0 quiet',
    'initrd /debian/initrd.gz',
    REPORT,
    'boot',
  ));
  const other: typeof SITE = { ...SITE, bootedPath: (mac) => `bootlab/booted/${mac}/other-key` };
  t.match(scriptFor('52:54:00:00:00:01', MAP, { site: other, clientIp: null }),
    /^imgfetch --name bootlab-booted \/bootlab\/booted\/52:54:00:00:00:01\/other-key && imgfree bootlab-booted \|\| echo bootlab: could not report booted\nboot\n$/m,
    'the path comes from the site (the HMAC key lives there)');
});

t.test('a kernel image without initrd or cmdline; the host name in the header', async (t) => {
  const v = view('images:\n  bare: { kernel: /vmlinuz }\nhosts:\n  52:54:00:00:00:01: { hostname: pc01, image: bare }\n');
  t.equal(scriptFor('52:54:00:00:00:01', v, CTX), lines('#!ipxe', '# bootlab: 52:54:00:00:00:01 (pc01)', 'kernel /vmlinuz', REPORT, 'boot'));
});

const MENU_MAP = (defaults: string) => view(`defaults: ${defaults}
images:
  linux: { kernel: debian/linux, initrd: debian/initrd.gz, cmdline: "console=ttyS0 quiet" }
  netboot: { chain: "http://198.51.100.7/boot.ipxe" }
`);

t.test('the menu, whole: menuDefault an image → --default img-<name>, menuTimeout 5 → 5000 ms', async (t) => {
  t.equal(scriptFor('52:54:00:00:00:99', MENU_MAP('{ action: menu, menuDefault: linux, menuTimeout: 5 }'), CTX), lines(
    '#!ipxe',
    '# bootlab: 52:54:00:00:00:99',
    ':menu',
    'menu bootlab: choose what this machine boots',
    'item img-linux linux',
    'item img-netboot netboot',
    'item local Boot from the local disk',
    'choose --timeout 5000 --default img-linux target && goto ${target} || goto img-linux',
    ':img-linux',
    'kernel /debian/linux initrd=initrd.gz console=ttyS0 quiet',
    'initrd /debian/initrd.gz',
    'imgfetch --name bootlab-booted /bootlab/booted/52-54-00-00-00-99/k3y && imgfree bootlab-booted || echo bootlab: could not report booted',
    'boot',
    'goto menu',
    ':img-netboot',
    'chain http://198.51.100.7/boot.ipxe',
    'goto menu',
    ':local',
    ...LOCAL('52-54-00-00-00-99'),
  ));
});

t.test('menuTimeout 0: goto the default at once, no choose', async (t) => {
  const img = scriptFor('52:54:00:00:00:99', MENU_MAP('{ action: menu, menuDefault: netboot, menuTimeout: 0 }'), CTX)!;
  t.notMatch(img, /^choose /m, 'no choose command');
  t.match(img, /^item local Boot from the local disk\ngoto img-netboot\n:img-linux$/m);
  const local = scriptFor('52:54:00:00:00:99', MENU_MAP('{ action: menu, menuTimeout: 0 }'), CTX)!;
  t.notMatch(local, /^choose /m, 'no choose command');
  t.match(local, /^item local Boot from the local disk\ngoto local\n:img-linux$/m);
  t.match(scriptFor('52:54:00:00:00:99', MENU_MAP('{ action: menu, menuDefault: local, menuTimeout: 1 }'), CTX)!,
    /^choose --timeout 1000 --default local target && goto \$\{target\} \|\| goto local$/m);
});

t.test('defaults local: the whole script', async (t) => {
  t.equal(scriptFor('52:54:00:00:00:99', view('defaults: { action: local }\n'), CTX), lines('#!ipxe', '# bootlab: 52:54:00:00:00:99', ...LOCAL('52-54-00-00-00-99')));
});

t.test('{{variables}} are rendered in the cmdline and the chain URL', async (t) => {
  const v = view(`images:
  inst: { kernel: d/linux, cmdline: "hostname={{hostname}} ip={{ ip }} mac={{mac}} report={{bootedUrl}} keep={{nope}}" }
  web: { chain: "http://198.51.100.7/boot.php?mac={{machyp}}&server={{server}}&base={{httpBase}}&img={{image}}" }
hosts:
  52:54:00:00:00:04: { hostname: pc04, image: inst }
  52:54:00:00:00:05: { hostname: pc05, image: web }
`);
  t.match(scriptFor('52:54:00:00:00:04', v, CTX),
    /^kernel \/d\/linux hostname=pc04 ip=192\.0\.2\.50 mac=52:54:00:00:00:04 report=http:\/\/192\.0\.2\.1\/bootlab\/booted\/52-54-00-00-00-04\/k3y keep=\{\{nope\}\}$/m);
  t.match(scriptFor('52:54:00:00:00:05', v, CTX),
    /^chain http:\/\/198\.51\.100\.7\/boot\.php\?mac=52-54-00-00-00-05&server=192\.0\.2\.1&base=http:\/\/192\.0\.2\.1&img=web$/m);
  // Through the provider, {{ip}} is the address the request came from.
  t.match(ipxeProvider(v, SITE)('bootlab/52-54-00-00-00-04.ipxe', { address: '203.0.113.9' }), / ip=203\.0\.113\.9 /);
  // In the menu too (the unknown machine's own MAC).
  const menu = view('defaults: { action: menu }\nimages:\n  inst: { kernel: d/linux, cmdline: "mac={{mac}} ip={{ip}}" }\n');
  t.match(scriptFor('52:54:00:00:00:99', menu, CTX), /^kernel \/d\/linux mac=52:54:00:00:00:99 ip=192\.0\.2\.50$/m);
});
