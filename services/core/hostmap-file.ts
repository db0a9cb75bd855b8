// The file under the host map, and why an API write loses no hand edit (issue 15 B; the
// whole argument is in docs/decisions/0010-hostmap-hand-edits.md).
//
// Editors save in one of two ways. Most (vim's default, GUI editors) write a new file and
// rename it over the old one: the path names a new inode at once. nano, and vim with
// backupcopy=yes, save in place: open(O_TRUNC) on the same inode, write the buffer, close.
// Between the truncate and the last write the file is short, and often still valid YAML
// (cut between two hosts); the editor's fd stays on that inode until it closes it. The
// host map writes by temporary file + rename, so two things could go wrong:
//  (a) a write reads the file in the middle of an in-place save and builds on half of it;
//  (b) a write's rename lands while the editor is still writing: the rest of the save
//      goes into the inode the rename just unlinked, and the hand edit is gone unseen.
// The defence, in three parts:
//  1. readSteady: a read is used only when fstat before and after it agree (inode, size,
//     mtime), the bytes read are the file's size, and the path still names that inode. A
//     file that is not the version we last read or wrote (stamp and content hash) must
//     also hold still for a settle period. One that keeps changing, or that vanished after
//     we had one, fails with HostMapBusy (the API answers 409; the client tries again).
//  2. writeAtomic's check: just before the rename, the path must still be the version the
//     write was built on; if not, the write is dropped and done again on the new file.
//  3. ReplacedInodes: the inode a write read (the one its rename replaces) stays open and
//     is polled for a grace period after the rename. An editor that opened it before the
//     rename writes into it: its size or mtime moves (a rewrite to the same size within
//     one mtime tick is caught by a content hash at the end of the grace period). Once it
//     holds still, the host map reads the save through the fd it kept (an unlinked inode's
//     data lives while an fd is open) and writes it back with the API changes made since
//     applied on top, as if the API write had come just after the save. Both survive.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** One version of the file: inode, size and modification time (ns). ctime is left out: a rename changes it. */
export interface Stamp { ino: bigint; size: bigint; mtimeNs: bigint }
const stampOf = (s: BigIntStats): Stamp => ({ ino: s.ino, size: s.size, mtimeNs: s.mtimeNs });
export const sameStamp = (a: Stamp | null, b: Stamp | null): boolean =>
  a !== null && b !== null && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;

/** The version of the file the host map last read or wrote. */
export interface Known { stamp: Stamp; hash: string }

/** A steady read: the text, its stamp and hash, and an fd kept open on that inode. */
export interface Snapshot extends Known { handle: FileHandle; text: string }

/** The file was still changing after every try, or it is missing though there was one: nothing was written. */
export class HostMapBusy extends Error {
  constructor(readonly file: string, readonly reason: 'changing' | 'missing') {
    super(reason === 'changing'
      ? `${file} is being written (a hand edit being saved?): nothing was changed; try again in a moment`
      : `${file} is missing (an editor replacing it, or deleted?): nothing was changed; put the file back (an empty one starts an empty map)`);
    this.name = 'HostMapBusy';
  }
}

export interface Timing {
  /** How long a changed file must hold still before it is trusted. */
  settleMs: number;
  /** Reads before giving up with HostMapBusy. */
  tries: number;
  /** The pause between checks (tests inject one that changes the file). */
  wait: (ms: number) => Promise<void>;
}

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

export async function statPath(file: string): Promise<Stamp | null> {
  try { return stampOf(await fsp.stat(file, { bigint: true })); } catch (e) { if (isMissing(e)) return null; throw e; }
}

export const statHandle = async (handle: FileHandle): Promise<Stamp> => stampOf(await handle.stat({ bigint: true }));

/** Every byte from offset 0 (positioned reads: the handle's own position is not used). */
export async function readAll(handle: FileHandle): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let pos = 0; ;) {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return Buffer.concat(chunks);
    chunks.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/** One read through one fd; `steady` is false when the file moved under it. Null when there is no file. */
export async function readOnce(file: string): Promise<{ snap: Snapshot; steady: boolean } | null> {
  let handle: FileHandle;
  try { handle = await fsp.open(file, 'r'); } catch (e) { if (isMissing(e)) return null; throw e; }
  try {
    const before = await statHandle(handle);
    const bytes = await readAll(handle);
    const after = await statHandle(handle);
    const steady
      = sameStamp(before, after) && sameStamp(await statPath(file), after) && BigInt(bytes.length) === after.size;
    const text = bytes.toString('utf8');
    return { snap: { handle, text, stamp: after, hash: sha(text) }, steady };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/**
 * The file once it can be trusted (part 1 above), with its fd still open; null when there
 * is no file and there was none before (the first write creates it), or, with
 * `missingIsNull`, when there is no file at all (a reload: the next event comes back).
 */
export async function readSteady(
  file: string,
  known: Known | null,
  t: Timing,
  missingIsNull = false,
): Promise<Snapshot | null> {
  let missing = false;
  let waited = true;
  for (let i = 0; i < t.tries; i++) {
    if (!waited) await t.wait(t.settleMs);
    waited = false;
    const read = await readOnce(file);
    if (read === null) {
      if (known === null || missingIsNull) return null;
      missing = true;
      continue;
    }
    missing = false;
    const { snap, steady } = read;
    // The version we last read or wrote: nobody has touched it since.
    if (steady && known && sameStamp(snap.stamp, known.stamp) && snap.hash === known.hash) return snap;
    if (steady) {
      // Changed by someone else: an editor may be between two writes. Trusted once it holds still.
      await t.wait(t.settleMs);
      waited = true;
      if (sameStamp(await statHandle(snap.handle), snap.stamp) && sameStamp(await statPath(file), snap.stamp))
        return snap;
    }
    await snap.handle.close();
  }
  throw new HostMapBusy(file, missing ? 'missing' : 'changing');
}

/**
 * Temporary file beside the target, fsync, `check` (false: the temporary file is dropped
 * and null returned), rename, fsync of the folder. Returns the new file's stamp.
 */
export async function writeAtomic(
  file: string, text: string, check: () => Promise<boolean> = async () => true,
): Promise<Stamp | null> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fsp.open(temp, 'wx', 0o644);
  let stamp: Stamp;
  try {
    await handle.writeFile(text);
    await handle.sync();
    // A rename keeps inode, size and mtime: this is the stamp the file will have.
    stamp = await statHandle(handle);
  } catch (e) {
    await handle.close();
    await fsp.unlink(temp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  try {
    if (!(await check())) {
      await fsp.unlink(temp);
      return null;
    }
    await fsp.rename(temp, file);
  } catch (e) {
    await fsp.unlink(temp).catch(() => undefined);
    throw e;
  }
  const dir = await fsp.open(dirname(file), 'r');
  try { await dir.sync(); } finally { await dir.close(); }
  return stamp;
}

/** An inode a write replaced, kept open and watched for an in-place save that was under way (part 3). */
export interface Replaced<C> {
  handle: FileHandle;
  /** What it held when last read (the write's base, or the save recovered from it). */
  stamp: Stamp;
  hash: string;
  /** The writes made since it was replaced, in order: applied again on top of a save found in it. */
  changes: C[];
  /** Watched until then (ms since the epoch); every movement extends it. */
  until: number;
  /** When its size or mtime last moved, and to what. */
  moved: { stamp: Stamp; at: number } | null;
  recovering: boolean;
  /** Recoveries that failed (a write error): given up after a few, with an error logged. */
  failures: number;
}

export interface ReplacedOptions<C> {
  graceMs: number;
  settleMs: number;
  pollMs: number;
  /** A save in a replaced inode has held still for settleMs: recover it, then clear `recovering`. */
  onSave: (r: Replaced<C>) => void;
  onError: (e: unknown) => void;
}

/** Size or mtime moved (the inode is the same; ctime moves with our own rename and is left out). */
const moved = (a: Stamp, b: Stamp) => a.size !== b.size || a.mtimeNs !== b.mtimeNs;

/** The replaced inodes of recent writes, polled while there are any (part 3 above). */
export class ReplacedInodes<C> {
  private list: Replaced<C>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  /** Checks run one at a time: the timer's and idle()'s would otherwise read a handle the other dropped (EBADF). */
  private running: Promise<unknown> = Promise.resolve();
  // An fd each; a burst of API writes (a class list, row by row) keeps this many at most.
  private static readonly MAX = 128;

  constructor(private readonly o: ReplacedOptions<C>) {}

  /**
   * A write landed: `change` is applied after every inode already replaced, and `base` (the
   * version it read, now unlinked) is watched from here. Takes over `base.handle`.
   */
  wrote(base: Snapshot | null, change: C | null): void {
    if (change !== null) for (const r of this.list) r.changes.push(change);
    if (base === null) return;
    this.list.push({
      handle: base.handle, stamp: base.stamp, hash: base.hash, changes: change === null ? [] : [change],
      until: Date.now() + this.o.graceMs, moved: null, recovering: false, failures: 0,
    });
    while (this.list.length > ReplacedInodes.MAX) this.drop(this.list.find((r) => !r.recovering) ?? this.list[0]);
    this.timer ??= setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      this.check(false).catch(this.o.onError).finally(() => { this.ticking = false; });
    }, this.o.pollMs).unref();
  }

  /**
   * Looks at each replaced inode once; `full` compares the content too. Returns true while
   * any holds a save not yet recovered (moving, settling or being recovered).
   */
  check(full: boolean): Promise<boolean> {
    const run = this.running.then(() => this.checkOnce(full));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async checkOnce(full: boolean): Promise<boolean> {
    let pending = false;
    for (const r of [...this.list]) {
      if (r.recovering) { pending = true; continue; }
      let now: Stamp;
      try { now = await statHandle(r.handle); } catch { this.drop(r); continue; }
      if (r.recovering || !this.list.includes(r)) { pending ||= r.recovering; continue; }
      const at = Date.now();
      if (moved(now, r.stamp)) {
        if (r.moved === null || moved(now, r.moved.stamp)) {
          r.moved = { stamp: now, at };
          r.until = at + this.o.graceMs;
        }
      } else if (full || at > r.until) {
        // Same size and mtime: a rewrite within one mtime tick would still change the text.
        let text: string;
        try { text = (await readAll(r.handle)).toString('utf8'); } catch { this.drop(r); continue; }
        if (sha(text) !== r.hash) r.moved = { stamp: now, at: at - this.o.settleMs };
        else if (at > r.until) { this.drop(r); continue; }
      }
      if (r.moved === null) continue;
      pending = true;
      if (at - r.moved.at >= this.o.settleMs && !r.recovering) {
        r.recovering = true;
        this.o.onSave(r);
      }
    }
    return pending;
  }

  /** After a recovery: what the inode held when it was read, watched again from now. */
  recovered(r: Replaced<C>, stamp: Stamp, hash: string): void {
    r.stamp = stamp;
    r.hash = hash;
    r.moved = null;
    r.until = Date.now() + this.o.graceMs;
    r.recovering = false;
  }

  /** Found moving again while being recovered: recovered once it holds still. */
  moving(r: Replaced<C>, stamp: Stamp): void {
    const at = Date.now();
    r.moved = { stamp, at };
    r.until = at + this.o.graceMs;
    r.recovering = false;
  }

  /** A recovery failed: tried again after another settle period, given up after five (false). */
  failed(r: Replaced<C>): boolean {
    r.recovering = false;
    if (++r.failures >= 5) { this.drop(r); return false; }
    if (r.moved) r.moved.at = Date.now();
    return true;
  }

  private drop(r: Replaced<C>): void {
    this.list = this.list.filter((x) => x !== r);
    void r.handle.close().catch(() => undefined);
    if (this.list.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close(): void {
    for (const r of [...this.list]) this.drop(r);
  }
}
