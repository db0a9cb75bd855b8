// Operations: /healthz (the process answers), /readyz (every enabled service runs),
// /metrics (Prometheus) and GET /api/auth (whether reads need the token). One function per
// route, its schema beside it.
import { Type } from 'typebox';
import type { AdminApp } from '../app.js';
import { readsProtected } from '../auth.js';
import type { AdminContext } from '../context.js';

const tags = ['operations'];

export default function register(app: AdminApp, ctx: AdminContext): void {
  healthz(app);
  readyz(app, ctx);
  metrics(app, ctx);
  auth(app, ctx);
}

const healthzSchema = {
  tags, summary: 'Liveness: the admin process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) },
};

function healthz(app: AdminApp): void {
  app.get('/healthz', { config: { access: 'open' }, schema: healthzSchema }, async () => ({ status: 'ok' as const }));
}

const Readiness = Type.Object({ ready: Type.Boolean(), services: Type.Record(Type.String(), Type.String()) });
const readyzSchema = {
  tags, summary: 'Readiness: every enabled service is running (503 otherwise)',
  response: { '2xx': Readiness, 503: Readiness },
};

function readyz(app: AdminApp, ctx: AdminContext): void {
  app.get('/readyz', { config: { access: 'open' }, schema: readyzSchema }, async (_req, reply) => {
    const rows = ctx.supervisor.list();
    const ready = rows.every((s) => !s.enabled || s.state === 'running');
    const services = Object.fromEntries(rows.map((s) => [s.name, s.state]));
    return reply.code(ready ? 200 : 503).send({ ready, services });
  });
}

const metricsSchema = { tags, summary: 'Prometheus metrics', produces: ['text/plain'] };

function metrics(app: AdminApp, ctx: AdminContext): void {
  app.get('/metrics', { config: { access: 'read' }, schema: metricsSchema },
    async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()));
}

const authSchema = {
  tags, summary: 'Whether reading needs the token (writes always do)',
  response: { 200: Type.Object({ protectReads: Type.Boolean() }) },
};

function auth(app: AdminApp, ctx: AdminContext): void {
  app.get('/api/auth', { config: { access: 'open' }, schema: authSchema },
    async () => ({ protectReads: readsProtected(ctx.config.admin) }));
}
