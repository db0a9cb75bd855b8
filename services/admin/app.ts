// The admin app: built here, listened on elsewhere (server.ts), so tests drive it with
// app.inject and no port. Routes are schema-first: TypeBox schemas validate requests,
// serialise responses, type the handlers and make the OpenAPI document (/api/openapi.json,
// read at /docs with Swagger UI's own files: no CDN).
import cors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { readsProtected, TokenCheck } from './auth.js';
import type { AdminContext } from './context.js';
import { ApiError, ErrorSchema, validationField } from './errors.js';
import registerClients from './routes/clients.js';
import registerConfig from './routes/config.js';
import registerFlash from './routes/flash.js';
import registerHosts from './routes/hosts/index.js';
import registerImages from './routes/images.js';
import registerOps from './routes/ops.js';
import registerServices from './routes/services.js';
import registerTransfers from './routes/transfers.js';
import registerEvents from './sse.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AdminApp = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

export interface BuildOptions {
  /** Log each request through the context's logger (off in tests). */
  logRequests?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** open: no token ever; read: a token when reads are protected; write: always a token. */
    access?: 'open' | 'read' | 'write';
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function build(ctx: AdminContext, opts: BuildOptions = {}): Promise<AdminApp> {
  const admin = ctx.config.admin;
  const app = Fastify({
    loggerInstance: opts.logRequests ? ctx.log.child({ service: 'admin' }) : undefined,
    bodyLimit: admin.bodyLimit,
    // Every property of the error catalogue and of each field is checked: additional
    // properties are refused (with their name), not silently dropped.
    ajv: { customOptions: { removeAdditional: false, allErrors: false, coerceTypes: false } },
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorSchema);
  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // Firmware uploads (POST /api/flash/firmware): the bytes as they came, up to the route's own bodyLimit.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  installErrorHandling(app);
  installAuth(app, ctx);
  if (admin.cors.length > 0) await app.register(cors, { origin: admin.cors, methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] });

  await app.register(swagger, {
    openapi: {
      info: { title: 'bootlab admin API', version: '1', description: 'Supervise the services, edit the host map, follow each machine\'s boot.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } as Record<string, unknown>, staticCSP: true });
  app.get('/api/openapi.json', { config: { access: 'open' }, schema: { hide: true } }, async () => app.swagger());

  registerOps(app, ctx);
  registerServices(app, ctx);
  registerConfig(app, ctx);
  registerHosts(app, ctx);
  registerImages(app, ctx);
  registerClients(app, ctx);
  registerTransfers(app, ctx);
  registerFlash(app, ctx);
  registerEvents(app, ctx);

  if (existsSync(admin.web)) {
    await app.register(fastifyStatic, { root: admin.web, prefix: '/', index: 'index.html', wildcard: true });
  } else {
    ctx.log.warn({ web: admin.web }, 'admin.web: the dashboard folder does not exist; only the API is served');
  }
  return app;
}

/** Every error leaves as { error, message, field? } (errors.ts). */
function installErrorHandling(app: AdminApp): void {
  app.setErrorHandler((err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) {
      if (err.code === 'rate_limited' && err.extra.retryAfter !== undefined) void reply.header('retry-after', String(err.extra.retryAfter));
      return reply.code(err.statusCode).send(err.body());
    }
    const e = err as FastifyError;
    if (e.validation) {
      const context = e.validationContext === 'body' ? 'body' : e.validationContext ?? 'request';
      const { field, message } = validationField(e.validation as never, context);
      const where = e.validationContext === 'params' || e.validationContext === 'querystring' ? `${e.validationContext === 'params' ? 'path' : 'query'} parameter ` : '';
      return reply.code(400).send({ error: 'bad_request', message: `${where}${field}: ${message}`, field });
    }
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'payload_too_large', message: `the request body is larger than admin.bodyLimit (${req.server.initialConfig.bodyLimit} bytes)` });
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'unsupported_media_type', message: `content type ${req.headers['content-type'] ?? '(none)'} is not accepted: send application/json${req.url.startsWith('/api/hosts') ? ' or text/csv' : ''}` });
    if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return reply.code(400).send({ error: 'bad_request', message: 'body: the JSON body is empty', field: 'body' });
    if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return reply.code(400).send({ error: 'bad_request', message: `body: not valid JSON (${e.message})`, field: 'body' });
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: e.statusCode === 404 ? 'not_found' : 'bad_request', message: e.message });
    }
    req.log.error({ err: e }, 'admin API error');
    return reply.code(500).send({ error: 'internal', message: 'internal error (see the bootlab log)' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `${req.method} ${req.url.split('?')[0]} is not a route of this API` }));
}

function installAuth(app: AdminApp, ctx: AdminContext): void {
  const check = new TokenCheck(ctx.token, ctx.config.admin.maxAuthFailures);
  app.addHook('onRequest', async (req) => {
    const declared = req.routeOptions.config.access;
    const url = req.url;
    // Static files (the dashboard, /docs) and the health probes are open; API routes
    // declare their access, and an undeclared one counts as a write (closed by default).
    const access = declared ?? (url.startsWith('/api/') || url === '/metrics' ? (MUTATING.has(req.method) ? 'write' : 'read') : 'open');
    const needed = access === 'write' || MUTATING.has(req.method) || (access === 'read' && readsProtected(ctx.config.admin));
    if (!needed || access === 'open') return;
    const wait = check.blockedFor(req.ip);
    if (wait > 0) throw new ApiError('rate_limited', `too many failed token attempts from ${req.ip}; try again in ${wait} s`, { retryAfter: wait });
    const given = req.headers.authorization;
    if (check.matches(given)) return;
    // Only a token that was given and wrong is a guess; a page that has not asked for the
    // token yet must not lock its teacher out.
    const failures = given === undefined ? 0 : check.fail(req.ip);
    if (failures > 0) ctx.log.warn({ service: 'admin', ip: req.ip, method: req.method, url: url.split('?')[0], failures }, 'admin API: a wrong token refused');
    throw new ApiError('unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)');
  });
}
