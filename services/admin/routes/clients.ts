// Boot progress per machine (progress/tracker.ts): GET /api/clients, GET /api/clients/:mac,
// its history, DELETE /api/clients?which= (clear finished or stale rows), and POST
// /api/clients/:mac/booted, which the booted OS or the last line of its iPXE script calls.
// A device that did no DHCP with bootlab is listed by its address: key ip:<address>, mac
// null; GET /api/clients/ip:<address> and its /events read it.
import { isIPv4 } from 'node:net';
import { Type } from 'typebox';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { badRequest, errorResponses, notFound } from '../errors.js';
import { MAC_FORMS, MacParams, macOrBadRequest } from '../schemas.js';
import { ClientRowSchema } from '../../progress/schemas.js';

const HistoryItem = Type.Object({
  at: Type.Number(),
  kind: Type.String({
    description: 'the event kind (dhcp.offer, tftp.done ...) or client.booted, client.new-boot ...',
  }),
  text: Type.String(),
}, { additionalProperties: true, description: 'the event\'s own fields follow' });

const ClearQuery = Type.Object({
  which: Type.Enum(['finished', 'stale', 'all'], {
    description: 'finished: booted or failed; stale: unfinished and silent for 2 minutes; all',
  }),
}, { additionalProperties: false });
const BootedBody = Type.Object({ message: Type.Optional(Type.String({ maxLength: 1000 })) },
  { additionalProperties: false });
const ClientParams = Type.Object({
  mac: Type.String({
    description: `a MAC in any usual notation (${MAC_FORMS}), or ip:<address> for a device known only by its address`,
  }),
});

/** A row's id from the path: a MAC's normal form, or ip:<IPv4 address>; else a 400. */
function keyOrBadRequest(raw: string): string {
  if (!raw.startsWith('ip:')) return macOrBadRequest(raw);
  if (!isIPv4(raw.slice(3))) throw badRequest('mac', `"${raw}" is not a client address (ip:<IPv4 address>)`);
  return raw;
}

const tags = ['clients'];
const row = Type.Ref('ClientRow');

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(ClientRowSchema);
  listClients(app, ctx);
  clearClients(app, ctx);
  getClient(app, ctx);
  clientEvents(app, ctx);
  booted(app, ctx);
}

const listClientsSchema = {
  tags, summary: 'Every machine seen: stage, current download, last seen',
  response: { 200: Type.Object({ clients: Type.Array(row) }), ...errorResponses(401, 429) },
};

function listClients(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/clients', { config: { access: 'read' }, schema: listClientsSchema },
    async () => ({ clients: ctx.tracker.clients() }));
}

const clearClientsSchema = {
  tags, summary: 'Clear finished, stale or all machines from the list', querystring: ClearQuery,
  response: { 200: Type.Object({ removed: Type.Integer() }), ...errorResponses(400, 401, 429) },
};

function clearClients(app: AdminApp, ctx: AdminContext): void {
  app.delete('/api/clients', { config: { access: 'write' }, schema: clearClientsSchema },
    async (req) => ({ removed: ctx.tracker.clear(req.query.which) }));
}

const getClientSchema = {
  tags, summary: 'One machine\'s boot progress', params: ClientParams,
  response: { 200: row, ...errorResponses(400, 401, 404, 429) },
};

function getClient(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/clients/:mac', { config: { access: 'read' }, schema: getClientSchema }, async (req) => {
    const key = keyOrBadRequest(req.params.mac);
    const client = ctx.tracker.client(key);
    if (!client) throw notFound(`client ${key}`);
    return client;
  });
}

const clientEventsSchema = {
  tags, summary: 'One machine\'s history: DHCP, TFTP and multicast events, newest last (the last 200)',
  params: ClientParams,
  response: {
    200: Type.Object({
      mac: Type.String({ description: 'the row\'s key: the MAC (normal form), or ip:<address>' }),
      events: Type.Array(HistoryItem),
    }),
    ...errorResponses(400, 401, 404, 429),
  },
};

function clientEvents(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/clients/:mac/events', { config: { access: 'read' }, schema: clientEventsSchema }, async (req) => {
    const key = keyOrBadRequest(req.params.mac);
    const events = ctx.tracker.history(key);
    if (!events) throw notFound(`client ${key}`);
    return { mac: key, events };
  });
}

const bootedSchema = {
  tags,
  summary: 'The machine booted: called by the booted OS or the last line of its iPXE script '
    + '(creates the row if new; ends a boot-once)',
  params: MacParams, body: BootedBody, response: { 200: row, ...errorResponses(400, 401, 429) },
};

function booted(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/clients/:mac/booted', {
    config: { access: 'write' },
    schema: bootedSchema,
    // A script's last line may POST with no body at all (curl -X POST, iPXE): that is {}.
    preValidation: async (req) => { req.body ??= {}; },
  }, async (req) => {
    const mac = macOrBadRequest(req.params.mac);
    const message = req.body.message;
    // The same event a script's report over HTTP or TFTP makes (boot/booted.ts): the
    // progress model marks the row, boot-once ends (boot/bootonce.ts).
    ctx.events.emit({ kind: 'client.booted', mac, via: 'api', ...(message ? { message } : {}) });
    await ctx.bootOnce.settled(mac);
    // With the admin off nothing feeds the model; here it is on, so the row exists.
    return ctx.tracker.client(mac) ?? ctx.tracker.markBooted(mac, message);
  });
}
