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
/** Chunk buffers a transfer keeps for reuse: the current one, the prefetched one, one spare. */
const SPARES = 2;

/**
 * Reads a file in chunks. Chunk buffers are recycled once every block in them was
 * acknowledged: allocating a fresh 128 KiB buffer per chunk left V8 to free them only
 * at its next GC, and 50 concurrent transfers then held ~100 MB of dead chunks (measured
 * peak RSS 154 MB with one thread; see docs/benchmarks.md). A recycled buffer may still
 * sit in a send queue as an old, acknowledged block: the client discards such a block by
 * its number, so its content no longer matters.
 */
export class FileSource implements BlockSource {
  private readonly chunkBlocks: number;
  private readonly chunkBytes: number;
  private readonly chunks = new Map<number, Buffer | Promise<Buffer>>();
  private readonly spare: Buffer[] = [];
  private closed = false;

  constructor(private readonly handle: fsp.FileHandle, readonly size: number, private readonly blockSize: number) {
    this.chunkBlocks = Math.max(1, Math.ceil(CHUNK_TARGET / blockSize));
    this.chunkBytes = this.chunkBlocks * blockSize;
  }

  private load(ci: number): Buffer | Promise<Buffer> {
    const have = this.chunks.get(ci);
    if (have !== undefined) return have;
    const position = ci * this.chunkBytes;
    const length = Math.max(0, Math.min(this.chunkBytes, this.size - position));
    if (length === 0) {
      const empty = Buffer.alloc(0);
      this.chunks.set(ci, empty);
      return empty;
    }
    const full = this.spare.pop() ?? Buffer.allocUnsafe(Math.min(this.chunkBytes, this.size));
    const buf = full.subarray(0, length);
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
    if (!this.closed && (ci + 1) * this.chunkBytes < this.size) this.load(ci + 1);
    const slice = (c: Buffer) => c.subarray(Math.min(offset, c.length), Math.min(offset + this.blockSize, c.length));
    return Buffer.isBuffer(chunk) ? slice(chunk) : chunk.then(slice);
  }

  release(n: number): void {
    const below = Math.floor((n - 1) / this.chunkBlocks);
    for (const [ci, chunk] of this.chunks) {
      if (ci >= below) continue;
      this.chunks.delete(ci);
      // Only a chunk whose read finished can be reused; its backing buffer is whole.
      if (Buffer.isBuffer(chunk) && chunk.length > 0 && this.spare.length < SPARES) {
        this.spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(this.chunkBytes, this.size)));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunks.clear();
    this.spare.length = 0;
    await this.handle.close().catch(() => undefined);
  }
}
