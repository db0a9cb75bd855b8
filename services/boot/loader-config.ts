// What pxelinux's and GRUB's generated configs share (boot/pxelinux.ts, boot/grub.ts):
// which target a config describes, and the provider that answers the loader's names.
// - Per host (pxelinux.cfg/01-<mac>, grub/grub.cfg-01-<mac>): only for machines the host
//   map names; the rest get "not found" and the loader falls to its default, as it would.
//   So does a machine whose image is not a kernel (a script, a chain, raw files): the
//   loader was started by that image (a teacher's script chaining pxelinux.0, a files image
//   of grubx64.efi), so the loader's own default config (the teacher's on disk) decides.
// - The default (pxelinux.cfg/default, grub/grub.cfg): the host map's defaults.
// A loader can only boot kernel images; any other target is written as the local disk.
import { normalizeMac, type Host, type HostMapData, type Image } from '../core/hostmap-parse.js';
import type { HostView } from '../core/hostmap-parse.js';
import { imageFor } from './choose.js';
import type { BootSite } from './vars.js';

export type Kernel = Extract<Image, { kind: 'kernel' }>;

/** Who the config is for: a host-map machine, or every other one (mac ''). */
export interface Who { mac: string; host?: Host; ip: string | null; site: BootSite }

/** A loader's config format: the lines after the `# bootlab:` header. */
export interface LoaderFormat {
  /** Every kernel image plus the local disk; default and timeout from the host map. */
  menu(kernels: Kernel[], defaults: HostMapData['defaults'], who: Who): string[];
  /** One kernel image, or the local disk (null). */
  single(kernel: Kernel | null, who: Who): string[];
}

function write(fmt: LoaderFormat, target: Image | 'local' | 'menu', hosts: HostView, who: Who, what: string): string {
  const kernels = [...hosts.images.values()].filter((i): i is Kernel => i.kind === 'kernel');
  const lines = target === 'menu'
    ? fmt.menu(kernels, hosts.defaults, who)
    : fmt.single(target !== 'local' && target.kind === 'kernel' ? target : null, who);
  return [`# bootlab: ${what}`, ...lines, ''].join('\n');
}

/**
 * The config of one host-map machine; null for a machine the map does not name, one set to
 * boot nothing, or one whose image is not a kernel.
 */
export function hostConfig(
  fmt: LoaderFormat,
  mac: string,
  hosts: HostView,
  ip: string | null,
  site: BootSite,
): string | null {
  const host = hosts.lookup(mac);
  if (!host) return null;
  const target = imageFor(mac, hosts);
  if (target === 'none' || (typeof target === 'object' && target.kind !== 'kernel')) return null;
  return write(fmt, target, hosts, { mac, host, ip, site }, target === 'menu' ? `${mac} (the menu)` : mac);
}

/** The default config from the host map's defaults; null when they say "none". */
export function defaultConfig(fmt: LoaderFormat, hosts: HostView, ip: string | null, site: BootSite): string | null {
  const d = hosts.defaults;
  if (d.action === 'none') return null;
  const who = { mac: '', ip, site };
  if (d.action === 'menu') return write(fmt, 'menu', hosts, who, 'default (the menu)');
  const img = d.action === 'image' && d.image ? hosts.images.get(d.image) : undefined;
  return write(fmt, img ?? 'local', hosts, who, 'default');
}

/** A content provider for the loader's default name and its per-MAC names (`hostName` captures aa-bb-..). */
export function loaderProvider(
  fmt: LoaderFormat,
  defaultName: string,
  hostName: RegExp,
  hosts: HostView,
  site: BootSite,
): (name: string, client: { address: string }) => string | null {
  return (name, client) => {
    if (name === defaultName) return defaultConfig(fmt, hosts, client.address, site);
    const m = hostName.exec(name);
    const mac = m ? normalizeMac(m[1]) : null;
    return mac ? hostConfig(fmt, mac, hosts, client.address, site) : null;
  };
}
