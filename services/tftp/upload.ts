// An upload lands in a temporary file beside its target and appears only when its last
// block arrived: fsync, then rename (overwrite) or link (create-only, which fails
// atomically if the name was taken meanwhile). A failed or aborted upload removes the
// temporary file, so no torn file is ever visible under the real name.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const COALESCE = 256 * 1024;

export class UploadSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private tail: Promise<void> = Promise.resolve();
  private settled = false;
  /** The first write error (ENOSPC and the like); the transfer checks it per block. */
  error: NodeJS.ErrnoException | null = null;
  bytes = 0;

  private constructor(
    private readonly handle: fsp.FileHandle,
    readonly tempPath: string,
    readonly finalPath: string,
    private readonly overwrite: boolean,
  ) {}

  static async create(finalPath: string, overwrite: boolean, mode: number): Promise<UploadSink> {
    const tempPath = join(dirname(finalPath), `.${basename(finalPath)}.${randomBytes(6).toString('hex')}.part`);
    const handle = await fsp.open(tempPath, 'wx', mode);
    return new UploadSink(handle, tempPath, finalPath, overwrite);
  }

  write(data: Buffer): void {
    if (data.length === 0 || this.error) return;
    this.bytes += data.length;
    this.pending.push(Buffer.from(data)); // the receive buffer is not ours to keep
    this.pendingBytes += data.length;
    if (this.pendingBytes >= COALESCE) this.flush();
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.tail = this.tail.then(async () => {
      if (this.error) return;
      try {
        await this.handle.write(buf, 0, buf.length);
      } catch (e) {
        this.error = e as NodeJS.ErrnoException;
      }
    });
  }

  /** Makes the file visible under its name. Throws (with .code) when it cannot. */
  async commit(): Promise<void> {
    this.flush();
    await this.tail;
    if (this.error) throw this.error;
    try {
      await this.handle.sync();
      await this.handle.close();
      this.settled = true;
      if (this.overwrite) {
        await fsp.rename(this.tempPath, this.finalPath);
      } else {
        await fsp.link(this.tempPath, this.finalPath);
        await fsp.unlink(this.tempPath);
      }
    } catch (e) {
      await fsp.unlink(this.tempPath).catch(() => undefined);
      throw e;
    }
  }

  /** Drops the upload: nothing remains on disk. */
  async abort(): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      await this.tail.catch(() => undefined);
      await this.handle.close().catch(() => undefined);
    }
    await fsp.unlink(this.tempPath).catch(() => undefined);
  }
}
