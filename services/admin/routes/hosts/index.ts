// REST for the host map: GET /api/hosts, GET/PUT/PATCH/DELETE /api/hosts/:mac, POST
// /api/hosts (a classroom list, JSON or CSV, as one atomic write: bulk.ts) and POST
// /api/hosts/:mac/boot-once. One function per route, its schema beside it; the request
// bodies' schemas are in schemas.ts. Every write is one HostMap.edit (or removeHost,
// write.ts): the host map is the only writer of hosts.yaml, it keeps the file's comments,
// and its validation decides what a good host is. The routes check only what a schema
// cannot (the MAC in the path, that the image exists) and name the field of a write the
// host map refused. The HostMap is the instance DHCP and TFTP read, so the next packet
// sees a write.
import { Type } from 'typebox';
import { HostMapBusy, HostMapError, normalizeMac } from '../../../core/hostmap.js';
import { HostSchema } from '../../../core/hostmap-schema.js';
import type { AdminApp } from '../../app.js';
import type { AdminContext } from '../../context.js';
import { errorResponses, notFound } from '../../errors.js';
import { nullable, MacParams, macOrBadRequest } from '../../schemas.js';
import { postHosts } from './bulk.js';
import { BootOnceBody, HostBody } from './schemas.js';
import { brokenFile, busy, fieldsOf, knownImage, single, toRow, writeRows } from './write.js';

const tags = ['hosts'];
const row = Type.Ref('HostRow');

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(HostSchema);
  listHosts(app, ctx);
  getHost(app, ctx);
  putHost(app, ctx);
  patchHost(app, ctx);
  deleteHost(app, ctx);
  bootOnce(app, ctx);
  postHosts(app, ctx);
}

const HostDefaults = Type.Object({
  action: Type.Union([Type.Literal('menu'), Type.Literal('local'), Type.Literal('image'), Type.Literal('none')]),
  image: nullable(Type.String()),
  menuDefault: Type.String({ description: 'what the boot menu boots when its timeout runs out: local or an image' }),
  menuTimeout: Type.Integer({ description: 'seconds the boot menu waits' }),
});

const listHostsSchema = {
  tags, summary: 'The host map: every host, the defaults, and the error of a refused hand edit',
  response: {
    200: Type.Object({
      hosts: Type.Array(row),
      defaults: HostDefaults,
      lastError: nullable(Type.Array(Type.String()),
        'the lines of the last hand edit that was refused (the last good map stays in use)'),
      warnings: Type.Array(Type.String(), {
        description: 'what the file allows but is likely a mistake, one line each (two hosts with one hostname)',
      }),
      bootOnceEnds: Type.Enum(['booted', 'kernel'], {
        description: 'when a boot-once host goes back to the defaults (boot.bootOnceEnds): when it reports booted, '
          + 'or once its kernel was sent',
      }),
    }),
    ...errorResponses(401, 429),
  },
};

function listHosts(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/hosts', { config: { access: 'read' }, schema: listHostsSchema }, async () => ({
    hosts: [...ctx.hosts.hosts.values()].map(toRow),
    defaults: { ...ctx.hosts.defaults },
    lastError: ctx.hosts.lastError,
    warnings: [...ctx.hosts.warnings],
    bootOnceEnds: ctx.config.boot.bootOnceEnds,
  }));
}

const getHostSchema = {
  tags, summary: 'One host', params: MacParams, response: { 200: row, ...errorResponses(400, 401, 404, 429) },
};

function getHost(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/hosts/:mac', { config: { access: 'read' }, schema: getHostSchema }, async (req) => {
    const host = ctx.hosts.lookup(macOrBadRequest(req.params.mac));
    if (!host) throw notFound(`host ${normalizeMac(req.params.mac)}`);
    return toRow(host);
  });
}

const putHostSchema = {
  tags, summary: 'Create or replace a host (fields not given are removed)', params: MacParams, body: HostBody,
  response: { 200: row, 201: row, ...errorResponses(400, 401, 409, 422, 429) },
};

function putHost(app: AdminApp, ctx: AdminContext): void {
  app.put('/api/hosts/:mac', { config: { access: 'write' }, schema: putHostSchema }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    const bad = knownImage(ctx, req.body.image);
    if (bad) throw bad;
    const created = await writeRows(ctx, [single(mac, fieldsOf(req.body, true))]);
    return reply.code(created ? 201 : 200).send(toRow(ctx.hosts.lookup(mac)!));
  });
}

const patchHostSchema = {
  tags, summary: 'Change some fields of a host (null removes a field; labels are replaced as a whole)',
  params: MacParams, body: HostBody,
  response: { 200: row, ...errorResponses(400, 401, 404, 409, 422, 429) },
};

function patchHost(app: AdminApp, ctx: AdminContext): void {
  app.patch('/api/hosts/:mac', { config: { access: 'write' }, schema: patchHostSchema }, async (req) => {
    const mac = macOrBadRequest(req.params.mac);
    const bad = knownImage(ctx, req.body.image);
    if (bad) throw bad;
    await writeRows(ctx, [single(mac, fieldsOf(req.body, false))], true);
    return toRow(ctx.hosts.lookup(mac)!);
  });
}

const deleteHostSchema = {
  tags, summary: 'Remove a host', params: MacParams,
  response: { 204: Type.Null({ description: 'removed' }), ...errorResponses(400, 401, 404, 409, 429) },
};

function deleteHost(app: AdminApp, ctx: AdminContext): void {
  app.delete('/api/hosts/:mac', { config: { access: 'write' }, schema: deleteHostSchema }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    let removed: boolean;
    try {
      removed = await ctx.hosts.removeHost(mac);
    } catch (e) {
      // Removing a host cannot make a valid file invalid: the file was broken already.
      throw e instanceof HostMapError ? brokenFile(e) : e instanceof HostMapBusy ? busy(e) : e;
    }
    if (!removed) throw notFound(`host ${mac}`);
    return reply.code(204).send(null);
  });
}

const bootOnceSchema = {
  tags, summary: 'Boot an image once (creates the host if new)', params: MacParams, body: BootOnceBody,
  response: { 200: row, 201: row, ...errorResponses(400, 401, 409, 422, 429) },
};

function bootOnce(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/hosts/:mac/boot-once', { config: { access: 'write' }, schema: bootOnceSchema }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    const { image } = req.body;
    const bad = knownImage(ctx, image);
    if (bad) throw bad;
    const created = await writeRows(ctx, [single(mac, { image, bootOnce: true })]);
    return reply.code(created ? 201 : 200).send(toRow(ctx.hosts.lookup(mac)!));
  });
}
