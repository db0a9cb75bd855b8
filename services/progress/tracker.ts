// The per-machine boot progress model: one row per MAC (or per address, for a device that
// did no DHCP with bootlab: rows.ts), built from the event bus, for the admin API and
// the dashboard (pixiecore/logging.go kept a per-MAC ring of boot stages; this is that,
// plus the bytes of the download in flight, and the transfers that ended lately).
// - A boot's stage only moves forward (bootrow.ts): iPXE's own DHCP after the boot
//   loader, or pxelinux asking for config names after its script, must not send a machine
//   "back". A DISCOVER from PXE firmware after booted/failed is the machine booting again.
// - TFTP and multicast events carry only the client's IP: the MAC comes from the DHCP
//   conversation (offer/ack address, the requested address, ciaddr) or from the name of
//   the per-machine script, bootlab/<mac>.ipxe, which carries it (on the machine's own
//   first fetch only: rows.ts).
// - Unicast downloads (TFTP and HTTP alike) are downloads.ts's, multicast rounds rounds.ts's;
//   this file routes the bus's events to them and owns the DHCP and booted steps.
// - It runs inside the services' emit calls (their async scope): an exception here would
//   be taken for the service crashing (admin/supervisor.ts), so every handler is guarded.
import { EventEmitter } from 'node:events';
import type { BootEvent, ClientBooted, ClientStopped, DhcpMessage, EventBus } from '../core/events.js';
import { isNormalMac, normalizeMac, type HostMap } from '../core/hostmap.js';
import { createLogger, type Logger } from '../core/log.js';
import { classifyFile, scriptMac, type FileRole } from './bootfiles.js';
import type { ActivityItem, BootRow, ClientRow, HistoryItem, Stage } from './bootrow.js';
import { Downloads } from './downloads.js';
import type { FileDone, Model, TrackerEvents } from './model.js';
import { Rounds } from './rounds.js';
import { ClientRows } from './rows.js';
import { ActiveTransfers, type FinishedTransfer, type TransferRow } from './transfers.js';

export type { ActivityItem, ClientRow, Firmware, HistoryItem, Stage } from './bootrow.js';
export type { FileDone, FinishedTransfer, TrackerEvents, TransferRow };

export interface TrackerOptions {
  events: EventBus;
  hosts: HostMap;
  /** How long a finished (booted, failed) or silent machine stays listed. */
  ttlMs: number;
  now?: () => number;
  log?: Logger;
  /** A machine not finished and silent this long is "stale" (DELETE /api/clients?which=stale). Default 2 min. */
  staleMs?: number;
  /** History lines kept per machine. Default 200. */
  historySize?: number;
  /** Machines listed at most (default 2000, ten big classrooms): a flood of made-up MACs cannot grow memory forever. */
  maxClients?: number;
}

const DHCP_STAGE: Record<string, Stage | undefined> = { 'dhcp.discover': 'dhcp', 'dhcp.offer': 'offered', 'dhcp.ack': 'bound' };

const macKey = (mac: string) => (isNormalMac(mac) ? mac : normalizeMac(mac) ?? mac);

export class ClientTracker extends EventEmitter<TrackerEvents> {
  private readonly rows: ClientRows;
  private readonly active = new ActiveTransfers();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly unsubscribe: () => void;
  private readonly onHosts = () => this.guard('host map change', () => this.refreshHosts());
  private readonly timer: NodeJS.Timeout;
  private readonly downloads: Downloads;
  private readonly rounds: Rounds;

  constructor(readonly opts: TrackerOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLogger({ level: 'warn', pretty: 'never' }, process.stderr);
    // One listener per kind per SSE hub, and tests: none is a leak.
    this.setMaxListeners(0);
    this.rows = new ClientRows({
      hosts: opts.hosts, log: this.log, historySize: opts.historySize ?? 200, maxClients: opts.maxClients ?? 2000,
      activity: (item) => this.emit('activity', item),
      removed: (key) => this.emit('removed', key),
      merged: (ip, mac) => { if (this.active.claim(ip, mac)) this.emit('transfers'); },
    });
    const model: Model = {
      rows: this.rows, active: this.active,
      emit: (event, ...args) => { (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args); },
      changed: (b) => this.changed(b),
      roleOf: (b, file) => this.roleOf(b, file),
    };
    this.downloads = new Downloads(model);
    this.rounds = new Rounds(model);
    this.unsubscribe = opts.events.onAny((e) => this.guard(e.kind, () => this.apply(e)));
    opts.hosts.on('change', this.onHosts);
    this.timer = setInterval(() => this.guard('sweep', () => this.sweep()), Math.max(1000, Math.min(60_000, opts.ttlMs / 10)));
    this.timer.unref();
  }

  clients(): ClientRow[] { return this.rows.all().map((b) => ({ ...b.row })); }

  /** A row by MAC (any notation) or by ip:<address>. */
  client(id: string): ClientRow | undefined {
    const b = this.rows.find(id);
    return b && { ...b.row };
  }

  history(id: string): HistoryItem[] | undefined { return this.rows.find(id)?.history.slice(); }

  transfers(): TransferRow[] { return this.active.list(); }

  /** The last transfers that ended (at most 200), newest first, with how each ended. */
  finishedTransfers(): FinishedTransfer[] { return this.active.finished(); }

  /** The machine says it is up, as a client.booted event from the admin API would. Creates the row if new. */
  markBooted(mac: string, message?: string): ClientRow {
    const key = macKey(mac);
    this.booted({ kind: 'client.booted', mac: key, via: 'api', at: this.now(), ...(message ? { message } : {}) });
    return { ...this.rows.get(key)!.row };
  }

  /** A line in a machine's history and the activity feed (the admin API's own actions). */
  note(mac: string, kind: string, text: string, level: ActivityItem['level'] = 'info'): void {
    this.rows.find(mac)?.record({ at: this.now(), kind, text }, level);
  }

  /** Removes finished (booted, failed), stale (silent, unfinished) or all rows; returns how many. */
  clear(which: 'finished' | 'stale' | 'all'): number {
    const now = this.now();
    const staleMs = this.opts.staleMs ?? 120_000;
    let n = 0;
    for (const b of this.rows.all()) {
      if (which === 'all' || (which === 'finished' && b.finished) || (which === 'stale' && !b.finished && now - b.row.lastSeen >= staleMs)) {
        this.rows.remove(b);
        n++;
      }
    }
    return n;
  }

  /** Ages out rows finished or silent for ttlMs, and transfers whose end was never heard. */
  sweep(): void {
    const now = this.now();
    for (const b of this.rows.all()) {
      if (now - (b.endedAt ?? b.row.lastSeen) >= this.opts.ttlMs) this.rows.remove(b);
    }
    if (this.active.sweep(now)) this.emit('transfers');
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    this.opts.hosts.off('change', this.onHosts);
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, event: what }, 'progress: an event could not be applied (the boot progress may be off)');
    }
  }

  private apply(e: BootEvent): void {
    switch (e.kind) {
      case 'tftp.start': return this.downloads.downloadStart(e);
      case 'tftp.progress': return this.downloads.downloadProgress(e);
      case 'tftp.done': return this.downloads.downloadDone(e);
      case 'tftp.failed': return this.downloads.downloadFailed(e);
      case 'tftp.refused': return this.downloads.downloadRefused(e);
      case 'http.start': return this.downloads.downloadStart(e);
      case 'http.progress': return this.downloads.downloadProgress(e);
      case 'http.done': return this.downloads.downloadDone(e);
      case 'http.failed': return this.downloads.downloadFailed(e);
      case 'http.refused': return this.downloads.downloadRefused(e);
      case 'mtftp.round': return this.rounds.round(e);
      case 'mtftp.receiver': return this.rounds.receiver(e);
      case 'mtftp.progress': return this.rounds.progress(e);
      case 'mtftp.client-done': return this.rounds.clientDone(e);
      case 'client.booted': return this.booted(e);
      case 'client.stopped': return this.stopped(e);
      default: return this.dhcp(e);
    }
  }

  private dhcp(e: DhcpMessage): void {
    // The DHCP service writes MACs in the normal form already (dhcp/packet.ts macOf).
    const mac = macKey(e.mac);
    // A laptop asking the full-mode server for an address is not a machine booting.
    if (!this.rows.get(mac) && e.firmware === 'other' && !this.opts.hosts.lookup(mac)) return;
    const b = this.rows.machine(mac, e.at);
    // The booted OS's own DHCP (no PXEClient vendor class) is not a new boot.
    if (e.kind === 'dhcp.discover' && b.finished && e.firmware !== 'other') b.newBoot(e.at);
    b.firmware(e.firmware, e.arch);
    const gives = e.kind === 'dhcp.offer' || e.kind === 'dhcp.ack';
    if (e.ip && (gives || e.kind === 'dhcp.request' || e.kind === 'dhcp.inform')) this.rows.learnIp(b, e.ip, e.at);
    if (e.kind === 'dhcp.release' && e.ip) this.rows.forget(e.ip, mac);
    if (gives && e.bootFile) b.bootFile = e.bootFile;
    b.seen(e.at);
    b.record(e, e.kind === 'dhcp.nak' || e.kind === 'dhcp.decline' ? 'warn' : null);
    const stage = DHCP_STAGE[e.kind];
    if (stage) b.advance(stage, e.at);
    this.changed(b);
  }

  /** A booted report (its script's last step, its OS, the admin API, or its script's local-disk step). */
  private booted(e: ClientBooted): void {
    const b = this.rows.machine(macKey(e.mac), e.at);
    if (e.ip) this.rows.claimIp(b, e.ip, e.at);
    b.booted(e.at, e.message, e.via, e.target === 'local');
    this.changed(b);
  }

  /** bootlab itself stopped this machine's boot (a chain loop): the row fails, saying so. */
  private stopped(e: ClientStopped): void {
    const b = this.rows.machine(macKey(e.mac), e.at);
    b.seen(e.at);
    b.record(e, null);
    b.fail(`stopped by bootlab: ${e.reason}`, e.at);
    this.changed(b);
  }

  /** What the file is to this row's boot; another machine's script (someone reading it) is nothing. */
  private roleOf(b: BootRow, file: string): FileRole | null {
    const named = scriptMac(file);
    if (named && named !== b.row.mac) return null;
    return classifyFile(file, b.bootFile, this.rows.imageOf(b.row.mac));
  }

  private changed(b: BootRow): void {
    this.rows.hostFields(b);
    this.emit('client', b.row.key);
  }

  private refreshHosts(): void {
    for (const b of this.rows.all()) if (this.rows.hostFields(b)) this.emit('client', b.row.key);
  }
}
