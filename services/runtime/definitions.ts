// The four services bootlab supervises (tftp, http, dhcp, mtftp), and which parts of the config each depends on
// (a reload restarts a service only when its part changed).
import { BootReports } from '../boot/booted.js';
import { bootSite, installBootFiles } from '../boot/providers.js';
import type { AppConfig } from '../core/config.js';
import type { ServiceContext } from '../core/service.js';
import type { FileLayer } from '../core/files.js';
import { start as startHttp } from '../http/server.js';
import { start as startDhcp } from '../dhcp/server.js';
import { start as startMtftp } from '../mtftp/server.js';
import { start as startTftp } from '../tftp/server.js';
import type { ServiceDefinition } from './supervisor.js';

/** The multicast interface falls back to the first DHCP interface (multicastInterfaceName). */
const multicastSlice = (c: AppConfig) => ({ multicast: c.multicast, interfaces: c.dhcp.interfaces });

export const tftpService: ServiceDefinition = {
  name: 'tftp',
  enabled: (c) => c.tftp.enabled,
  // The generated files name the server, HTTP and the host map's loaders (boot.*).
  slice: (c) => ({
    tftp: c.tftp, boot: c.boot, http: c.http, server: c.dhcp.serverAddress, interfaces: c.dhcp.interfaces,
    ...(c.tftp.multicast.enabled ? multicastSlice(c) : {}),
  }),
  async start(ctx) {
    const tftp = await startTftp(ctx);
    bootFiles(ctx, tftp.files);
    return tftp;
  },
};

/** The generated boot files (services/boot) in a service's file layer: the same over TFTP and HTTP. */
function bootFiles(ctx: ServiceContext, files: FileLayer): BootReports {
  const reports = new BootReports(ctx.events);
  installBootFiles(files, ctx.hosts, bootSite(ctx.config, ctx.site, reports), reports);
  return reports;
}

export const httpService: ServiceDefinition = {
  name: 'http',
  enabled: (c) => c.http.enabled,
  // Only the file layer's part of tftp: a TFTP tuning (block size, windows) leaves HTTP running.
  slice: (c) => ({
    files: {
      root: c.tftp.root, remap: c.tftp.remap, caseInsensitive: c.tftp.caseInsensitive,
      maxFilenameLength: c.tftp.maxFilenameLength, progressIntervalMs: c.tftp.progressIntervalMs,
    },
    boot: c.boot, http: c.http, server: c.dhcp.serverAddress, interfaces: c.dhcp.interfaces,
  }),
  async start(ctx) {
    let reports: BootReports | null = null;
    const http = await startHttp(ctx, { reportBooted: (mac, key, ip) => reports?.report(mac, key, ip) ?? false });
    reports = bootFiles(ctx, http.files);
    return http;
  },
};

export const dhcpService: ServiceDefinition = {
  name: 'dhcp',
  // With no interface named, DHCP answers nothing: the CLI warns at start (cli.ts).
  enabled: (c) => c.dhcp.mode !== 'off' && c.dhcp.interfaces.length > 0,
  // The MTFTP adverts of option 43 come from mtftp.files; full mode keeps leases in stateDir.
  slice: (c) => ({
    dhcp: c.dhcp, mtftp: c.mtftp, stateDir: c.stateDir, tftpRoot: c.tftp.root, http: c.http,
    loaders: { pxelinux: c.boot.pxelinux, grub: c.boot.grub },
  }),
  start: (ctx) => startDhcp(ctx),
};

export const mtftpService: ServiceDefinition = {
  name: 'mtftp',
  enabled: (c) => c.mtftp.enabled,
  slice: (c) => ({ mtftp: c.mtftp, root: c.tftp.root, ...multicastSlice(c) }),
  start: (ctx) => startMtftp(ctx),
};

export const SERVICES: ServiceDefinition[] = [tftpService, httpService, dhcpService, mtftpService];
