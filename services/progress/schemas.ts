// The API shapes of the progress model: a machine's row (GET /api/clients) and a
// transfer's (GET /api/transfers). The schemas are the source; the types the model
// builds are derived from them, so the model cannot add a field the API would drop.
import { Type, type Static } from 'typebox';
import { nullable } from '../core/typebox.js';
import { FIRMWARES } from '../core/firmware.js';
import { STAGES } from './stages.js';

export const ClientRowSchema = Type.Object({
  key: Type.String({ description: 'the row\'s id: its MAC, or ip:<address> for a device known only by its address (it did no DHCP with bootlab)' }),
  mac: nullable(Type.String(), 'normal form: aa:bb:cc:dd:ee:ff; null for a device known only by its address'),
  ip: nullable(Type.String()),
  hostname: nullable(Type.String(), 'from the host map'),
  arch: nullable(Type.Integer(), 'RFC 4578 option 93: 0 BIOS, 7 EFI x64, 11 EFI arm64 ...'),
  firmware: nullable(Type.Enum(FIRMWARES)),
  image: nullable(Type.String(), 'the image the host map gives it'),
  stage: Type.Enum(STAGES, { description: 'seen: a device known only by its address, before any boot file' }),
  reason: nullable(Type.String(), 'why it failed'),
  file: nullable(Type.String(), 'the file it downloads (or last downloaded)'),
  bytes: Type.Number(),
  total: nullable(Type.Number()),
  percent: nullable(Type.Number()),
  rate: Type.Number({ description: 'bytes per second' }),
  firstSeen: Type.Number({ description: 'ms since the epoch' }),
  lastSeen: Type.Number({ description: 'ms since the epoch' }),
  bootedAt: nullable(Type.Number()),
  bootedFrom: nullable(Type.Enum(['network', 'local']), 'booted: local when it left the network boot for its own disk (its script\'s local-disk step), else network'),
}, { $id: 'ClientRow', title: 'ClientRow' });

/** One machine's row in the API: see the schema's descriptions. */
export type ClientRow = Static<typeof ClientRowSchema>;

export const TransferRowSchema = Type.Object({
  id: Type.String({ description: 'tftp-<n>, http-<n>, or <protocol>-<group>-<round> for a multicast round' }),
  protocol: Type.Enum(['tftp', 'http', 'pxe-mtftp', 'rfc2090']),
  direction: Type.Enum(['read', 'write']),
  file: Type.String(),
  ip: nullable(Type.String(), 'the client (a multicast round: its master)'),
  mac: nullable(Type.String()),
  bytes: Type.Number(),
  size: nullable(Type.Number()),
  percent: nullable(Type.Number()),
  rate: Type.Number({ description: 'bytes per second' }),
  receivers: nullable(Type.Integer(), 'multicast: clients in the group'),
  startedAt: Type.Number({ description: 'ms since the epoch' }),
}, { $id: 'TransferRow', title: 'TransferRow' });

export type TransferRow = Static<typeof TransferRowSchema>;

/** How a transfer in the finished list ended. */
const EndFields = Type.Object({
  ok: Type.Boolean({ description: 'true: the whole file went through' }),
  reason: nullable(Type.String(), 'why it failed (the client ended it, a timeout, its end never heard ...)'),
  endedAt: Type.Number({ description: 'ms since the epoch' }),
});

/** Refers to TransferRow by $id: the app adds TransferRowSchema first (routes/transfers.ts). */
export const FinishedTransferSchema = Type.Intersect([Type.Ref('TransferRow'), EndFields], {
  description: 'a transfer that ended: its last row (a done one: bytes per second over the whole transfer) and its outcome',
});

/** A transfer in the finished list: its last row (a done one: its whole-transfer rate), and its end. */
export type FinishedTransfer = TransferRow & Static<typeof EndFields>;
