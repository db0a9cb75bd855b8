// The transfers running now, for GET /api/transfers and the dashboard: unicast TFTP
// transfers (tftp.start until done or failed) and multicast rounds (mtftp.round start
// until end), from the event bus through the progress model (progress.ts).
import type { HttpProgress, HttpStart, MtftpProgress, MulticastProtocol, TftpProgress, TftpStart } from './events.js';

export interface TransferRow {
  id: string; protocol: 'tftp' | 'http' | 'pxe-mtftp' | 'rfc2090'; direction: 'read' | 'write'; file: string;
  ip: string | null; mac: string | null; bytes: number; size: number | null; percent: number | null;
  rate: number; receivers: number | null; startedAt: number;
}

/** A transfer that left the list, and how it ended: the dashboard shows done or failed. */
export interface EndedTransfer { id: string; ok: boolean; reason: string | null; bytes: number; size: number | null; at: number }

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

  list(): TransferRow[] { return [...this.map.values()].map((a) => ({ ...a.row })); }

  get(id: string): TransferRow | undefined { return this.map.get(id)?.row; }

  receivers(id: string): ReadonlySet<string> { return this.map.get(id)?.receivers ?? new Set(); }

  tftpStart(e: UnicastStart, mac: string | null): string {
    const http = e.kind === 'http.start';
    const id = http ? httpId(e.id) : tftpId(e.id);
    // A restarted TFTP service counts its ids from 1 again: the new transfer replaces the old.
    this.map.set(id, {
      seen: e.at, receivers: new Set(),
      row: { id, protocol: http ? 'http' : 'tftp', direction: http ? 'read' : e.direction, file: e.file, ip: e.ip ?? null, mac, bytes: 0, size: e.size, percent: percentOf(0, e.size), rate: 0, receivers: null, startedAt: e.at },
    });
    return id;
  }

  tftpProgress(e: TftpProgress | HttpProgress): TransferRow | undefined {
    const a = this.map.get(e.kind === 'http.progress' ? httpId(e.id) : tftpId(e.id));
    if (!a) return undefined;
    Object.assign(a.row, { bytes: e.bytes, size: e.size, percent: percentOf(e.bytes, e.size), rate: e.rate });
    a.seen = e.at;
    return a.row;
  }

  /** Off the list; the row it had, if it was on it. */
  end(id: string): TransferRow | undefined {
    const a = this.map.get(id);
    this.map.delete(id);
    return a?.row;
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
    const bytes = total === null || e.blocks === 0 ? e.dataBytes : Math.min(total, Math.round((total * e.acked) / e.blocks));
    Object.assign(row, { bytes, percent: percentOf(bytes, total), rate: e.rate, receivers: e.receivers });
    return row;
  }

  /** Drops transfers silent for too long; true when any was dropped. */
  sweep(now: number): boolean {
    let dropped = false;
    for (const [id, a] of this.map) {
      if (now - a.seen >= SILENCE_MS) dropped = this.map.delete(id) || dropped;
    }
    return dropped;
  }
}
