// The file layer: which bytes a request names. Files only from tftp.root (a leading "/"
// resolves inside it, like tftp-hpa --secure); "..", NUL, symlinks whose real path
// leaves the root and over-long names are refused (CVE-1999-0183, CVE-2002-1209,
// CVE-2007-0888, CVE-2011-4722). Generated content (per-host iPXE scripts, later issues)
// comes from providers consulted before the disk, so nothing is written for it.
import { constants, promises as fsp } from 'node:fs';
import { join, sep } from 'node:path';
import type { TftpConfig } from './config.js';
import { Remapper } from './remap.js';

export interface Client { address: string; port: number }

/**
 * Why a name is not served, in words of no protocol: TFTP and HTTP map the kind to their
 * own error at their edge (tftp/packet.ts tftpErrorFor, http/server.ts statusFor).
 * `message` is for the client, `reason` for the log.
 */
export type RefusalKind = 'not-found' | 'forbidden' | 'error';
export interface FileRefusal { refused: RefusalKind; message: string; reason: string }

/** What a read resolves to: an open file, or bytes in memory (generated content). */
export type ReadTarget =
  | { kind: 'file'; name: string; path: string; size: number; handle: fsp.FileHandle }
  | { kind: 'memory'; name: string; data: Buffer };

/** A content provider answers for names it owns with bytes, and with null for the rest. */
export type ContentProvider = (
  name: string,
  client: Client,
) => Buffer | string | null | Promise<Buffer | string | null>;

export interface FileLayerOptions {
  root: string;
  maxFilenameLength: number;
  caseInsensitive: boolean;
  remapper: Remapper;
  writeDirs: string[];
}

export function isRefusal(x: unknown): x is FileRefusal {
  return typeof x === 'object' && x !== null && 'refused' in x;
}

const refuse = (refused: RefusalKind, message: string, reason: string): FileRefusal => ({ refused, message, reason });

/** The path inside the root a request names, as '/'-separated components, or a refusal. */
export function normalizeName(raw: string, maxLength: number): string[] | FileRefusal {
  if (raw.length > maxLength) return refuse('forbidden', 'file name too long', `name of ${raw.length} characters`);
  if (raw.includes('\0')) return refuse('forbidden', 'access violation', 'NUL in name');
  // Windows boot files and some ROMs use backslashes.
  const parts = raw.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return refuse('forbidden', 'access violation', 'path escapes the root ("..")');
  if (parts.length === 0) return refuse('not-found', 'file not found', 'empty path');
  return parts;
}

export class FileLayer {
  /**
   * The file layer tftp.* describes (root, name rules, remap rules). `writes`: uploads into
   * tftp.write.dirs (the TFTP server's only); `remap: false` skips the remap rules.
   */
  static fromConfig(t: Pick<TftpConfig, 'root' | 'maxFilenameLength' | 'caseInsensitive' | 'remap' | 'write'>, opts: { writes?: boolean; remap?: boolean } = {}): FileLayer {
    return new FileLayer({
      root: t.root, maxFilenameLength: t.maxFilenameLength, caseInsensitive: t.caseInsensitive,
      remapper: new Remapper(opts.remap === false ? [] : t.remap), writeDirs: opts.writes ? t.write.dirs : [],
    });
  }

  private readonly providers: ContentProvider[] = [];
  /** Consulted only when the disk has no such file: generated defaults a file on disk overrides. */
  private readonly fallbacks: ContentProvider[] = [];
  /** Folders of generated names whose contents are also the root's (addPrefixAlias). */
  private readonly aliases = new Set<string>();
  private realRoot: string | null = null;

  constructor(private readonly opts: FileLayerOptions) {}

  /** Adds generated content: before the disk, or with `fallback` only for names the disk lacks. */
  addProvider(p: ContentProvider, opts: { fallback?: boolean } = {}): () => void {
    const list = opts.fallback ? this.fallbacks : this.providers;
    list.push(p);
    return () => {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /**
   * Names under `dir` that nothing owns there (no provider, no file on disk, no fallback)
   * resolve as the same name without it. A loader chained from a generated name takes that
   * name's folder as its path prefix: pxelinux under iPXE, given http://srv/bootlab/<mac>.ipxe,
   * asks for bootlab/ldlinux.c32 and bootlab/pxelinux.cfg/01-<mac> (syslinux core/fs/pxe),
   * a GRUB built without a prefix for bootlab/grub.cfg (grub-core/net/bootp.c). One prefix
   * is taken off, once.
   */
  addPrefixAlias(dir: string): void {
    this.aliases.add(dir);
  }

  private async generated(list: ContentProvider[], name: string, client: Client): Promise<ReadTarget | null> {
    for (const provider of list) {
      const out = await provider(name, client);
      if (out !== null) return { kind: 'memory', name, data: typeof out === 'string' ? Buffer.from(out) : out };
    }
    return null;
  }

  private async root(): Promise<string> {
    this.realRoot ??= await fsp.realpath(this.opts.root);
    return this.realRoot;
  }

  private inside(root: string, real: string): boolean {
    return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
  }

  /** Applies the remap rules and normalises: the path components inside the root. */
  private mapName(raw: string, direction: 'read' | 'write', client: Client): string[] | FileRefusal {
    // An over-long name is refused before any remap rule runs over it.
    if (raw.length > this.opts.maxFilenameLength) return refuse('forbidden', 'file name too long', `name of ${raw.length} characters`);
    let name = raw.replace(/\\/g, '/');
    if (this.opts.remapper.size > 0) {
      const r = this.opts.remapper.apply(name, direction, client.address);
      if (r.refused) return refuse('forbidden', 'access violation', `refused by remap rule ${r.rule}`);
      name = r.name;
    }
    return normalizeName(name, this.opts.maxFilenameLength);
  }

  /** Finds a path case-insensitively, one component at a time (dnsmasq tftp-lowercase, kinder). */
  private async caseFold(root: string, parts: string[]): Promise<string | null> {
    let dir = root;
    for (const part of parts) {
      let entries: string[];
      try { entries = await fsp.readdir(dir); } catch { return null; }
      const hit = entries.find((e) => e === part) ?? entries.find((e) => e.toLowerCase() === part.toLowerCase());
      if (hit === undefined) return null;
      dir = join(dir, hit);
    }
    return dir;
  }

  async openRead(raw: string, client: Client): Promise<ReadTarget | FileRefusal> {
    const parts = this.mapName(raw, 'read', client);
    if (isRefusal(parts)) return parts;
    const found = await this.openParts(parts, client);
    if (!isRefusal(found) || found.refused !== 'not-found' || parts.length < 2 || !this.aliases.has(parts[0])) return found;
    const aliased = await this.openParts(parts.slice(1), client);
    // Not found under either name: the refusal names what was asked for.
    return isRefusal(aliased) && aliased.refused === 'not-found' ? found : aliased;
  }

  private async openParts(parts: string[], client: Client): Promise<ReadTarget | FileRefusal> {
    const name = parts.join('/');
    const first = await this.generated(this.providers, name, client);
    if (first) return first;
    const root = await this.root();
    let path = join(root, ...parts);
    let real: string;
    try {
      real = await fsp.realpath(path);
    } catch (e) {
      const folded = this.opts.caseInsensitive ? await this.caseFold(root, parts) : null;
      if (folded === null) {
        const code = (e as NodeJS.ErrnoException).code;
        const later = code === 'ENOENT' || code === 'ENOTDIR' ? await this.generated(this.fallbacks, name, client) : null;
        return later ?? this.fsRefusal(e as NodeJS.ErrnoException, name);
      }
      path = folded;
      try {
        real = await fsp.realpath(path);
      } catch (e2) {
        // A dangling symlink or a loop found by the case-insensitive walk.
        return this.fsRefusal(e2 as NodeJS.ErrnoException, name);
      }
    }
    if (!this.inside(root, real)) return refuse('forbidden', 'access violation', `symlink leaves the root: ${name} -> ${real}`);
    let handle: fsp.FileHandle;
    try {
      // O_NOFOLLOW: the real path was checked; refuse a symlink swapped in since.
      // O_NONBLOCK: opening a FIFO would wait for a writer forever, holding one of libuv's
      // four threads (all file I/O of the process); it changes nothing for regular files.
      handle = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      return this.fsRefusal(e as NodeJS.ErrnoException, name);
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return refuse('not-found', 'file not found', `${name} is not a regular file`);
    }
    return { kind: 'file', name, path: real, size: st.size, handle };
  }

  /** Where an upload of `raw` goes, checked against the writable folders. */
  async resolveWrite(
    raw: string, client: Client,
  ): Promise<{ name: string; path: string; exists: boolean } | FileRefusal> {
    const parts = this.mapName(raw, 'write', client);
    if (isRefusal(parts)) return parts;
    const name = parts.join('/');
    const allowed = this.opts.writeDirs.some((d) => {
      const dir = d.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
      return dir.length < parts.length && dir.every((c, i) => c === parts[i]);
    });
    if (!allowed) return refuse('forbidden', 'access violation: not a writable folder', `write outside tftp.write.dirs: ${name}`);
    const root = await this.root();
    const parent = join(root, ...parts.slice(0, -1));
    let realParent: string;
    try {
      realParent = await fsp.realpath(parent);
    } catch (e) {
      return this.fsRefusal(e as NodeJS.ErrnoException, name);
    }
    if (!this.inside(root, realParent)) return refuse('forbidden', 'access violation', `folder leaves the root: ${name}`);
    const path = join(realParent, parts[parts.length - 1]);
    try {
      const st = await fsp.lstat(path);
      if (!st.isFile()) return refuse('forbidden', 'access violation', `${name} exists and is not a regular file`);
      return { name, path, exists: true };
    } catch {
      return { name, path, exists: false };
    }
  }

  private fsRefusal(e: NodeJS.ErrnoException, name: string): FileRefusal {
    switch (e.code) {
      case 'ENOENT':
      case 'ENOTDIR':
        return refuse('not-found', 'file not found', `${name}: ${e.code}`);
      case 'EACCES':
      case 'EPERM':
      case 'ELOOP':
        return refuse('forbidden', 'access violation', `${name}: ${e.code}`);
      default:
        return refuse('error', 'cannot read the file', `${name}: ${e.code ?? e.message}`);
    }
  }
}
