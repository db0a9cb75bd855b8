// What the admin app is built from. Everything is passed in, nothing is global, so a
// test builds an app over a host map in a temporary folder and a supervisor with no
// services, and drives it with app.inject.
import type { AppConfig } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { HostMap } from '../core/hostmap.js';
import type { Logger } from '../core/log.js';
import type { ClientTracker } from '../progress/tracker.js';
import type { BootOnce } from '../boot/bootonce.js';
import type { FlashJobs } from '../flash/jobs.js';
import type { Metrics } from './metrics.js';
import type { ReloadResult, Supervisor } from './supervisor.js';

export interface AdminContext {
  /** The configuration in force (replaced by a successful reload). */
  readonly config: AppConfig;
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
  token: string;
  /** Re-reads the config file and the host map (POST /api/config/reload, SIGHUP). */
  reload(): Promise<ReloadResult>;
}
