// Flash jobs over the API (issue 7): POST /api/flash pushes a firmware file from
// tftpboot/firmware/ to a device's boot loader over TFTP (services/flash/jobs.ts, the TFTP
// client of services/tftp/client.ts), GET /api/flash/:id follows it; one job per target at
// a time. POST /api/flash/firmware?name= uploads a firmware file into that folder
// (services/flash/firmware.ts stores it atomically). One function per route, its schema
// beside it; the file work is the flash folder's, so a route only validates, calls and answers.
import { isIPv4 } from 'node:net';
import { Type, type Static } from 'typebox';
import { CLIENT_DEFAULTS as D } from '../../tftp/client.js';
import {
  FirmwareExists, firmwareFolder, isFirmwareName, listFirmware, readFirmware, storeFirmware,
} from '../../flash/firmware.js';
import type { StartRequest } from '../../flash/jobs.js';
import { FirmwareFileSchema, FlashJobSchema } from '../../flash/schemas.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { ApiError, badRequest, errorResponses, notFound } from '../errors.js';

const tags = ['flash'];
const job = Type.Ref('FlashJob');
/** Firmware images are megabytes (a router's is 4-32 MiB): far above admin.bodyLimit. */
const UPLOAD_LIMIT = 256 * 1024 * 1024;

const IdParams = Type.Object({ id: Type.String() });

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(FlashJobSchema);
  listFirmwareRoute(app, ctx);
  uploadFirmware(app, ctx);
  listJobs(app, ctx);
  getJob(app, ctx);
  startJob(app, ctx);
  cancelJob(app, ctx);
}

const folderOf = (ctx: AdminContext) => firmwareFolder(ctx.config.tftp.root);

const listFirmwareSchema = {
  tags, summary: 'The firmware files under tftpboot/firmware/',
  response: { 200: Type.Object({ files: Type.Array(FirmwareFileSchema) }), ...errorResponses(401) },
};

function listFirmwareRoute(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/flash/firmware', { config: { access: 'read' }, schema: listFirmwareSchema },
    async () => ({ files: await listFirmware(folderOf(ctx)) }));
}

const uploadSchema = {
  tags, summary: 'Upload a firmware file into tftpboot/firmware/ (body: the file, application/octet-stream)',
  querystring: Type.Object({
    name: Type.String({ description: 'the file name' }),
    replace: Type.Optional(Type.Enum(['true', 'false'], {
      description: 'true: overwrite a file of that name (default false: create only)',
    })),
  }),
  response: { 201: FirmwareFileSchema, ...errorResponses(400, 401, 409, 413, 415) },
};

function uploadFirmware(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/flash/firmware', { config: { access: 'write' }, bodyLimit: UPLOAD_LIMIT, schema: uploadSchema },
    async (req, reply) => {
      const { name } = req.query;
      if (!isFirmwareName(name)) {
        throw badRequest('name', 'must be a plain file name (letters, digits, . _ + -), no folders');
      }
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw badRequest('body',
          'must be the firmware file\'s bytes (content-type application/octet-stream), not empty');
      }
      try {
        return reply.code(201).send(await storeFirmware(folderOf(ctx), name, body, req.query.replace === 'true'));
      } catch (e) {
        if (e instanceof FirmwareExists) {
          throw new ApiError('conflict', `firmware ${name} exists already (replace=true to overwrite)`);
        }
        throw e;
      }
    });
}

const listJobsSchema = {
  tags, summary: 'Flash jobs, newest first',
  response: { 200: Type.Object({ jobs: Type.Array(job) }), ...errorResponses(401) },
};

function listJobs(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/flash', { config: { access: 'read' }, schema: listJobsSchema },
    async () => ({ jobs: ctx.flash.list() }));
}

const getJobSchema = {
  tags, summary: 'One flash job: its state and progress', params: IdParams,
  response: { 200: job, ...errorResponses(401, 404) },
};

function getJob(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/flash/:id', { config: { access: 'read' }, schema: getJobSchema }, async (req) => {
    const found = ctx.flash.get(req.params.id);
    if (!found) throw notFound(`flash job ${req.params.id}`);
    return found;
  });
}

const StartBody = Type.Object({
  target: Type.String({ description: 'the device\'s IPv4 address (its boot loader\'s)' }),
  file: Type.String({ description: 'a file under tftpboot/firmware/ (GET /api/flash/firmware lists them)' }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: D.port })),
  remoteName: Type.Optional(Type.String({
    minLength: 1, maxLength: 255, description: 'the name sent in the write request; default: file',
  })),
  retryEverySeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 60, default: D.retryEveryMs / 1000 })),
  waitSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 3600, default: D.waitMs / 1000 })),
  blksize: Type.Optional(Type.Integer({
    minimum: 8, maximum: 65464,
    description: 'ask for this block size (no option is sent unless given: many boot loaders break on OACK)',
  })),
  timeoutSeconds: Type.Optional(Type.Number({
    minimum: 0.05, maximum: 60, default: D.timeoutMs / 1000,
    description: 'the longest wait for a block\'s ACK once the upload runs; shorter waits follow the round trip',
  })),
  retries: Type.Optional(Type.Integer({
    minimum: 0, maximum: 1000, default: D.maxRetries,
    description: 'full timeouts in a row before the upload is given up',
  })),
  password: Type.Optional(Type.String({
    minLength: 1, maxLength: 255,
    description: 'for boot loaders that ask for one (Linksys style): sent in the write request\'s file-name field, '
      + 'so not together with remoteName',
  })),
}, { additionalProperties: false });
type Start = Static<typeof StartBody>;

const startJobSchema = {
  tags,
  summary: 'Start flashing a device: the write request is sent every retryEverySeconds until its boot loader answers',
  body: StartBody, response: { 202: job, ...errorResponses(400, 401, 404, 409) },
};

/** What a schema cannot say of a start request: a 400 naming the field. */
function checkStart(b: Start): void {
  if (!isIPv4(b.target)) throw badRequest('target', 'must be an IPv4 address (the device\'s boot loader)');
  if (!isFirmwareName(b.file)) throw badRequest('file', 'must be a file name under tftpboot/firmware/, no folders');
  if (b.password !== undefined && b.remoteName !== undefined) {
    throw badRequest('password',
      'cannot come with remoteName: the password is sent in the write request\'s file-name field');
  }
  if (b.password?.includes('\0')) throw badRequest('password', 'must not contain NUL');
}

/** Seconds given in the body to milliseconds; the client's default when not given. */
const ms = (seconds: number | undefined, fallback: number) =>
  (seconds === undefined ? fallback : Math.round(seconds * 1000));

/** The body with the client's defaults filled in, as the job runner takes it. */
const startRequest = (b: Start, data: Buffer): StartRequest => ({
  target: b.target, port: b.port ?? D.port, file: b.file, remoteName: b.remoteName ?? b.file, data,
  retryEveryMs: ms(b.retryEverySeconds, D.retryEveryMs), waitMs: ms(b.waitSeconds, D.waitMs),
  timeoutMs: ms(b.timeoutSeconds, D.timeoutMs), maxRetries: b.retries ?? D.maxRetries,
  blksize: b.blksize ?? null, password: b.password ?? null,
});

function startJob(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/flash', { config: { access: 'write' }, schema: startJobSchema }, async (req, reply) => {
    const b = req.body;
    checkStart(b);
    const busy = ctx.flash.running(b.target);
    if (busy) {
      throw new ApiError('conflict', `a flash job for ${b.target} is running (${busy.id}); wait for it or cancel it`);
    }
    const data = await readFirmware(folderOf(ctx), b.file);
    if (!data) throw notFound(`firmware ${b.file} (in tftpboot/firmware/)`);
    const started = ctx.flash.start(startRequest(b, data));
    ctx.log.info({ service: 'admin', job: started.id, target: b.target, file: b.file }, 'flash job started');
    return reply.code(202).send(started);
  });
}

const cancelJobSchema = {
  tags, summary: 'Stop a running flash job', params: IdParams,
  response: { 200: job, ...errorResponses(401, 404, 409) },
};

function cancelJob(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/flash/:id/cancel', { config: { access: 'write' }, schema: cancelJobSchema }, async (req) => {
    const j = ctx.flash.get(req.params.id);
    if (!j) throw notFound(`flash job ${req.params.id}`);
    if (!ctx.flash.cancel(j.id)) throw new ApiError('conflict', `flash job ${j.id} has ended (${j.state})`);
    return ctx.flash.get(j.id)!;
  });
}
