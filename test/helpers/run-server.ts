// Runs bootlab's TFTP service alone as its own process, for tests and benchmarks that need
// it somewhere the test process is not (inside a network namespace, pinned with taskset,
// its memory read from /proc/PID/status):
//   node dist/test/helpers/run-server.js '<json>'          a test's server
//   node dist/test/helpers/run-server.js --config FILE     a benchmark's server
//
// JSON (argv[2] or BOOTLAB_RUN_SERVER): { "root": "/dir", "address": "198.18.0.1",
// "tftp": { ...partial TftpConfig } } over the test defaults, port 0 (ephemeral), no log,
// every event but tftp.progress printed. --config FILE: the appliance's own loader, its
// log level on stderr, no events printed (they would cost the benchmark CPU).
// Prints one JSON object per line on stdout:
//   {"listening":{"address":"198.18.0.1","port":40123}}   once bound
//   {"event":{...}}                                        (JSON mode) every event but tftp.progress
//   {"error":"..."}                                        when it cannot start (exit 1)
// It stops on SIGTERM/SIGINT or when stdin closes (the parent went away).
import { rmSync } from 'node:fs';
import type { AppConfig } from '../../services/core/config.js';
import { loadConfig } from '../../services/runtime/load-config.js';
import { EventBus } from '../../services/core/events.js';
import { createLogger, silentLogger, type Logger } from '../../services/core/log.js';
import { start } from '../../services/tftp/server.js';
import { testConfig } from './tftp.js';
import { serviceContext } from './context.js';

interface RunConfig {
  root: string;
  address?: string;
  tftp?: Parameters<typeof testConfig>[1];
}

function line(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** The config, logger and whether to print events, from the command line. */
function setUp(): { config: AppConfig; log: Logger; printEvents: boolean; ownState: boolean } {
  const i = process.argv.indexOf('--config');
  if (i > 0) {
    const file = process.argv[i + 1];
    if (!file) throw new Error('usage: run-server.js --config FILE');
    const config = loadConfig(file);
    return { config, log: createLogger({ level: config.log.level, pretty: 'never' }, process.stderr), printEvents: false, ownState: false };
  }
  const raw = process.argv[2] ?? process.env.BOOTLAB_RUN_SERVER;
  if (!raw) throw new Error('usage: run-server.js \'{"root":"/dir","address":"127.0.0.1","tftp":{}}\' (or BOOTLAB_RUN_SERVER), or run-server.js --config FILE');
  const cfg = JSON.parse(raw) as RunConfig;
  if (typeof cfg.root !== 'string') throw new Error('run-server: "root" is required');
  return { config: testConfig(cfg.root, cfg.tftp, cfg.address ?? '127.0.0.1'), log: silentLogger(), printEvents: true, ownState: true };
}

async function main(): Promise<void> {
  const { config, log, printEvents, ownState } = setUp();
  const events = new EventBus();
  if (printEvents) {
    events.onAny((e) => {
      if (e.kind !== 'tftp.progress') line({ event: e });
    });
  }
  const service = await start(await serviceContext(config, { events, log }));
  const bound = service.status().bound[0];
  line({ listening: { address: bound.address, port: bound.port } });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await service.close().catch(() => undefined);
    if (ownState) rmSync(config.stateDir, { recursive: true, force: true }); // testConfig's temporary folder
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.on('error', () => void stop());
  process.stdin.resume();
}

main().catch((e: Error) => {
  line({ error: e.message });
  process.exit(1);
});
