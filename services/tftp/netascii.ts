// netascii (RFC 764 via RFC 1350): on the wire a line ends in CR LF and a bare CR is
// CR NUL. Reads convert the whole file before blocks are cut, so a pair never straddles
// anything; writes decode a stream whose CR may end one block and its partner start the
// next, so the decoder carries that CR over.
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** Local (Unix) text to netascii: LF → CR LF, CR → CR NUL. */
export function toNetascii(local: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < local.length; i++) if (local[i] === LF || local[i] === CR) extra++;
  if (extra === 0) return local;
  const out = Buffer.allocUnsafe(local.length + extra);
  let o = 0;
  for (let i = 0; i < local.length; i++) {
    const b = local[i];
    if (b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else if (b === CR) {
      out[o++] = CR;
      out[o++] = NUL;
    } else out[o++] = b;
  }
  return out;
}

/** netascii to local text, across chunk boundaries: CR LF → LF, CR NUL → CR. */
export class NetasciiDecoder {
  private pendingCr = false;

  push(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let o = 0;
    let i = 0;
    if (this.pendingCr && chunk.length > 0) {
      this.pendingCr = false;
      const b = chunk[0];
      if (b === LF) {
        out[o++] = LF;
        i = 1;
      } else if (b === NUL) {
        out[o++] = CR;
        i = 1;
      } else out[o++] = CR; // a bare CR (not netascii, but keep the byte rather than lose it)
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== CR) { out[o++] = b; continue; }
      if (i + 1 === chunk.length) { this.pendingCr = true; break; }
      const next = chunk[i + 1];
      if (next === LF) { out[o++] = LF; i++; } else if (next === NUL) { out[o++] = CR; i++; } else out[o++] = CR;
    }
    return out.subarray(0, o);
  }

  /** The end of the stream: a CR still held is written as itself. */
  end(): Buffer {
    if (!this.pendingCr) return Buffer.alloc(0);
    this.pendingCr = false;
    return Buffer.from([CR]);
  }
}
