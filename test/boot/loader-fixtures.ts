// What the generated-file tests share (ipxe, pxelinux, grub): a site at 192.0.2.1 whose
// booted-report key is "k3y", the client's address, and the pxelinux/GRUB host map:
// a kernel image whose cmdline uses {{hostname}} {{ip}} {{mac}}, a kernel without
// initrd, a chain image (no loader can write it: local boot), three hosts.
import type { BootSite } from '../../services/boot/vars.js';
import { hostView } from '../helpers/dhcp-bytes.js';

export const SITE: BootSite = { server: '192.0.2.1', httpBase: 'http://192.0.2.1', bootedPath: (mac) => `bootlab/booted/${mac.replace(/:/g, '-')}/k3y` };
export const IP = '192.0.2.50';
/** The lines of a whole generated file (each ends with a newline). */
export const lines = (...l: string[]) => `${l.join('\n')}\n`;

export const IMAGES = `images:
  debian: { kernel: debian/linux, initrd: debian/initrd.gz, cmdline: "hostname={{hostname}} ip={{ip}} BOOTIF={{mac}}" }
  rescue: { kernel: /rescue/vmlinuz }
  netboot: { chain: "http://198.51.100.7/boot.ipxe" }
`;
const HOSTS = `hosts:
  52:54:00:00:00:01: { hostname: pc01, image: debian }
  52:54:00:00:00:02: { hostname: pc02 }
  52:54:00:00:00:03: { hostname: pc03, image: netboot }
`;
/** The loaders' host map with these `defaults` (a YAML flow mapping). */
export const map = (defaults: string) => hostView(`defaults: ${defaults}\n${IMAGES}${HOSTS}`);
export const MENU = map('{ action: menu, menuDefault: debian, menuTimeout: 5 }');
