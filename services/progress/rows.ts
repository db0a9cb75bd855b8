// The progress model's rows (tracker.ts) and who they are. One row per MAC; a device that
// never did DHCP with bootlab (a static address, a machine behind a router, a switch
// saving its configuration) gets a row by its address, key ip:<address> and mac null, so
// it is still listed once its transfer ended, bounded and aged like the others (issue 15,
// D1). When DHCP or the machine's own script ties the address to a MAC, the address's row
// is merged into the MAC's.
// The index address → MAC is learnt from DHCP (offer, ack, the requested address), from a
// booted report, and from the name of a machine's own script (bootlab/<mac>.ipxe) only
// while that machine has no address yet and the address is nobody else's: anyone can
// fetch a script URL, and a stranger's fetch must not move the machine's row to the
// stranger's address (issue 15, D2). The fetch is then the stranger's own.
import { scriptMac } from './bootfiles.js';
import { BootRow, type ActivityItem } from './bootrow.js';
import { normalizeMac, type HostMap, type Image } from '../core/hostmap.js';
import type { Logger } from '../core/log.js';

export const addressKey = (ip: string): string => `ip:${ip}`;

export interface ClientRowsOptions {
  hosts: HostMap;
  log: Logger;
  historySize: number;
  maxClients: number;
  /** A line for the activity feed. */
  activity(item: ActivityItem): void;
  /** A row left the list (cleared, aged out, evicted, merged). */
  removed(key: string): void;
  /** The address's row was merged into the MAC's: its running transfers are the MAC's now. */
  merged(ip: string, mac: string): void;
}

export class ClientRows {
  private readonly rows = new Map<string, BootRow>();
  private readonly macByIp = new Map<string, string>();

  constructor(private readonly o: ClientRowsOptions) {}

  all(): BootRow[] { return [...this.rows.values()]; }

  get(key: string): BootRow | undefined { return this.rows.get(key); }

  /** A row by its MAC in any notation, or by ip:<address>. */
  find(id: string): BootRow | undefined {
    if (id.startsWith('ip:')) return this.rows.get(id);
    const mac = normalizeMac(id);
    return mac ? this.rows.get(mac) : undefined;
  }

  macOf(ip: string): string | null { return this.macByIp.get(ip) ?? null; }

  /** The row of a client address: its MAC's, else its own; undefined when neither is listed. */
  ofIp(ip: string | null | undefined): BootRow | undefined {
    if (!ip) return undefined;
    const mac = this.macOf(ip);
    return mac ? this.rows.get(mac) : this.rows.get(addressKey(ip));
  }

  /** The MAC's row, made if new. */
  machine(mac: string, at: number): BootRow {
    return this.rows.get(mac) ?? this.create(mac, mac, null, at);
  }

  /**
   * The learning step of a transfer that is this machine's (ownerOf): its client `ip`
   * becomes the machine's address when the index says so, or when the machine has none yet
   * and the address is nobody's (its own first fetch of its script). Returns the row.
   */
  adopt(b: BootRow, ip: string | undefined, at: number): BootRow {
    const mac = b.row.mac;
    if (!ip || !mac || b.row.ip === ip) return b;
    const owner = this.macOf(ip);
    if (owner === mac || (owner === null && b.row.ip === null)) this.learnIp(b, ip, at);
    return b;
  }

  /** The row a transfer from `ip` belongs to: its MAC's if known, else the address's own, made if new. */
  address(ip: string, at: number): BootRow {
    const mac = this.macOf(ip);
    if (mac) return this.adopt(this.machine(mac, at), ip, at);
    return this.rows.get(addressKey(ip)) ?? this.create(addressKey(ip), null, ip, at);
  }

  /**
   * The MAC behind a download of `file` from `ip`: the index's, or the one its script's name
   * carries when that is the machine's own first fetch (see the top of the file). A pure
   * look-up: adopt() is the step that learns.
   */
  ownerOf(ip: string | undefined, file: string): string | null {
    const named = scriptMac(file);
    if (!ip) return named;
    const owner = this.macOf(ip);
    if (!named || owner === named) return owner;
    // The machine's own first fetch: adopt() learns the address (and merges the address's
    // own row) when the caller makes or finds the row; a refusal that makes no row leaves
    // the index as it was.
    if (owner === null && !this.rows.get(named)?.row.ip) return named;
    return owner;
  }

  /** DHCP says `ip` is this machine's: the index follows, the address's own row merges in. */
  learnIp(b: BootRow, ip: string, at: number): void {
    const mac = b.row.mac;
    if (!mac) return;
    const old = b.row.ip;
    if (old && old !== ip && this.macByIp.get(old) === mac) this.macByIp.delete(old);
    b.row.ip = ip;
    this.macByIp.set(ip, mac);
    const orphan = this.rows.get(addressKey(ip));
    if (!orphan) return;
    b.absorb(orphan, at);
    this.remove(orphan);
    this.o.merged(ip, mac);
  }

  /** A booted report's address: the machine's only if it has none yet and nobody else has it. */
  claimIp(b: BootRow, ip: string, at: number): void {
    const owner = this.macOf(ip);
    if (!b.row.ip && (owner === null || owner === b.row.mac)) this.learnIp(b, ip, at);
  }

  /** A DHCP release: the address is no longer this machine's. */
  forget(ip: string, mac: string): void {
    if (this.macByIp.get(ip) === mac) this.macByIp.delete(ip);
  }

  remove(b: BootRow): void {
    const { key, mac, ip } = b.row;
    this.rows.delete(key);
    // learnIp keeps one address per row in the index: its current one.
    if (mac && ip !== null && this.macByIp.get(ip) === mac) this.macByIp.delete(ip);
    this.o.removed(key);
  }

  /** The image the host map gives this machine: its own, or the default image (none for an address). */
  imageName(mac: string | null): string | null {
    if (!mac) return null;
    const host = this.o.hosts.lookup(mac);
    if (host?.image) return host.image;
    const d = this.o.hosts.defaults;
    return d.action === 'image' ? d.image : null;
  }

  imageOf(mac: string | null): Image | undefined {
    const name = this.imageName(mac);
    return name ? this.o.hosts.images.get(name) : undefined;
  }

  /** hostname and image come from the host map; true when they changed. */
  hostFields(b: BootRow): boolean {
    const r = b.row;
    const hostname = r.mac ? this.o.hosts.lookup(r.mac)?.hostname ?? null : null;
    const image = this.imageName(r.mac);
    if (hostname === r.hostname && image === r.image) return false;
    Object.assign(r, { hostname, image });
    return true;
  }

  private create(key: string, mac: string | null, ip: string | null, at: number): BootRow {
    const b: BootRow = new BootRow(key, mac, ip, at, (level, text, when) => {
      const r = b.row;
      this.o.activity({ at: when, level, mac: r.mac, ip: r.ip, text: `${r.hostname ?? r.mac ?? r.ip}: ${text}` });
    }, this.o.historySize);
    if (this.rows.size >= this.o.maxClients) this.evict();
    this.rows.set(key, b);
    this.hostFields(b);
    b.record({ at, kind: 'client.seen', text: mac ? 'new machine seen' : 'new device seen (it did no DHCP with bootlab: known by its address)' }, 'info');
    return b;
  }

  /** At the limit: the tenth of the rows seen longest ago go (one sort per many new rows, not a scan per row). */
  private evict(): void {
    const oldest = this.all().sort((a, b) => a.row.lastSeen - b.row.lastSeen);
    const n = Math.max(1, Math.floor(oldest.length / 10));
    this.o.log.warn({ listed: this.rows.size, removed: n }, 'progress: too many machines listed (progress maxClients); the longest silent are dropped');
    for (const b of oldest.slice(0, n)) this.remove(b);
  }
}
