// A flash job as the API shows it (GET /api/flash, /api/flash/:id): the schema is the
// source, FlashJobs (jobs.ts) builds the type derived from it.
import { Type, type Static } from 'typebox';
import { nullable } from '../core/typebox.js';

export const JOB_STATES = ['waiting', 'sending', 'done', 'no-answer', 'refused', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FlashJobSchema = Type.Object({
  id: Type.String(),
  target: Type.String(),
  port: Type.Integer(),
  file: Type.String({ description: 'the firmware under tftpboot/firmware/' }),
  remoteName: Type.String({ description: 'the name sent in the write request' }),
  state: Type.Enum(JOB_STATES, {
    description: 'waiting: sending the write request every retryEvery until the boot loader answers; no-answer: it never did within wait',
  }),
  attempts: Type.Integer(),
  bytes: Type.Integer(),
  total: Type.Integer(),
  percent: Type.Number(),
  startedAt: Type.Number(),
  endedAt: nullable(Type.Number()),
  message: nullable(Type.String()),
}, { $id: 'FlashJob', title: 'FlashJob' });

/**
 * `file`: the firmware's name under tftpboot/firmware/ (or the uploaded file's);
 * `remoteName`: the name the write request carries, "(password)" when a password took its
 * place (never shown); `attempts`: WRQs sent while waiting for the boot loader;
 * `message`: the device's ERROR, or why the transfer broke, or the summary line.
 */
export type FlashJob = Static<typeof FlashJobSchema>;

/** A file of the firmware folder (GET /api/flash/firmware, the answer to an upload). */
export const FirmwareFileSchema = Type.Object({ name: Type.String(), size: Type.Integer() });
export type FirmwareFile = Static<typeof FirmwareFileSchema>;
