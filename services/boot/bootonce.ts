// Boot-once: a host flagged bootOnce boots its image one time, then its image and flag are
// removed from the host map and it follows the defaults again (the menu, the local disk).
// The boot ends on the machine's "booted" report (its script's last step, its OS, or the
// admin API), or with boot.bootOnceEnds: kernel as soon as its kernel was sent in full
// (for images that cannot report: pxelinux, GRUB, an installer).
import type { BootConfig } from '../core/config.js';
import type { EventBus } from '../core/events.js';
import type { HostMap } from '../core/hostmap.js';
import type { Logger } from '../core/log.js';
import type { ActivityItem, FileDone } from '../progress/tracker.js';

export interface BootOnceOptions {
  events: EventBus;
  hosts: HostMap;
  /** The running config (read at each event: a reload applies at once). */
  config: () => { boot: BootConfig };
  /** The progress model: 'file-done' for the kernel trigger, and notes in the machine's history. */
  tracker: {
    on(e: 'file-done', fn: (d: FileDone) => void): unknown;
    off(e: 'file-done', fn: (d: FileDone) => void): unknown;
    note(mac: string, kind: string, text: string, level?: ActivityItem['level']): void;
  };
  log: Logger;
}

export class BootOnce {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly offBooted: () => void;
  private readonly onFile = (d: FileDone) => {
    if (d.role === 'kernel' && this.opts.config().boot.bootOnceEnds === 'kernel') void this.end(d.mac, `its kernel ${d.file} was sent`);
  };

  constructor(private readonly opts: BootOnceOptions) {
    this.offBooted = opts.events.on('client.booted', (e) => {
      // Leaving for the local disk (the menu's entry) is not the boot-once image having booted.
      if (e.target !== 'local' && this.opts.config().boot.bootOnceEnds === 'booted') void this.end(e.mac, 'it reported booted');
    });
    opts.tracker.on('file-done', this.onFile);
  }

  /** Ends the boot-once of `mac` if it has one; resolves when the host map is written. */
  end(mac: string, why: string): Promise<void> {
    const running = this.pending.get(mac);
    if (running) return running;
    const host = this.opts.hosts.lookup(mac);
    if (!host?.bootOnce) return Promise.resolve();
    const run = (async () => {
      try {
        await this.opts.hosts.setHost(mac, { image: null, bootOnce: null });
        this.opts.tracker.note(mac, 'host.boot-once-ended', `boot-once of image ${host.image ?? '(none)'} done (${why}): the machine follows the defaults again`);
        this.opts.log.info({ mac, image: host.image, why }, 'boot-once ended');
      } catch (e) {
        this.opts.log.warn({ mac, err: (e as Error).message }, 'boot-once could not be cleared');
        this.opts.tracker.note(mac, 'host.boot-once-kept', `boot-once of image ${host.image ?? '(none)'} could not be cleared: ${(e as Error).message}`, 'warn');
      }
    })().finally(() => this.pending.delete(mac));
    this.pending.set(mac, run);
    return run;
  }

  /** The end in progress for `mac`, if any (the admin API's booted call waits for it). */
  settled(mac: string): Promise<void> {
    return this.pending.get(mac) ?? Promise.resolve();
  }

  close(): void {
    this.offBooted();
    this.opts.tracker.off('file-done', this.onFile);
  }
}
