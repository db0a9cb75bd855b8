// Generated pxelinux configs: pxelinux.cfg/01-<aa-bb-cc-dd-ee-ff> per host and
// pxelinux.cfg/default (the menu for the rest). pxelinux asks for its UUID, 01-<mac>, its
// IP in hex with ever shorter prefixes, then default (syslinux core/fs/pxe/pxe.c): a
// machine the host map does not name gets "not found" for 01-<mac> and takes default.
// Only kernel images can be written as a pxelinux entry; others fall back to local boot.
// Files on disk win over these (the provider is consulted after the disk, providers.ts).
import { normalizeMac, type Host, type Image } from '../core/hostmap-parse.js';
import { imageFor, type HostView } from '../dhcp/boot.js';
import { render, varsFor, type BootSite } from './vars.js';

const HOST_CFG = /^pxelinux\.cfg\/01-([0-9a-f]{2}(?:-[0-9a-f]{2}){5})$/i;
// pxelinux sends names as written; a leading "/" is absolute on the TFTP server, so the
// config works wherever pxelinux.0 itself sits.
const abs = (p: string) => `/${p.replace(/^\/+/, '')}`;
// A label is one word.
const label = (name: string) => name.replace(/[^A-Za-z0-9_.-]/g, '_');

function entry(img: Extract<Image, { kind: 'kernel' }>, mac: string | null, host: Host | undefined, ip: string | null, site: BootSite): string[] {
  const vars = varsFor(mac ?? '', host, img.name, ip, site);
  const append = [img.initrd ? `initrd=${abs(img.initrd)}` : '', render(img.cmdline, vars)].filter(Boolean).join(' ');
  return [`LABEL ${label(img.name)}`, `  MENU LABEL ${img.name}`, `  KERNEL ${abs(img.kernel)}`, ...(append ? [`  APPEND ${append}`] : [])];
}

const LOCAL = ['LABEL local', '  MENU LABEL Boot from the local disk', '  LOCALBOOT 0'];

function single(img: Image | 'local', mac: string, host: Host | undefined, ip: string | null, site: BootSite): string[] {
  if (img === 'local' || img.kind !== 'kernel') return ['DEFAULT local', 'PROMPT 0', ...LOCAL];
  return [`DEFAULT ${label(img.name)}`, 'PROMPT 0', 'TIMEOUT 0', ...entry(img, mac, host, ip, site)];
}

/** The menu: every kernel image plus the local disk; TIMEOUT is in tenths of a second. */
function menu(hosts: HostView, ip: string | null, site: BootSite, mac: string | null = null, host?: Host): string[] {
  const kernels = [...hosts.images.values()].filter((i): i is Extract<Image, { kind: 'kernel' }> => i.kind === 'kernel');
  const { menuDefault, menuTimeout } = hosts.defaults;
  const dflt = kernels.some((k) => k.name === menuDefault) ? label(menuDefault) : 'local';
  const lines = [`DEFAULT ${dflt}`, menuTimeout === 0 ? 'PROMPT 0' : 'PROMPT 1', `TIMEOUT ${menuTimeout * 10}`];
  lines.push(`SAY bootlab: ${[...kernels.map((k) => label(k.name)), 'local'].join(', ')} (default ${dflt})`);
  for (const k of kernels) lines.push(...entry(k, mac, host, ip, site));
  lines.push(...LOCAL);
  return lines;
}

function text(lines: string[], what: string): string {
  return [`# bootlab: ${what}`, ...lines, ''].join('\n');
}

export function pxelinuxHostConfig(mac: string, hosts: HostView, ip: string | null, site: BootSite): string | null {
  const host = hosts.lookup(mac);
  // A machine not in the map takes pxelinux.cfg/default, as pxelinux itself would.
  if (!host) return null;
  const target = imageFor(mac, hosts);
  if (target === 'none') return null;
  if (target === 'menu') return text(menu(hosts, ip, site, mac, host), `${mac} (the menu)`);
  return text(single(target, mac, host, ip, site), mac);
}

export function pxelinuxDefault(hosts: HostView, ip: string | null, site: BootSite): string | null {
  const d = hosts.defaults;
  if (d.action === 'none') return null;
  if (d.action === 'menu') return text(menu(hosts, ip, site), 'default (the menu)');
  const img = d.action === 'image' && d.image ? hosts.images.get(d.image) : undefined;
  return text(single(img ?? 'local', '', undefined, ip, site), 'default');
}

export function pxelinuxProvider(hosts: HostView, site: BootSite): (name: string, client: { address: string }) => string | null {
  return (name, client) => {
    if (name === 'pxelinux.cfg/default') return pxelinuxDefault(hosts, client.address, site);
    const m = HOST_CFG.exec(name);
    const mac = m ? normalizeMac(m[1]) : null;
    return mac ? pxelinuxHostConfig(mac, hosts, client.address, site) : null;
  };
}
