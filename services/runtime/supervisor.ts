// The services' lifecycle: start, stop, restart on request, and containment of crashes.
// - Each service starts inside its own AsyncLocalStorage scope. Every socket callback and
//   timer it creates inherits that scope, so an exception thrown anywhere in its code
//   reaches process 'uncaughtException' still tagged with the service's name
//   (installCrashHandlers). Only that service is closed and restarted.
// - A socket that fails for good (an error not from a send) is reported through
//   ServiceContext.fail: the same path.
// - Restarts back off: 1 s, 2 s, 4 s ... up to 30 s; a service that ran a minute since its
//   last start is forgiven and restarts after 1 s again.
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { Type, type Static } from 'typebox';
import type { AppConfig } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { HostMap } from '../core/hostmap.js';
import type { Logger } from '../core/log.js';
import type { BoundAddress, Service, ServiceContext } from '../core/service.js';
import { Site } from '../core/site.js';
import { literals, nullable, type Assert, type Same } from '../core/typebox.js';

export const SERVICE_NAMES = ['tftp', 'http', 'dhcp', 'mtftp'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
export const SUPERVISED_STATES = [
  'disabled', 'starting', 'running', 'stopping', 'stopped', 'backoff', 'failed',
] as const;
export type SupervisedState = (typeof SUPERVISED_STATES)[number];

export interface ServiceDefinition {
  name: ServiceName;
  /** Whether the config asks for the service at all. */
  enabled(config: AppConfig): boolean;
  /** The parts of the config the service depends on: a change restarts it on reload. */
  slice(config: AppConfig): unknown;
  start(ctx: ServiceContext): Promise<Service>;
}

const BoundSchema = Type.Object({ protocol: literals(['udp', 'tcp']), address: Type.String(), port: Type.Integer() });
/** core/service.ts declares what a service reports; the API lists it as this schema says. */
export type BoundMatchesSchema = Assert<Same<BoundAddress, Static<typeof BoundSchema>>>;

/** GET /api/services: one service's row. The supervisor's row() builds exactly this. */
export const ServiceRowSchema = Type.Object({
  name: Type.Unsafe<ServiceName>(Type.String({ description: 'tftp, http, dhcp or mtftp' })),
  enabled: Type.Boolean({ description: 'whether the config asks for it' }),
  state: literals(SUPERVISED_STATES),
  since: Type.Number({ description: 'when it entered this state, ms since the epoch' }),
  restarts: Type.Integer(),
  lastError: nullable(Type.String()),
  nextRestartAt: nullable(Type.Number(), 'in backoff after a crash: when it restarts'),
  bound: Type.Array(BoundSchema),
  stats: Type.Record(Type.String(), Type.Number()),
}, { $id: 'ServiceRow', title: 'ServiceRow' });

export type ServiceRow = Static<typeof ServiceRowSchema>;

export interface ReloadResult { ok: true; restarted: ServiceName[]; hostsReloaded: boolean; needsRestart: string[] }

export interface Backoff { initialMs: number; maxMs: number; forgiveAfterMs: number }
const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000, forgiveAfterMs: 60_000 };

interface Slot {
  def: ServiceDefinition;
  instance: Service | null;
  state: SupervisedState;
  since: number;
  restarts: number;
  /** Crashes in a row without a minute of running between them. */
  streak: number;
  startedAt: number;
  lastError: string | null;
  timer: NodeJS.Timeout | null;
  nextRestartAt: number | null;
  /** Serialises start, stop and crash handling of this one service. */
  queue: Promise<unknown>;
  /** The running instance's ServiceContext.fail. */
  fail: ((e: Error) => void) | null;
}

/** Faults a test can inject (BOOTLAB_FAULT_INJECTION=1): an exception thrown in the service's code, a broken socket. */
export type FaultKind = 'throw' | 'socket-error';

const scope = new AsyncLocalStorage<{ service: ServiceName }>();

/** The service whose code is running now (its async scope), or null. */
export function currentService(): ServiceName | null {
  return scope.getStore()?.service ?? null;
}

/** 'change': a service's state changed (its name), or a reload applied a new config (none). */
export interface SupervisorEvents { change: [name?: ServiceName] }

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly slots = new Map<ServiceName, Slot>();
  private config: AppConfig;
  private closing = false;

  constructor(
    config: AppConfig,
    private readonly log: Logger,
    private readonly events: EventBus,
    private readonly hosts: HostMap,
    definitions: ServiceDefinition[],
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
    /** Where clients reach bootlab; the HTTP service announces its port in it. */
    readonly site: Site = new Site(),
  ) {
    super();
    this.config = config;
    for (const def of definitions) {
      this.slots.set(def.name, {
        def, instance: null, state: def.enabled(config) ? 'stopped' : 'disabled', since: Date.now(), restarts: 0, streak: 0,
        startedAt: 0, lastError: null, timer: null, nextRestartAt: null, queue: Promise.resolve(), fail: null,
      });
    }
  }

  names(): ServiceName[] { return [...this.slots.keys()]; }
  has(name: string): name is ServiceName { return this.slots.has(name as ServiceName); }

  /** The running instance (the DHCP server's leases, say), or null. */
  instance<T extends Service = Service>(name: ServiceName): T | null {
    return (this.slots.get(name)?.instance as T | undefined) ?? null;
  }

  /** Starts every enabled service; the first failure is thrown (at boot a bind error ends the program). */
  async startAll(): Promise<void> {
    for (const slot of this.slots.values()) {
      if (slot.state === 'disabled') continue;
      await this.serial(slot, () => this.launch(slot, true));
    }
  }

  list(): ServiceRow[] { return [...this.slots.values()].map((s) => this.row(s)); }

  row(slot: Slot | ServiceName): ServiceRow {
    const s = typeof slot === 'string' ? this.slots.get(slot)! : slot;
    const st = s.instance?.status();
    return {
      name: s.def.name, enabled: s.def.enabled(this.config), state: s.state, since: s.since, restarts: s.restarts,
      lastError: s.lastError ?? st?.lastError ?? null, nextRestartAt: s.nextRestartAt,
      bound: st?.bound ?? [], stats: st?.stats ?? {},
    };
  }

  start(name: ServiceName): Promise<ServiceRow> {
    const slot = this.slots.get(name)!;
    return this.serial(slot, async () => {
      if (slot.instance === null) {
        this.clearTimer(slot);
        slot.streak = 0;
        await this.launch(slot, true);
      }
      return this.row(slot);
    });
  }

  stop(name: ServiceName): Promise<ServiceRow> {
    const slot = this.slots.get(name)!;
    return this.serial(slot, async () => {
      this.clearTimer(slot);
      await this.halt(slot, slot.def.enabled(this.config) ? 'stopped' : 'disabled');
      return this.row(slot);
    });
  }

  restart(name: ServiceName): Promise<ServiceRow> {
    const slot = this.slots.get(name)!;
    return this.serial(slot, async () => {
      this.clearTimer(slot);
      await this.halt(slot, 'stopped');
      slot.streak = 0;
      await this.launch(slot, true);
      slot.restarts++;
      return this.row(slot);
    });
  }

  /**
   * A service failed (an exception in its code, a socket that broke): log it, close what
   * is left of it and restart it after the backoff. The other services are not touched.
   */
  crash(name: ServiceName, error: Error): void {
    const slot = this.slots.get(name);
    if (!slot || this.closing) return;
    slot.lastError = error.message;
    this.log.error({ service: name, err: error }, `service ${name} crashed; restarting it after a pause`);
    void this.serial(slot, async () => {
      if (slot.state === 'stopping' || slot.state === 'stopped' || slot.state === 'disabled') return;
      await this.halt(slot, 'failed', error.message);
      this.scheduleRestart(slot);
    });
  }

  /**
   * Test support, reachable only with BOOTLAB_FAULT_INJECTION=1 (routes/services.ts): an
   * exception thrown from a timer of the service's own scope (as one from its packet
   * handling would be), or the report its socket's error handler makes.
   */
  inject(name: ServiceName, kind: FaultKind): boolean {
    const slot = this.slots.get(name);
    if (!slot?.instance) return false;
    if (kind === 'socket-error') {
      slot.fail?.(Object.assign(new Error(`injected socket error in ${name}`), { code: 'EIO', syscall: 'recvmsg' }));
    } else {
      scope.run({ service: name }, () => setImmediate(() => { throw new Error(`injected fault in ${name}`); }));
    }
    return true;
  }

  /** Applies a new config: services whose part of it changed are restarted, or started or stopped. */
  async reload(next: AppConfig): Promise<ServiceName[]> {
    const before = this.config;
    this.config = next;
    const restarted: ServiceName[] = [];
    for (const slot of this.slots.values()) {
      const was = slot.def.enabled(before);
      const is = slot.def.enabled(next);
      const changed = JSON.stringify(slot.def.slice(before)) !== JSON.stringify(slot.def.slice(next));
      if (!changed && was === is) continue;
      await this.serial(slot, async () => {
        this.clearTimer(slot);
        const stoppedByHand = slot.state === 'stopped';
        await this.halt(slot, is ? 'stopped' : 'disabled');
        // A service stopped by hand stays stopped unless it was just enabled; a failed one
        // gets its chance with the new config.
        if (is && (!stoppedByHand || !was)) {
          slot.streak = 0;
          await this.launch(slot, false);
          restarted.push(slot.def.name);
        }
      });
    }
    this.emit('change');
    return restarted;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.slots.values()].map((slot) => this.serial(slot, async () => {
      this.clearTimer(slot);
      await this.halt(slot, 'stopped');
    })));
  }

  /** Starts one service in its own scope. `rethrow`: a failure is thrown (else it backs off). */
  private async launch(slot: Slot, rethrow: boolean): Promise<void> {
    const name = slot.def.name;
    this.setState(slot, 'starting');
    // A late report from an instance already closed or replaced is not the new one's failure.
    const fail = (e: Error) => { if (slot.fail === fail) this.crash(name, e); };
    slot.fail = fail;
    const { config, log, events, hosts, site } = this;
    const ctx: ServiceContext = { config, log, events, hosts, site, fail };
    try {
      slot.instance = await scope.run({ service: name }, () => slot.def.start(ctx));
      slot.startedAt = Date.now();
      slot.lastError = null;
      this.setState(slot, 'running');
    } catch (e) {
      slot.instance = null;
      slot.lastError = (e as Error).message;
      this.setState(slot, 'failed');
      if (rethrow) throw e;
      this.log.error({ service: name, err: (e as Error).message }, `service ${name} could not start`);
      this.scheduleRestart(slot);
    }
  }

  private async halt(slot: Slot, state: SupervisedState, error?: string): Promise<void> {
    const instance = slot.instance;
    slot.instance = null;
    slot.fail = null;
    if (instance) {
      this.setState(slot, 'stopping');
      try {
        await instance.close();
      } catch (e) {
        this.log.warn({ service: slot.def.name, err: (e as Error).message }, 'error while closing a service');
      }
    }
    if (error !== undefined) slot.lastError = error;
    this.setState(slot, state);
  }

  private scheduleRestart(slot: Slot): void {
    if (this.closing) return;
    // Forgive a service that ran long enough since its last start.
    if (slot.startedAt > 0 && Date.now() - slot.startedAt >= this.backoff.forgiveAfterMs) slot.streak = 0;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** slot.streak);
    slot.streak++;
    slot.nextRestartAt = Date.now() + delay;
    this.setState(slot, 'backoff');
    this.log.info({ service: slot.def.name, delayMs: delay }, `service ${slot.def.name} restarts in ${Math.round(delay / 100) / 10} s`);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      slot.nextRestartAt = null;
      void this.serial(slot, async () => {
        if (slot.state !== 'backoff') return;
        slot.restarts++;
        await this.launch(slot, false);
      });
    }, delay);
    slot.timer.unref();
  }

  private clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.nextRestartAt = null;
  }

  private setState(slot: Slot, state: SupervisedState): void {
    slot.state = state;
    slot.since = Date.now();
    this.emit('change', slot.def.name);
  }

  private serial<T>(slot: Slot, task: () => Promise<T>): Promise<T> {
    // Outside every service's scope: the supervisor's own work is never blamed on one.
    const run = slot.queue.then(() => scope.exit(task), () => scope.exit(task));
    slot.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Routes uncaught exceptions and rejections to the service whose code threw them. One
 * that belongs to no service is a bug in bootlab itself: logged, and the process ends
 * (the container's or systemd's restart policy brings it back).
 */
export function installCrashHandlers(
  supervisor: Supervisor,
  log: Logger,
  exit: (code: number) => void = (c) => process.exit(c),
): () => void {
  const handle = (error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    const name = currentService();
    if (name !== null && supervisor.has(name)) {
      supervisor.crash(name, e);
      return;
    }
    log.fatal({ err: e }, 'bootlab: unexpected error outside any service; exiting');
    log.flush?.();
    exit(1);
  };
  process.on('uncaughtException', handle);
  process.on('unhandledRejection', handle);
  return () => {
    process.off('uncaughtException', handle);
    process.off('unhandledRejection', handle);
  };
}
