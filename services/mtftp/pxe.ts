// One PXE MTFTP round (PXE 2.1 section 3; atftpd tftpd_mtftp.c): a pure state machine
// over an injected clock and sends, like the unicast transfers (tftp/transfer.ts).
// - The client whose plain RRQ opened the round is its master. DATA 1 goes unicast to it
//   and to the group (so listeners keep block 1 too); later blocks go to the group only.
// - Lock-step: ACK n from the master asks for block n + 1. Masters ACK what they hold:
//   atftp the block just received; iPXE, re-opening after listening, its first gap minus
//   one, which jumps ahead over blocks it already heard. Either way n + 1 is sent next.
// - An ACK at or below the last one accepted is a duplicate: answering it would send
//   every later block twice (Sorcerer's Apprentice, RFC 1123 4.2.3.1); the timer resends.
// - Blocks are 512 bytes and numbered 1..65535; the service refuses bigger files.
// - A round without a group (sendGroup null) is a unicast round, for a file whose group
//   and port other files share: every block goes to the master alone, so no listener of
//   the group can take it for another file (docs/decisions/0008-mtftp-shared-group.md).
//   iPXE and atftp --mget take such a stream as its master; the lock-step is the same.
import { dataHeader, Opcode } from '../tftp/packet.js';
import { Transfer, type Send, type TransferHooks, type TransferParams } from '../tftp/transfer.js';
import { MTFTP_BLOCK_SIZE } from './files.js';

export interface RoundHooks extends TransferHooks {
  /** `send` reaches the master (unicast); this reaches the group. null: a unicast round. */
  sendGroup: Send | null;
}

export class PxeRound extends Transfer {
  readonly lastBlock: number;
  /** The block sent last, waiting for its ACK. */
  private current = 0;
  private lastAcked = 0;
  private sentAt = 0;
  private resent = false;
  /** When the master last moved the round on (or the round started). */
  private heardAt: number;

  constructor(params: TransferParams, private readonly roundHooks: RoundHooks, private readonly data: Buffer) {
    super({ ...params, blockSize: MTFTP_BLOCK_SIZE, windowSize: 1 }, roundHooks);
    this.lastBlock = Math.floor(data.length / MTFTP_BLOCK_SIZE) + 1;
    this.heardAt = roundHooks.clock.now();
  }

  /** Milliseconds since the master last moved the round on. */
  silentMs(): number {
    return this.hooks.clock.now() - this.heardAt;
  }

  /** Blocks the master holds, by its ACKs. */
  get acked(): number { return this.lastAcked; }

  /** Whether the round sends to its group (false: every block to the master alone). */
  get multicast(): boolean { return this.roundHooks.sendGroup !== null; }

  start(): void {
    this.send(1);
  }

  onPacket(buf: Buffer): void {
    if (this.ended || buf.length < 4 || buf[0] !== 0) return;
    if (buf[1] === Opcode.ACK) this.onAck(buf.readUInt16BE(2));
    else if (buf[1] === Opcode.ERROR) {
      const end = buf.indexOf(0, 4);
      this.fail(`master sent ERROR ${buf.readUInt16BE(2)}: ${buf.toString('latin1', 4, end < 0 ? buf.length : end)}`, true);
    }
  }

  private onAck(n: number): void {
    this.counters.acksReceived++;
    if (n <= this.lastAcked || n > this.lastBlock) return;
    // Karn: no round-trip sample from a block sent twice, nor from a jump ahead.
    if (n === this.current && !this.resent) this.rto.sample(this.hooks.clock.now() - this.sentAt);
    this.heard();
    this.heardAt = this.hooks.clock.now();
    this.lastAcked = n;
    this.counters.bytes = Math.min(this.data.length, n * MTFTP_BLOCK_SIZE);
    if (n === this.lastBlock) {
      this.finish();
      return;
    }
    this.progress();
    this.send(n + 1);
  }

  protected retransmit(): void {
    this.resent = true;
    this.send(this.current, true);
  }

  private send(n: number, again = false): void {
    const start = (n - 1) * MTFTP_BLOCK_SIZE;
    const payload = this.data.subarray(start, Math.min(start + MTFTP_BLOCK_SIZE, this.data.length));
    const header = dataHeader(n);
    // Block 1 also goes to the master itself: it has not joined the group's stream yet
    // (atftp takes block 1 from the group as "a transfer is running" and goes back to
    // listening). Unicast first: a client reading both sockets reads that one first.
    const group = this.roundHooks.sendGroup;
    const toMaster = n === 1 || group === null;
    const copies = (toMaster ? 1 : 0) + (group ? 1 : 0);
    if (toMaster) this.hooks.send([header, payload]);
    group?.([header, payload]);
    this.current = n;
    if (!again) this.resent = false;
    this.sentAt = this.hooks.clock.now();
    this.counters.dataPackets += copies;
    this.counters.dataBytes += copies * payload.length;
    this.arm();
  }
}
