// A worker thread that runs transfers: the server thread keeps the listening socket and
// every decision, the workers do the per-packet work, so a busy server uses every core.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type Job } from './engine.js';
import type { ListenInfo } from './sockets.js';

export interface WorkerInit { listen: ListenInfo; portRange: string | null }
export type ToWorker = { type: 'job'; job: Job } | { type: 'shutdown' };

const init = workerData as WorkerInit;
const port = parentPort!;
const engine = new Engine((r) => port.postMessage(r), init.listen, init.portRange);
// Loaded and able to take jobs: the server reports itself running only after this.
port.postMessage({ type: 'ready' });

port.on('message', (m: ToWorker) => {
  if (m.type === 'job') void engine.run(m.job);
  else void engine.shutdown().then(() => port.postMessage({ type: 'shutdown-done' }));
});
