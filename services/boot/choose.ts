// Which boot file a PXE client is told to load: from its host map entry (or the map's
// defaults), its firmware architecture and whether it is iPXE already. Pure.
//
// The chain: firmware (BIOS ROM, EDK2) gets the iPXE binary for its architecture
// (dhcp.bootFiles); iPXE, recognised by option 77/175, gets the URL of its per-machine
// script instead, so it never loads itself again (the chainload loop pixiecore, smee and
// dnsmasq all guard against). An image of raw per-architecture files (pxelinux.0, grubx64.efi,
// a vendor's loader) is handed to every client as is.
import type { BootConfig, DhcpConfig } from '../core/config.js';
import { scriptPath } from '../core/bootnames.js';
import type { HostView, Image } from '../core/hostmap-parse.js';
import type { ClientKind } from '../core/firmware.js';

export type BootChoice =
  | { file: string; reason: string }
  | { file: null; reason: string };

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

/** What chooseBoot needs of the config: dhcp's boot files, the loaders, where HTTP is. */
export interface BootFilesConfig extends Pick<DhcpConfig, 'bootFiles' | 'httpBootUrl'> {
  loaders?: Pick<BootConfig, 'pxelinux' | 'grub'>;
  /** http://server[:port] of the HTTP boot server for a server address; null: HTTP is off. */
  httpBase?: (server: string) => string | null;
}

export function chooseBoot(
  kind: ClientKind, mac: string, hosts: HostView, cfg: BootFilesConfig, server: string,
): BootChoice {
  const target = imageFor(mac, hosts);
  if (target === 'none') return { file: null, reason: 'host map: no network boot for this machine (defaults.action none)' };
  const httpBase = cfg.httpBase?.(server) ?? null;
  if (kind.http && !kind.ipxe) {
    // UEFI HTTP Boot: a URL, not a TFTP name. Its first stage is iPXE for its architecture,
    // which then asks again and gets its script like every iPXE.
    if (cfg.httpBootUrl) return { file: cfg.httpBootUrl, reason: 'UEFI HTTP boot (dhcp.httpBootUrl)' };
    const first = kind.arch ? cfg.bootFiles[kind.arch] : undefined;
    if (!httpBase) return { file: null, reason: 'UEFI HTTP boot client, and neither dhcp.httpBootUrl nor the HTTP server (http.enabled) is set' };
    return first ? { file: `${httpBase}/${first}`, reason: `UEFI HTTP boot: iPXE for ${kind.arch}` } : { file: null, reason: `UEFI HTTP boot client of unknown architecture ${kind.archCode}` };
  }
  if (typeof target === 'object' && target.kind === 'files') {
    const f = kind.arch ? target.files[kind.arch] : undefined;
    return f ? { file: f, reason: `image ${target.name} (${kind.arch})` } : { file: null, reason: `image ${target.name} has no boot file for architecture ${kind.arch ?? kind.archCode}` };
  }
  // A kernel image loaded by pxelinux (BIOS) or GRUB (UEFI): that loader, which reads its
  // generated config (boot/pxelinux.ts, boot/grub.ts); other firmware keeps iPXE.
  if (typeof target === 'object' && target.kind === 'kernel' && cfg.loaders) {
    if (target.loader === 'pxelinux' && kind.arch === 'bios') return { file: cfg.loaders.pxelinux, reason: `image ${target.name}: pxelinux` };
    if (target.loader === 'grub' && (kind.arch === 'uefi64' || kind.arch === 'arm64')) return { file: cfg.loaders.grub[kind.arch], reason: `image ${target.name}: GRUB` };
  }
  if (kind.ipxe) {
    return httpBase
      ? { file: `${httpBase}/${scriptPath(mac)}`, reason: 'iPXE: its per-machine script over HTTP' }
      : { file: `tftp://${server}/${scriptPath(mac)}`, reason: 'iPXE: its per-machine script' };
  }
  if (!kind.arch) return { file: null, reason: `unknown client architecture ${kind.archCode}` };
  return { file: cfg.bootFiles[kind.arch], reason: `iPXE for ${kind.arch}` };
}
