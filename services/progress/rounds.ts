// Multicast rounds in the progress model (PXE MTFTP and RFC 2090): one transfer row per
// round, made on its first event; the rows of its receivers follow its progress.
import type { MtftpClientDone, MtftpProgress, MtftpReceiver, MtftpRound } from '../core/events.js';
import type { Model } from './model.js';
import { percentOf, roundId, type EndedTransfer } from './transfers.js';

export class Rounds {
  private readonly macOf = (ip: string) => this.m.rows.macOf(ip);

  constructor(private readonly m: Model) {}

  round(e: MtftpRound): void {
    const { rows, active } = this.m;
    const id = roundId(e);
    if (e.phase === 'start') {
      const t = active.round(e, e.master, this.macOf);
      Object.assign(t, { size: e.size, percent: percentOf(t.bytes, e.size) });
      this.m.emit('transfers');
      return;
    }
    const receivers = [...active.receivers(id)];
    const ok = e.ok !== false;
    const bytes = ok ? e.size : active.get(id)?.bytes ?? 0;
    const t = active.end(id, { ok, reason: ok ? null : e.reason || null, bytes, at: e.at });
    this.m.emit('transfers');
    const ended: EndedTransfer = { id, ok, reason: e.reason ?? null, bytes, size: e.size, at: e.at };
    if (t) this.m.emit('transfer-ended', ended);
    for (const ip of receivers.length > 0 ? receivers : [e.master]) {
      const b = rows.ofIp(ip);
      if (!b) continue;
      b.ended(id, null);
      b.record(e, null);
      this.m.changed(b);
    }
  }

  receiver(e: MtftpReceiver): void {
    const t = this.m.active.addReceiver(e, e.ip, e.receivers, this.macOf);
    this.m.emit('transfers');
    const b = this.m.rows.address(e.ip, e.at);
    b.record(e, null);
    b.follow(t.id, e.file, t.size, this.m.roleOf(b, e.file), e.at);
    b.progress(t.id, t.bytes, t.size, t.rate, e.at);
    this.m.changed(b);
  }

  progress(e: MtftpProgress): void {
    const t = this.m.active.roundProgress(e, this.macOf);
    this.m.emit('transfers');
    for (const ip of this.m.active.receivers(t.id)) {
      const b = this.m.rows.ofIp(ip);
      if (b?.progress(t.id, t.bytes, t.size, t.rate, e.at)) this.m.changed(b);
    }
  }

  clientDone(e: MtftpClientDone): void {
    const b = this.m.rows.ofIp(e.ip);
    if (!b) return;
    b.ended(roundId(e), { bytes: b.row.total ?? b.row.bytes, rate: b.row.rate });
    b.seen(e.at);
    b.record(e, null);
    this.m.changed(b);
  }
}
