// GET /api/transfers (TFTP and HTTP transfers and multicast rounds running now, and the
// last 200 that ended with how each ended, from the progress model) and GET /api/leases
// (the DHCP service's leases, with the host map's names). One function per route, its
// schema beside it.
import { Type } from 'typebox';
import type { DhcpServer } from '../../dhcp/server.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { errorResponses } from '../errors.js';
import { nullable } from '../schemas.js';
import { FinishedTransferSchema, TransferRowSchema } from '../../progress/schemas.js';

const tags = ['clients'];

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(TransferRowSchema);
  listTransfers(app, ctx);
  listLeases(app, ctx);
}

const listTransfersSchema = {
  tags, summary: 'TFTP and HTTP transfers and multicast rounds running now, and the last 200 that ended (newest first)',
  response: {
    200: Type.Object({ transfers: Type.Array(Type.Ref('TransferRow')), finished: Type.Array(FinishedTransferSchema) }),
    ...errorResponses(401, 429),
  },
};

function listTransfers(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/transfers', { config: { access: 'read' }, schema: listTransfersSchema },
    async () => ({ transfers: ctx.tracker.transfers(), finished: ctx.tracker.finishedTransfers() }));
}

const LeaseRow = Type.Object({
  mac: Type.String(),
  ip: Type.String(),
  state: Type.Enum(['offered', 'bound', 'released']),
  expires: Type.Number({ description: 'ms since the epoch' }),
  hostname: nullable(Type.String(), 'from the host map, else what the client sent'),
});

const listLeasesSchema = {
  tags, summary: 'DHCP leases (full mode; proxy mode hands out no addresses)',
  response: {
    200: Type.Object({ mode: Type.Enum(['proxy', 'full', 'off']), leases: Type.Array(LeaseRow) }),
    ...errorResponses(401, 429),
  },
};

function listLeases(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/leases', { config: { access: 'read' }, schema: listLeasesSchema }, async () => {
    // A stopped DHCP service has no lease store in memory: nothing to list until it runs.
    const leases = ctx.supervisor.instance<DhcpServer>('dhcp')?.leases.all() ?? [];
    return {
      mode: ctx.config.dhcp.mode,
      leases: leases.map((l) => ({
        mac: l.mac, ip: l.ip, state: l.state, expires: l.expires,
        hostname: ctx.hosts.lookup(l.mac)?.hostname ?? l.hostname,
      })),
    };
  });
}
