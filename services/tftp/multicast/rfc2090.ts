// One RFC 2090 multicast group: a pure state machine over an injected clock and sends.
// - Members join with an RRQ carrying "multicast"; each gets an OACK multicast=addr,port,mc
//   from the group's own socket (atftp accepts DATA only from the OACK's address and port).
// - The oldest member still wanting the file is the master (mc=1); its ACK n says it
//   holds blocks 1..n and asks for n + 1 (its first hole). Every other member only listens;
//   an ACK from one of them gets an OACK with mc=0 (RFC 2090), unless it ACKs the last
//   block: then it has the whole file and leaves.
// - When the master has the last block, the next member gets an OACK with mc=1 and ACKs
//   the block before its first hole, so only what it missed is sent again.
// - `window` blocks may be in flight ahead of the master's ACK (window 1 is RFC 2090's
//   one block per ACK). Receivers keep blocks in any order, by number, so sending ahead
//   costs nothing and hides the round trip. Loss recovery is selective: a duplicate ACK
//   (a later block arrived, the hole did not) resends the hole, at most once per round
//   trip; the timer resends the hole only. Block numbers never roll over in multicast (atftp
//   reads them as 16 bits), so files over 65535 blocks are served by unicast instead.
import { dataHeader, encode, Opcode } from '../packet.js';
import { Deadline, RetryBudget, type Clock, type Send } from '../transfer.js';

export interface Peer { address: string; port: number }

export interface GroupParams {
  blockSize: number;
  window: number;
  timeoutMs: number;
  minRetransmitMs: number;
  maxRetries: number;
  firstReplyRetries: number;
  progressIntervalMs: number;
  /** Milliseconds the first block waits after the group opened, so machines asking at
   *  nearly the same moment all hear the file from its start. */
  gatherMs: number;
}

export interface GroupHooks {
  sendTo(peer: Peer, packet: Buffer | Buffer[]): void;
  sendGroup: Send;
  clock: Clock;
  onMaster?(peer: Peer): void;
  onClientDone?(peer: Peer, via: 'master-ack' | 'final-ack'): void;
  onClientLost?(peer: Peer, reason: string): void;
  onProgress?(): void;
  /** No member is left: every one has the file, or gave up, or was given up. */
  onEnd(outcome: { ok: boolean; reason: string }): void;
}

interface Member {
  peer: Peer;
  key: string;
  /** The OACK's options in the client's order; "multicast" is filled in per OACK. */
  options: [string, string][];
}

export interface GroupCounters {
  dataPackets: number;
  dataBytes: number;
  retransmits: number;
  acksReceived: number;
  completed: number;
  lost: number;
}

const keyOf = (p: Peer) => `${p.address}|${p.port}`;

/** Unanswered retransmissions after which a master gives way to a waiting member. */
const DEMOTE_AFTER = 3;

export class Rfc2090Group {
  readonly counters: GroupCounters = {
    dataPackets: 0, dataBytes: 0, retransmits: 0, acksReceived: 0, completed: 0, lost: 0,
  };

  readonly lastBlock: number;
  private readonly members: Member[] = [];
  private master: Member | null = null;
  /** The master has not ACKed since its OACK mc=1. */
  private awaitingAck = false;
  /** The master's round trips and retries: a fresh budget per master. */
  private budget: RetryBudget;
  private readonly deadline: Deadline;
  /** The master's first hole, as far as its ACKs tell. */
  private base = 1;
  private highestSent = 0;
  private readonly sentAt: Float64Array;
  private readonly resent: Uint8Array;
  private ended = false;
  private lastProgress = 0;
  private readonly openedAt: number;
  /** The first send waits for the gathering time to pass. */
  private gathering: { cancel(): void } | null = null;

  constructor(
    private readonly params: GroupParams,
    private readonly hooks: GroupHooks,
    private readonly data: Buffer,
    readonly address: string,
    readonly port: number,
  ) {
    this.lastBlock = Math.floor(data.length / params.blockSize) + 1;
    this.sentAt = new Float64Array(this.lastBlock + 1).fill(-1);
    this.resent = new Uint8Array(this.lastBlock + 1);
    this.budget = new RetryBudget(params);
    this.deadline = new Deadline(hooks.clock, () => this.onTimeout());
    this.openedAt = hooks.clock.now();
  }

  get size(): number { return this.data.length; }
  get done(): boolean { return this.ended; }
  get receivers(): number { return this.members.length; }
  get masterPeer(): Peer | null { return this.master?.peer ?? null; }
  /** Blocks the current master holds, by its ACKs. */
  get acked(): number { return this.base - 1; }
  /** The current retransmission wait, ms. */
  get retransmitMs(): number { return this.budget.rto.current(); }

  has(peer: Peer): boolean {
    return this.members.some((m) => m.key === keyOf(peer));
  }

  /** A member's RRQ (or its repeat, when our OACK was lost: it is answered again). */
  join(peer: Peer, options: [string, string][]): void {
    if (this.ended) return;
    const key = keyOf(peer);
    const known = this.members.find((m) => m.key === key);
    if (known) {
      this.hooks.sendTo(peer, this.oack(known, known === this.master));
      return;
    }
    const member: Member = { peer, key, options };
    this.members.push(member);
    if (!this.master) this.promote(member);
    else this.hooks.sendTo(peer, this.oack(member, false));
  }

  /** A datagram from a peer on the group's socket; false when it is not a member. */
  onPacket(peer: Peer, buf: Buffer): boolean {
    // Nearly every datagram is the master's ACK: matched without building a key.
    const m0 = this.master;
    const member = m0 && m0.peer.port === peer.port && m0.peer.address === peer.address
      ? m0
      : this.members.find((m) => m.key === keyOf(peer));
    if (!member) return false;
    if (this.ended || buf.length < 4 || buf[0] !== 0) return true;
    if (buf[1] === Opcode.ERROR) {
      this.drop(member, `client sent ERROR ${buf.readUInt16BE(2)}`, false);
      return true;
    }
    if (buf[1] !== Opcode.ACK) return true;
    this.counters.acksReceived++;
    const n = buf.readUInt16BE(2);
    if (member !== this.master) {
      if (n >= this.lastBlock) this.complete(member, 'final-ack');
      else this.hooks.sendTo(peer, this.oack(member, false));
      return true;
    }
    this.onMasterAck(n);
    return true;
  }

  /** Ends the group (server shutdown): every member gets `error`. */
  abort(error: Buffer, reason: string): void {
    if (this.ended) return;
    for (const m of this.members) this.hooks.sendTo(m.peer, error);
    this.members.length = 0;
    this.end(false, reason);
  }

  private oack(m: Member, master: boolean): Buffer {
    const value = `${this.address},${this.port},${master ? 1 : 0}`;
    return encode({ op: 'OACK', options: new Map(m.options.map(([k, v]) => [k, k === 'multicast' ? value : v])) });
  }

  private promote(m: Member): void {
    this.master = m;
    this.awaitingAck = true;
    this.budget = new RetryBudget(this.params); // round trips differ from client to client
    this.hooks.onMaster?.(m.peer);
    this.hooks.sendTo(m.peer, this.oack(m, true));
    this.arm();
  }

  private onMasterAck(n: number): void {
    if (n > this.lastBlock) return;
    const now = this.hooks.clock.now();
    if (this.gathering) return; // a repeat of the first ACK while the group gathers
    if (this.awaitingAck) {
      // A new master tells where its first hole is; nothing it lacks is in flight yet.
      this.awaitingAck = false;
      this.base = n + 1;
      this.highestSent = n;
      this.heard();
      const wait = this.params.gatherMs - (now - this.openedAt);
      if (n === 0 && wait > 0) {
        this.deadline.cancel();
        this.gathering = this.hooks.clock.setTimer(() => {
          this.gathering = null;
          if (!this.ended) this.fill();
        }, wait);
        return;
      }
    } else if (n + 1 > this.base) {
      if (this.resent[n] === 0 && this.sentAt[n] >= 0 && n <= this.highestSent)
        this.budget.rto.sample(now - this.sentAt[n]);
      this.base = n + 1;
      // A master that heard blocks as a listener ACKs past what was sent in its turn:
      // those it holds are not sent again (listeners that lack them ask in their turn).
      if (n > this.highestSent) this.highestSent = n;
      this.heard();
      // No NewReno "partial ACK" resend here: receivers ACK every block they take, so a
      // run of rising ACKs after a stall is the master catching up, not a new hole.
    } else if (n + 1 === this.base) {
      // A duplicate: the master took a later block but not this one. Not when the hole
      // was sent within half a round trip (a copy of an ACK already answered), nor a
      // resent hole within a round trip (its answer is on the way).
      const srtt = this.budget.rto.smoothed;
      const recent = srtt < 0 ? this.params.minRetransmitMs / 2 : this.resent[this.base] ? srtt * 1.25 : srtt / 2;
      if (this.base <= this.highestSent && now - this.sentAt[this.base] >= recent) this.resend(this.base);
      return;
    } else {
      return; // stale
    }
    if (n === this.lastBlock) {
      this.complete(this.master!, 'master-ack');
      return;
    }
    this.fill();
    this.progress();
  }

  /** Sends new blocks up to the window's end. */
  private fill(): void {
    const end = Math.min(this.base + this.params.window - 1, this.lastBlock);
    while (this.highestSent < end) this.sendBlock(++this.highestSent);
    this.arm();
  }

  private resend(n: number): void {
    this.resent[n] = 1;
    this.counters.retransmits++;
    this.sendBlock(n);
  }

  private sendBlock(n: number): void {
    const { blockSize } = this.params;
    const start = (n - 1) * blockSize;
    const payload = this.data.subarray(start, Math.min(start + blockSize, this.data.length));
    this.hooks.sendGroup([dataHeader(n), payload]);
    this.sentAt[n] = this.hooks.clock.now();
    this.counters.dataPackets++;
    this.counters.dataBytes += payload.length;
  }

  private heard(): void {
    this.budget.heard();
  }

  private arm(): void {
    this.deadline.arm(this.budget.rto.current());
  }

  private onTimeout(): void {
    if (this.ended || !this.master) return;
    if (!this.budget.timedOut()) {
      this.drop(this.master, `no ACK after ${this.budget.spent} retransmissions`, true);
      return;
    }
    if (this.budget.unanswered >= DEMOTE_AFTER && this.members.length > 1) {
      this.demote(this.master);
      return;
    }
    this.counters.retransmits++;
    if (this.awaitingAck) this.hooks.sendTo(this.master.peer, this.oack(this.master, true));
    else {
      this.resent[this.base] = 1;
      this.sendBlock(Math.min(this.base, this.lastBlock));
    }
    this.arm();
  }

  private progress(): void {
    if (!this.hooks.onProgress) return;
    const now = this.hooks.clock.now();
    if (now - this.lastProgress < this.params.progressIntervalMs) return;
    this.lastProgress = now;
    this.hooks.onProgress();
  }

  /**
   * A silent master while others wait: the next one leads. It may have left after its
   * final ACK was lost (atftp sends that once and exits), or be stalled; either way the
   * others must not wait out its retries. It keeps a place at the back, and if it is still
   * there it leads again in its turn (an OACK mc=1); until then its ACKs get mc=0.
   */
  private demote(m: Member): void {
    this.remove(m);
    this.members.push(m);
    this.next();
  }

  private complete(m: Member, via: 'master-ack' | 'final-ack'): void {
    this.counters.completed++;
    this.remove(m);
    this.hooks.onClientDone?.(m.peer, via);
    if (m === this.master) this.next();
  }

  private drop(m: Member, reason: string, tellIt: boolean): void {
    this.counters.lost++;
    if (tellIt) this.hooks.sendTo(m.peer, encode({ op: 'ERROR', code: 0, message: 'timeout' }));
    this.remove(m);
    this.hooks.onClientLost?.(m.peer, reason);
    if (m === this.master) this.next();
  }

  private remove(m: Member): void {
    const i = this.members.indexOf(m);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** The oldest remaining member leads next; with none left the group is over. */
  private next(): void {
    this.master = null;
    this.deadline.cancel();
    this.gathering?.cancel();
    this.gathering = null;
    const m = this.members[0];
    if (m) this.promote(m);
    else this.end(this.counters.lost === 0, this.counters.lost === 0 ? '' : `${this.counters.lost} client(s) given up`);
  }

  private end(ok: boolean, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.deadline.cancel();
    this.gathering?.cancel();
    this.gathering = null;
    this.hooks.onEnd({ ok, reason });
  }
}
