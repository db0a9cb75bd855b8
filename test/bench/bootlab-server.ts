// Runs bootlab's TFTP service alone in its own process, so the benchmark can pin it with
// taskset, put it in a namespace and read its memory from /proc/PID/status.
//
//   node dist/test/bench/bootlab-server.js --config FILE [--exit-on-stdin-close]
//
// Loads FILE with the appliance's own loader (services/core/config.ts), starts
// services/tftp/server.ts `start(ctx)`, and prints one line `READY <address> <port>` on
// stdout. Stops on SIGTERM/SIGINT, and with --exit-on-stdin-close also when stdin closes
// (the benchmark holds a pipe to it: if the benchmark dies, so does this server).
// The server module is imported by path at run time, so this file type-checks and the
// harness reports "failed: ..." while the server is still being written.
import { loadConfig } from '../../services/runtime/load-config.js';
import { EventBus } from '../../services/core/events.js';
import { createLogger, type Logger } from '../../services/core/log.js';
import type { AppConfig } from '../../services/core/config.js';

interface MinimalService {
  status(): { bound: { address: string; port: number }[] };
  close(): Promise<void>;
}
type StartFn = (ctx: { config: AppConfig; events: EventBus; log: Logger }) => Promise<MinimalService>;

function fail(msg: string): never {
  process.stderr.write(`bootlab-server: ${msg}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--config');
  const file = i > 0 ? process.argv[i + 1] : undefined;
  if (!file) fail('usage: bootlab-server --config FILE');
  let config: AppConfig;
  try {
    config = loadConfig(file);
  } catch (e) {
    fail((e as Error).message);
  }
  const log = createLogger({ level: config.log.level, pretty: 'never' }, process.stderr);
  const serverUrl = new URL('../../services/tftp/server.js', import.meta.url).href;
  let start: StartFn;
  try {
    const mod = (await import(serverUrl)) as { start?: StartFn };
    if (typeof mod.start !== 'function') fail('services/tftp/server.js exports no start()');
    start = mod.start;
  } catch (e) {
    fail(`cannot load services/tftp/server.js: ${(e as Error).message.split('\n')[0]}`);
  }
  let service: MinimalService;
  try {
    service = await start({ config, events: new EventBus(), log });
  } catch (e) {
    fail(`start() failed: ${(e as Error).message.split('\n')[0]}`);
  }
  const bound = service.status().bound[0];
  if (!bound) fail('service started but reports no bound address');
  process.stdout.write(`READY ${bound.address} ${bound.port}\n`);

  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.argv.includes('--exit-on-stdin-close')) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}

main().catch((e) => fail(String((e as Error)?.stack ?? e)));
