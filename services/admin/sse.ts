// GET /api/events: live updates for the dashboard as server-sent events. A `snapshot`
// first, then what changed, coalesced and flushed at most every admin.sseIntervalMs, so
// 30 machines each reporting progress four times a second reach the browser as a few
// small messages a second (issue 5: "throttled so a 30-machine boot does not flood the
// browser"). One hub per app serialises each update once for every open dashboard.
// - The tracker emits from inside the services' event calls, so the hub's work (its
//   timers included) would run in a service's async scope: a bug here would be blamed on
//   TFTP and restart it (supervisor.ts). The hub's callbacks are bound to the scope the
//   app was built in, and guarded.
// - A dashboard that stops reading is dropped once its unsent data passes 4 MiB.
import { AsyncResource } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import type { ActivityItem } from '../progress/tracker.js';
import { stageLabels } from '../progress/stages.js';
import type { EndedTransfer } from '../progress/transfers.js';
import type { AdminApp } from './app.js';
import type { AdminContext } from './context.js';

const KEEPALIVE_MS = 15_000;
const MAX_BUFFERED = 4 << 20;
/** Activity items per flush: a burst (30 machines failing at once) keeps its newest. */
const MAX_ACTIVITY = 200;

const STAGE_LABELS = stageLabels();

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export class EventHub {
  private readonly streams = new Set<ServerResponse>();
  private readonly changed = new Set<string>();
  private readonly removed = new Set<string>();
  private transfers = false;
  private ended: EndedTransfer[] = [];
  private services = false;
  private hosts = false;
  private activity: ActivityItem[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private keepAlive: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private unsubscribe: (() => void) | null = null;
  private readonly flushBound: () => void;
  private readonly pingBound: () => void;

  constructor(private readonly ctx: AdminContext) {
    this.flushBound = AsyncResource.bind(() => this.guard(() => this.flush()));
    this.pingBound = AsyncResource.bind(() => this.guard(() => this.send(': keep-alive\n\n')));
  }

  get size(): number { return this.streams.size; }

  /** A new dashboard: the snapshot now, the changes from the next flush on. */
  add(res: ServerResponse): void {
    if (this.streams.size === 0) this.subscribe();
    this.streams.add(res);
    res.on('close', () => this.remove(res));
    res.on('error', () => this.remove(res));
    const { tracker, supervisor } = this.ctx;
    // `stages`: the dashboard's labels and steps, from the one list (progress/stages.ts).
    const snapshot = {
      clients: tracker.clients(), transfers: tracker.transfers(), services: supervisor.list(), stages: STAGE_LABELS,
    };
    this.write(res, frame('snapshot', snapshot));
  }

  remove(res: ServerResponse): void {
    if (!this.streams.delete(res)) return;
    if (!res.destroyed) res.destroy();
    if (this.streams.size === 0) this.unsubscribeAll();
  }

  /** Ends every stream (the app is closing: the server waits for open connections). */
  closeAll(): void {
    for (const res of [...this.streams]) {
      this.streams.delete(res);
      res.end();
    }
    this.unsubscribeAll();
  }

  private subscribe(): void {
    const { tracker, supervisor, hosts } = this.ctx;
    const onClient = (mac: string) => { this.removed.delete(mac); this.changed.add(mac); this.schedule(); };
    const onRemoved = (mac: string) => { this.changed.delete(mac); this.removed.add(mac); this.schedule(); };
    const onTransfers = () => { this.transfers = true; this.schedule(); };
    const onEnded = (ended: EndedTransfer) => {
      this.ended.push(ended);
      if (this.ended.length > MAX_ACTIVITY) this.ended.shift();
      this.transfers = true;
      this.schedule();
    };
    const onActivity = (item: ActivityItem) => {
      this.activity.push(item);
      if (this.activity.length > MAX_ACTIVITY) this.activity.shift();
      this.schedule();
    };
    const onServices = () => { this.services = true; this.schedule(); };
    const onHosts = () => { this.hosts = true; this.schedule(); };
    tracker.on('client', onClient).on('removed', onRemoved).on('transfers', onTransfers).on('transfer-ended', onEnded).on('activity', onActivity);
    supervisor.on('change', onServices);
    hosts.on('change', onHosts);
    this.keepAlive = setInterval(this.pingBound, KEEPALIVE_MS);
    this.keepAlive.unref();
    this.unsubscribe = () => {
      tracker.off('client', onClient).off('removed', onRemoved).off('transfers', onTransfers).off('transfer-ended', onEnded).off('activity', onActivity);
      supervisor.off('change', onServices);
      hosts.off('change', onHosts);
    };
  }

  private unsubscribeAll(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.keepAlive) clearInterval(this.keepAlive);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.keepAlive = this.flushTimer = null;
    this.changed.clear();
    this.removed.clear();
    this.activity = [];
    this.ended = [];
    this.transfers = this.services = this.hosts = false;
  }

  /** One flush per interval at most: the first change after a quiet spell waits for the rest of it. */
  private schedule(): void {
    if (this.flushTimer) return;
    const wait = Math.max(0, this.lastFlush + this.ctx.config.admin.sseIntervalMs - Date.now());
    this.flushTimer = setTimeout(this.flushBound, wait);
    this.flushTimer.unref();
  }

  private flush(): void {
    this.flushTimer = null;
    this.lastFlush = Date.now();
    const { tracker, supervisor } = this.ctx;
    let out = '';
    if (this.changed.size > 0 || this.removed.size > 0) {
      const clients = [...this.changed].map((mac) => tracker.client(mac)).filter((c) => c !== undefined);
      out += frame('clients', { clients, removed: [...this.removed] });
    }
    // `ended`: the transfers that left the list since the last flush, with their outcome.
    if (this.transfers) out += frame('transfers', { transfers: tracker.transfers(), ended: this.ended });
    if (this.services) out += frame('services', { services: supervisor.list() });
    if (this.hosts) out += frame('hosts', {});
    if (this.activity.length > 0) out += frame('activity', { items: this.activity });
    this.changed.clear();
    this.removed.clear();
    this.activity = [];
    this.ended = [];
    this.transfers = this.services = this.hosts = false;
    if (out !== '') this.send(out);
  }

  private send(text: string): void {
    for (const res of [...this.streams]) this.write(res, text);
  }

  private write(res: ServerResponse, text: string): void {
    if (res.writableEnded || res.destroyed) return this.remove(res);
    if (res.writableLength > MAX_BUFFERED) {
      this.ctx.log.warn({ service: 'admin', buffered: res.writableLength }, 'live updates: a dashboard stopped reading; its stream is closed');
      return this.remove(res);
    }
    res.write(text);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error({ service: 'admin', err }, 'live updates: flush failed');
    }
  }
}

export default function register(app: AdminApp, ctx: AdminContext): void {
  const hub = new EventHub(ctx);
  // Open streams would keep app.close() (and SIGTERM) waiting forever.
  app.addHook('preClose', (done) => { hub.closeAll(); done(); });

  app.get('/api/events', {
    config: { access: 'read' },
    schema: {
      tags: ['clients'], produces: ['text/event-stream'],
      summary: 'Live updates (server-sent events): snapshot, then clients, transfers, services, hosts and activity, throttled to admin.sseIntervalMs',
    },
  }, (_req, reply) => {
    reply.hijack();
    const res = reply.raw;
    // Headers set by hooks (CORS) live on the reply, which a hijacked response bypasses.
    res.writeHead(200, {
      ...reply.getHeaders(),
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    hub.add(res);
  });
}
