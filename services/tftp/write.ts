// The write (WRQ) state machine: the server receives. Blocks are taken only in order;
// with a window (RFC 7440) the ACK goes out after every windowsize blocks, and on a gap
// the last in-order block is ACKed once so the client resends from there. The final ACK
// is sent only after the file was committed (fsync + rename), so an ACKed upload is on
// disk; after it the transfer dallies a little to re-ACK a repeated last block.
import { NetasciiDecoder } from './netascii.js';
import { ackPacket, encode, ErrorCode, Opcode, type Options } from './packet.js';
import { absoluteBlock, Transfer, wireBlock, type TransferHooks, type TransferParams } from './transfer.js';
import type { UploadSink } from './upload.js';

export interface WriteLimits {
  maxSize: number;
  netascii: boolean;
}

export class WriteTransfer extends Transfer {
  /** Next block expected (absolute). */
  private expected = 1;
  private inWindow = 0;
  private gapAcked = false;
  private lastReply: Buffer;
  private lastReplyAt = 0;
  private lastReplyIsRetransmit = false;
  private finalBlock = -1;
  private committing = false;
  private dallyTimer: { cancel(): void } | null = null;
  private readonly decoder: NetasciiDecoder | null;

  constructor(
    params: TransferParams,
    hooks: TransferHooks,
    private readonly sink: UploadSink,
    oack: Options | null,
    private readonly limits: WriteLimits,
  ) {
    super(params, hooks);
    this.lastReply = oack ? encode({ op: 'OACK', options: oack }) : ackPacket(0);
    this.decoder = limits.netascii ? new NetasciiDecoder() : null;
  }

  start(): void {
    this.reply(this.lastReply, false);
  }

  private reply(packet: Buffer, retransmit: boolean): void {
    this.lastReply = packet;
    this.lastReplyAt = this.hooks.clock.now();
    this.lastReplyIsRetransmit = retransmit;
    this.hooks.send(packet);
    this.arm();
  }

  onPacket(buf: Buffer): void {
    if (buf.length < 4 || buf[0] !== 0) return;
    const op = buf[1];
    if (op === Opcode.DATA) this.onData((buf[2] << 8) | buf[3], buf.subarray(4));
    // An ERROR while the last block is being committed comes too late: the upload is
    // complete and stays (failing now would leave the file yet report a failure).
    else if (op === Opcode.ERROR && !this.ended && !this.committing) {
      const end = buf.indexOf(0, 4);
      this.fail(`client sent ERROR ${buf.readUInt16BE(2)}: ${buf.toString('latin1', 4, end < 0 ? buf.length : end)}`, true);
    }
  }

  private onData(wire: number, payload: Buffer): void {
    const { blockSize, windowSize, rollover } = this.params;
    if (this.ended || this.committing) {
      // The client repeats its last block until it hears the final ACK.
      if (this.finalBlock > 0 && wire === wireBlock(this.finalBlock, rollover) && this.ended && this.dallyTimer)
        this.hooks.send(this.lastReply);
      return;
    }
    if (wire !== wireBlock(this.expected, rollover)) {
      // A repeat of an old block (our ACK was lost) or a block after a gap: ACK the last
      // in-order block, once per gap, so the client resends from there.
      if (this.gapAcked) return;
      const old
        = windowSize > 1 ? 0 : absoluteBlock(wire, Math.max(0, this.expected - 65535), this.expected - 1, rollover);
      if (old >= 0) {
        this.gapAcked = true;
        this.inWindow = 0;
        this.counters.retransmits++;
        this.reply(ackPacket(wireBlock(this.expected - 1, rollover)), true);
      }
      return;
    }
    if (payload.length > blockSize) {
      this.fail(`block ${this.expected} of ${payload.length} bytes is over blksize ${blockSize}`, false, { code: ErrorCode.IllegalOperation, message: 'block larger than the negotiated blksize' });
      return;
    }
    if (!this.lastReplyIsRetransmit && this.inWindow === 0) this.rto.sample(this.hooks.clock.now() - this.lastReplyAt);
    this.heard();
    this.gapAcked = false;
    this.counters.bytes += payload.length;
    this.counters.dataPackets++;
    this.counters.dataBytes += payload.length;
    if (this.counters.bytes > this.limits.maxSize) {
      this.fail(`upload over the limit of ${this.limits.maxSize} bytes`, false, { code: ErrorCode.DiskFull, message: 'upload too large' });
      return;
    }
    this.sink.write(this.decoder ? this.decoder.push(payload) : payload);
    if (this.sink.error) {
      this.fail(`write error: ${this.sink.error.code ?? this.sink.error.message}`, false, this.diskError(this.sink.error));
      return;
    }
    const block = this.expected++;
    this.inWindow++;
    if (payload.length < blockSize) {
      void this.commit(block);
      return;
    }
    this.progress();
    if (this.inWindow >= windowSize) {
      this.inWindow = 0;
      this.reply(ackPacket(wireBlock(block, rollover)), false);
    } else {
      this.arm();
    }
  }

  private diskError(e: NodeJS.ErrnoException): { code: number; message: string } {
    return e.code === 'ENOSPC' || e.code === 'EDQUOT'
      ? { code: ErrorCode.DiskFull, message: 'disk full' }
      : { code: ErrorCode.NotDefined, message: 'write error' };
  }

  private async commit(block: number): Promise<void> {
    this.committing = true;
    this.finalBlock = block;
    this.deadline.cancel();
    if (this.decoder) this.sink.write(this.decoder.end());
    try {
      await this.sink.commit();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const refusal = err.code === 'EEXIST' ? { code: ErrorCode.FileExists, message: 'file already exists' } : this.diskError(err);
      this.fail(`commit failed: ${err.code ?? err.message}`, false, refusal);
      return;
    }
    this.lastReply = ackPacket(wireBlock(block, this.params.rollover));
    this.hooks.send(this.lastReply);
    // Dally (RFC 1350 section 6): answer a repeated last block for a short while.
    const dallyMs = Math.min(this.params.timeoutMs, Math.max(200, 3 * this.rto.current()));
    this.dallyTimer = this.hooks.clock.setTimer(() => { this.dallyTimer = null; this.hooks.onDallyEnd?.(); }, dallyMs);
    this.finish();
  }

  /** Every way a write ends badly (timeout, client ERROR, limits, shutdown) drops the upload. */
  override fail(reason: string, clientAbort: boolean, error?: { code: number; message: string }): void {
    if (this.ended) return;
    super.fail(reason, clientAbort, error);
    this.aborted = this.sink.abort();
  }

  private aborted: Promise<void> = Promise.resolve();
  /** Resolves once a failed upload's temporary file is gone. */
  get settled(): Promise<void> { return this.aborted; }

  protected retransmit(): void {
    this.reply(this.lastReply, true);
  }

  /** Stops dallying early (server shutdown). */
  stopDally(): void {
    this.dallyTimer?.cancel();
    this.dallyTimer = null;
  }

  get dallying(): boolean { return this.dallyTimer !== null; }
}
