// What every service receives and returns (architecture.md): the supervisor in admin/
// starts services with a context and watches them through status() and close().
import type { BindOptions, Socket as UdpSocket } from 'node:dgram';
import type { AppConfig } from './config.js';
import type { EventBus } from './events.js';
import type { HostMap } from './hostmap.js';
import type { Logger } from './log.js';
import { interfaceInfo, multicastInterfaceName, type InterfaceInfo } from './net.js';
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

/** The interface multicast leaves by (multicast.interface, else the first DHCP interface), or a StartError. */
export function multicastInterface(cfg: AppConfig): InterfaceInfo {
  const name = multicastInterfaceName(cfg);
  const iface = name === null ? 'no interface named (set multicast.interface)' : interfaceInfo(name);
  if (typeof iface === 'string') throw new StartError(`multicast.interface: ${iface}`);
  return iface;
}

/**
 * What every service shares: its state and since when, the last error, and `fail` (the
 * supervisor's ServiceContext.fail: the service cannot go on and is restarted). A server
 * extends it and says what it is bound to and what it counts.
 */
export abstract class ServiceBase implements Service {
  abstract readonly name: string;
  private state: ServiceStatus['state'] = 'stopped';
  private since = Date.now();
  protected lastError: string | null = null;
  /** Reports that the service cannot go on; unset when it runs alone (tests, tools): then only logged. */
  fail: ((e: Error) => void) | undefined;

  constructor(fail?: (e: Error) => void) {
    this.fail = fail;
  }

  protected setState(state: ServiceStatus['state']): void {
    this.state = state;
    this.since = Date.now();
  }

  protected get isRunning(): boolean {
    return this.state === 'running';
  }

  /** The addresses the service listens on now. */
  protected abstract bound(): BoundAddress[];
  /** Its counters, for the API and /metrics. */
  protected abstract counts(): Record<string, number>;

  status(): ServiceStatus {
    return {
      state: this.state,
      since: this.since,
      bound: this.bound(),
      lastError: this.lastError,
      stats: this.counts(),
    };
  }

  /** A socket error after bind: kept as the last error and logged; one that ends the socket stops the service. */
  protected socketError(
    e: NodeJS.ErrnoException & { syscall?: string }, log: Logger,
    fields: Record<string, unknown> = {}, what = e.message,
  ): void {
    this.lastError = what;
    log.error({ err: e, ...fields }, `${this.name} socket error`);
    if (isFatalSocketError(e)) this.fail?.(e);
  }

  abstract close(): Promise<void>;
}

/** Binds a UDP socket; a failure is a BindError naming the config key. */
export function bindUdp(
  socket: UdpSocket,
  key: string,
  options: BindOptions & { address: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) =>
      reject(new BindError(key, options.address, options.port, e.code ?? e.message));
    socket.once('error', failed);
    socket.bind(options, () => {
      socket.off('error', failed);
      resolve();
    });
  });
}
