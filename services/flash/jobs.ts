// Flash jobs for the admin API (POST /api/flash): push a firmware file to a device's boot
// loader over TFTP (services/tftp/client.ts), one job per target at a time, with its
// progress kept for GET /api/flash/:id and the dashboard. A job never throws: it ends
// done, no-answer (the boot window never opened), refused (the device's ERROR) or failed.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';

import type { OnProgress, PutOptions, TransferResult } from '../tftp/client.js';
import type { FlashJob, JobState } from './schemas.js';

/** The TFTP client's put (services/tftp/client.ts); injected so a test may pace it. */
export type PutFn = (o: PutOptions, onProgress?: OnProgress) => Promise<TransferResult>;
type PutProgress = Parameters<OnProgress>[0];
type PutOutcome = TransferResult;

export type { FlashJob, JobState };

export interface StartRequest extends Omit<PutOptions, 'signal'> { file: string; port: number }

/** 'job' (id): a job started, moved or ended. */
export interface FlashJobEvents { job: [id: string] }

export class FlashJobs extends EventEmitter<FlashJobEvents> {
  private readonly jobs = new Map<string, FlashJob>();
  private readonly aborts = new Map<string, AbortController>();

  constructor(private readonly put: PutFn, private readonly keep = 50) {
    super();
    this.setMaxListeners(0);
  }

  list(): FlashJob[] { return [...this.jobs.values()].map((j) => ({ ...j })).reverse(); }

  get(id: string): FlashJob | undefined {
    const j = this.jobs.get(id);
    return j && { ...j };
  }

  /** The running job for a target, if any (one at a time: a second would fight for the boot window). */
  running(target: string): FlashJob | undefined {
    return [...this.jobs.values()].find((j) => j.target === target && (j.state === 'waiting' || j.state === 'sending'));
  }

  start(req: StartRequest): FlashJob {
    const job: FlashJob = {
      id: randomUUID(), target: req.target, port: req.port, file: req.file, remoteName: req.password ? '(password)' : req.remoteName, state: 'waiting',
      attempts: 0, bytes: 0, total: req.data.length, percent: 0, startedAt: Date.now(), endedAt: null, message: null,
    };
    this.jobs.set(job.id, job);
    this.trim();
    const abort = new AbortController();
    this.aborts.set(job.id, abort);
    const onProgress = (p: PutProgress) => {
      Object.assign(job, { attempts: p.attempts, bytes: p.bytes, state: p.phase === 'waiting' ? 'waiting' : job.state === 'waiting' ? 'sending' : job.state });
      job.percent = job.total === 0 ? 100 : Math.floor((job.bytes / job.total) * 1000) / 10;
      this.emit('job', job.id);
    };
    void this.put({ ...req, signal: abort.signal }, onProgress)
      .then((out) => this.end(job, out, abort.signal.aborted))
      .catch((e: Error) => this.end(job, { kind: 'broken', reason: e.message, bytes: job.bytes }, abort.signal.aborted))
      .finally(() => this.aborts.delete(job.id));
    this.emit('job', job.id);
    return { ...job };
  }

  cancel(id: string): boolean {
    const a = this.aborts.get(id);
    if (!a) return false;
    a.abort();
    return true;
  }

  close(): void {
    for (const a of this.aborts.values()) a.abort();
  }

  private end(job: FlashJob, out: PutOutcome, cancelled: boolean): void {
    job.endedAt = Date.now();
    if (cancelled && out.kind !== 'ok') Object.assign(job, { state: 'cancelled', message: 'cancelled' });
    else if (out.kind === 'ok') Object.assign(job, { state: 'done', bytes: out.bytes, percent: 100, message: `Sent ${out.bytes} bytes in ${out.seconds.toFixed(1)} seconds` });
    else if (out.kind === 'no-answer') Object.assign(job, { state: 'no-answer', attempts: out.attempts, message: `no device answered at ${job.target}:${job.port} within ${(out.waitedMs / 1000).toFixed(0)} s (${out.attempts} attempts)` });
    else if (out.kind === 'refused') Object.assign(job, { state: 'refused', message: `the device refused: error ${out.code}: ${out.message}` });
    else Object.assign(job, { state: 'failed', bytes: out.bytes, message: `the transfer broke: ${out.reason}` });
    this.emit('job', job.id);
  }

  /** Finished jobs beyond `keep` are forgotten, oldest first. */
  private trim(): void {
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= this.keep) return;
      if (j.endedAt !== null) this.jobs.delete(id);
    }
  }
}
