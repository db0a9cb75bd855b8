// Starts a real bootlab TFTP service on loopback for a test, on an ephemeral port,
// and stops it in the test's teardown.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appSpec, type AppConfig, type TftpConfig } from '../../services/core/config.js';
import { defaults } from '../../services/core/schema.js';
import { EventBus, type BootEvent } from '../../services/core/events.js';
import { start, type TftpService } from '../../services/tftp/server.js';
import { serviceContext } from './context.js';
import { merge, type DeepPartial, type Teardown } from './util.js';

export interface TestServer {
  port: number;
  address: string;
  root: string;
  service: TftpService;
  events: EventBus;
  /** Every event emitted so far, in order. */
  seen: BootEvent[];
  stop(): Promise<void>;
}

export function testConfig(root: string, tftp?: DeepPartial<TftpConfig>, address = '127.0.0.1'): AppConfig {
  const config = defaults(appSpec);
  config.log.level = 'silent';
  config.stateDir = mkdtempSync(join(tmpdir(), 'bootlab-state-'));
  config.tftp = merge({ ...config.tftp, address, port: 0, root }, tftp);
  return config;
}

export async function startTestServer(
  t: Teardown | null,
  opts: { root: string; tftp?: DeepPartial<TftpConfig>; address?: string },
): Promise<TestServer> {
  const config = testConfig(opts.root, opts.tftp, opts.address ?? '127.0.0.1');
  const events = new EventBus();
  const seen: BootEvent[] = [];
  events.onAny((e) => seen.push(e));
  const service = await start(await serviceContext(config, { events }));
  const bound = service.status().bound[0];
  const server: TestServer = {
    port: bound.port,
    address: bound.address,
    root: opts.root,
    service,
    events,
    seen,
    stop: () => service.close(),
  };
  t?.teardown(() => service.close());
  return server;
}
