// Unicast downloads in the progress model: TFTP transfers and HTTP downloads go through
// the same steps (one row per transfer, the machine's row follows it; its id says which
// protocol: tftp-<n> or http-<n>), and how a failure or a refusal counts for the boot.
import type {
  HttpDone, HttpFailed, HttpProgress, HttpRefused, HttpStart,
  TftpDone, TftpFailed, TftpProgress, TftpRefused, TftpStart,
} from '../core/events.js';
import { cleanPath, imageFiles } from './bootfiles.js';
import type { BootRow } from './bootrow.js';
import type { FileDone, Model } from './model.js';
import { addressKey } from './rows.js';
import { httpId, tftpId, type EndedTransfer, type Outcome, type TransferRow } from './transfers.js';

const idOf = (e: { kind: string; id: number }) => (e.kind.startsWith('http.') ? httpId(e.id) : tftpId(e.id));

export class Downloads {
  /** HTTP downloads of a byte range: done is not "the whole file sent". */
  private readonly partial = new Set<string>();

  constructor(private readonly m: Model) {}

  downloadStart(e: TftpStart | HttpStart): void {
    const { rows, active } = this.m;
    const mac = rows.ownerOf(e.ip, e.file);
    const id = active.downloadStart(e.kind === 'http.start' ? { ...e, protocol: 'http' } : e, mac);
    if (e.kind === 'http.start' && e.range !== null) this.partial.add(id);
    this.m.emit('transfers');
    const b = mac ? rows.adopt(rows.machine(mac, e.at), e.ip, e.at) : e.ip ? rows.address(e.ip, e.at) : undefined;
    if (!b) return;
    // No DHCP marks a new boot of a device known by its address: its next transfer after the end does.
    if (!b.row.mac && b.finished) b.newBoot(e.at, 'a new transfer after its last one ended');
    b.record(e, null);
    // Uploads (a switch saving its config) are not part of a boot.
    if (e.kind === 'http.start' || e.direction === 'read') b.follow(id, e.file, e.size, this.m.roleOf(b, e.file), e.at);
    b.seen(e.at);
    this.m.changed(b);
  }

  downloadProgress(e: TftpProgress | HttpProgress): void {
    const t = this.m.active.downloadProgress(e);
    if (t) this.m.emit('transfers');
    const b = this.rowOf(t, e.ip);
    if (b?.progress(idOf(e), e.bytes, e.size, e.rate, e.at)) this.m.changed(b);
  }

  downloadDone(e: TftpDone | HttpDone): void {
    const whole = !this.partial.delete(idOf(e));
    const b = this.endTransfer(idOf(e), e, { ok: true, reason: null, bytes: e.bytes, rate: e.throughput, at: e.at });
    if (!b) return;
    b.ended(idOf(e), { bytes: e.bytes, rate: e.throughput });
    b.record(e, null);
    this.m.changed(b);
    // A whole file sent: boot-once may end with the kernel (boot/bootonce.ts).
    const { mac } = b.row;
    if (!mac || !whole || (e.kind !== 'http.done' && e.direction !== 'read')) return;
    this.m.emit('file-done', { mac, file: e.file, role: this.m.roleOf(b, e.file), at: e.at } satisfies FileDone);
  }

  downloadFailed(e: TftpFailed | HttpFailed): void {
    this.partial.delete(idOf(e));
    const reason = e.clientAbort ? `the client ended it: ${e.reason}` : e.reason;
    const b = this.endTransfer(idOf(e), e, { ok: false, reason, bytes: e.bytes, at: e.at });
    if (!b) return;
    b.ended(idOf(e), null);
    b.record(e, null);
    // EDK2 reads the size with a tsize-only request, then aborts it on purpose (pxe-notes.md);
    // iPXE closes HTTP connections it no longer needs.
    if (!e.clientAbort) b.fail(`${e.file}: ${e.reason}`, e.at);
    this.m.changed(b);
  }

  downloadRefused(e: TftpRefused | HttpRefused): void {
    const { rows } = this.m;
    const mac = rows.ownerOf(e.ip, e.file);
    // A device known by its address: noted in its row, if it has one (a refusal makes none).
    const known = mac ? rows.get(mac) : e.ip ? rows.get(addressKey(e.ip)) : undefined;
    // pxelinux asks for pxelinux.cfg/<uuid>, <mac>, <hex ip>... until one exists: not an error.
    // Over HTTP only "not there", "not allowed" and a server error stop a boot: a 416 for a
    // range past the end or a 405 is the client's own mistake, answered, not a failed boot.
    const reads = e.kind === 'http.refused' ? [403, 404, 500].includes(e.code) : e.direction === 'read';
    const matters = mac !== null && reads && this.matters(mac, known, e.file);
    if (!known && !matters) return;
    const b = mac ? rows.adopt(rows.machine(mac, e.at), e.ip, e.at) : known!;
    b.seen(e.at);
    b.record(e, null);
    if (matters) b.fail(`${e.file} refused: ${e.reason}`, e.at);
    this.m.changed(b);
  }

  /** The row a transfer's events go to: its MAC's, else its client address's. */
  private rowOf(t: TransferRow | undefined, ip: string | undefined): BootRow | undefined {
    return (t?.mac ? this.m.rows.get(t.mac) : undefined) ?? this.m.rows.ofIp(t?.ip ?? ip);
  }

  /** The transfer is over: off the active list into the finished one; the row of its client, if listed. */
  private endTransfer(id: string, e: { ip?: string; at: number }, outcome: Outcome): BootRow | undefined {
    const t = this.m.active.end(id, outcome);
    if (t) {
      this.m.emit('transfers');
      const { ok, reason, bytes } = outcome;
      this.m.emit('transfer-ended', { id, ok, reason, bytes, size: t.size, at: e.at } satisfies EndedTransfer);
    }
    const b = this.rowOf(t, e.ip);
    b?.seen(e.at);
    return b;
  }

  /** Whether the boot depends on this file: the DHCP boot file, or the image's own files. */
  private matters(mac: string, b: BootRow | undefined, file: string): boolean {
    const f = cleanPath(file);
    if (b?.bootFile && cleanPath(b.bootFile) === f) return true;
    return imageFiles(this.m.rows.imageOf(mac)).some((p) => cleanPath(p) === f);
  }
}
