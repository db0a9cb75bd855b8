// The read (RRQ) state machine: lock-step (RFC 1350) and windowed (RFC 7440).
// - An RRQ with options gets an OACK and no DATA until ACK 0 (limits reflection).
// - A window of blocks goes out at once; ACK n with n inside the window means the client
//   has everything up to n, so the next window starts at n + 1 (from the first
//   unacknowledged block after a loss).
// - A duplicate ACK (one that acknowledges nothing new) never triggers a resend by itself
//   (Sorcerer's Apprentice, RFC 1123 4.2.3.1); only the timer resends.
import type { BlockSource } from './blocks.js';
import { dataHeader, Opcode, type Options, encode } from './packet.js';
import { absoluteBlock, Transfer, wireBlock, type TransferHooks, type TransferParams } from './transfer.js';

export class ReadTransfer extends Transfer {
  /** First block not yet acknowledged. */
  private base = 1;
  /** Highest block sent in the current window. */
  private sentUpTo = 0;
  private highestSent = 0;
  private readonly lastBlock: number;
  private awaitingOackAck: boolean;
  private readonly oackPacket: Buffer | null;
  private windowSentAt = 0;
  private windowIsRetransmit = false;
  /** Bumped per window, so an older window still waiting on the disk stops sending. */
  private generation = 0;

  constructor(params: TransferParams, hooks: TransferHooks, private readonly source: BlockSource, oack: Options | null) {
    super(params, hooks);
    // A file of n*blksize bytes ends with an empty block (RFC 1350).
    this.lastBlock = Math.floor(source.size / params.blockSize) + 1;
    this.oackPacket = oack ? encode({ op: 'OACK', options: oack }) : null;
    this.awaitingOackAck = oack !== null;
  }

  start(): void {
    if (this.oackPacket) {
      this.windowSentAt = this.hooks.clock.now();
      this.hooks.send(this.oackPacket);
      this.arm();
    } else {
      void this.sendWindow(false);
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
      if (!this.windowIsRetransmit) this.rto.sample(now - this.windowSentAt);
      this.acknowledged();
      void this.sendWindow(false);
      return;
    }
    const n = absoluteBlock(wire, this.base, this.sentUpTo, this.params.rollover);
    if (n < 0) return; // a duplicate or stale ACK: the timer, not this packet, resends
    if (!this.windowIsRetransmit) this.rto.sample(now - this.windowSentAt);
    this.acknowledged();
    this.counters.bytes = Math.min(this.source.size, n * this.params.blockSize);
    this.base = n + 1;
    this.source.release(this.base);
    if (n === this.lastBlock) {
      this.finish();
      return;
    }
    this.progress();
    void this.sendWindow(false);
  }

  private acknowledged(): void {
    this.answered = true;
    this.retries = 0;
  }

  protected retransmit(): void {
    if (this.awaitingOackAck && this.oackPacket) {
      this.windowIsRetransmit = true;
      this.hooks.send(this.oackPacket);
      this.arm();
      return;
    }
    void this.sendWindow(true);
  }

  private async sendWindow(retransmit: boolean): Promise<void> {
    const generation = ++this.generation;
    const { blockSize, windowSize, rollover } = this.params;
    const end = Math.min(this.base + windowSize - 1, this.lastBlock);
    this.windowSentAt = this.hooks.clock.now();
    this.windowIsRetransmit = retransmit;
    this.sentUpTo = end;
    this.arm(); // also bounds a disk read that never returns
    for (let n = this.base; n <= end; n++) {
      let payload: Buffer | Promise<Buffer> = this.source.block(n);
      if (!Buffer.isBuffer(payload)) {
        try {
          payload = await payload;
        } catch (e) {
          this.fail(`read error: ${(e as Error).message}`, false, { code: 0, message: 'read error' });
          return;
        }
        if (this.ended || generation !== this.generation) return;
      }
      const expected = n < this.lastBlock ? blockSize : this.source.size - (this.lastBlock - 1) * blockSize;
      if (payload.length !== expected) {
        this.fail(`file changed while being sent (block ${n}: ${payload.length} of ${expected} bytes)`, false, { code: 0, message: 'file changed while being sent' });
        return;
      }
      this.hooks.send([dataHeader(wireBlock(n, rollover)), payload]);
      this.counters.dataPackets++;
      this.counters.dataBytes += payload.length;
      if (n <= this.highestSent) this.windowIsRetransmit = true;
      else this.highestSent = n;
    }
    this.windowSentAt = this.hooks.clock.now();
    this.arm();
  }
}
