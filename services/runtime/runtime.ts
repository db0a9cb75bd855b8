// The running appliance, its composition root: config, host map, event bus, supervised
// services, the progress model and metrics wired into one runtime, which the admin API
// (admin/) serves. `bootlab serve` and the tests build the same runtime.
import { BootOnce } from '../boot/bootonce.js';
import { ConfigError, type AppConfig } from '../core/config.js';
import { loadConfig } from './load-config.js';
import { FlashJobs } from '../flash/jobs.js';
import { put } from '../tftp/client.js';
import { EventBus } from '../core/events.js';
import { HostMap } from '../core/hostmap.js';
import { createLogger, type Logger } from '../core/log.js';
import { ClientTracker } from '../progress/tracker.js';
import { resolveToken, type TokenSource } from './token.js';
import { SERVICES } from './definitions.js';
import { Metrics } from './metrics.js';
import { Supervisor, type Backoff, type ReloadResult, type ServiceDefinition } from './supervisor.js';

export interface Runtime {
  /** The configuration in force (replaced by a successful reload). */
  config: AppConfig;
  log: Logger;
  events: EventBus;
  hosts: HostMap;
  supervisor: Supervisor;
  tracker: ClientTracker;
  metrics: Metrics;
  /** Ends boot-once hosts when they booted (POST /api/clients/:mac/booted waits for it). */
  bootOnce: BootOnce;
  /** Firmware pushed to devices' boot loaders over TFTP (POST /api/flash). */
  flash: FlashJobs;
  /** The bearer token writes need. */
  readonly token: string;
  /** Re-reads the config file and the host map (POST /api/config/reload, SIGHUP). */
  reload(): Promise<ReloadResult>;
  /** The config file it was loaded from. */
  readonly file: string;
  readonly tokenSource: TokenSource;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  definitions?: ServiceDefinition[];
  backoff?: Backoff;
  env?: NodeJS.ProcessEnv;
  /** Process metrics (CPU, memory, event loop) in /metrics; tests building many apps turn them off. */
  processMetrics?: boolean;
}

/** Config keys that a reload cannot apply to a running process. */
function restartOnly(before: AppConfig, after: AppConfig): string[] {
  const out: string[] = [];
  for (const key of Object.keys(before.admin) as (keyof AppConfig['admin'])[]) {
    if (JSON.stringify(before.admin[key]) !== JSON.stringify(after.admin[key])) out.push(`admin.${key}`);
  }
  if (before.hosts !== after.hosts) out.push('hosts');
  if (JSON.stringify(before.log) !== JSON.stringify(after.log)) out.push('log');
  return out;
}

/** Loads `file` and builds every part; throws ConfigError or HostMapError for a bad file. */
export async function createRuntime(file: string, opts: RuntimeOptions = {}): Promise<Runtime> {
  const config = loadConfig(file);
  const log = opts.log ?? createLogger(config.log);
  const events = new EventBus();
  // In full DHCP mode a hostname is the machine's name on the network: two hosts with one is an error, not a warning.
  const hosts = await HostMap.open(config.hosts, log.child({ service: 'hostmap' }), { uniqueHostnames: config.dhcp.mode === 'full' });
  hosts.watch();
  const supervisor = new Supervisor(config, log, events, hosts, opts.definitions ?? SERVICES, opts.backoff);
  // The progress model and the metrics feed the admin API (and boot-once's kernel trigger,
  // which needs the model to know whose kernel a download is). Without either they listen
  // to a bus nothing emits on, so the services skip building events (EventBus.wants).
  const feed = config.admin.enabled || config.boot.bootOnceEnds === 'kernel' ? events : new EventBus();
  const tracker = new ClientTracker({ events: feed, hosts, ttlMs: config.admin.clientTtl * 1000, log: log.child({ service: 'progress' }) });
  const metrics = new Metrics(feed, supervisor, opts.processMetrics ?? true);
  const flash = new FlashJobs(put);
  const bootOnce = new BootOnce({ events, hosts, tracker, config: () => runtime.config, log: log.child({ service: 'boot' }) });
  // Resolved at first use (when the admin server is built), so a service's bind error is
  // reported before a state folder that cannot be written.
  let tokenSource: TokenSource | null = null;
  const token = () => (tokenSource ??= resolveToken(config.admin, config.stateDir, opts.env));
  let reloading: Promise<ReloadResult> | null = null;

  const runtime: Runtime = {
    config, file, log, events, hosts, supervisor, tracker, metrics, bootOnce, flash,
    get token() { return token().token; },
    get tokenSource() { return token(); },
    reload() {
      // Two reloads at once (SIGHUP while the API reloads) share one.
      if (reloading) return reloading;
      const run = (async (): Promise<ReloadResult> => {
        const next = loadConfig(file);
        const needsRestart = restartOnly(runtime.config, next);
        // The host map first: a service restarted below starts with the new one.
        const hostsReloaded = await hosts.reload();
        if (hosts.lastError) throw new ConfigError(hosts.lastError);
        const restarted = await supervisor.reload(next);
        // Keys that need a restart keep their running values, so what the API reports stays true.
        runtime.config = { ...next, admin: runtime.config.admin, hosts: runtime.config.hosts, log: runtime.config.log };
        log.info({ restarted, hostsReloaded, needsRestart }, 'configuration reloaded');
        return { ok: true as const, restarted, hostsReloaded, needsRestart };
      })();
      // Cleared once settled (a synchronous throw inside must not leave a stale promise here).
      reloading = run.finally(() => { reloading = null; });
      return reloading;
    },
    async close() {
      await supervisor.close();
      flash.close();
      bootOnce.close();
      tracker.close();
      metrics.close();
      hosts.close();
    },
  };
  return runtime;
}
