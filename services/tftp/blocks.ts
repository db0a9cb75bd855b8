// Where a read transfer's block payloads come from. Files are read in chunks of about
// 128 KiB with the next chunk prefetched, so the thread pool is visited once per ~90
// blocks rather than once per block, and the event loop never blocks on the disk.
import type { promises as fsp } from 'node:fs';

export interface BlockSource {
  readonly size: number;
  /** The payload of block n (1-based): a Buffer, or a promise while the disk reads. */
  block(n: number): Buffer | Promise<Buffer>;
  /** Blocks below n will not be asked for again: their memory can go. */
  release(n: number): void;
  close(): Promise<void>;
}

export class MemorySource implements BlockSource {
  constructor(private readonly data: Buffer, private readonly blockSize: number) {}
  get size(): number { return this.data.length; }
  block(n: number): Buffer {
    const start = (n - 1) * this.blockSize;
    return this.data.subarray(start, Math.min(start + this.blockSize, this.data.length));
  }
  release(): void {}
  async close(): Promise<void> {}
}

const CHUNK_TARGET = 128 * 1024;

export class FileSource implements BlockSource {
  private readonly chunkBlocks: number;
  private readonly chunks = new Map<number, Buffer | Promise<Buffer>>();
  private closed = false;

  constructor(private readonly handle: fsp.FileHandle, readonly size: number, private readonly blockSize: number) {
    this.chunkBlocks = Math.max(1, Math.ceil(CHUNK_TARGET / blockSize));
  }

  private load(ci: number): Buffer | Promise<Buffer> {
    const have = this.chunks.get(ci);
    if (have !== undefined) return have;
    const chunkBytes = this.chunkBlocks * this.blockSize;
    const position = ci * chunkBytes;
    const length = Math.max(0, Math.min(chunkBytes, this.size - position));
    if (length === 0) {
      const empty = Buffer.alloc(0);
      this.chunks.set(ci, empty);
      return empty;
    }
    const buf = Buffer.allocUnsafe(length);
    const p = this.handle.read(buf, 0, length, position).then(({ bytesRead }) => {
      const got = bytesRead === length ? buf : buf.subarray(0, bytesRead);
      if (this.chunks.get(ci) === p) this.chunks.set(ci, got);
      return got;
    });
    this.chunks.set(ci, p);
    // A failed prefetch must not become an unhandled rejection; block() reports it.
    p.catch(() => undefined);
    return p;
  }

  block(n: number): Buffer | Promise<Buffer> {
    const ci = Math.floor((n - 1) / this.chunkBlocks);
    const offset = ((n - 1) % this.chunkBlocks) * this.blockSize;
    const chunk = this.load(ci);
    if (!this.closed && (ci + 1) * this.chunkBlocks * this.blockSize < this.size) this.load(ci + 1);
    const slice = (c: Buffer) => c.subarray(Math.min(offset, c.length), Math.min(offset + this.blockSize, c.length));
    return Buffer.isBuffer(chunk) ? slice(chunk) : chunk.then(slice);
  }

  release(n: number): void {
    const below = Math.floor((n - 1) / this.chunkBlocks);
    for (const ci of this.chunks.keys()) if (ci < below) this.chunks.delete(ci);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunks.clear();
    await this.handle.close().catch(() => undefined);
  }
}
