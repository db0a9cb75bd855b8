// The engines that run transfers: worker threads (tftp.workers), or one engine in the
// server's own thread (workers 0, and always in single-port mode, where every packet
// arrives on the one listening socket). A job goes to the least busy engine. A worker
// that dies is replaced; the server fails the transfers it was running.
import type { Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { Engine, type Job, type Report } from './engine.js';
import type { ListenInfo } from './sockets.js';
import type { ToWorker, WorkerInit } from './worker.js';

interface Slot { active: number; worker: Worker | null; local: Engine | null; stopping: boolean }

export interface PoolHooks {
  report(r: Report, engine: number): void;
  crashed(engine: number, error: string): void;
}

export class EnginePool {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly workers: number,
    private readonly listen: ListenInfo,
    private readonly portRange: string | null,
    private readonly shared: Socket | null,
    private readonly hooks: PoolHooks,
  ) {}

  /**
   * Resolves once every engine can take a job. A worker loads its modules after the
   * thread starts; under load that took seconds, and a request in that time waited.
   */
  async start(): Promise<void> {
    if (this.workers === 0 || this.shared) {
      const slot: Slot = { active: 0, worker: null, local: null, stopping: false };
      slot.local = new Engine((r) => this.onReport(r, 0), this.listen, this.portRange, this.shared);
      this.slots.push(slot);
      return;
    }
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.workers; i++) {
      this.slots.push({ active: 0, worker: null, local: null, stopping: false });
      ready.push(this.spawn(i));
    }
    await Promise.all(ready);
  }

  /** Starts worker i; resolves when it said it is ready (or died trying: then it was respawned). */
  private spawn(i: number): Promise<void> {
    const init: WorkerInit = { listen: this.listen, portRange: this.portRange };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    const slot = this.slots[i];
    slot.worker = worker;
    return new Promise((resolve) => {
      worker.on('message', (r: Report | { type: 'shutdown-done' } | { type: 'ready' }) => {
        if (r.type === 'ready') resolve();
        else if (r.type !== 'shutdown-done') this.onReport(r, i);
      });
      worker.on('error', (e) => { resolve(); this.onCrash(i, worker, e.message); });
      worker.on('exit', (code) => { resolve(); this.onCrash(i, worker, `worker exited with code ${code}`); });
    });
  }

  private onCrash(i: number, worker: Worker, error: string): void {
    const slot = this.slots[i];
    if (slot.stopping || slot.worker !== worker) return;
    slot.worker = null;
    slot.active = 0;
    this.hooks.crashed(i, error);
    void this.spawn(i);
  }

  private onReport(r: Report, i: number): void {
    if (r.type === 'closed' || r.type === 'refused') this.slots[i].active = Math.max(0, this.slots[i].active - 1);
    this.hooks.report(r, i);
  }

  /** Hands a job to the least busy engine; returns its index. */
  dispatch(job: Job): number {
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i].active < this.slots[best].active) best = i;
    const slot = this.slots[best];
    slot.active++;
    if (slot.local) void slot.local.run(job);
    else slot.worker!.postMessage({ type: 'job', job } satisfies ToWorker);
    return best;
  }

  /** Single-port mode: a packet for a running transfer. */
  deliver(engine: number, id: number, msg: Buffer): void {
    this.slots[engine]?.local?.deliver(id, msg);
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(async (slot) => {
      slot.stopping = true;
      if (slot.local) return slot.local.shutdown();
      const w = slot.worker;
      if (!w) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        w.on('message', (m: { type: string }) => { if (m.type === 'shutdown-done') { clearTimeout(timer); resolve(); } });
        w.postMessage({ type: 'shutdown' } satisfies ToWorker);
      });
      await w.terminate();
    }));
  }
}
