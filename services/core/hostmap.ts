// The host map: the one state DHCP, TFTP and the admin API share, and its only writer.
// - Look-ups by MAC are a Map access: constant time per packet.
// - The file is watched: a hand edit takes effect within a second, without a restart. An
//   invalid edit keeps the last good map, logs the error and keeps it for the API to show.
// - Writes are serialised, start from the file as it is on disk now (so a hand edit made
//   since the last read is kept, never overwritten), go through the yaml Document API (the
//   user's comments and key order stay), are validated, then land atomically (temporary
//   file, fsync, rename, fsync of the folder).
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, type Document } from 'yaml';
import type { Logger } from './log.js';
import { HostMapError, isNormalMac, normalizeMac, parseHostMap, type Host, type HostMapData, type Image } from './hostmap-parse.js';

export { HostMapError, isNormalMac, normalizeMac, type Host, type HostMapData, type Image };

/** Fields a write may set on a host; null removes the field. */
export type HostFields = Partial<{ hostname: string | null; image: string | null; ip: string | null; bootOnce: boolean | null; labels: Record<string, string> | null }>;

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

export class HostMap extends EventEmitter {
  private data: HostMapData;
  private hash: string;
  private watcher: FSWatcher | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** The error of the last edit that was refused (the map kept its last good state), or null. */
  lastError: string[] | null = null;

  private constructor(readonly file: string, private readonly log: Logger, data: HostMapData, hash: string) {
    super();
    this.data = data;
    this.hash = hash;
  }

  /** Loads the file; an invalid file at start is an error (like the config). A missing one is an empty map. */
  static async open(file: string, log: Logger): Promise<HostMap> {
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new HostMapError([`${file}: cannot read the host map: ${(e as NodeJS.ErrnoException).code}`]);
    }
    const { data } = parseHostMap(text, file);
    return new HostMap(file, log, data, sha(text));
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
      if (this.reloadTimer) clearTimeout(this.reloadTimer);
      // Editors write in several steps; settle for 100 ms, well inside the promised second.
      this.reloadTimer = setTimeout(() => { this.reloadTimer = null; void this.reload(); }, 100);
    });
    this.watcher.on('error', (e) => this.log.warn({ err: e, file: this.file }, 'host map watch error'));
  }

  /** Re-reads the file. Returns true when the map changed. An invalid file keeps the last good map. */
  reload(): Promise<boolean> {
    return this.serial(async () => {
      let text: string;
      try {
        text = await fsp.readFile(this.file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // mid-rename; the next event reloads
        throw e;
      }
      const hash = sha(text);
      if (hash === this.hash) return false;
      try {
        this.data = parseHostMap(text, this.file).data;
      } catch (e) {
        if (!(e instanceof HostMapError)) throw e;
        this.hash = hash;
        this.lastError = e.lines;
        this.log.error({ file: this.file, errors: e.lines }, 'host map edit refused; the last good map stays in use');
        this.emit('error-kept', e.lines);
        return false;
      }
      this.hash = hash;
      this.lastError = null;
      this.log.info({ file: this.file, hosts: this.data.hosts.size, images: this.data.images.size }, 'host map reloaded');
      this.emit('change');
      return true;
    });
  }

  /** Sets fields of one host (adding it if new), keeping comments and key order. */
  setHost(mac: string, fields: HostFields): Promise<Host> {
    const key = normalizeMac(mac);
    if (!key) return Promise.reject(new HostMapError([`${mac}: not a MAC address`]));
    return this.edit((doc) => { setHostIn(doc, key, fields); }).then(() => this.data.hosts.get(key)!);
  }

  /** Removes one host. Resolves false when it was not in the map. */
  removeHost(mac: string): Promise<boolean> {
    const key = normalizeMac(mac);
    if (!key) return Promise.reject(new HostMapError([`${mac}: not a MAC address`]));
    let removed = false;
    return this.edit((doc) => {
      const existing = findHostKey(doc, key);
      if (existing !== null) removed = doc.deleteIn(['hosts', existing]);
    }).then(() => removed);
  }

  /**
   * One write: read the file as it is now, apply `change` to its Document, validate, and
   * replace the file atomically. Rejects with HostMapError (file unchanged) when the
   * result is invalid.
   */
  edit(change: (doc: Document) => void): Promise<void> {
    return this.serial(async () => {
      let text = '';
      try { text = await fsp.readFile(this.file, 'utf8'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
      const { doc } = parseHostMap(text, this.file);
      change(doc);
      const out = doc.toString();
      const { data } = parseHostMap(out, this.file);
      await writeAtomic(this.file, out);
      this.data = data;
      this.hash = sha(out);
      this.lastError = null;
      this.emit('change');
    });
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
  }
}

/**
 * Sets fields of one host inside a Document (for edit(): many hosts in one write); null
 * removes a field. Returns true when the host was added. `mac` is in normal form.
 */
export function setHostIn(doc: Document, mac: string, fields: HostFields): boolean {
  const hosts = doc.get('hosts', true);
  if (!isMap(hosts)) doc.setIn(['hosts'], doc.createNode({}));
  // The shipped file says `hosts: {}`: entries added to that flow map would stay in flow
  // style, one long `{ ... }` line nobody wants to hand-edit. An empty one becomes a block.
  else if (hosts.flow && hosts.items.length === 0) hosts.flow = false;
  const existing = findHostKey(doc, mac);
  const path = ['hosts', existing ?? mac];
  if (existing === null) doc.setIn(path, doc.createNode({}));
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value === null) doc.deleteIn([...path, field]);
    else doc.setIn([...path, field], doc.createNode(value));
  }
  return existing === null;
}

/** The key under `hosts` that names this MAC, in whatever notation the file uses. */
export function findHostKey(doc: Document, mac: string): string | null {
  const hosts = doc.get('hosts', true);
  if (!isMap(hosts)) return null;
  for (const pair of hosts.items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (normalizeMac(k) === mac) return k;
  }
  return null;
}

/** Temporary file beside the target, fsync, rename, fsync of the folder. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fsp.open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fsp.unlink(temp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  try {
    await fsp.rename(temp, file);
  } catch (e) {
    await fsp.unlink(temp).catch(() => undefined);
    throw e;
  }
  const dir = await fsp.open(dirname(file), 'r');
  try { await dir.sync(); } finally { await dir.close(); }
}
