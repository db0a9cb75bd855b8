// GET /api/services and POST /api/services/:name/{start,stop,restart}. One function per
// route (the three actions share one, made per action), its schema beside it.
import { Type } from 'typebox';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';
import { ServiceRowSchema, type ServiceName } from '../../runtime/supervisor.js';

const tags = ['services'];
const row = Type.Ref('ServiceRow');
const NameParams = Type.Object({ name: Type.String({ description: 'tftp, http, dhcp or mtftp' }) });
const ACTIONS = ['start', 'stop', 'restart'] as const;
type Action = (typeof ACTIONS)[number];

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(ServiceRowSchema);
  listServices(app, ctx);
  if (process.env.BOOTLAB_FAULT_INJECTION === '1') injectFault(app, ctx);
  for (const action of ACTIONS) serviceAction(app, ctx, action);
}

/** The service named in the path, or a 404 listing the names there are. */
function named(ctx: AdminContext, name: string): ServiceName {
  if (!ctx.supervisor.has(name)) {
    throw new ApiError('not_found', `service "${name}" not found (there are ${ctx.supervisor.names().join(', ')})`);
  }
  return name;
}

const listServicesSchema = {
  tags, summary: 'Each service: state, since, restarts, last error, bound addresses',
  response: { 200: Type.Object({ services: Type.Array(row) }), ...errorResponses(401) },
};

function listServices(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/services', { config: { access: 'read' }, schema: listServicesSchema },
    async () => ({ services: ctx.supervisor.list() }));
}

const actionSchema = (action: Action) => ({
  tags, summary: `${action[0].toUpperCase()}${action.slice(1)} one service`, params: NameParams,
  response: { 200: row, ...errorResponses(400, 401, 404, 409, 429) },
});

function serviceAction(app: AdminApp, ctx: AdminContext, action: Action): void {
  const schema = actionSchema(action);
  app.post(`/api/services/:name/${action}`, { config: { access: 'write' }, schema }, async (req) => {
    const name = named(ctx, req.params.name);
    if (action !== 'stop' && !ctx.supervisor.row(name).enabled) {
      throw new ApiError('conflict', `service ${name} is disabled in the configuration; enable it there and reload`);
    }
    try {
      return await ctx.supervisor[action](name);
    } catch (e) {
      throw new ApiError('conflict', `service ${name} could not ${action}: ${(e as Error).message}`);
    }
  });
}

const faultSchema = {
  hide: true, params: NameParams,
  body: Type.Object({ kind: Type.Union([Type.Literal('throw'), Type.Literal('socket-error')]) },
    { additionalProperties: false }),
  response: { 202: Type.Object({ injected: Type.String() }), ...errorResponses(400, 401, 404, 409) },
};

/** Test support (BOOTLAB_FAULT_INJECTION=1 only): make a service crash, to see it contained. */
function injectFault(app: AdminApp, ctx: AdminContext): void {
  ctx.log.warn('BOOTLAB_FAULT_INJECTION=1: POST /api/services/:name/fault can crash services (for tests only)');
  app.post('/api/services/:name/fault', { config: { access: 'write' }, schema: faultSchema }, async (req, reply) => {
    const name = named(ctx, req.params.name);
    if (!ctx.supervisor.inject(name, req.body.kind)) throw new ApiError('conflict', `service ${name} is not running`);
    return reply.code(202).send({ injected: req.body.kind });
  });
}
