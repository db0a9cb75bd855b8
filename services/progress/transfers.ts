// The transfers running now, for GET /api/transfers and the dashboard: unicast TFTP
// transfers (tftp.start until done or failed) and multicast rounds (mtftp.round start
// until end), from the event bus through the progress model (tracker.ts); and the last
// FINISHED_KEPT that ended, with how, so a transfer of a second is still seen afterwards
// (issue 15, D1: a device bootlab knows no MAC of must not vanish once its transfer ended).
import type { HttpProgress, HttpStart, MtftpProgress, MulticastProtocol, TftpProgress, TftpStart } from '../core/events.js';
import type { FinishedTransfer, TransferRow } from './schemas.js';

export type { FinishedTransfer, TransferRow };

/** A transfer that left the list, and how it ended: the dashboard shows done or failed. */
export interface EndedTransfer {
  id: string; ok: boolean; reason: string | null; bytes: number; size: number | null; at: number;
}

/** How a transfer ended, as the progress model learnt it. `rate`: the whole transfer's, when done. */
export interface Outcome { ok: boolean; reason: string | null; bytes: number; rate?: number; at: number }

/** What a multicast event names: its round. */
export interface RoundKey { protocol: MulticastProtocol; group: string; file: string; round: number; at: number }

interface Active {
  row: TransferRow;
  /** The last event about it: one never ended (its service restarted under it) is dropped. */
  seen: number;
  /** Multicast rounds: who receives it (IPs), for their machines' progress. */
  receivers: Set<string>;
}

/** A transfer with no event for this long lost its end event. */
const SILENCE_MS = 120_000;
/** Finished transfers listed: a classroom's boot files several times over, a few hundred KB at most. */
export const FINISHED_KEPT = 200;

/** Percent done, one decimal; null when the size is unknown. */
export const percentOf = (bytes: number, total: number | null): number | null =>
  (total === null ? null : total === 0 ? 100 : Math.min(100, Math.floor((bytes / total) * 1000) / 10));

export const tftpId = (id: number) => `tftp-${id}`;
export const httpId = (id: number) => `http-${id}`;

/** A unicast download's start, whichever protocol: TFTP or HTTP. */
export type UnicastStart = (TftpStart & { protocol?: 'tftp' }) | (HttpStart & { protocol: 'http' });
export const roundId = (e: { protocol: MulticastProtocol; group: string; round: number }) => `${e.protocol === 'pxe' ? 'pxe-mtftp' : 'rfc2090'}-${e.group}-${e.round}`;

export class ActiveTransfers {
  private readonly map = new Map<string, Active>();
  /** Oldest first, at most FINISHED_KEPT. */
  private readonly ended: FinishedTransfer[] = [];

  list(): TransferRow[] { return [...this.map.values()].map((a) => ({ ...a.row })); }

  /** The transfers that ended lately, newest first. */
  finished(): FinishedTransfer[] { return this.ended.map((f) => ({ ...f })).reverse(); }

  get(id: string): TransferRow | undefined { return this.map.get(id)?.row; }

  receivers(id: string): ReadonlySet<string> { return this.map.get(id)?.receivers ?? new Set(); }

  downloadStart(e: UnicastStart, mac: string | null): string {
    const http = e.kind === 'http.start';
    const id = http ? httpId(e.id) : tftpId(e.id);
    // A restarted TFTP service counts its ids from 1 again: the new transfer replaces the old.
    this.map.set(id, {
      seen: e.at, receivers: new Set(),
      row: { id, protocol: http ? 'http' : 'tftp', direction: http ? 'read' : e.direction, file: e.file, ip: e.ip ?? null, mac, bytes: 0, size: e.size, percent: percentOf(0, e.size), rate: 0, receivers: null, startedAt: e.at },
    });
    return id;
  }

  downloadProgress(e: TftpProgress | HttpProgress): TransferRow | undefined {
    const a = this.map.get(e.kind === 'http.progress' ? httpId(e.id) : tftpId(e.id));
    if (!a) return undefined;
    Object.assign(a.row, { bytes: e.bytes, size: e.size, percent: percentOf(e.bytes, e.size), rate: e.rate });
    a.seen = e.at;
    return a.row;
  }

  /** Off the list, into the finished ones with its outcome; the row it had, if it was on it. */
  end(id: string, o: Outcome): TransferRow | undefined {
    const a = this.map.get(id);
    if (!a) return undefined;
    this.map.delete(id);
    const { row } = a;
    const size = row.size ?? (o.ok ? o.bytes : null);
    const percent = o.ok ? 100 : percentOf(o.bytes, size);
    const rate = o.ok && o.rate !== undefined ? o.rate : row.rate;
    this.ended.push({ ...row, bytes: o.bytes, size, percent, rate, ok: o.ok, reason: o.reason, endedAt: o.at });
    if (this.ended.length > FINISHED_KEPT) this.ended.shift();
    return row;
  }

  /** Transfers from `ip` that had no MAC are `mac`'s (its address row was merged); true when any was. */
  claim(ip: string, mac: string): boolean {
    let any = false;
    for (const { row } of this.map.values()) {
      if (row.ip !== ip || row.mac !== null) continue;
      row.mac = mac;
      any = true;
    }
    return any;
  }

  /** The round's row, made on its first event (a receiver can be reported before the start). */
  round(e: RoundKey, master: string | null, macOf: (ip: string) => string | null): TransferRow {
    const id = roundId(e);
    let a = this.map.get(id);
    if (!a) {
      a = {
        seen: e.at, receivers: new Set(),
        row: { id, protocol: e.protocol === 'pxe' ? 'pxe-mtftp' : 'rfc2090', direction: 'read', file: e.file, ip: master, mac: master ? macOf(master) : null, bytes: 0, size: null, percent: null, rate: 0, receivers: 0, startedAt: e.at },
      };
      this.map.set(id, a);
    } else if (master && a.row.ip === null) {
      Object.assign(a.row, { ip: master, mac: macOf(master) });
    }
    a.seen = e.at;
    return a.row;
  }

  addReceiver(e: RoundKey, ip: string, count: number, macOf: (ip: string) => string | null): TransferRow {
    const row = this.round(e, null, macOf);
    this.map.get(row.id)!.receivers.add(ip);
    row.receivers = count;
    return row;
  }

  /** The master's ACKs say how much of the file the group has delivered. */
  roundProgress(e: MtftpProgress, macOf: (ip: string) => string | null): TransferRow {
    const row = this.round(e, null, macOf);
    const total = row.size;
    const bytes
      = total === null || e.blocks === 0 ? e.dataBytes : Math.min(total, Math.round((total * e.acked) / e.blocks));
    Object.assign(row, { bytes, percent: percentOf(bytes, total), rate: e.rate, receivers: e.receivers });
    return row;
  }

  /** Ends transfers silent for too long (failed: their end was never heard); true when any was. */
  sweep(now: number): boolean {
    let dropped = false;
    for (const [id, a] of this.map) {
      if (now - a.seen < SILENCE_MS) continue;
      this.end(id, { ok: false, reason: 'its end was never heard (its service stopped or restarted)', bytes: a.row.bytes, at: now });
      dropped = true;
    }
    return dropped;
  }
}
