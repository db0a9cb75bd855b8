// The read (RRQ) state machine: lock-step (RFC 1350) and windowed (RFC 7440).
// - An RRQ with options gets an OACK and no DATA until ACK 0 (limits reflection).
// - ACKs are cumulative: ACK n means the client holds every block up to n; the window
//   slides to n + 1 and blocks never sent fill it.
// - An ACK inside the window (n below the highest block sent) means the client saw a
//   gap (a loss, a reordering) or a duplicate: RFC 7440 restarts the window at n + 1.
//   Done every time, that resends blocks still in flight, whose arrival brings more
//   such ACKs (atftp sends one "extra ACK" per stall and ACKs every windowsize blocks
//   counted from its last ACK): under 5% duplication it cascaded to 7.7 times the file.
//   So, as TCP NewReno does, one such ACK starts one resend and sets a recovery point
//   (the end of the resent window); ACKs up to that point only slide the window.
// - The timer resends a whole window from the first unacknowledged block. A duplicate
//   ACK never triggers a resend (Sorcerer's Apprentice, RFC 1123 4.2.3.1).
import type { BlockSource } from './blocks.js';
import { dataHeader, Opcode, type Options, encode } from './packet.js';
import { absoluteBlock, Transfer, wireBlock, type TransferHooks, type TransferParams } from './transfer.js';

export class ReadTransfer extends Transfer {
  /** First block not yet acknowledged. */
  private base = 1;
  /** Next block the pump sends. */
  private next = 1;
  /** Highest block ever sent; ACKs up to it are valid. */
  private highestSent = 0;
  /** Highest block ever sent twice: no RTT sample from ACKs up to it (Karn). */
  private highestResent = 0;
  /** ACKs inside the window start a resend only at or above this block (NewReno). */
  private recoveryPoint = 0;
  private readonly lastBlock: number;
  private awaitingOackAck: boolean;
  private readonly oackPacket: Buffer | null;
  private oackSentAt = 0;
  private oackResent = false;
  /** Send time of each block in the window, by block number modulo the window. */
  private readonly sentAt: Float64Array;
  private pumping = false;

  constructor(
    params: TransferParams, hooks: TransferHooks, private readonly source: BlockSource, oack: Options | null,
  ) {
    super(params, hooks);
    // A file of n*blksize bytes ends with an empty block (RFC 1350).
    this.lastBlock = Math.floor(source.size / params.blockSize) + 1;
    this.oackPacket = oack ? encode({ op: 'OACK', options: oack }) : null;
    this.awaitingOackAck = oack !== null;
    this.sentAt = new Float64Array(params.windowSize);
  }

  start(): void {
    if (this.oackPacket) {
      this.oackSentAt = this.hooks.clock.now();
      this.hooks.send(this.oackPacket);
      this.arm();
    } else {
      this.pump();
    }
  }

  onPacket(buf: Buffer): void {
    if (this.ended || buf.length < 4 || buf[0] !== 0) return;
    const op = buf[1];
    if (op === Opcode.ACK) this.onAck((buf[2] << 8) | buf[3]);
    else if (op === Opcode.ERROR) this.onClientError(buf);
    // Anything else on a read transfer is ignored: it must not disturb the transfer.
  }

  private onClientError(buf: Buffer): void {
    const code = buf.readUInt16BE(2);
    const end = buf.indexOf(0, 4);
    const message = buf.toString('latin1', 4, end < 0 ? buf.length : end);
    // EDK2 reads the OACK's tsize and aborts on purpose (Mtftp4 GetInfo): not a failure.
    this.fail(`client sent ERROR ${code}: ${message}`, true);
  }

  private onAck(wire: number): void {
    this.counters.acksReceived++;
    const now = this.hooks.clock.now();
    if (this.awaitingOackAck) {
      if (wire !== 0) return;
      this.awaitingOackAck = false;
      if (!this.oackResent) this.rto.sample(now - this.oackSentAt);
      this.heard();
      this.pump();
      return;
    }
    const n = absoluteBlock(wire, this.base, this.highestSent, this.params.rollover);
    if (n < 0) return; // a duplicate or stale ACK: the timer, not this packet, resends
    if (n > this.highestResent) this.rto.sample(now - this.sentAt[n % this.params.windowSize]);
    this.heard();
    this.counters.bytes = Math.min(this.source.size, n * this.params.blockSize);
    this.base = n + 1;
    if (n < this.highestSent && n > this.recoveryPoint) {
      // The client reports a gap: resend from it at once, once per recovery episode.
      this.next = this.base;
      this.recoveryPoint = this.resendEnd();
    } else if (this.next < this.base) {
      this.next = this.base;
    }
    this.source.release(this.base);
    if (n === this.lastBlock) {
      this.finish();
      return;
    }
    this.progress();
    this.pump();
  }

  /**
   * The recovery point of a resend from `base`: the end of the window it sends (or
   * beyond, if more was sent already). An ACK at exactly this block is the regular ACK
   * of a client that counts its window from its last ACK (atftp), not a new gap.
   */
  private resendEnd(): number {
    return Math.max(this.highestSent, Math.min(this.base + this.params.windowSize - 1, this.lastBlock));
  }

  protected retransmit(): void {
    if (this.awaitingOackAck && this.oackPacket) {
      this.oackResent = true;
      this.hooks.send(this.oackPacket);
      this.arm();
      return;
    }
    // Go back to the first unacknowledged block and send the window again.
    this.next = this.base;
    this.recoveryPoint = this.resendEnd();
    this.pump();
  }

  /**
   * Sends every block from `next` up to the window's end. Synchronous while the blocks
   * are in memory (nearly always: chunks are prefetched), so an ACK costs no promise;
   * only a block still being read from disk hands over to resumeAfter().
   */
  private pump(ready: { n: number; payload: Buffer } | null = null): void {
    if (this.pumping) return; // the waiting pump sees the new window when it resumes
    const { blockSize, windowSize, rollover } = this.params;
    this.arm(); // also bounds a disk read that never returns
    while (!this.ended && this.next <= Math.min(this.base + windowSize - 1, this.lastBlock)) {
      const n = this.next;
      const payload = ready !== null && ready.n === n ? ready.payload : this.source.block(n);
      ready = null;
      if (!Buffer.isBuffer(payload)) {
        this.pumping = true;
        void this.resumeAfter(n, payload);
        return;
      }
      const expected = n < this.lastBlock ? blockSize : this.source.size - (this.lastBlock - 1) * blockSize;
      if (payload.length !== expected) {
        this.fail(`file changed while being sent (block ${n}: ${payload.length} of ${expected} bytes)`, false, { code: 0, message: 'file changed while being sent' });
        return;
      }
      this.hooks.send([dataHeader(wireBlock(n, rollover)), payload]);
      this.sentAt[n % windowSize] = this.hooks.clock.now();
      this.counters.dataPackets++;
      this.counters.dataBytes += payload.length;
      if (n <= this.highestSent) this.highestResent = n;
      else this.highestSent = n;
      this.next = n + 1;
    }
    if (!this.ended) this.arm();
  }

  /** Waits for block n from the disk, then pumps on (with it, if `next` is still n). */
  private async resumeAfter(n: number, read: Promise<Buffer>): Promise<void> {
    let payload: Buffer;
    try {
      payload = await read;
    } catch (e) {
      this.pumping = false;
      this.fail(`read error: ${(e as Error).message}`, false, { code: 0, message: 'read error' });
      return;
    }
    this.pumping = false;
    // The timer may have moved `next` back meanwhile; then the block is asked for again.
    if (!this.ended) this.pump({ n, payload });
  }
}
