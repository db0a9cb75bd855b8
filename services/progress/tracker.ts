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
// - It runs inside the services' emit calls (their async scope): an exception here would
//   be taken for the service crashing (admin/supervisor.ts), so every handler is guarded.
import { EventEmitter } from 'node:events';
import { classifyFile, cleanPath, imageFiles, scriptMac, type FileRole } from './bootfiles.js';
import type { ActivityItem, BootRow, ClientRow, HistoryItem, Stage } from './bootrow.js';
import { addressKey, ClientRows } from './rows.js';
import type {
  BootEvent, ClientBooted, ClientStopped, DhcpMessage, EventBus, HttpDone, HttpFailed, HttpProgress, HttpRefused, HttpStart,
  MtftpClientDone, MtftpProgress, MtftpReceiver, MtftpRound, TftpDone, TftpFailed, TftpProgress, TftpRefused, TftpStart,
} from '../core/events.js';
import { isNormalMac, normalizeMac, type HostMap } from '../core/hostmap.js';
import { createLogger, type Logger } from '../core/log.js';
import { ActiveTransfers, httpId, percentOf, roundId, tftpId, type EndedTransfer, type FinishedTransfer, type Outcome, type TransferRow } from './transfers.js';

export type { ActivityItem, ClientRow, Firmware, HistoryItem, Stage } from './bootrow.js';
export type { FinishedTransfer, TransferRow };

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
  /** Machines listed at most (default 2000, ten big classrooms): a flood of made-up MACs cannot grow memory without end. */
  maxClients?: number;
}

/** 'file-done': a machine has a whole boot file (kernel, initrd ...). */
export interface FileDone { mac: string; file: string; role: Stage | null; at: number }

/** What the tracker emits, each with its arguments. */
export interface TrackerEvents {
  /** A row changed (key: the MAC, or ip:<address>). */
  client: [key: string];
  /** A row was cleared, aged out or merged. */
  removed: [key: string];
  /** The active list changed. */
  transfers: [];
  'transfer-ended': [ended: EndedTransfer];
  /** Something a teacher wants to read: a machine seen, a stage reached, a failure, booted. */
  activity: [item: ActivityItem];
  'file-done': [done: FileDone];
}

const idOf = (e: { kind: string; id: number }) => (e.kind.startsWith('http.') ? httpId(e.id) : tftpId(e.id));

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
  private readonly macOf = (ip: string) => this.rows.macOf(ip);
  /** HTTP downloads of a byte range: done is not "the whole file sent". */
  private readonly partial = new Set<string>();

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
      case 'tftp.start': return this.tftpStart(e);
      case 'tftp.progress': return this.tftpProgress(e);
      case 'tftp.done': return this.tftpDone(e);
      case 'tftp.failed': return this.tftpFailed(e);
      case 'tftp.refused': return this.tftpRefused(e);
      case 'mtftp.round': return this.round(e);
      case 'mtftp.receiver': return this.receiver(e);
      case 'mtftp.progress': return this.mtftpProgress(e);
      case 'mtftp.client-done': return this.clientDone(e);
      case 'http.start': return this.tftpStart(e);
      case 'http.progress': return this.tftpProgress(e);
      case 'http.done': return this.tftpDone(e);
      case 'http.failed': return this.tftpFailed(e);
      case 'http.refused': return this.tftpRefused(e);
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

  // HTTP downloads go through the same steps as TFTP reads: one row per transfer, the
  // machine's row follows it (its id says which protocol: tftp-<n> or http-<n>).
  private tftpStart(e: TftpStart | HttpStart): void {
    const mac = this.rows.ownerOf(e.ip, e.file);
    const id = this.active.tftpStart(e.kind === 'http.start' ? { ...e, protocol: 'http' } : e, mac);
    if (e.kind === 'http.start' && e.range !== null) this.partial.add(id);
    this.emit('transfers');
    const b = mac ? this.rows.machine(mac, e.at, e.ip) : e.ip ? this.rows.address(e.ip, e.at) : undefined;
    if (!b) return;
    // No DHCP marks a new boot of a device known by its address: its next transfer after the end does.
    if (!b.row.mac && b.finished) b.newBoot(e.at, 'a new transfer after its last one ended');
    b.record(e, null);
    // Uploads (a switch saving its config) are not part of a boot.
    if (e.kind === 'http.start' || e.direction === 'read') b.follow(id, e.file, e.size, this.roleOf(b, e.file), e.at);
    b.seen(e.at);
    this.changed(b);
  }

  private tftpProgress(e: TftpProgress | HttpProgress): void {
    const t = this.active.tftpProgress(e);
    if (t) this.emit('transfers');
    const b = this.rowOf(t, e.ip);
    if (b?.progress(idOf(e), e.bytes, e.size, e.rate, e.at)) this.changed(b);
  }

  private tftpDone(e: TftpDone | HttpDone): void {
    const whole = !this.partial.delete(idOf(e));
    const b = this.endTransfer(idOf(e), e, { ok: true, reason: null, bytes: e.bytes, rate: e.throughput, at: e.at });
    if (!b) return;
    b.ended(idOf(e), { bytes: e.bytes, rate: e.throughput });
    b.record(e, null);
    this.changed(b);
    // A whole file sent: boot-once may end with the kernel (boot/bootonce.ts).
    const { mac } = b.row;
    if (mac && whole && (e.kind === 'http.done' || e.direction === 'read')) this.emit('file-done', { mac, file: e.file, role: this.roleOf(b, e.file), at: e.at } satisfies FileDone);
  }

  private tftpFailed(e: TftpFailed | HttpFailed): void {
    this.partial.delete(idOf(e));
    const b = this.endTransfer(idOf(e), e, { ok: false, reason: e.clientAbort ? `the client ended it: ${e.reason}` : e.reason, bytes: e.bytes, at: e.at });
    if (!b) return;
    b.ended(idOf(e), null);
    b.record(e, null);
    // EDK2 reads the size with a tsize-only request, then aborts it on purpose (pxe-notes.md);
    // iPXE closes HTTP connections it no longer needs.
    if (!e.clientAbort) b.fail(`${e.file}: ${e.reason}`, e.at);
    this.changed(b);
  }

  private tftpRefused(e: TftpRefused | HttpRefused): void {
    const mac = this.rows.ownerOf(e.ip, e.file);
    // A device known by its address: noted in its row, if it has one (a refusal makes none).
    const known = mac ? this.rows.get(mac) : e.ip ? this.rows.get(addressKey(e.ip)) : undefined;
    // pxelinux asks for pxelinux.cfg/<uuid>, <mac>, <hex ip>... until one exists: not an error.
    // Over HTTP only "not there", "not allowed" and a server error stop a boot: a 416 for a
    // range past the end or a 405 is the client's own mistake, answered, not a failed boot.
    const reads = e.kind === 'http.refused' ? [403, 404, 500].includes(e.code) : e.direction === 'read';
    const matters = mac !== null && reads && this.matters(mac, known, e.file);
    if (!known && !matters) return;
    const b = mac ? this.rows.machine(mac, e.at, e.ip) : known!;
    b.seen(e.at);
    b.record(e, null);
    if (matters) b.fail(`${e.file} refused: ${e.reason}`, e.at);
    this.changed(b);
  }

  /** The row a transfer's events go to: its MAC's, else its client address's. */
  private rowOf(t: TransferRow | undefined, ip: string | undefined): BootRow | undefined {
    return (t?.mac ? this.rows.get(t.mac) : undefined) ?? this.rows.ofIp(t?.ip ?? ip);
  }

  /** The transfer is over: off the active list into the finished one; the row of its client, if listed. */
  private endTransfer(id: string, e: { ip?: string; at: number }, outcome: Outcome): BootRow | undefined {
    const t = this.active.end(id, outcome);
    if (t) {
      this.emit('transfers');
      this.emit('transfer-ended', { id, ok: outcome.ok, reason: outcome.reason, bytes: outcome.bytes, size: t.size, at: e.at } satisfies EndedTransfer);
    }
    const b = this.rowOf(t, e.ip);
    b?.seen(e.at);
    return b;
  }

  /** Whether the boot depends on this file: the DHCP boot file, or the image's own files. */
  private matters(mac: string, b: BootRow | undefined, file: string): boolean {
    const f = cleanPath(file);
    if (b?.bootFile && cleanPath(b.bootFile) === f) return true;
    return imageFiles(this.rows.imageOf(mac)).some((p) => cleanPath(p) === f);
  }

  private round(e: MtftpRound): void {
    const id = roundId(e);
    if (e.phase === 'start') {
      const t = this.active.round(e, e.master, this.macOf);
      Object.assign(t, { size: e.size, percent: percentOf(t.bytes, e.size) });
      this.emit('transfers');
      return;
    }
    const receivers = [...this.active.receivers(id)];
    const ok = e.ok !== false;
    const bytes = ok ? e.size : this.active.get(id)?.bytes ?? 0;
    const t = this.active.end(id, { ok, reason: ok ? null : e.reason || null, bytes, at: e.at });
    this.emit('transfers');
    if (t) this.emit('transfer-ended', { id, ok, reason: e.reason ?? null, bytes, size: e.size, at: e.at } satisfies EndedTransfer);
    for (const ip of receivers.length > 0 ? receivers : [e.master]) {
      const b = this.rows.ofIp(ip);
      if (!b) continue;
      b.ended(id, null);
      b.record(e, null);
      this.changed(b);
    }
  }

  private receiver(e: MtftpReceiver): void {
    const t = this.active.addReceiver(e, e.ip, e.receivers, this.macOf);
    this.emit('transfers');
    const b = this.rows.address(e.ip, e.at);
    b.record(e, null);
    b.follow(t.id, e.file, t.size, this.roleOf(b, e.file), e.at);
    b.progress(t.id, t.bytes, t.size, t.rate, e.at);
    this.changed(b);
  }

  private mtftpProgress(e: MtftpProgress): void {
    const t = this.active.roundProgress(e, this.macOf);
    this.emit('transfers');
    for (const ip of this.active.receivers(t.id)) {
      const b = this.rows.ofIp(ip);
      if (b?.progress(t.id, t.bytes, t.size, t.rate, e.at)) this.changed(b);
    }
  }

  private clientDone(e: MtftpClientDone): void {
    const b = this.rows.ofIp(e.ip);
    if (!b) return;
    b.ended(roundId(e), { bytes: b.row.total ?? b.row.bytes, rate: b.row.rate });
    b.seen(e.at);
    b.record(e, null);
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
