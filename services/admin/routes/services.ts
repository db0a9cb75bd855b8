// GET /api/services and POST /api/services/:name/{start,stop,restart}.
import { Type } from 'typebox';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';
import { ServiceRowSchema, type ServiceName } from '../../runtime/supervisor.js';


const NameParams = Type.Object({ name: Type.String({ description: 'tftp, http, dhcp or mtftp' }) });

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(ServiceRowSchema);
  const row = Type.Ref('ServiceRow');

  app.get('/api/services', {
    config: { access: 'read' },
    schema: { tags: ['services'], summary: 'Each service: state, since, restarts, last error, bound addresses', response: { 200: Type.Object({ services: Type.Array(row) }), ...errorResponses(401) } },
  }, async () => ({ services: ctx.supervisor.list() }));

  const named = (name: string): ServiceName => {
    if (!ctx.supervisor.has(name)) throw new ApiError('not_found', `service "${name}" not found (there are ${ctx.supervisor.names().join(', ')})`);
    return name;
  };

  if (process.env.BOOTLAB_FAULT_INJECTION === '1') registerFaults(app, ctx, named);

  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/api/services/:name/${action}`, {
      config: { access: 'write' },
      schema: { tags: ['services'], summary: `${action[0].toUpperCase()}${action.slice(1)} one service`, params: NameParams, response: { 200: row, ...errorResponses(400, 401, 404, 409, 429) } },
    }, async (req) => {
      const name = named(req.params.name);
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
}

/** Test support (BOOTLAB_FAULT_INJECTION=1 only): make a service crash, to see it contained. */
function registerFaults(app: AdminApp, ctx: AdminContext, named: (name: string) => ServiceName): void {
  ctx.log.warn('BOOTLAB_FAULT_INJECTION=1: POST /api/services/:name/fault can crash services (for tests only)');
  app.post('/api/services/:name/fault', {
    config: { access: 'write' },
    schema: {
      hide: true, params: NameParams,
      body: Type.Object({ kind: Type.Union([Type.Literal('throw'), Type.Literal('socket-error')]) }, { additionalProperties: false }),
      response: { 202: Type.Object({ injected: Type.String() }), ...errorResponses(400, 401, 404, 409) },
    },
  }, async (req, reply) => {
    const name = named(req.params.name);
    if (!ctx.supervisor.inject(name, req.body.kind)) throw new ApiError('conflict', `service ${name} is not running`);
    return reply.code(202).send({ injected: req.body.kind });
  });
}
