// Generated pxelinux configs: pxelinux.cfg/01-<aa-bb-cc-dd-ee-ff> per host and
// pxelinux.cfg/default (the menu for the rest). pxelinux asks for its UUID, 01-<mac>, its
// IP in hex with ever shorter prefixes, then default (syslinux core/fs/pxe/pxe.c): a
// machine the host map does not name gets "not found" for 01-<mac> and takes default.
// Only kernel images can be written as a pxelinux entry; others fall back to local boot.
// Files on disk win over these (the provider is consulted after the disk, providers.ts).
import { PXELINUX_HOST_CFG } from '../core/bootnames.js';
import type { HostView } from '../core/hostmap-parse.js';
import { defaultConfig, hostConfig, loaderProvider, type Kernel, type LoaderFormat, type Who } from './loader-config.js';
import { render, varsFor, type BootSite } from './vars.js';

// pxelinux sends names as written; a leading "/" is absolute on the TFTP server, so the
// config works wherever pxelinux.0 itself sits.
const abs = (p: string) => `/${p.replace(/^\/+/, '')}`;
// A label is one word.
const label = (name: string) => name.replace(/[^A-Za-z0-9_.-]/g, '_');

function entry(img: Kernel, who: Who): string[] {
  const vars = varsFor(who.mac, who.host, img.name, who.ip, who.site);
  const append = [img.initrd ? `initrd=${abs(img.initrd)}` : '', render(img.cmdline, vars)].filter(Boolean).join(' ');
  return [`LABEL ${label(img.name)}`, `  MENU LABEL ${img.name}`, `  KERNEL ${abs(img.kernel)}`, ...(append ? [`  APPEND ${append}`] : [])];
}

const LOCAL = ['LABEL local', '  MENU LABEL Boot from the local disk', '  LOCALBOOT 0'];

const PXELINUX: LoaderFormat = {
  single(kernel, who) {
    if (!kernel) return ['DEFAULT local', 'PROMPT 0', ...LOCAL];
    return [`DEFAULT ${label(kernel.name)}`, 'PROMPT 0', 'TIMEOUT 0', ...entry(kernel, who)];
  },
  // TIMEOUT is in tenths of a second.
  menu(kernels, { menuDefault, menuTimeout }, who) {
    const dflt = kernels.some((k) => k.name === menuDefault) ? label(menuDefault) : 'local';
    return [
      `DEFAULT ${dflt}`, menuTimeout === 0 ? 'PROMPT 0' : 'PROMPT 1', `TIMEOUT ${menuTimeout * 10}`,
      `SAY bootlab: ${[...kernels.map((k) => label(k.name)), 'local'].join(', ')} (default ${dflt})`,
      ...kernels.flatMap((k) => entry(k, who)),
      ...LOCAL,
    ];
  },
};

export const pxelinuxHostConfig = (mac: string, hosts: HostView, ip: string | null, site: BootSite) =>
  hostConfig(PXELINUX, mac, hosts, ip, site);
export const pxelinuxDefault = (hosts: HostView, ip: string | null, site: BootSite) =>
  defaultConfig(PXELINUX, hosts, ip, site);
export const pxelinuxProvider = (hosts: HostView, site: BootSite) => loaderProvider(PXELINUX, 'pxelinux.cfg/default', PXELINUX_HOST_CFG, hosts, site);
