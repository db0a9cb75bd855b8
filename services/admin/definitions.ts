// The three services bootlab supervises, and which parts of the config each depends on
// (a reload restarts a service only when its part changed).
import { ipxeProvider } from '../boot/ipxe.js';
import type { AppConfig } from '../core/config.js';
import { start as startDhcp } from '../dhcp/server.js';
import { start as startMtftp } from '../mtftp/server.js';
import { start as startTftp } from '../tftp/server.js';
import type { ServiceDefinition } from './supervisor.js';

/** The multicast interface falls back to the first DHCP interface (multicastInterfaceName). */
const multicastSlice = (c: AppConfig) => ({ multicast: c.multicast, interfaces: c.dhcp.interfaces });

export const tftpService: ServiceDefinition = {
  name: 'tftp',
  enabled: (c) => c.tftp.enabled,
  slice: (c) => ({ tftp: c.tftp, ...(c.tftp.multicast.enabled ? multicastSlice(c) : {}) }),
  async start(ctx, hosts) {
    const tftp = await startTftp(ctx);
    tftp.files.addProvider(ipxeProvider(hosts));
    return tftp;
  },
};

export const dhcpService: ServiceDefinition = {
  name: 'dhcp',
  // With no interface named, DHCP answers nothing: the CLI warns at start (cli.ts).
  enabled: (c) => c.dhcp.mode !== 'off' && c.dhcp.interfaces.length > 0,
  // The MTFTP adverts of option 43 come from mtftp.files; full mode keeps leases in stateDir.
  slice: (c) => ({ dhcp: c.dhcp, mtftp: c.mtftp, stateDir: c.stateDir, tftpRoot: c.tftp.root }),
  start: (ctx, hosts) => startDhcp(ctx, hosts),
};

export const mtftpService: ServiceDefinition = {
  name: 'mtftp',
  enabled: (c) => c.mtftp.enabled,
  slice: (c) => ({ mtftp: c.mtftp, root: c.tftp.root, ...multicastSlice(c) }),
  start: (ctx) => startMtftp(ctx),
};

export const SERVICES: ServiceDefinition[] = [tftpService, dhcpService, mtftpService];
