// What every service receives and returns (architecture.md): the supervisor in admin/
// starts services with a context and watches them through status() and close().
import type { AppConfig } from './config.js';
import type { EventBus } from './events.js';
import type { HostMap } from './hostmap.js';
import type { Logger } from './log.js';
import type { Site } from './site.js';

export interface ServiceContext {
  config: AppConfig;
  log: Logger;
  events: EventBus;
  /** The host map (MAC → image) every service reads. */
  hosts: HostMap;
  /** Where clients reach bootlab: its address, the live HTTP URL (announced by the HTTP server). */
  site: Site;
  /**
   * Reports that the service cannot go on (its socket broke). Under the admin supervisor
   * it is closed and restarted; run alone (tests, tools), the failure is only logged.
   */
  fail?: (error: Error) => void;
}

/** A socket error that ends the socket's usefulness, not one send that failed (EPERM, ENETUNREACH...). */
export function isFatalSocketError(e: NodeJS.ErrnoException & { syscall?: string }): boolean {
  return e.syscall !== 'send';
}

export interface BoundAddress { protocol: 'udp' | 'tcp'; address: string; port: number }

export interface ServiceStatus {
  state: 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
  since: number;
  bound: BoundAddress[];
  lastError: string | null;
  stats: Record<string, number>;
}

export interface Service {
  readonly name: string;
  status(): ServiceStatus;
  close(): Promise<void>;
}

/** A bind failure explained in one line: what to do, not a stack trace. */
export class BindError extends Error {
  constructor(readonly key: string, readonly address: string, readonly port: number, readonly code: string) {
    super(BindError.explain(key, address, port, code));
    this.name = 'BindError';
  }

  static explain(key: string, address: string, port: number, code: string): string {
    const where = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    if (code === 'EACCES' && port < 1024) {
      return `cannot bind ${where} (${key}): port ${port} is privileged; run as root, grant CAP_NET_BIND_SERVICE `
        + `(sudo setcap cap_net_bind_service=+ep "$(command -v node)"), or set ${key} to a port of 1024 or more`;
    }
    if (code === 'EADDRINUSE') return `cannot bind ${where} (${key}): the port is already in use by another program; stop it or choose another port`;
    if (code === 'EADDRNOTAVAIL') return `cannot bind ${where} (${key}): no interface of this machine has that address`;
    return `cannot bind ${where} (${key}): ${code}`;
  }
}

/** A service cannot start for a reason the config names (an interface that is not there). */
export class StartError extends Error {
  override name = 'StartError';
}
