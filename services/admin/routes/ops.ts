// Operations: /healthz (the process answers), /readyz (every enabled service runs),
// /metrics (Prometheus) and GET /api/auth (whether reads need the token).
import { Type } from 'typebox';
import type { AdminApp } from '../app.js';
import { readsProtected } from '../auth.js';
import type { AdminContext } from '../context.js';

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.get('/healthz', {
    config: { access: 'open' },
    schema: { tags: ['operations'], summary: 'Liveness: the admin process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { access: 'open' },
    schema: {
      tags: ['operations'], summary: 'Readiness: every enabled service is running (503 otherwise)',
      response: { '2xx': Type.Object({ ready: Type.Boolean(), services: Type.Record(Type.String(), Type.String()) }), 503: Type.Object({ ready: Type.Boolean(), services: Type.Record(Type.String(), Type.String()) }) },
    },
  }, async (_req, reply) => {
    const rows = ctx.supervisor.list();
    const ready = rows.every((s) => !s.enabled || s.state === 'running');
    return reply.code(ready ? 200 : 503).send({ ready, services: Object.fromEntries(rows.map((s) => [s.name, s.state])) });
  });

  app.get('/metrics', {
    config: { access: 'read' },
    schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'] },
  }, async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()));

  app.get('/api/auth', {
    config: { access: 'open' },
    schema: { tags: ['operations'], summary: 'Whether reading needs the token (writes always do)', response: { 200: Type.Object({ protectReads: Type.Boolean() }) } },
  }, async () => ({ protectReads: readsProtected(ctx.config.admin) }));
}
