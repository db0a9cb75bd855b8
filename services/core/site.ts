// Where clients reach bootlab, as the services share it at run time: bootlab's address for
// clients and the HTTP boot server's URL, which exists only while that server listens (its
// port may be learnt at bind, http.port 0). One Site per appliance, owned by the runtime
// and handed to every service in its ServiceContext: the HTTP server announces its port,
// DHCP and the generated scripts read it.
import type { AppConfig } from './config.js';
import { interfaceInfo } from './net.js';

/** bootlab's address for clients: dhcp.serverAddress, the lab interface's IPv4, or a specific tftp.address. */
export function serverAddress(cfg: AppConfig): string | null {
  if (cfg.dhcp.serverAddress) return cfg.dhcp.serverAddress;
  for (const name of cfg.dhcp.interfaces) {
    const info = interfaceInfo(name);
    if (typeof info !== 'string') return info.address;
  }
  return cfg.tftp.address !== '0.0.0.0' && cfg.tftp.address !== '::' ? cfg.tftp.address : null;
}

/** http://server[:port]: the HTTP boot server as clients reach it; null when it is off or not bound (port 0). */
export function httpBaseFor(cfg: AppConfig, server: string | null, port: number): string | null {
  if (!cfg.http.enabled) return null;
  if (cfg.http.baseUrl) return cfg.http.baseUrl.replace(/\/+$/, '');
  if (!server || port === 0) return null;
  return `http://${server}${port === 80 ? '' : `:${port}`}`;
}

export class Site {
  private httpListening: number | null = null;

  /** The HTTP boot server listens on `port`, or (null) no longer listens. */
  announceHttp(port: number | null): void {
    this.httpListening = port;
  }

  /**
   * The HTTP port clients are told: the HTTP service's while it runs, 0 (no HTTP URL) while
   * it does not. A stopped or crashed HTTP service makes DHCP hand iPXE tftp:// script
   * URLs, so machines keep booting (over TFTP) until it is back.
   */
  get httpPort(): number {
    return this.httpListening ?? 0;
  }

  /** The HTTP boot server's URL for clients that reach bootlab at `server`, or null. */
  httpBase(cfg: AppConfig, server: string | null): string | null {
    return httpBaseFor(cfg, server, this.httpPort);
  }
}
