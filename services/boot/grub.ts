// Generated GRUB configs for GRUB network boot (UEFI): grub/grub.cfg-01-<aa-bb-...> per
// host and grub/grub.cfg for the rest. GRUB's netboot looks in its prefix for
// grub.cfg-01-<mac>, then grub.cfg-<hex ip>..., then grub.cfg (grub-core/net/net.c,
// grub_net_search_config_file); a GRUB image built with prefix (tftp)/grub finds these.
// GRUB's paths starting with "/" are on the server it booted from ($root = (tftp,server)).
// Files on disk win over these (providers.ts).
import { normalizeMac, type Host, type Image } from '../core/hostmap-parse.js';
import { imageFor, type HostView } from '../dhcp/boot.js';
import { render, varsFor, type BootSite } from './vars.js';

const HOST_CFG = /^grub\/grub\.cfg-01-([0-9a-f]{2}(?:-[0-9a-f]{2}){5})$/i;
const abs = (p: string) => `/${p.replace(/^\/+/, '')}`;
// GRUB quoting: single quotes, a quote inside written as '\''.
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

type Kernel = Extract<Image, { kind: 'kernel' }>;

function entry(img: Kernel, mac: string, host: Host | undefined, ip: string | null, site: BootSite): string[] {
  const cmdline = render(img.cmdline, varsFor(mac, host, img.name, ip, site));
  return [
    `menuentry ${quote(img.name)} {`,
    `  linux ${abs(img.kernel)}${cmdline ? ` ${cmdline}` : ''}`,
    ...(img.initrd ? [`  initrd ${abs(img.initrd)}`] : []),
    '}',
  ];
}

// On UEFI "local disk" is the firmware's next boot option: leave GRUB.
const LOCAL = ["menuentry 'Boot from the local disk' {", '  exit', '}'];

function config(entries: string[][], dflt: number, timeout: number, what: string): string {
  return [`# bootlab: ${what}`, `set default=${dflt}`, `set timeout=${timeout}`, ...entries.flat(), ''].join('\n');
}

function menu(hosts: HostView, mac: string, ip: string | null, site: BootSite, what: string, host?: Host): string {
  const kernels = [...hosts.images.values()].filter((i): i is Kernel => i.kind === 'kernel');
  const { menuDefault, menuTimeout } = hosts.defaults;
  const i = kernels.findIndex((k) => k.name === menuDefault);
  return config([...kernels.map((k) => entry(k, mac, host, ip, site)), LOCAL], i >= 0 ? i : kernels.length, menuTimeout, what);
}

function single(target: Image | 'local', mac: string, host: Host | undefined, ip: string | null, site: BootSite, what: string): string {
  if (target === 'local' || target.kind !== 'kernel') return config([LOCAL], 0, 0, what);
  return config([entry(target, mac, host, ip, site)], 0, 0, what);
}

export function grubHostConfig(mac: string, hosts: HostView, ip: string | null, site: BootSite): string | null {
  const host = hosts.lookup(mac);
  if (!host) return null;
  const target = imageFor(mac, hosts);
  if (target === 'none') return null;
  return target === 'menu' ? menu(hosts, mac, ip, site, `${mac} (the menu)`, host) : single(target, mac, host, ip, site, mac);
}

export function grubDefault(hosts: HostView, ip: string | null, site: BootSite): string | null {
  const d = hosts.defaults;
  if (d.action === 'none') return null;
  if (d.action === 'menu') return menu(hosts, '', ip, site, 'default (the menu)');
  const img = d.action === 'image' && d.image ? hosts.images.get(d.image) : undefined;
  return single(img ?? 'local', '', undefined, ip, site, 'default');
}

export function grubProvider(hosts: HostView, site: BootSite): (name: string, client: { address: string }) => string | null {
  return (name, client) => {
    if (name === 'grub/grub.cfg') return grubDefault(hosts, client.address, site);
    const m = HOST_CFG.exec(name);
    const mac = m ? normalizeMac(m[1]) : null;
    return mac ? grubHostConfig(mac, hosts, client.address, site) : null;
  };
}
