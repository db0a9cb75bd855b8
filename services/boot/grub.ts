// Generated GRUB configs for GRUB network boot (UEFI): grub/grub.cfg-01-<aa-bb-...> per
// host and grub/grub.cfg for the rest. GRUB's netboot looks in its prefix for
// grub.cfg-01-<mac>, then grub.cfg-<hex ip>..., then grub.cfg (grub-core/net/net.c,
// grub_net_search_config_file); a GRUB image built with prefix (tftp)/grub finds these.
// GRUB's paths starting with "/" are on the server it booted from ($root = (tftp,server)).
// Files on disk win over these (providers.ts).
import { GRUB_HOST_CFG } from '../core/bootnames.js';
import type { HostView } from '../core/hostmap-parse.js';
import { defaultConfig, hostConfig, loaderProvider, type Kernel, type LoaderFormat, type Who } from './loader-config.js';
import { render, varsFor, type BootSite } from './vars.js';

const abs = (p: string) => `/${p.replace(/^\/+/, '')}`;
// GRUB quoting: single quotes, a quote inside written as '\''.
const quote = (s: string) => `'${s.replace(/'/g, '\'\\\'\'')}'`;

function entry(img: Kernel, who: Who): string[] {
  const cmdline = render(img.cmdline, varsFor(who.mac, who.host, img.name, who.ip, who.site));
  return [
    `menuentry ${quote(img.name)} {`,
    `  linux ${abs(img.kernel)}${cmdline ? ` ${cmdline}` : ''}`,
    ...(img.initrd ? [`  initrd ${abs(img.initrd)}`] : []),
    '}',
  ];
}

// On UEFI "local disk" is the firmware's next boot option: leave GRUB.
const LOCAL = ["menuentry 'Boot from the local disk' {", '  exit', '}'];

const GRUB: LoaderFormat = {
  single: (kernel, who) => ['set default=0', 'set timeout=0', ...(kernel ? entry(kernel, who) : LOCAL)],
  menu(kernels, { menuDefault, menuTimeout }, who) {
    const i = kernels.findIndex((k) => k.name === menuDefault);
    return [`set default=${i >= 0 ? i : kernels.length}`, `set timeout=${menuTimeout}`, ...kernels.flatMap((k) => entry(k, who)), ...LOCAL];
  },
};

export const grubHostConfig = (mac: string, hosts: HostView, ip: string | null, site: BootSite) =>
  hostConfig(GRUB, mac, hosts, ip, site);
export const grubDefault = (hosts: HostView, ip: string | null, site: BootSite) => defaultConfig(GRUB, hosts, ip, site);
export const grubProvider = (hosts: HostView, site: BootSite) => loaderProvider(GRUB, 'grub/grub.cfg', GRUB_HOST_CFG, hosts, site);
