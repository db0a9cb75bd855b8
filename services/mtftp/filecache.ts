// The bytes of the files PXE MTFTP rounds are sending, read once per version: every
// round holds its whole file (blocks are resent and jumped to by number), and a shared
// channel runs one unicast round per machine (docs/decisions/0008-mtftp-shared-group.md),
// so thirty machines fetching a 14 MB kernel hold one copy, not thirty. A version is the
// file's size and mtime: a file replaced on disk is read again, while rounds already
// running keep the bytes they started with. An entry goes when its last round ends.
import type { FileHandle } from 'node:fs/promises';

interface Entry { data: Buffer; size: number; mtimeMs: number; users: number }

export class FileCache {
  private readonly entries = new Map<string, Entry>();

  /** The file's bytes, shared with rounds of the same version; closes the handle. */
  async read(name: string, handle: FileHandle): Promise<Buffer> {
    try {
      const st = await handle.stat();
      const hit = this.entries.get(name);
      if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) {
        hit.users++;
        return hit.data;
      }
      const data = await handle.readFile();
      this.entries.set(name, { data, size: st.size, mtimeMs: st.mtimeMs, users: 1 });
      return data;
    } finally {
      await handle.close();
    }
  }

  /** A round that read `data` ended. */
  release(name: string, data: Buffer): void {
    const e = this.entries.get(name);
    if (e && e.data === data && --e.users <= 0) this.entries.delete(name);
  }

  /** Files held (for tests and status). */
  get size(): number {
    return this.entries.size;
  }
}
