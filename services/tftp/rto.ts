// The retransmission timer, RFC 6298: SRTT and RTTVAR from round-trip samples,
// RTO = SRTT + max(G, 4·RTTVAR), clamped between a floor and a ceiling (the negotiated
// or configured timeout), doubled on each timeout (exponential backoff). Karn's rule:
// the caller never samples a round trip that included a retransmission. On a LAN a lost
// packet then costs milliseconds, not the peers' fixed one to five seconds.
const CEILING_STRETCH = 1.1;
const FAST_BACKOFFS = 4;

export class RetransmitTimer {
  private srtt = -1;
  private rttvar = 0;
  private backoff = 1;
  private backoffs = 0;

  constructor(
    private readonly floorMs: number,
    private readonly ceilingMs: number,
    private readonly initialMs = Math.min(1000, ceilingMs),
  ) {}

  /** A round-trip sample in milliseconds (RFC 6298 section 2). */
  sample(rttMs: number): void {
    if (this.srtt < 0) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttMs);
      this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    }
    this.backoff = 1;
    this.backoffs = 0;
  }

  /**
   * The peer acknowledged something new: the path works, so the backoff starts over, as
   * Linux TCP clears its backoff on an ACK of new data. Without this, a transfer whose
   * ACKs all fall on resent blocks (no sample, Karn) kept the backed-off wait: under
   * 5% loss windows stalled for seconds each.
   */
  progress(): void {
    this.backoff = 1;
    this.backoffs = 0;
  }

  /** Called on each timeout: the next wait doubles, up to the ceiling (section 5.5). */
  backOff(): void {
    this.backoffs++;
    // Four doublings without an answer (20 ms to 320 ms on a LAN) and the peer is either
    // gone or waiting for silence (Debian's atftp, after its one extra ACK was lost,
    // re-ACKs only after a whole timeout without packets): go straight to the ceiling
    // rather than spending another 5 s doubling towards it.
    if (this.current() < this.ceilingMs) this.backoff *= 2;
  }

  /** The wait before the next retransmission, in milliseconds. */
  current(): number {
    const base = this.srtt < 0 ? this.initialMs : this.srtt + Math.max(1, 4 * this.rttvar);
    const wait = Math.max(this.floorMs, base) * this.backoff;
    if (wait < this.ceilingMs && this.backoffs < FAST_BACKOFFS) return wait;
    // Backed off to the ceiling: wait a tenth longer. Debian's atftp answers a repeated
    // block only once and then re-ACKs only after a whole timeout (5 s, our default
    // ceiling) without any packet; if that one ACK is lost, only a silence longer than
    // its timeout restarts the transfer.
    return this.backoff > 1 ? Math.round(this.ceilingMs * CEILING_STRETCH) : this.ceilingMs;
  }

  /** True once backing off has reached the ceiling. */
  get atCeiling(): boolean {
    return this.backoff > 1 && this.current() > this.ceilingMs;
  }

  get smoothed(): number { return this.srtt; }
}
