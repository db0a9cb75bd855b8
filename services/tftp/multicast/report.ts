// What a multicast round tells the world, for both protocols: log lines and events on
// the bus (receivers seen, blocks sent, rounds, each client's completion), so the
// dashboard shows a group the way it shows a unicast transfer.
import type { EventBus, MulticastProtocol } from '../../core/events.js';
import type { Logger } from '../../core/log.js';

export interface RoundTotals {
  blocksSent: number;
  dataBytes: number;
  retransmits: number;
}

export class RoundReport {
  private readonly startedAt = performance.now();
  private readonly seen = new Set<string>();
  readonly log: Logger;

  constructor(
    private readonly events: EventBus,
    parent: Logger,
    readonly protocol: MulticastProtocol,
    readonly group: string,
    readonly file: string,
    readonly round: number,
    private readonly blocks: number,
    private readonly size: number,
  ) {
    this.log = parent.child({ protocol, group, file, round });
  }

  private get base() {
    return { protocol: this.protocol, group: this.group, file: this.file, round: this.round };
  }

  get receivers(): number { return this.seen.size; }

  start(master: string): void {
    this.log.info({ master, blocks: this.blocks, size: this.size }, 'mtftp round start');
    this.events.emit({ kind: 'mtftp.round', ...this.base, phase: 'start', master, blocks: this.blocks, size: this.size });
  }

  receiver(ip: string, port: number, master: boolean, note?: string): void {
    this.seen.add(ip);
    this.log.debug({ client: ip, port, master, note }, 'mtftp receiver');
    this.events.emit({ kind: 'mtftp.receiver', ...this.base, ip, port, master, receivers: this.seen.size });
  }

  progress(acked: number, t: RoundTotals): void {
    if (!this.events.wants('mtftp.progress')) return;
    const secs = (performance.now() - this.startedAt) / 1000;
    this.events.emit({
      kind: 'mtftp.progress', ...this.base, blocks: this.blocks, acked, blocksSent: t.blocksSent, dataBytes: t.dataBytes,
      receivers: this.seen.size, rate: secs > 0 ? t.dataBytes / secs : 0,
    });
  }

  clientDone(ip: string, via: 'master-ack' | 'final-ack'): void {
    this.log.info({ client: ip, via }, 'mtftp client done');
    this.events.emit({ kind: 'mtftp.client-done', ...this.base, ip, via });
  }

  end(master: string, ok: boolean, reason: string, t: RoundTotals): void {
    const seconds = +((performance.now() - this.startedAt) / 1000).toFixed(3);
    this.log[ok ? 'info' : 'warn']({ ok, reason, master, blocks: this.blocks, ...t, seconds, receivers: this.seen.size }, 'mtftp round done');
    this.events.emit({
      kind: 'mtftp.round', ...this.base, phase: 'end', master, blocks: this.blocks, size: this.size, ok, reason,
      blocksSent: t.blocksSent, dataBytes: t.dataBytes, retransmits: t.retransmits, seconds, receivers: this.seen.size,
    });
  }
}
