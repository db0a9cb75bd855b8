// What the parts of the progress model share (tracker.ts routes the bus's events to
// downloads.ts and rounds.ts): the rows, the active transfers, and the tracker's typed
// emit. Its events are declared here, so the parts need not import the tracker.
import type { ActivityItem, BootRow } from './bootrow.js';
import type { FileRole } from './bootfiles.js';
import type { ClientRows } from './rows.js';
import type { Stage } from './stages.js';
import type { ActiveTransfers, EndedTransfer } from './transfers.js';

/** 'file-done': a machine has a whole boot file (kernel, initrd ...). */
export interface FileDone { mac: string; file: string; role: Stage | null; at: number }

/** What the tracker emits, each with its arguments. */
export interface TrackerEvents {
  /** A row changed (key: the MAC, or ip:<address>). */
  client: [key: string];
  /** A row was cleared, aged out or merged. */
  removed: [key: string];
  /** The active list changed. */
  transfers: [];
  'transfer-ended': [ended: EndedTransfer];
  /** Something a teacher wants to read: a machine seen, a stage reached, a failure, booted. */
  activity: [item: ActivityItem];
  'file-done': [done: FileDone];
}

export interface Model {
  readonly rows: ClientRows;
  readonly active: ActiveTransfers;
  emit<K extends keyof TrackerEvents>(event: K, ...args: TrackerEvents[K]): void;
  /** The row changed: its host-map fields are refreshed and 'client' is emitted. */
  changed(b: BootRow): void;
  /** What the file is to this row's boot (null: nothing, or another machine's script). */
  roleOf(b: BootRow, file: string): FileRole | null;
}
