// The per-machine boot progress model: one row per MAC, built from the event bus, for the
// admin API and the dashboard (pixiecore/logging.go kept a per-MAC ring of boot stages;
// this is that, plus the bytes of the download in flight).
// - A boot's stage only moves forward (bootrow.ts): iPXE's own DHCP after the boot
//   loader, or pxelinux asking for config names after its script, must not send a machine
//   "back". A DISCOVER from PXE firmware after booted/failed is the machine booting again.
// - TFTP and multicast events carry only the client's IP: the MAC comes from the DHCP
//   conversation (offer/ack address, the requested address, ciaddr) or from the name of
//   the per-machine script, bootlab/<mac>.ipxe, which carries it.
// - It runs inside the services' emit calls (their async scope): an exception here would
//   be taken for the service crashing (admin/supervisor.ts), so every handler is guarded.
import { EventEmitter } from 'node:events';
import { classifyFile, cleanPath, imageFiles, scriptMac } from './bootfiles.js';
import { BootRow, type ActivityItem, type ClientRow, type HistoryItem, type Stage } from './bootrow.js';
import type {
  BootEvent, ClientBooted, ClientStopped, DhcpMessage, EventBus, HttpDone, HttpFailed, HttpProgress, HttpRefused, HttpStart,
  MtftpClientDone, MtftpProgress, MtftpReceiver, MtftpRound, TftpDone, TftpFailed, TftpProgress, TftpRefused, TftpStart,
} from './events.js';
import { isNormalMac, normalizeMac, type HostMap, type Image } from './hostmap.js';
import { createLogger, type Logger } from './log.js';
import { ActiveTransfers, httpId, percentOf, roundId, tftpId, type EndedTransfer, type TransferRow } from './transfers.js';

export type { ActivityItem, ClientRow, Firmware, HistoryItem, Stage } from './bootrow.js';
export type { TransferRow };

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

/**
 * Emits 'client' (mac): a row changed; 'removed' (mac): a row was cleared or aged out;
 * 'transfers': the active list changed; 'activity' (ActivityItem): something a teacher
 * wants to read (a machine seen, a stage reached, a failure, booted).
 */
export type TrackerEvent = 'client' | 'removed' | 'transfers' | 'activity' | 'file-done';

/** 'file-done': a machine has a whole boot file (kernel, initrd ...). */
export interface FileDone { mac: string; file: string; role: Stage | null; at: number }

const idOf = (e: { kind: string; id: number }) => (e.kind.startsWith('http.') ? httpId(e.id) : tftpId(e.id));

const DHCP_STAGE: Record<string, Stage | undefined> = { 'dhcp.discover': 'dhcp', 'dhcp.offer': 'offered', 'dhcp.ack': 'bound' };

export class ClientTracker extends EventEmitter {
  private readonly rows = new Map<string, BootRow>();
  private readonly macByIp = new Map<string, string>();
  private readonly active = new ActiveTransfers();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly unsubscribe: () => void;
  private readonly onHosts = () => this.guard('host map change', () => this.refreshHosts());
  private readonly timer: NodeJS.Timeout;
  private readonly macOf = (ip: string) => this.macByIp.get(ip) ?? null;
  /** HTTP downloads of a byte range: done is not "the whole file sent". */
  private readonly partial = new Set<string>();

  constructor(readonly opts: TrackerOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLogger({ level: 'warn', pretty: 'never' }, process.stderr);
    // One listener per kind per SSE hub, and tests: none is a leak.
    this.setMaxListeners(0);
    this.unsubscribe = opts.events.onAny((e) => this.guard(e.kind, () => this.apply(e)));
    opts.hosts.on('change', this.onHosts);
    this.timer = setInterval(() => this.guard('sweep', () => this.sweep()), Math.max(1000, Math.min(60_000, opts.ttlMs / 10)));
    this.timer.unref();
  }

  clients(): ClientRow[] { return [...this.rows.values()].map((b) => ({ ...b.row })); }

  client(mac: string): ClientRow | undefined {
    const b = this.find(mac);
    return b && { ...b.row };
  }

  history(mac: string): HistoryItem[] | undefined { return this.find(mac)?.history.slice(); }

  transfers(): TransferRow[] { return this.active.list(); }

  /** The machine says it is up, as a client.booted event from the admin API would. Creates the row if new. */
  markBooted(mac: string, message?: string): ClientRow {
    const key = normalizeMac(mac) ?? mac;
    this.booted({ kind: 'client.booted', mac: key, via: 'api', at: this.now(), ...(message ? { message } : {}) });
    return { ...this.rows.get(key)!.row };
  }

  /** A line in a machine's history and the activity feed (the admin API's own actions). */
  note(mac: string, kind: string, text: string, level: ActivityItem['level'] = 'info'): void {
    this.find(mac)?.record({ at: this.now(), kind, text }, level);
  }

  /** Removes finished (booted, failed), stale (silent, unfinished) or all rows; returns how many. */
  clear(which: 'finished' | 'stale' | 'all'): number {
    const now = this.now();
    const staleMs = this.opts.staleMs ?? 120_000;
    let n = 0;
    for (const b of [...this.rows.values()]) {
      if (which === 'all' || (which === 'finished' && b.finished) || (which === 'stale' && !b.finished && now - b.row.lastSeen >= staleMs)) {
        this.remove(b);
        n++;
      }
    }
    return n;
  }

  /** Ages out rows finished or silent for ttlMs, and transfers whose end was never heard. */
  sweep(): void {
    const now = this.now();
    for (const b of [...this.rows.values()]) {
      if (now - (b.endedAt ?? b.row.lastSeen) >= this.opts.ttlMs) this.remove(b);
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
    const mac = isNormalMac(e.mac) ? e.mac : normalizeMac(e.mac) ?? e.mac;
    let b = this.rows.get(mac);
    // A laptop asking the full-mode server for an address is not a machine booting.
    if (!b && e.firmware === 'other' && !this.opts.hosts.lookup(mac)) return;
    b ??= this.create(mac, e.at);
    // The booted OS's own DHCP (no PXEClient vendor class) is not a new boot.
    if (e.kind === 'dhcp.discover' && b.finished && e.firmware !== 'other') b.newBoot(e.at);
    b.firmware(e.firmware, e.arch);
    const gives = e.kind === 'dhcp.offer' || e.kind === 'dhcp.ack';
    if (e.ip && (gives || e.kind === 'dhcp.request' || e.kind === 'dhcp.inform')) this.learnIp(b, e.ip);
    if (e.kind === 'dhcp.release' && e.ip && this.macByIp.get(e.ip) === mac) this.macByIp.delete(e.ip);
    if (gives && e.bootFile) b.bootFile = e.bootFile;
    b.seen(e.at);
    b.record(e, e.kind === 'dhcp.nak' || e.kind === 'dhcp.decline' ? 'warn' : null);
    const stage = DHCP_STAGE[e.kind];
    if (stage) b.advance(stage, e.at);
    this.changed(b);
  }

  private booted(e: ClientBooted): void {
    const key = isNormalMac(e.mac) ? e.mac : normalizeMac(e.mac) ?? e.mac;
    const b = this.rows.get(key) ?? this.create(key, e.at);
    if (e.ip && !b.row.ip) this.learnIp(b, e.ip);
    b.booted(e.at, e.message, e.via);
    this.changed(b);
  }

  /** bootlab itself stopped this machine's boot (a chain loop): the row fails with the reason. */
  private stopped(e: ClientStopped): void {
    const key = isNormalMac(e.mac) ? e.mac : normalizeMac(e.mac) ?? e.mac;
    const b = this.rows.get(key) ?? this.create(key, e.at);
    b.record(e, null);
    b.fail(e.reason, e.at);
    this.changed(b);
  }

  // HTTP downloads go through the same steps as TFTP reads: one row per transfer, the
  // machine's row follows it (its id says which protocol: tftp-<n> or http-<n>).
  private tftpStart(e: TftpStart | HttpStart): void {
    const mac = this.macFor(e.ip, e.file);
    const id = this.active.tftpStart(e.kind === 'http.start' ? { ...e, protocol: 'http' } : e, mac);
    if (e.kind === 'http.start' && e.range !== null) this.partial.add(id);
    this.emit('transfers');
    if (!mac) return;
    const b = this.rowFor(mac, e.at, e.ip);
    b.record(e, null);
    // Uploads (a switch saving its config) are not part of a boot.
    if (e.kind === 'http.start' || e.direction === 'read') b.follow(id, e.file, e.size, this.roleOf(b, e.file), e.at);
    b.seen(e.at);
    this.changed(b);
  }

  private tftpProgress(e: TftpProgress | HttpProgress): void {
    const t = this.active.tftpProgress(e);
    if (t) this.emit('transfers');
    const b = this.rows.get(t?.mac ?? this.macFor(e.ip, e.file) ?? '');
    if (b?.progress(idOf(e), e.bytes, e.size, e.rate, e.at)) this.changed(b);
  }

  private tftpDone(e: TftpDone | HttpDone): void {
    const whole = !this.partial.delete(idOf(e));
    const b = this.endTransfer(idOf(e), e, { ok: true, reason: null, bytes: e.bytes });
    if (!b) return;
    b.ended(idOf(e), { bytes: e.bytes, rate: e.throughput });
    b.record(e, null);
    this.changed(b);
    // A whole file sent: boot-once may end with the kernel (boot/bootonce.ts).
    if (whole && (e.kind === 'http.done' || e.direction === 'read')) this.emit('file-done', { mac: b.row.mac, file: e.file, role: this.roleOf(b, e.file), at: e.at } satisfies FileDone);
  }

  private tftpFailed(e: TftpFailed | HttpFailed): void {
    this.partial.delete(idOf(e));
    const b = this.endTransfer(idOf(e), e, { ok: false, reason: e.clientAbort ? `the client ended it: ${e.reason}` : e.reason, bytes: e.bytes });
    if (!b) return;
    b.ended(idOf(e), null);
    b.record(e, null);
    // EDK2 reads the size with a tsize-only request, then aborts it on purpose (pxe-notes.md);
    // iPXE closes HTTP connections it no longer needs.
    if (!e.clientAbort) b.fail(`${e.file}: ${e.reason}`, e.at);
    this.changed(b);
  }

  private tftpRefused(e: TftpRefused | HttpRefused): void {
    const mac = this.macFor(e.ip, e.file);
    if (!mac) return;
    const known = this.rows.get(mac);
    // pxelinux asks for pxelinux.cfg/<uuid>, <mac>, <hex ip>... until one exists: not an error.
    // Over HTTP only "not there", "not allowed" and a server error stop a boot: a 416 for a
    // range past the end or a 405 is the client's own mistake, answered, not a failed boot.
    const reads = e.kind === 'http.refused' ? [403, 404, 500].includes(e.code) : e.direction === 'read';
    const matters = reads && this.matters(mac, known, e.file);
    if (!known && !matters) return;
    const b = this.rowFor(mac, e.at, e.ip);
    b.seen(e.at);
    b.record(e, null);
    if (matters) b.fail(`${e.file} refused: ${e.reason}`, e.at);
    this.changed(b);
  }

  /** The transfer is over: off the active list; the row of its client, if known. */
  private endTransfer(id: string, e: { ip?: string; file: string; at: number }, outcome: Pick<EndedTransfer, 'ok' | 'reason' | 'bytes'>): BootRow | undefined {
    const t = this.active.end(id);
    if (t) {
      this.emit('transfers');
      this.emit('transfer-ended', { id, ...outcome, size: t.size, at: e.at } satisfies EndedTransfer);
    }
    const b = this.rows.get(t?.mac ?? this.macFor(e.ip, e.file) ?? '');
    b?.seen(e.at);
    return b;
  }

  /** Whether the boot depends on this file: the DHCP boot file, or the image's own files. */
  private matters(mac: string, b: BootRow | undefined, file: string): boolean {
    const f = cleanPath(file);
    if (b?.bootFile && cleanPath(b.bootFile) === f) return true;
    return imageFiles(this.imageOf(mac)).some((p) => cleanPath(p) === f);
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
    const t = this.active.end(id);
    this.emit('transfers');
    if (t) this.emit('transfer-ended', { id, ok: e.ok !== false, reason: e.reason ?? null, bytes: e.ok === false ? t.bytes : e.size, size: e.size, at: e.at } satisfies EndedTransfer);
    for (const ip of receivers.length > 0 ? receivers : [e.master]) {
      const b = this.rows.get(this.macOf(ip) ?? '');
      if (!b) continue;
      b.ended(id, null);
      b.record(e, null);
      this.changed(b);
    }
  }

  private receiver(e: MtftpReceiver): void {
    const t = this.active.addReceiver(e, e.ip, e.receivers, this.macOf);
    this.emit('transfers');
    const mac = this.macOf(e.ip);
    if (!mac) return;
    const b = this.rowFor(mac, e.at, e.ip);
    b.record(e, null);
    b.follow(t.id, e.file, t.size, this.roleOf(b, e.file), e.at);
    b.progress(t.id, t.bytes, t.size, t.rate, e.at);
    this.changed(b);
  }

  private mtftpProgress(e: MtftpProgress): void {
    const t = this.active.roundProgress(e, this.macOf);
    this.emit('transfers');
    for (const ip of this.active.receivers(t.id)) {
      const b = this.rows.get(this.macOf(ip) ?? '');
      if (b?.progress(t.id, t.bytes, t.size, t.rate, e.at)) this.changed(b);
    }
  }

  private clientDone(e: MtftpClientDone): void {
    const b = this.rows.get(this.macOf(e.ip) ?? '');
    if (!b) return;
    b.ended(roundId(e), { bytes: b.row.total ?? b.row.bytes, rate: b.row.rate });
    b.seen(e.at);
    b.record(e, null);
    this.changed(b);
  }

  private create(mac: string, at: number): BootRow {
    const b: BootRow = new BootRow(mac, at, (level, text, when) => {
      const r = b.row;
      this.emit('activity', { at: when, level, mac: r.mac, ip: r.ip, text: `${r.hostname ?? r.mac}: ${text}` } satisfies ActivityItem);
    }, this.opts.historySize ?? 200);
    if (this.rows.size >= (this.opts.maxClients ?? 2000)) this.evict();
    this.rows.set(mac, b);
    this.hostFields(b);
    b.record({ at, kind: 'client.seen', text: 'new machine seen' }, 'info');
    return b;
  }

  /** The machine's row, made if new; `ip` is its address when a script name just told us so. */
  private rowFor(mac: string, at: number, ip?: string): BootRow {
    const b = this.rows.get(mac) ?? this.create(mac, at);
    if (ip && b.row.ip !== ip && this.macOf(ip) === mac) b.row.ip = ip;
    return b;
  }

  private roleOf(b: BootRow, file: string) {
    return classifyFile(file, b.bootFile, this.imageOf(b.row.mac));
  }

  private changed(b: BootRow): void {
    this.hostFields(b);
    this.emit('client', b.row.mac);
  }

  private remove(b: BootRow): void {
    const mac = b.row.mac;
    this.rows.delete(mac);
    // learnIp keeps one address per row in the index: its current one.
    if (b.row.ip !== null && this.macByIp.get(b.row.ip) === mac) this.macByIp.delete(b.row.ip);
    this.emit('removed', mac);
  }

  /** At the limit: the tenth of the rows seen longest ago go (one sort per many new rows, not a scan per row). */
  private evict(): void {
    const oldest = [...this.rows.values()].sort((a, b) => a.row.lastSeen - b.row.lastSeen);
    const n = Math.max(1, Math.floor(oldest.length / 10));
    this.log.warn({ listed: this.rows.size, removed: n }, 'progress: too many machines listed (progress maxClients); the longest silent are dropped');
    for (const b of oldest.slice(0, n)) this.remove(b);
  }

  private learnIp(b: BootRow, ip: string): void {
    const old = b.row.ip;
    if (old && old !== ip && this.macByIp.get(old) === b.row.mac) this.macByIp.delete(old);
    b.row.ip = ip;
    this.macByIp.set(ip, b.row.mac);
  }

  /** The MAC behind a TFTP client: from the script's name (learning the IP), else from DHCP. */
  private macFor(ip: string | undefined, file: string): string | null {
    const named = scriptMac(file);
    if (!named) return ip ? this.macOf(ip) : null;
    const b = this.rows.get(named);
    if (ip && b) this.learnIp(b, ip);
    else if (ip) this.macByIp.set(ip, named);
    return named;
  }

  private imageOf(mac: string): Image | undefined {
    const name = this.imageName(mac);
    return name ? this.opts.hosts.images.get(name) : undefined;
  }

  /** The image the host map gives this machine: its own, or the default image. */
  private imageName(mac: string): string | null {
    const host = this.opts.hosts.lookup(mac);
    if (host?.image) return host.image;
    const d = this.opts.hosts.defaults;
    return d.action === 'image' ? d.image : null;
  }

  /** hostname and image come from the host map; true when they changed. */
  private hostFields(b: BootRow): boolean {
    const r = b.row;
    const hostname = this.opts.hosts.lookup(r.mac)?.hostname ?? null;
    const image = this.imageName(r.mac);
    if (hostname === r.hostname && image === r.image) return false;
    Object.assign(r, { hostname, image });
    return true;
  }

  private refreshHosts(): void {
    for (const b of this.rows.values()) if (this.hostFields(b)) this.emit('client', b.row.mac);
  }

  private find(mac: string): BootRow | undefined {
    const key = normalizeMac(mac);
    return key ? this.rows.get(key) : undefined;
  }
}
