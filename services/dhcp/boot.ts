// Which boot file a PXE client is told to load: from its host map entry (or the map's
// defaults), its firmware architecture and whether it is iPXE already. Pure.
//
// The chain: firmware (BIOS ROM, EDK2) gets the iPXE binary for its architecture
// (dhcp.bootFiles); iPXE, recognised by option 77/175, gets the URL of its per-machine
// script instead, so it never loads itself again (the chainload loop pixiecore, smee and
// dnsmasq all guard against). An image of raw per-architecture files (pxelinux.0, grubx64.efi,
// a vendor's loader) is handed to every client as is.
import type { DhcpConfig } from '../core/config.js';
import type { Host, HostMapData, Image } from '../core/hostmap-parse.js';
import type { ClientKind } from './pxe.js';

export interface HostView {
  lookup(mac: string): Host | undefined;
  readonly images: ReadonlyMap<string, Image>;
  readonly defaults: HostMapData['defaults'];
}

export type BootChoice =
  | { file: string; reason: string }
  | { file: null; reason: string };

/** The per-machine iPXE script's path under the TFTP root (generated, services/boot/ipxe.ts). */
export function scriptPath(mac: string): string {
  return `bootlab/${mac.replace(/:/g, '-')}.ipxe`;
}

/** The image a machine boots now, or what the defaults say ('menu', 'local', 'none'). */
export function imageFor(mac: string, hosts: HostView): Image | 'menu' | 'local' | 'none' {
  const host = hosts.lookup(mac);
  if (host?.image) {
    const img = hosts.images.get(host.image);
    if (img) return img;
  }
  const d = hosts.defaults;
  if (d.action === 'image' && d.image) return hosts.images.get(d.image) ?? 'none';
  return d.action === 'image' ? 'none' : d.action;
}

export function chooseBoot(kind: ClientKind, mac: string, hosts: HostView, cfg: Pick<DhcpConfig, 'bootFiles' | 'httpBootUrl'>, server: string): BootChoice {
  const target = imageFor(mac, hosts);
  if (target === 'none') return { file: null, reason: 'host map: no network boot for this machine (defaults.action none)' };
  if (kind.http && !kind.ipxe) {
    return cfg.httpBootUrl ? { file: cfg.httpBootUrl, reason: 'UEFI HTTP boot' } : { file: null, reason: 'UEFI HTTP boot client, and dhcp.httpBootUrl is not set' };
  }
  if (typeof target === 'object' && target.kind === 'files') {
    const f = kind.arch ? target.files[kind.arch] : undefined;
    return f ? { file: f, reason: `image ${target.name} (${kind.arch})` } : { file: null, reason: `image ${target.name} has no boot file for architecture ${kind.arch ?? kind.archCode}` };
  }
  if (kind.ipxe) return { file: `tftp://${server}/${scriptPath(mac)}`, reason: 'iPXE: its per-machine script' };
  if (!kind.arch) return { file: null, reason: `unknown client architecture ${kind.archCode}` };
  return { file: cfg.bootFiles[kind.arch], reason: `iPXE for ${kind.arch}` };
}
