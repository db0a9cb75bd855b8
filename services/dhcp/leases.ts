// Full-mode lease state: who holds which address until when, offers in flight, declined
// addresses in quarantine; and its persistence as a journal in the state folder.
//
// Persistence (decision 0004): every change that must survive a restart (a bound lease, a
// release, a decline) is one JSON line appended to state/dhcp-leases.jsonl. Appends made
// during one turn of the event loop go out in one write(), and the ACK that depends on a
// line is sent only after that write returned: a crash of bootlab cannot lose a lease a
// client was told about. The file is fsync'ed at most once a second (a power cut can lose
// that last second, as with Kea's memfile) and on close. When the journal holds many more
// lines than live leases it is compacted: the live state is written to a temporary file,
// fsync'ed and renamed over the journal (atomic). Offers are not persisted: a client that
// loses its offer simply asks again.
import { closeSync, fsync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { intToIp, ipToInt } from '../core/net.js';

export interface Lease {
  mac: string;
  ip: string;
  /** Milliseconds since the epoch. */
  expires: number;
  hostname: string | null;
  state: 'offered' | 'bound' | 'released';
}

export interface Range { start: number; end: number }

type Line =
  | { t: 'bind'; mac: string; ip: string; exp: number; host: string | null }
  | { t: 'release'; mac: string; ip: string }
  | { t: 'decline'; ip: string; until: number };

export class LeaseStore {
  private readonly byIp = new Map<number, Lease>();
  private readonly byMac = new Map<string, Lease>();
  private readonly quarantine = new Map<number, number>();
  private readonly cursors = new Map<string, number>();
  private fd: number | null = null;
  private pending: string[] = [];
  private waiters: (() => void)[] = [];
  private flushScheduled = false;
  private dirty = false;
  private lines = 0;
  private syncTimer: NodeJS.Timeout | null = null;
  /** The last write or sync error, for the service status. */
  lastError: string | null = null;
  /** Offers taken back for another client because the pool was full (reclaimOffer). */
  reclaimed = 0;

  private constructor(readonly file: string | null) {}

  /** In memory only (tests, proxy mode). */
  static memory(): LeaseStore {
    return new LeaseStore(null);
  }

  /** Loads the journal in `stateDir` (a torn last line is skipped) and opens it for appends. */
  static open(stateDir: string): LeaseStore {
    const store = new LeaseStore(join(stateDir, 'dhcp-leases.jsonl'));
    let text = '';
    try {
      text = readFileSync(store.file!, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // a line torn by a crash mid-write
      }
      store.apply(line);
      store.lines += 1;
    }
    store.compact(Date.now());
    store.syncTimer = setInterval(() => store.sync(), 1000);
    store.syncTimer.unref();
    return store;
  }

  private apply(line: Line): void {
    switch (line.t) {
      case 'bind': this.set({ mac: line.mac, ip: line.ip, expires: line.exp, hostname: line.host, state: 'bound' }); break;
      case 'release': {
        const l = this.byMac.get(line.mac);
        if (l && l.ip === line.ip) l.state = 'released';
        break;
      }
      case 'decline': {
        const l = this.byIp.get(ipToInt(line.ip));
        if (l) this.drop(l);
        this.quarantine.set(ipToInt(line.ip), line.until);
        break;
      }
    }
  }

  private set(lease: Lease): void {
    const old = this.byMac.get(lease.mac);
    if (old) this.drop(old);
    const other = this.byIp.get(ipToInt(lease.ip));
    if (other) this.drop(other);
    this.byMac.set(lease.mac, lease);
    this.byIp.set(ipToInt(lease.ip), lease);
  }

  private drop(l: Lease): void {
    if (this.byMac.get(l.mac) === l) this.byMac.delete(l.mac);
    if (this.byIp.get(ipToInt(l.ip)) === l) this.byIp.delete(ipToInt(l.ip));
  }

  /** Whether a lease still holds its address (bound or offered, not expired). */
  static active(l: Lease | undefined, now: number): boolean {
    return l !== undefined && l.state !== 'released' && l.expires > now;
  }

  byMacAddress(mac: string): Lease | undefined {
    return this.byMac.get(mac);
  }

  /** The client holding `ip` now, if any. */
  holder(ip: string, now: number): Lease | undefined {
    const l = this.byIp.get(ipToInt(ip));
    return LeaseStore.active(l, now) ? l : undefined;
  }

  quarantined(ip: string, now: number): boolean {
    return this.quarantine.size > 0 && this.quarantinedInt(ipToInt(ip), now);
  }

  private quarantinedInt(n: number, now: number): boolean {
    const until = this.quarantine.get(n);
    if (until === undefined) return false;
    if (until > now) return true;
    this.quarantine.delete(n);
    return false;
  }

  /** Free for `mac`: nobody else holds it and it is not in quarantine. */
  freeFor(ip: string, mac: string, now: number): boolean {
    const h = this.holder(ip, now);
    return (h === undefined || h.mac === mac) && !this.quarantined(ip, now);
  }

  /**
   * An address for `mac` in `range`: its previous one if still free, else the next free
   * one after a per-range cursor (so look-ups stay cheap with 60 000 clients). `taken`
   * says an address is reserved for another machine. When no address is free, the oldest
   * offer still waiting for its REQUEST is taken back (see reclaimOffer). Null: every
   * address is bound, quarantined or reserved.
   */
  allocate(key: string, range: Range, mac: string, now: number, taken: (ip: string) => boolean): string | null {
    const prev = this.byMac.get(mac);
    if (prev) {
      const n = ipToInt(prev.ip);
      if (n >= range.start && n <= range.end && !this.quarantined(prev.ip, now) && !taken(prev.ip)) return prev.ip;
    }
    const size = range.end - range.start + 1;
    let cursor = this.cursors.get(key) ?? range.start;
    let oldestOffer: Lease | null = null;
    for (let i = 0; i < size; i++) {
      if (cursor > range.end || cursor < range.start) cursor = range.start;
      const n = cursor;
      cursor += 1;
      const l = this.byIp.get(n);
      if (LeaseStore.active(l, now) && l!.mac !== mac) {
        if (l!.state === 'offered' && (oldestOffer === null || l!.expires < oldestOffer.expires)) oldestOffer = l!;
        continue;
      }
      if (this.quarantine.size > 0 && this.quarantinedInt(n, now)) continue;
      const ip = intToIp(n);
      if (taken(ip)) continue;
      this.cursors.set(key, cursor);
      return ip;
    }
    this.cursors.set(key, cursor);
    return oldestOffer && !taken(oldestOffer.ip) ? this.reclaimOffer(oldestOffer) : null;
  }

  /**
   * An offer is a promise kept for OFFER_HOLD_MS, not a lease: with the pool full of offers
   * to MACs that never come back (forged DISCOVERs), a new client would otherwise get nothing
   * until they expire. The oldest goes; should its client REQUEST it after all, it gets a
   * NAK and starts again (RFC 2131 4.3.2), which is what a lost offer costs anyway.
   */
  private reclaimOffer(l: Lease): string {
    this.drop(l);
    this.reclaimed += 1;
    return l.ip;
  }

  /** Holds `ip` for `mac` while the client decides (not persisted). */
  offer(mac: string, ip: string, now: number, holdMs: number, hostname: string | null): void {
    const cur = this.byMac.get(mac);
    if (cur && cur.ip === ip && cur.state === 'bound' && cur.expires > now) return; // keep the bound lease
    this.update(mac, ip, now + holdMs, hostname, 'offered');
  }

  /** The client took another server's offer: the address it was offered is free now. */
  withdrawOffer(mac: string, now: number): void {
    const l = this.byMac.get(mac);
    if (l && l.state === 'offered') l.expires = now;
  }

  /** Binds and persists; resolves when the journal line was written. */
  bind(mac: string, ip: string, expires: number, hostname: string | null): Promise<void> {
    this.update(mac, ip, expires, hostname, 'bound');
    return this.append({ t: 'bind', mac, ip, exp: expires, host: hostname });
  }

  /**
   * The client's lease record, changed in place when it keeps its address: an offer turning
   * into a lease makes no new object, so the old generation of the heap, where leases live,
   * gets no garbage from it (V8's full collections were the tail in npm run bench:dhcp).
   */
  private update(mac: string, ip: string, expires: number, hostname: string | null, state: Lease['state']): void {
    const cur = this.byMac.get(mac);
    if (cur && cur.ip === ip && this.byIp.get(ipToInt(ip)) === cur) {
      cur.expires = expires;
      cur.hostname = hostname;
      cur.state = state;
      return;
    }
    this.set({ mac, ip, expires, hostname, state });
  }

  release(mac: string, ip: string): boolean {
    const l = this.byMac.get(mac);
    if (!l || l.ip !== ip || l.state === 'released') return false;
    l.state = 'released';
    void this.append({ t: 'release', mac, ip });
    return true;
  }

  /**
   * The client found `ip` in use (DECLINE): out of the pool until `until`. Only the client
   * the address was given to may say so (RFC 2131 4.3.3: the server marks "the network
   * address as not available" for the lease it made); from any other MAC it is a forgery
   * that could quarantine the whole pool, and false is returned.
   */
  decline(ip: string, mac: string, until: number): boolean {
    const l = this.byIp.get(ipToInt(ip));
    if (!l || l.mac !== mac || l.state === 'released') return false;
    this.drop(l);
    this.quarantine.set(ipToInt(ip), until);
    void this.append({ t: 'decline', ip, until });
    return true;
  }

  /** Whether `mac` was offered or given `ip` (its lease may have expired since). */
  knows(mac: string, ip: string): boolean {
    return this.byMac.get(mac)?.ip === ip;
  }

  /** How big the state is: lease records (any state), quarantined addresses, journal lines. */
  sizes(): { records: number; quarantined: number; journalLines: number } {
    return { records: this.byMac.size, quarantined: this.quarantine.size, journalLines: this.lines };
  }

  /** Every lease known (bound, offered, released), for the API. */
  all(): Lease[] {
    return [...this.byMac.values()];
  }

  private append(line: Line): Promise<void> {
    if (this.file === null) return Promise.resolve();
    this.pending.push(JSON.stringify(line));
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.writePending());
    }
    return done;
  }

  private writePending(): void {
    this.flushScheduled = false;
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      this.fd ??= openSync(this.file!, 'a', 0o600);
      writeSync(this.fd, `${lines.join('\n')}\n`);
      this.lines += lines.length;
      this.dirty = true;
      this.lastError = null;
    } catch (e) {
      this.lastError = `cannot write ${this.file}: ${(e as Error).message}`;
    }
    for (const w of waiters) w();
    if (this.lines > 10_000 && this.lines > 4 * this.byMac.size) this.compact(Date.now());
  }

  /**
   * fsync of the journal if it changed since the last one, in libuv's thread pool: an
   * fsync can take tens of milliseconds, and on the event loop it would hold up every
   * reply behind it (seen as the maximum delay in npm run bench:dhcp).
   */
  sync(): void {
    if (this.fd === null || !this.dirty || this.syncing) return;
    this.dirty = false;
    this.syncing = true;
    const fd = this.fd;
    fsync(fd, (e) => {
      this.syncing = false;
      if (this.retired === fd) {
        // Compaction replaced the journal while this fsync ran; close the old one now.
        closeSync(fd);
        this.retired = null;
        return;
      }
      if (e && this.fd === fd) {
        this.dirty = true;
        this.lastError = `cannot sync ${this.file}: ${e.message}`;
      }
    });
  }

  private syncing = false;
  /** The journal's previous descriptor, closed when its in-flight fsync returns. */
  private retired: number | null = null;

  /** Rewrites the journal as the live state only: temporary file, fsync, rename. */
  private compact(now: number): void {
    if (this.file === null) return;
    const out: string[] = [];
    for (const l of this.byMac.values()) {
      if (l.state === 'bound' && l.expires > now) out.push(JSON.stringify({ t: 'bind', mac: l.mac, ip: l.ip, exp: l.expires, host: l.hostname } satisfies Line));
      else if (l.state === 'released' && l.expires > now) {
        out.push(JSON.stringify({ t: 'bind', mac: l.mac, ip: l.ip, exp: l.expires, host: l.hostname } satisfies Line));
        out.push(JSON.stringify({ t: 'release', mac: l.mac, ip: l.ip } satisfies Line));
      }
    }
    for (const [ip, until] of this.quarantine) if (until > now) out.push(JSON.stringify({ t: 'decline', ip: intToIp(ip), until } satisfies Line));
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      if (out.length > 0) writeSync(fd, `${out.join('\n')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== null) {
      if (this.syncing) this.retired = this.fd;
      else closeSync(this.fd);
    }
    renameSync(tmp, this.file);
    this.fd = openSync(this.file, 'a', 0o600);
    this.lines = out.length;
    this.dirty = false;
  }

  close(): void {
    if (this.pending.length > 0) this.writePending();
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.fd !== null) {
      try { fsyncSync(this.fd); } catch (e) { this.lastError = `cannot sync ${this.file}: ${(e as Error).message}`; }
      closeSync(this.fd);
    }
    this.fd = null;
  }
}
