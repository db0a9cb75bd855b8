// The "booted" report: the last step of a machine's boot script (or its booted OS) fetches
// bootlab/booted/<aa-bb-cc-dd-ee-ff>/<key> over HTTP or TFTP, and the machine's row turns
// booted (a boot-once host reverts, boot/bootonce.ts). A plain GET because iPXE's imgfetch
// can only GET; the key (an HMAC of the MAC under a secret of this process) keeps anyone
// else on the network from ending another machine's boot-once.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EventBus } from '../core/events.js';
import { normalizeMac } from '../core/hostmap-parse.js';
import { REPORT_NAME, reportPath } from '../core/bootnames.js';

/**
 * One secret for the whole process: TFTP and HTTP (and a restarted service) accept the same
 * keys, so a report works whichever way the script came.
 */
const PROCESS_SECRET = randomBytes(32);

// The path, and `/local` from the script's local-disk step.

export class BootReports {
  private readonly secret: Buffer;

  constructor(readonly events: EventBus, secret?: Buffer) {
    this.secret = secret ?? PROCESS_SECRET;
  }

  key(mac: string): string {
    return createHmac('sha256', this.secret).update(mac).digest('hex').slice(0, 20);
  }

  path(mac: string): string {
    return reportPath(mac, this.key(mac));
  }

  /** Checks the key and, when it is right, reports the machine booted (`local`: from its own disk). */
  report(mac: string, key: string, ip: string | null, target?: 'local'): boolean {
    const want = Buffer.from(this.key(mac));
    const got = Buffer.from(key.toLowerCase());
    if (got.length !== want.length || !timingSafeEqual(got, want)) return false;
    this.events.emit({ kind: 'client.booted', mac, via: 'http', ...(ip ? { ip } : {}), ...(target ? { target } : {}) });
    return true;
  }

  /** A content provider: the report as a file name; "booted" when accepted, null (not found) otherwise. */
  provider(): (name: string, client: { address: string }) => string | null {
    return (name, client) => {
      const m = REPORT_NAME.exec(name);
      if (!m) return null;
      const mac = normalizeMac(m[1]);
      return mac && this.report(mac, m[2], client.address, m[3] ? 'local' : undefined) ? `booted ${mac}\n` : null;
    };
  }
}
