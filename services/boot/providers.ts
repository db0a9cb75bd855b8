// Everything bootlab generates for booting machines, installed into a file layer (TFTP's and
// HTTP's alike, so a file reads the same over both): the iPXE scripts and boot.ipxe, the
// booted report, and pxelinux/GRUB configs (after the disk: a hand-written one wins).
import type { AppConfig } from '../core/config.js';
import { interfaceInfo } from '../core/net.js';
import type { HostView } from '../core/hostmap-parse.js';
import type { FileLayer } from '../core/files.js';
import type { BootReports } from './booted.js';
import { grubProvider } from './grub.js';
import { dispatcherProvider, ipxeProvider } from './ipxe.js';
import { loopGuardFor } from './loop.js';
import { pxelinuxProvider } from './pxelinux.js';
import type { BootSite } from './vars.js';

/** bootlab's address for clients: dhcp.serverAddress, the lab interface's IPv4, or a specific tftp.address. */
export function serverAddress(cfg: AppConfig): string | null {
  if (cfg.dhcp.serverAddress) return cfg.dhcp.serverAddress;
  for (const name of cfg.dhcp.interfaces) {
    const info = interfaceInfo(name);
    if (typeof info !== 'string') return info.address;
  }
  return cfg.tftp.address !== '0.0.0.0' && cfg.tftp.address !== '::' ? cfg.tftp.address : null;
}

/** http://server[:port]: the HTTP boot server as clients reach it (the port may be learnt after bind). */
export function httpBaseFor(cfg: AppConfig, server: string | null, port: number): string | null {
  if (!cfg.http.enabled) return null;
  if (cfg.http.baseUrl) return cfg.http.baseUrl.replace(/\/+$/, '');
  if (!server || port === 0) return null;
  return `http://${server}${port === 80 ? '' : `:${port}`}`;
}

/**
 * The HTTP boot server's port as bound, once it listens (http.port 0 binds any free one):
 * DHCP and the scripts name it in URLs. Set by the http service definition (admin/definitions.ts).
 */
export const httpListening: { port: number | null } = { port: null };

/**
 * The port clients are told: the HTTP service's while it runs, 0 (no HTTP URL) while it
 * does not. A stopped or crashed HTTP service makes DHCP hand iPXE tftp:// script URLs,
 * so machines keep booting (over TFTP) until it is back.
 */
export function httpPort(): number {
  return httpListening.port ?? 0;
}

/** The site as the config says, with the HTTP port filled in once the server listens. */
export class Site implements BootSite {
  constructor(private readonly cfg: AppConfig, private readonly reports: BootReports) {}

  get server(): string | null { return serverAddress(this.cfg); }
  get httpBase(): string | null { return httpBaseFor(this.cfg, this.server, httpPort()); }
  bootedPath(mac: string): string { return this.reports.path(mac); }
}

/**
 * Generated names live in bootlab/ (before the disk: bootlab's own) or are defaults a file on
 * disk overrides (boot.ipxe, pxelinux.cfg/*, grub/grub.cfg*). A loader chained from a name in
 * bootlab/ takes it as its path prefix; those names resolve from the root (FileLayer.addPrefixAlias).
 */
export function installBootFiles(files: Pick<FileLayer, 'addProvider' | 'addPrefixAlias'>, hosts: HostView, site: BootSite, reports: BootReports): void {
  files.addProvider(ipxeProvider(hosts, site, loopGuardFor(reports.events)));
  files.addProvider(reports.provider());
  files.addPrefixAlias('bootlab');
  files.addProvider(dispatcherProvider(), { fallback: true });
  files.addProvider(pxelinuxProvider(hosts, site), { fallback: true });
  files.addProvider(grubProvider(hosts, site), { fallback: true });
}
