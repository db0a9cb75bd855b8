// Flash jobs over the API (issue 7): POST /api/flash pushes a firmware file from
// tftpboot/firmware/ to a device's boot loader over TFTP (services/flash/jobs.ts, the TFTP
// client of services/tftp/client.ts), GET /api/flash/:id follows it; one job per target at
// a time. POST /api/flash/firmware?name= uploads a firmware file into that folder
// (written to a temporary name and renamed: a failed upload leaves no torn file).
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { Type } from 'typebox';
import { CLIENT_DEFAULTS as D } from '../../tftp/client.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { ApiError, badRequest, errorResponses, notFound } from '../errors.js';
import { FlashJobSchema } from '../../flash/schemas.js';

const tags = ['flash'];
/** Firmware images are megabytes (a router's is 4-32 MiB): far above admin.bodyLimit. */
const UPLOAD_LIMIT = 256 * 1024 * 1024;
const FIRMWARE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

const StartBody = Type.Object({
  target: Type.String({ description: 'the device\'s IPv4 address (its boot loader\'s)' }),
  file: Type.String({ description: 'a file under tftpboot/firmware/ (GET /api/flash/firmware lists them)' }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: D.port })),
  remoteName: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'the name sent in the write request; default: file' })),
  retryEverySeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 60, default: D.retryEveryMs / 1000 })),
  waitSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 3600, default: D.waitMs / 1000 })),
  blksize: Type.Optional(Type.Integer({ minimum: 8, maximum: 65464, description: 'ask for this block size (no option is sent unless given: many boot loaders break on OACK)' })),
  timeoutSeconds: Type.Optional(Type.Number({ minimum: 0.05, maximum: 60, default: D.timeoutMs / 1000, description: 'the longest wait for a block\'s ACK once the upload runs; shorter waits follow the round trip' })),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: D.maxRetries, description: 'full timeouts in a row before the upload is given up' })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'for boot loaders that ask for one (Linksys style): sent in the write request\'s file-name field, so not together with remoteName' })),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String() });

/** Seconds given in the body to milliseconds; the client's default when not given. */
const ms = (seconds: number | undefined, fallback: number) =>
  (seconds === undefined ? fallback : Math.round(seconds * 1000));

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(FlashJobSchema);
  const job = Type.Ref('FlashJob');
  const folder = () => join(ctx.config.tftp.root, 'firmware');

  app.get('/api/flash/firmware', {
    config: { access: 'read' },
    schema: { tags, summary: 'The firmware files under tftpboot/firmware/', response: { 200: Type.Object({ files: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer() })) }), ...errorResponses(401) } },
  }, async () => {
    const names = await fsp.readdir(folder()).catch(() => [] as string[]);
    const files: { name: string; size: number }[] = [];
    for (const name of names.sort()) {
      if (!FIRMWARE_NAME.test(name)) continue;
      const st = await fsp.lstat(join(folder(), name)).catch(() => null);
      if (st?.isFile()) files.push({ name, size: st.size });
    }
    return { files };
  });

  app.post('/api/flash/firmware', {
    config: { access: 'write' },
    bodyLimit: UPLOAD_LIMIT,
    schema: {
      tags, summary: 'Upload a firmware file into tftpboot/firmware/ (body: the file, application/octet-stream)',
      querystring: Type.Object({ name: Type.String({ description: 'the file name' }), replace: Type.Optional(Type.Enum(['true', 'false'], { description: 'true: overwrite a file of that name (default false: create only)' })) }),
      response: { 201: Type.Object({ name: Type.String(), size: Type.Integer() }), ...errorResponses(400, 401, 409, 413, 415) },
    },
  }, async (req, reply) => {
    const { name } = req.query;
    const replace = req.query.replace === 'true';
    if (!FIRMWARE_NAME.test(name)) throw badRequest('name', 'must be a plain file name (letters, digits, . _ + -), no folders');
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw badRequest('body', 'must be the firmware file\'s bytes (content-type application/octet-stream), not empty');
    await fsp.mkdir(folder(), { recursive: true });
    const path = join(folder(), name);
    const tmp = join(folder(), `.${name}.${randomBytes(6).toString('hex')}.part`);
    try {
      await fsp.writeFile(tmp, body, { flag: 'wx', mode: 0o644 });
      if (!replace) {
        // link() fails when the name exists: create-only without a window for a race.
        await fsp.link(tmp, path).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') throw new ApiError('conflict', `firmware ${name} exists already (replace=true to overwrite)`);
          throw e;
        });
      } else {
        await fsp.rename(tmp, path);
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    return reply.code(201).send({ name, size: body.length });
  });

  app.get('/api/flash', {
    config: { access: 'read' },
    schema: { tags, summary: 'Flash jobs, newest first', response: { 200: Type.Object({ jobs: Type.Array(job) }), ...errorResponses(401) } },
  }, async () => ({ jobs: ctx.flash.list() }));

  app.get('/api/flash/:id', {
    config: { access: 'read' },
    schema: { tags, summary: 'One flash job: its state and progress', params: IdParams, response: { 200: job, ...errorResponses(401, 404) } },
  }, async (req) => ctx.flash.get(req.params.id) ?? (() => { throw notFound(`flash job ${req.params.id}`); })());

  app.post('/api/flash', {
    config: { access: 'write' },
    schema: { tags, summary: 'Start flashing a device: the write request is sent every retryEverySeconds until its boot loader answers', body: StartBody, response: { 202: job, ...errorResponses(400, 401, 404, 409) } },
  }, async (req, reply) => {
    const b = req.body;
    if (!isIPv4(b.target)) throw badRequest('target', 'must be an IPv4 address (the device\'s boot loader)');
    if (!FIRMWARE_NAME.test(b.file)) throw badRequest('file', 'must be a file name under tftpboot/firmware/, no folders');
    if (b.password !== undefined && b.remoteName !== undefined) throw badRequest('password', 'cannot come with remoteName: the password is sent in the write request\'s file-name field');
    if (b.password?.includes('\0')) throw badRequest('password', 'must not contain NUL');
    const busy = ctx.flash.running(b.target);
    if (busy) throw new ApiError('conflict', `a flash job for ${b.target} is running (${busy.id}); wait for it or cancel it`);
    let data: Buffer;
    try {
      data = await fsp.readFile(join(folder(), b.file));
    } catch {
      throw notFound(`firmware ${b.file} (in tftpboot/firmware/)`);
    }
    const started = ctx.flash.start({
      target: b.target, port: b.port ?? D.port, file: b.file, remoteName: b.remoteName ?? b.file, data,
      retryEveryMs: ms(b.retryEverySeconds, D.retryEveryMs), waitMs: ms(b.waitSeconds, D.waitMs),
      timeoutMs: ms(b.timeoutSeconds, D.timeoutMs), maxRetries: b.retries ?? D.maxRetries,
      blksize: b.blksize ?? null, password: b.password ?? null,
    });
    ctx.log.info({ service: 'admin', job: started.id, target: b.target, file: b.file }, 'flash job started');
    return reply.code(202).send(started);
  });

  app.post('/api/flash/:id/cancel', {
    config: { access: 'write' },
    schema: { tags, summary: 'Stop a running flash job', params: IdParams, response: { 200: job, ...errorResponses(401, 404, 409) } },
  }, async (req) => {
    const j = ctx.flash.get(req.params.id);
    if (!j) throw notFound(`flash job ${req.params.id}`);
    if (!ctx.flash.cancel(j.id)) throw new ApiError('conflict', `flash job ${j.id} has ended (${j.state})`);
    return ctx.flash.get(j.id)!;
  });
}
