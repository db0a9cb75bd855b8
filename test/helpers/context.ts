// A ServiceContext for a service started alone in a test: a silent logger, a bus, the site
// (no HTTP URL until an HTTP server in the same context announces one) and a host map, by
// default an empty one (a file that does not exist is an empty map).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../services/core/config.js';
import { EventBus } from '../../services/core/events.js';
import { HostMap } from '../../services/core/hostmap.js';
import { silentLogger, type Logger } from '../../services/core/log.js';
import type { ServiceContext } from '../../services/core/service.js';
import { Site } from '../../services/core/site.js';

export interface ContextOptions {
  events?: EventBus;
  log?: Logger;
  /** An open host map to share; else `hostsFile` is opened, else an empty map. */
  hosts?: HostMap;
  hostsFile?: string;
  site?: Site;
  fail?: (e: Error) => void;
}

export async function serviceContext(config: AppConfig, o: ContextOptions = {}): Promise<ServiceContext> {
  const hosts = o.hosts ?? await HostMap.open(o.hostsFile ?? join(mkdtempSync(join(tmpdir(), 'bootlab-nohosts-')), 'hosts.yaml'), silentLogger());
  return {
    config,
    events: o.events ?? new EventBus(),
    log: o.log ?? silentLogger(),
    hosts,
    site: o.site ?? new Site(),
    ...(o.fail ? { fail: o.fail } : {}),
  };
}
