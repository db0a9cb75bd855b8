// Deterministic DHCP fuzz packets (issue 15 item C.2), from one seed (prng.ts), in this mix:
//   - 15 % random bytes (0-600 of them), 10 % a DISCOVER with 1-8 bits flipped;
//   - 75 % well-formed but hostile requests (RFC 2131 figure 1, written by dhcp-bytes.ts):
//     DISCOVER, REQUEST (selecting, init-reboot, renewing), DECLINE, RELEASE and INFORM
//     naming addresses of the pool or the subnet, from random MACs, with random host
//     names (12), client ids (61), relay-agent information (82), PXE vendor classes (60,
//     93) and unknown options; giaddr 0, the sender's own address (a relay on the link) or
//     one on no subnet of the server's.
// Used in-process against respond() (test/dhcp/abuse.test.ts) and over the wire from a lab
// namespace against bootlab (dhcp-fuzz-main.ts, test/lab/interop/dhcp-fuzz.test.ts).
import { message, tlv } from './dhcp-bytes.js';
import { prng } from './prng.js';

export interface FuzzTarget {
  seed: number;
  /** The server's address (option 54 of most forged messages). */
  server: string;
  /** The sender's own address: giaddr of "relayed" messages and ciaddr of INFORMs. */
  self: string;
  pool: { start: string; end: string };
  /** The first three octets of the /24 the pool is in, e.g. "192.0.2". */
  net: string;
}

const ipn = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
const ipq = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const ipb = (a: string) => Buffer.from(a.split('.').map(Number));

export class FuzzGen {
  private readonly rnd: () => number;
  readonly counts: Record<string, number> = {};

  constructor(private readonly t: FuzzTarget) {
    this.rnd = prng(t.seed);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  private poolIp(): string {
    const a = ipn(this.t.pool.start);
    return ipq(a + this.int(ipn(this.t.pool.end) - a + 1));
  }

  private netIp(): string {
    return `${this.t.net}.${1 + this.int(254)}`;
  }

  private mac(): string {
    return ['02', 'fa', ...[...this.bytes(4)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
  }

  private giaddr(): string | undefined {
    const r = this.int(10);
    return r < 7 ? undefined : r < 9 ? this.t.self : `203.0.113.${1 + this.int(250)}`;
  }

  private extras(): Buffer[] {
    const out: Buffer[] = [];
    if (this.int(3) === 0) out.push(tlv(12, `h${this.bytes(1 + this.int(30)).toString('hex')}`));
    if (this.int(4) === 0) out.push(tlv(61, this.bytes(1 + this.int(20))));
    if (this.int(5) === 0) out.push(tlv(82, this.bytes(2 + this.int(30))));
    if (this.int(4) === 0) out.push(tlv(60, `PXEClient:Arch:0000${this.int(10)}:UNDI:002001`), tlv(93, [0, this.int(12)]));
    if (this.int(6) === 0) out.push(tlv(128 + this.int(100), this.bytes(this.int(40))));
    return out;
  }

  private dhcp(type: number, o: { ciaddr?: string; giaddr?: string }, opts: Buffer[]): Buffer {
    const m = message({
      xid: this.int(0xffffffff), flags: this.int(2) ? 0x8000 : 0, mac: this.mac(), ciaddr: o.ciaddr, giaddr: o.giaddr,
      optionArea: Buffer.concat([tlv(53, [type]), ...opts, Buffer.from([255])]),
    });
    return m.length >= 300 ? m : Buffer.concat([m, Buffer.alloc(300 - m.length)]);
  }

  private sid(): Buffer {
    return tlv(54, ipb(this.int(8) ? this.t.server : this.netIp()));
  }

  private hostile(): [string, Buffer] {
    const g = this.giaddr();
    switch (this.int(8)) {
      case 0: case 1: return ['discover', this.dhcp(1, { giaddr: g }, [...(this.int(2) ? [tlv(50, ipb(this.poolIp()))] : []), ...this.extras()])];
      case 2: return ['request-selecting', this.dhcp(3, { giaddr: g }, [this.sid(), tlv(50, ipb(this.poolIp())), ...this.extras()])];
      case 3: return ['request-init-reboot', this.dhcp(3, { giaddr: g }, [tlv(50, ipb(this.int(4) ? this.poolIp() : this.netIp())), ...this.extras()])];
      case 4: return ['request-renewing', this.dhcp(3, { ciaddr: this.int(2) ? this.poolIp() : this.netIp() }, this.extras())];
      case 5: return ['decline', this.dhcp(4, { giaddr: g }, [this.sid(), tlv(50, this.int(4) ? ipb(this.poolIp()) : this.bytes(4)), ...this.extras()])];
      case 6: return ['release', this.dhcp(7, { ciaddr: this.int(4) ? this.poolIp() : this.netIp() }, [this.sid(), ...this.extras()])];
      default: return ['inform', this.dhcp(8, { ciaddr: this.t.self, giaddr: this.int(4) ? undefined : this.t.self }, this.extras())];
    }
  }

  /** The next packet. */
  next(): Buffer {
    const r = this.int(100);
    let kind: string;
    let pkt: Buffer;
    if (r < 15) {
      [kind, pkt] = ['random', this.bytes(this.int(600))];
    } else if (r < 25) {
      [kind, pkt] = ['flipped', this.dhcp(1, {}, this.extras())];
      for (let i = 0, n = 1 + this.int(8); i < n; i++) pkt[this.int(pkt.length)] ^= 1 << this.int(8);
    } else {
      [kind, pkt] = this.hostile();
    }
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    return pkt;
  }
}
