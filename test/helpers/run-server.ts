// Runs bootlab's TFTP service as its own process, for tests that need it somewhere the
// test process is not (inside a network namespace: `ip netns exec NS node
// dist/test/helpers/run-server.js '<json>'`).
//
// The configuration is JSON in argv[2] or in BOOTLAB_RUN_SERVER: { "root": "/dir",
// "address": "198.18.0.1", "tftp": { ...partial TftpConfig } }; the port defaults to 0
// (ephemeral). Prints one JSON object per line on stdout:
//   {"listening":{"address":"198.18.0.1","port":40123}}   once bound
//   {"event":{...}}                                        every event but tftp.progress
//   {"error":"..."}                                        when it cannot start (exit 1)
// It stops on SIGTERM/SIGINT or when stdin closes (the parent went away).
import { rmSync } from 'node:fs';
import { EventBus } from '../../services/core/events.js';
import { silentLogger } from '../../services/core/log.js';
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

async function main(): Promise<void> {
  const raw = process.argv[2] ?? process.env.BOOTLAB_RUN_SERVER;
  if (!raw) throw new Error('usage: run-server.js \'{"root":"/dir","address":"127.0.0.1","tftp":{}}\' (or BOOTLAB_RUN_SERVER)');
  const cfg = JSON.parse(raw) as RunConfig;
  if (typeof cfg.root !== 'string') throw new Error('run-server: "root" is required');
  const config = testConfig(cfg.root, cfg.tftp, cfg.address ?? '127.0.0.1');
  const events = new EventBus();
  events.onAny((e) => {
    if (e.kind !== 'tftp.progress') line({ event: e });
  });
  const service = await start(await serviceContext(config, { events }));
  const bound = service.status().bound[0];
  line({ listening: { address: bound.address, port: bound.port } });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await service.close().catch(() => undefined);
    rmSync(config.stateDir, { recursive: true, force: true });
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
