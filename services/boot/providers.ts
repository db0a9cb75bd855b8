// Everything bootlab generates for booting machines, installed into a file layer (TFTP's and
// HTTP's alike, so a file reads the same over both): the iPXE scripts and boot.ipxe, the
// booted report, and pxelinux/GRUB configs (after the disk: a hand-written one wins).
import type { AppConfig } from '../core/config.js';
import { serverAddress, type Site } from '../core/site.js';
import type { HostView } from '../core/hostmap-parse.js';
import type { FileLayer } from '../core/files.js';
import type { BootReports } from './booted.js';
import { grubProvider } from './grub.js';
import { dispatcherProvider, ipxeProvider } from './ipxe.js';
import { loopGuardFor } from './loop.js';
import { pxelinuxProvider } from './pxelinux.js';
import type { BootSite } from './vars.js';

/**
 * The site as the generated files see it: the server address and HTTP URL the config and
 * the running HTTP server give (core/site.ts), and the booted report's path.
 */
export function bootSite(cfg: AppConfig, site: Site, reports: BootReports): BootSite {
  return {
    get server() { return serverAddress(cfg); },
    get httpBase() { return site.httpBase(cfg, serverAddress(cfg)); },
    bootedPath: (mac) => reports.path(mac),
  };
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
