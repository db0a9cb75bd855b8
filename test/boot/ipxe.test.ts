// Per-machine iPXE scripts (services/boot/ipxe.ts) from a host map: a kernel image, a
// chain, local disk, the menu for unknown machines, nothing for defaults none; and the
// TFTP provider's name matching.
import t from 'tap';
import { ipxeProvider, scriptFor } from '../../services/boot/ipxe.js';
import { scriptPath } from '../../services/dhcp/boot.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import type { BootSite } from '../../services/boot/vars.js';

const SITE: BootSite = { server: '192.0.2.1', httpBase: 'http://192.0.2.1', bootedPath: (mac) => `bootlab/booted/${mac.replace(/:/g, '-')}/k3y` };
const CTX = { site: SITE, clientIp: '192.0.2.50' };

const view = hostView;

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
  t.match(s, /^:local\necho Booting from the local disk\niseq \$\{platform\} pcbios && sanboot --no-describe --drive 0x80 \|\|\nexit$/m);
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
