// One machine's boot as the progress model (progress.ts) keeps it: the row the API shows,
// the boot file its DHCP reply named, the download the row follows, and a bounded history.
// The stage rules live here: a stage only moves forward within one boot, and the first
// failure is the one reported (later ones follow from it).
import type { FileRole } from './bootfiles.js';
import type { BootEvent } from './events.js';
import { eventText, STAGE_TEXT, type StageName } from './progress-text.js';
import { percentOf } from './transfers.js';

export type Stage = StageName;
export type Firmware = 'bios' | 'uefi' | 'ipxe' | 'http' | 'other';

export interface ClientRow {
  mac: string; ip: string | null; hostname: string | null; arch: number | null;
  firmware: Firmware | null; image: string | null;
  stage: Stage; reason: string | null; file: string | null; bytes: number; total: number | null;
  percent: number | null; rate: number; firstSeen: number; lastSeen: number; bootedAt: number | null;
}

export interface ActivityItem { at: number; level: 'info' | 'warn' | 'error'; mac: string | null; ip: string | null; text: string }

/** One line of a machine's history: the event's own fields, plus a sentence. */
export interface HistoryItem { at: number; kind: string; text: string; [field: string]: unknown }

/** Tells the activity feed about this machine. */
export type Say = (level: ActivityItem['level'], text: string, at: number) => void;

const RANK: Record<Stage, number> = { dhcp: 0, offered: 1, bound: 2, bootloader: 3, script: 4, kernel: 5, initrd: 6, booted: 7, failed: 7 };
const FIRMWARES = new Set<string>(['bios', 'uefi', 'ipxe', 'http', 'other']);

export class BootRow {
  readonly row: ClientRow;
  /** The boot file of the last DHCP reply (the boot loader, or iPXE's script URL). */
  bootFile: string | null = null;
  /** The transfer whose bytes the row shows (tftp-<id>, or a multicast round's id). */
  transfer: string | null = null;
  /** When the boot finished (booted or failed): a finished row ages from here. */
  endedAt: number | null = null;
  readonly history: HistoryItem[] = [];

  constructor(mac: string, at: number, private readonly say: Say, private readonly historySize: number) {
    this.row = { mac, ip: null, hostname: null, arch: null, firmware: null, image: null, stage: 'dhcp', reason: null, file: null, bytes: 0, total: null, percent: null, rate: 0, firstSeen: at, lastSeen: at, bootedAt: null };
  }

  get finished(): boolean { return this.endedAt !== null; }

  /** The firmware and architecture of the boot's first DHCP message (BIOS/UEFI, not the iPXE it loads). */
  firmware(firmware: string, arch: number | null): void {
    if (this.row.firmware === null) this.row.firmware = FIRMWARES.has(firmware) ? (firmware as Firmware) : 'other';
    if (this.row.arch === null) this.row.arch = arch;
  }

  /** The machine boots again: the row starts over, its history goes on. */
  newBoot(at: number): void {
    Object.assign(this.row, { stage: 'dhcp', reason: null, file: null, bytes: 0, total: null, percent: null, rate: 0, bootedAt: null, arch: null, firmware: null });
    Object.assign(this, { bootFile: null, transfer: null, endedAt: null });
    this.record({ at, kind: 'client.new-boot', text: 'booting again (a new DHCP discovery)' }, 'info');
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
    if (complete) Object.assign(this.row, { bytes: complete.bytes, total: this.row.total ?? complete.bytes, percent: 100, rate: complete.rate });
    else this.row.rate = 0;
  }

  advance(stage: Stage, at: number, file?: string): void {
    if (this.finished || RANK[stage] <= RANK[this.row.stage]) return;
    this.row.stage = stage;
    this.say('info', file ? `${STAGE_TEXT[stage]} (${file})` : STAGE_TEXT[stage], at);
  }

  fail(reason: string, at: number): void {
    if (this.finished) return;
    Object.assign(this.row, { stage: 'failed', reason, rate: 0 });
    this.endedAt = at;
    this.say('error', `failed: ${reason}`, at);
  }

  booted(at: number, message: string | undefined, via: 'http' | 'api' = 'api'): void {
    Object.assign(this.row, { stage: 'booted', reason: null, bootedAt: at, rate: 0 });
    Object.assign(this, { endedAt: at, transfer: null });
    this.seen(at);
    const text = message ? `booted: ${message}` : via === 'http' ? 'booted (reported by its boot script or OS)' : 'booted (reported to the admin API)';
    this.record({ at, kind: 'client.booted', text, ...(message ? { message } : {}) }, 'info');
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
