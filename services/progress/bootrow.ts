// One machine's boot as the progress model (tracker.ts) keeps it: the row the API shows,
// the boot file its DHCP reply named, the download the row follows, and a bounded history.
// The stage rules live here: a stage only moves forward within one boot, and the first
// failure is the one reported (later ones follow from it). A row is a MAC's, or an
// address's (a device that did no DHCP with bootlab, key ip:<address>, mac null) until
// it is merged into its MAC's row (absorb).
import type { FileRole } from './bootfiles.js';
import type { BootEvent } from '../core/events.js';
import type { ClientRow } from './schemas.js';
import { FIRMWARES, type Firmware } from '../core/firmware.js';
import { STAGE_INFO, type Stage } from './stages.js';
import { bootedText, eventText } from './text.js';
import { percentOf } from './transfers.js';

export type { ClientRow, Firmware, Stage };

export interface ActivityItem { at: number; level: 'info' | 'warn' | 'error'; mac: string | null; ip: string | null; text: string }

/** One line of a machine's history: the event's own fields, plus a sentence. */
export interface HistoryItem { at: number; kind: string; text: string; [field: string]: unknown }

/** Tells the activity feed about this machine. */
export type Say = (level: ActivityItem['level'], text: string, at: number) => void;

/** The stages of a boot in progress, which a merged address row hands on to its MAC's row. */
const LOADING = new Set<Stage>(['bootloader', 'script', 'kernel', 'initrd']);
const FIRMWARE = new Set<string>(FIRMWARES);

export class BootRow {
  readonly row: ClientRow;
  /** The boot file of the last DHCP reply (the boot loader, or iPXE's script URL). */
  bootFile: string | null = null;
  /** The transfer whose bytes the row shows (tftp-<id>, or a multicast round's id). */
  transfer: string | null = null;
  /** When the boot finished (booted or failed): a finished row ages from here. */
  endedAt: number | null = null;
  readonly history: HistoryItem[] = [];

  /** `mac` null: a row by address (`key` ip:<address>, `ip` set), which starts at `seen`, not asking DHCP. */
  constructor(
    key: string, mac: string | null, ip: string | null, at: number,
    private readonly say: Say, private readonly historySize: number,
  ) {
    this.row = {
      key, mac, ip, hostname: null, arch: null, firmware: null, image: null, stage: mac ? 'dhcp' : 'seen', reason: null,
      file: null, bytes: 0, total: null, percent: null, rate: 0,
      firstSeen: at, lastSeen: at, bootedAt: null, bootedFrom: null,
    };
  }

  get finished(): boolean { return this.endedAt !== null; }

  /** The firmware and architecture of the boot's first DHCP message (BIOS/UEFI, not the iPXE it loads). */
  firmware(firmware: string, arch: number | null): void {
    if (this.row.firmware === null) this.row.firmware = FIRMWARE.has(firmware) ? (firmware as Firmware) : 'other';
    if (this.row.arch === null) this.row.arch = arch;
  }

  /** The machine boots again: the row starts over, its history goes on. */
  newBoot(at: number, why = 'booting again (a new DHCP discovery)'): void {
    Object.assign(this.row, { stage: this.row.mac ? 'dhcp' : 'seen', reason: null, file: null, bytes: 0, total: null, percent: null, rate: 0, bootedAt: null, bootedFrom: null, arch: null, firmware: null });
    Object.assign(this, { bootFile: null, transfer: null, endedAt: null });
    this.record({ at, kind: 'client.new-boot', text: why }, 'info');
  }

  /** The row shows this download from now on, and moves to the stage the file stands for. */
  follow(id: string, file: string, total: number | null, role: FileRole | null, at: number): void {
    Object.assign(this.row, { file, bytes: 0, total, percent: percentOf(0, total), rate: 0 });
    this.transfer = id;
    if (role) this.advance(role, at, file);
  }

  /** Bytes of the download the row follows (and only of that one). */
  progress(id: string, bytes: number, total: number | null, rate: number, at: number): boolean {
    if (this.transfer !== id) return false;
    Object.assign(this.row, { bytes, total, percent: percentOf(bytes, total), rate });
    this.seen(at);
    return true;
  }

  /** The followed download ended: complete (100 %, the whole-transfer rate) or not. */
  ended(id: string, complete: { bytes: number; rate: number } | null): void {
    if (this.transfer !== id) return;
    this.transfer = null;
    if (complete)
      Object.assign(this.row, {
        bytes: complete.bytes,
        total: this.row.total ?? complete.bytes,
        percent: 100,
        rate: complete.rate,
      });
    else this.row.rate = 0;
  }

  advance(stage: Stage, at: number, file?: string): void {
    if (this.finished || STAGE_INFO[stage].rank <= STAGE_INFO[this.row.stage].rank) return;
    this.row.stage = stage;
    const { text } = STAGE_INFO[stage];
    this.say('info', file ? `${text} (${file})` : text, at);
  }

  fail(reason: string, at: number): void {
    if (this.finished) return;
    Object.assign(this.row, { stage: 'failed', reason, rate: 0 });
    this.endedAt = at;
    this.say('error', `failed: ${reason}`, at);
  }

  /** `local`: the machine left the network boot for its own disk (its script's LOCAL step): booted all the same. */
  booted(at: number, message: string | undefined, via: 'http' | 'api' = 'api', local = false): void {
    Object.assign(this.row, { stage: 'booted', reason: null, bootedAt: at, bootedFrom: local ? 'local' : 'network', rate: 0 });
    Object.assign(this, { endedAt: at, transfer: null });
    this.seen(at);
    const text = bootedText(local, message, via);
    this.record({ at, kind: 'client.booted', text, ...(message ? { message } : {}), ...(local ? { target: 'local' } : {}) }, 'info');
  }

  /**
   * The row of the same device by its address, before bootlab knew its MAC: its history
   * joins this one in time order, and a boot it was loading carries on here (a failure or a
   * booted report of the address's does not: its DHCP now says what this machine does).
   */
  absorb(other: BootRow, at: number): void {
    const lines = other.history.filter((h) => h.kind !== 'client.seen');
    const merged = [...this.history, ...lines].sort((a, b) => a.at - b.at);
    this.history.splice(0, this.history.length, ...merged.slice(-this.historySize));
    this.row.firstSeen = Math.min(this.row.firstSeen, other.row.firstSeen);
    this.seen(other.row.lastSeen);
    if (this.transfer === null && (other.transfer !== null || this.row.file === null)) {
      const { file, bytes, total, percent, rate } = other.row;
      Object.assign(this.row, { file, bytes, total, percent, rate });
      this.transfer = other.transfer;
    }
    if (LOADING.has(other.row.stage)) this.advance(other.row.stage, at, other.row.file ?? undefined);
    this.record({ at, kind: 'client.merged', ip: other.row.ip, text: `the transfers from ${other.row.ip} before bootlab knew its MAC are this machine's` }, null);
  }

  seen(at: number): void {
    this.row.lastSeen = Math.max(this.row.lastSeen, at);
  }

  /** A line in the history (a bus event gets its sentence), and in the activity feed at `level`. */
  record(event: BootEvent | HistoryItem, level: ActivityItem['level'] | null): void {
    const item: HistoryItem = 'text' in event ? event : { ...event, text: eventText(event) };
    this.history.push(item);
    if (this.history.length > this.historySize) this.history.shift();
    if (level) this.say(level, item.text, item.at);
  }
}
