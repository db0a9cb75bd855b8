// The host map: the one state DHCP, TFTP and the admin API share, and its only writer.
// - Look-ups by MAC are a Map access: constant time per packet.
// - The file is watched: a hand edit takes effect within a second, without a restart. An
//   invalid edit keeps the last good map, logs the error and keeps it for the API to show.
// - Writes are serialised, start from the file as it is on disk now (so a hand edit saved
//   since the last read is kept, never overwritten), go through the yaml Document API (the
//   user's comments and key order stay), are validated, then land atomically (temporary
//   file, fsync, rename, fsync of the folder).
// - A hand edit being saved in place while the API writes is neither read half-written nor
//   lost under the rename: the three parts of that are in hostmap-file.ts, the argument in
//   docs/decisions/0010-hostmap-hand-edits.md. Where the file will not hold still, a write
//   fails with HostMapBusy (the API's 409) rather than guess.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Document } from 'yaml';
import { findHostKey, setHostIn, type HostFields } from './hostmap-doc.js';
import type { Logger } from './log.js';
import { HostMapBusy, readAll, readOnce, readSteady, ReplacedInodes, sameStamp, sha, statHandle, statPath, writeAtomic, type Known, type Replaced, type Snapshot, type Stamp, type Timing } from './hostmap-file.js';
import {
  HostMapError, isNormalMac, normalizeMac, parseHostMap,
  type Host, type HostMapData, type HostMapIssue, type Image, type ParseOptions,
} from './hostmap-parse.js';

export {
  HostMapBusy, HostMapError, isNormalMac, normalizeMac, writeAtomic,
  type Host, type HostFields, type HostMapData, type HostMapIssue, type Image,
};

/**
 * One write's edit of the file's Document. It may run more than once: again when the file
 * changed under the write, and on top of a hand edit recovered later.
 */
export type Change = (doc: Document) => void;

export interface HostMapOptions extends ParseOptions {
  /** How long a file changed by someone else must hold still before a write builds on it (150 ms). */
  settleMs?: number;
  /** How long an inode a write replaced is watched for an in-place save under way (2 s after it last moved). */
  graceMs?: number;
  /** How often those inodes are looked at (50 ms). */
  pollMs?: number;
  /** The pause between two looks at a changing file (tests inject one). */
  wait?: (ms: number) => Promise<void>;
}

type Parsed = { data: HostMapData; warnings: string[] };
/** A write named no MAC address (its text: `<mac>: not a MAC address`). */
const notMac = (mac: string) => new HostMapError(null, [{ path: [mac], line: null, message: 'not a MAC address' }]);

/** Writes that found the file changed under them this many times in a row give up (409). */
const WRITE_TRIES = 5;

/** What the host map emits, each with its arguments. */
export interface HostMapEvents {
  /** The map in use changed (a hand edit, a write). */
  change: [];
  /** An edit was refused; the last good map stays (its error lines). */
  'error-kept': [lines: string[]];
  /** A hand edit saved into a replaced file was written back, the writes since on top. */
  recovered: [result: { reapplied: number; skipped: string[] }];
}

export class HostMap extends EventEmitter<HostMapEvents> {
  private watcher: FSWatcher | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private tasks = 0;
  private closed = false;
  /** The stamp of the host map's own last write: a recovered save is written back only over it. */
  private written: Stamp | null = null;
  private readonly timing: Timing;
  private readonly replaced: ReplacedInodes<Change>;
  /** The error of the last edit that was refused (the map kept its last good state), or null. */
  lastError: string[] | null = null;
  /** What the file allows but is likely a mistake (two hosts with one hostname), one line each. */
  warnings: string[] = [];

  private constructor(
    readonly file: string, private readonly log: Logger, private data: HostMapData,
    private known: Known | null, private readonly opts: HostMapOptions,
  ) {
    super();
    const settleMs = opts.settleMs ?? 150;
    this.timing = { settleMs, tries: 10, wait: opts.wait ?? ((ms) => sleep(ms)) };
    this.replaced = new ReplacedInodes<Change>({
      graceMs: opts.graceMs ?? 2000, settleMs, pollMs: opts.pollMs ?? 50,
      onSave: (r) => void this.recover(r),
      onError: (e) => this.log.error({ err: e, file }, 'host map: watching the replaced file failed'),
    });
  }

  private get parseOptions(): ParseOptions { return { uniqueHostnames: this.opts.uniqueHostnames }; }

  /** Loads the file; an invalid file at start is an error (like the config). A missing one is an empty map. */
  static async open(file: string, log: Logger, opts: HostMapOptions = {}): Promise<HostMap> {
    let read: Awaited<ReturnType<typeof readOnce>>;
    try {
      read = await readOnce(file);
    } catch (e) {
      const message = `cannot read the host map: ${(e as NodeJS.ErrnoException).code}`;
      throw new HostMapError(file, [{ path: [], line: null, message }]);
    }
    await read?.snap.handle.close();
    const { data, warnings } = parseHostMap(read?.snap.text ?? '', file, { uniqueHostnames: opts.uniqueHostnames });
    // A read taken in the middle of a save is not a known version: the next write looks again.
    const map = new HostMap(
      file,
      log,
      data,
      read?.steady ? { stamp: read.snap.stamp, hash: read.snap.hash } : null,
      opts,
    );
    map.setWarnings(warnings);
    return map;
  }

  lookup(mac: string): Host | undefined {
    const key = isNormalMac(mac) ? mac : normalizeMac(mac);
    return key ? this.data.hosts.get(key) : undefined;
  }

  get hosts(): ReadonlyMap<string, Host> { return this.data.hosts; }
  get images(): ReadonlyMap<string, Image> { return this.data.images; }
  get defaults(): HostMapData['defaults'] { return this.data.defaults; }

  /** Starts watching the file's folder (editors replace the file, so its inode changes). */
  watch(): void {
    if (this.watcher) return;
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      this.scheduleReload();
    });
    this.watcher.on('error', (e) => this.log.warn({ err: e, file: this.file }, 'host map watch error'));
    // A save between open() and now raised no event: look once.
    this.scheduleReload();
  }

  private scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    // Editors write in several steps; settle for 100 ms, well inside the promised second.
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      this.reload().catch((e) => this.log.error({ err: e, file: this.file }, 'host map reload failed'));
    }, 100);
  }

  /** Re-reads the file once it holds still: true when the map changed. An invalid file keeps the last good map. */
  reload(): Promise<boolean> {
    return this.serial(async () => {
      let snap: Snapshot | null;
      try {
        snap = await readSteady(this.file, this.known, this.timing, true);
      } catch (e) {
        // Still being written: the next event reloads.
        if (e instanceof HostMapBusy) { this.log.info({ file: this.file, reason: e.reason }, 'host map not reloaded: the file is not settled'); return false; }
        throw e;
      }
      if (snap === null) return false; // gone in the middle of a replace: the next event reloads
      await snap.handle.close();
      const same = this.known !== null && snap.hash === this.known.hash;
      this.known = { stamp: snap.stamp, hash: snap.hash };
      return same ? false : this.take(snap.text);
    });
  }

  /** A hand edit's text becomes the map; an invalid one keeps the last good map and its error is kept. */
  private take(text: string): boolean {
    let parsed: Parsed;
    try {
      parsed = parseHostMap(text, this.file, this.parseOptions);
    } catch (e) {
      if (!(e instanceof HostMapError)) throw e;
      this.refused(e);
      return false;
    }
    this.accept(parsed);
    this.log.info({ file: this.file, hosts: this.data.hosts.size, images: this.data.images.size }, 'host map reloaded');
    return true;
  }

  private refused(e: HostMapError): void {
    this.lastError = e.lines;
    this.log.error({ file: this.file, errors: e.lines }, 'host map edit refused; the last good map stays in use');
    this.emit('error-kept', e.lines);
  }

  private accept(parsed: Parsed): void {
    this.data = parsed.data;
    this.lastError = null;
    this.setWarnings(parsed.warnings);
    this.emit('change');
  }

  private setWarnings(lines: string[]): void {
    if (lines.join('\n') !== this.warnings.join('\n') && lines.length > 0) this.log.warn({ file: this.file, warnings: lines }, 'host map: hosts share a hostname');
    this.warnings = lines;
  }

  /** Sets fields of one host (adding it if new), keeping comments and key order. */
  setHost(mac: string, fields: HostFields): Promise<Host> {
    const key = normalizeMac(mac);
    if (!key) return Promise.reject(notMac(mac));
    return this.edit((doc) => { setHostIn(doc, key, fields); }).then(() => this.data.hosts.get(key)!);
  }

  /** Removes one host. Resolves false when it was not in the map. */
  removeHost(mac: string): Promise<boolean> {
    const key = normalizeMac(mac);
    if (!key) return Promise.reject(notMac(mac));
    let removed = false;
    return this.edit((doc) => {
      const existing = findHostKey(doc, key);
      removed = existing !== null && doc.deleteIn(['hosts', existing]);
    }).then(() => removed);
  }

  /**
   * One write: read the file as it is now (once it holds still), apply `change` to its
   * Document, validate, and replace the file atomically if it is still what was read;
   * else read it again and redo the change. Rejects with HostMapError (file unchanged)
   * when the result is invalid, HostMapBusy when the file would not hold still.
   */
  edit(change: Change): Promise<void> {
    return this.serial(async () => {
      for (let i = 0; i < WRITE_TRIES; i++) {
        const base = await readSteady(this.file, this.known, this.timing);
        let landed = false;
        try {
          const { doc } = parseHostMap(base?.text ?? '', this.file, this.parseOptions);
          change(doc);
          const out = doc.toString();
          landed = await this.land(base, out, parseHostMap(out, this.file, this.parseOptions), change);
          if (landed) return;
        } finally {
          if (!landed) await base?.handle.close();
        }
      }
      throw new HostMapBusy(this.file, 'changing');
    });
  }

  /**
   * Writes `out` over the file if the path still names `base` (no file: still none).
   * `base`'s inode is then watched for a save under way (its handle is taken over).
   */
  private async land(
    base: Snapshot | null, out: string, parsed: Parsed | HostMapError, change: Change | null,
  ): Promise<boolean> {
    const stamp = await writeAtomic(this.file, out, async () => {
      const now = await statPath(this.file);
      return base === null ? now === null : sameStamp(now, base.stamp);
    });
    if (stamp === null) return false;
    this.known = { stamp, hash: sha(out) };
    this.written = stamp;
    this.replaced.wrote(base, change);
    if (parsed instanceof HostMapError) this.refused(parsed);
    else this.accept(parsed);
    return true;
  }

  /**
   * A save found in an inode a write replaced: written back with the changes made since
   * applied on top, as if they had come just after it. Only over the host map's own last
   * write: if the file was saved again since, that later save is the newer hand edit.
   */
  private recover(r: Replaced<Change>): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      try {
        const stamp = await statHandle(r.handle);
        const text = (await readAll(r.handle)).toString('utf8');
        const after = await statHandle(r.handle);
        if (!sameStamp(stamp, after)) { this.replaced.moving(r, after); return; }
        const live = await readOnce(this.file);
        if (live === null || !live.steady || !sameStamp(live.snap.stamp, this.written)) {
          await live?.snap.handle.close();
          this.log.warn({ file: this.file }, 'a save into a replaced copy of the host map was overtaken by a later save of the file; the later one stays');
          this.replaced.recovered(r, stamp, sha(text));
          return;
        }
        const { out, parsed, skipped } = this.replay(text, r.changes);
        if (!(await this.land(live.snap, out, parsed, null))) {
          await live.snap.handle.close();
          this.replaced.moving(r, stamp);
          return;
        }
        this.log.warn({ file: this.file, reapplied: r.changes.length - skipped.length, skipped },
          'a hand edit saved in place while the host map was written was recovered; the writes made since are applied on top');
        this.replaced.recovered(r, stamp, sha(text));
        this.emit('recovered', { reapplied: r.changes.length - skipped.length, skipped });
      } catch (e) {
        this.log.error({ err: e, file: this.file }, 'recovering a hand edit saved while the host map was written failed');
        if (!this.replaced.failed(r)) this.log.error({ file: this.file }, 'gave up recovering a hand edit saved while the host map was written');
      }
    });
  }

  /** `text` with each change applied in order; one that fails or makes the map invalid is skipped (and said). */
  private replay(text: string, changes: Change[]): { out: string; parsed: Parsed | HostMapError; skipped: string[] } {
    let parsed: Parsed | HostMapError;
    try {
      parsed = parseHostMap(text, this.file, this.parseOptions);
    } catch (e) {
      if (!(e instanceof HostMapError)) throw e;
      // The save itself is invalid: it is the teacher's text, written back as it is.
      return { out: text, parsed: e, skipped: changes.map(() => 'the saved file is invalid') };
    }
    let out = text;
    const skipped: string[] = [];
    for (const change of changes) {
      try {
        const { doc } = parseHostMap(out, this.file, this.parseOptions);
        change(doc);
        const next = doc.toString();
        parsed = parseHostMap(next, this.file, this.parseOptions);
        out = next;
      } catch (e) {
        skipped.push((e as Error).message);
      }
    }
    return { out, parsed, skipped };
  }

  /** Resolves when no write, reload or recovery is pending and no replaced inode holds a save still to recover. */
  async idle(): Promise<void> {
    for (;;) {
      await this.queue;
      const pending = await this.replaced.check(true);
      if (!pending && this.tasks === 0 && this.reloadTimer === null) return;
      await sleep(this.opts.pollMs ?? 50);
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    this.tasks++;
    const run = this.queue.then(task, task).finally(() => { this.tasks--; });
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
    this.replaced.close();
  }
}
