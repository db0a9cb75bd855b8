// The retransmission timer, RFC 6298: SRTT and RTTVAR from round-trip samples,
// RTO = SRTT + max(G, 4·RTTVAR), clamped between a floor and a ceiling (the negotiated
// or configured timeout), doubled on each timeout (exponential backoff). Karn's rule:
// the caller never samples a round trip that included a retransmission. On a LAN a lost
// packet then costs milliseconds, not the peers' fixed one to five seconds.
export class RetransmitTimer {
  private srtt = -1;
  private rttvar = 0;
  private backoff = 1;

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
  }

  /** Called on each timeout: the next wait doubles, up to the ceiling (section 5.5). */
  backOff(): void {
    if (this.current() < this.ceilingMs) this.backoff *= 2;
  }

  /** The wait before the next retransmission, in milliseconds. */
  current(): number {
    const base = this.srtt < 0 ? this.initialMs : this.srtt + Math.max(1, 4 * this.rttvar);
    return Math.min(this.ceilingMs, Math.max(this.floorMs, base) * this.backoff);
  }

  get smoothed(): number { return this.srtt; }
}
