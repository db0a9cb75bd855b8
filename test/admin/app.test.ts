// The app's frame: who may call what (the token, read protection, the failed-attempt
// limit), the error catalogue's one shape, body limits, CORS, OpenAPI and /docs offline.
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveToken, TOKEN_FILE, TokenError } from '../../services/runtime/token.js';
import { appSpec } from '../../services/core/config.js';
import { defaults } from '../../services/core/schema.js';
import { adminFixture, AUTH, TOKEN, UNAUTHORIZED } from '../helpers/admin.js';

t.test('health, OpenAPI and the docs page are open; reads need the token when protectReads is always', async (t) => {
  const f = await adminFixture(t, { admin: ['protectReads: always'] });
  const health = await f.app.inject({ url: '/healthz' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok' });
  const noToken = await f.app.inject({ url: '/api/services' });
  t.equal(noToken.statusCode, 401);
  t.same(noToken.json(), UNAUTHORIZED);
  const wrong = await f.app.inject({ url: '/api/services', headers: { authorization: `Bearer ${TOKEN}x` } });
  t.equal(wrong.statusCode, 401, 'a token one character longer is refused');
  const basic = await f.app.inject({ url: '/api/services', headers: { authorization: `Basic ${TOKEN}` } });
  t.equal(basic.statusCode, 401, 'only the Bearer scheme counts');
  const ok = await f.get('/api/services');
  t.equal(ok.statusCode, 200);
  t.same(ok.json().services.map((s: { name: string; state: string }) => `${s.name}:${s.state}`), ['tftp:disabled', 'http:disabled', 'dhcp:disabled', 'mtftp:disabled']);
  const metrics = await f.app.inject({ url: '/metrics' });
  t.equal(metrics.statusCode, 401, '/metrics is a read');
  t.same((await f.app.inject({ url: '/api/auth' })).json(), { protectReads: true });
});

t.test('protectReads auto: reads open on loopback, every write still needs the token', async (t) => {
  const f = await adminFixture(t);
  t.equal((await f.app.inject({ url: '/api/services' })).statusCode, 200, 'a read on a loopback-only admin');
  t.same((await f.app.inject({ url: '/api/auth' })).json(), { protectReads: false });
  const write = await f.app.inject({ method: 'POST', url: '/api/services/tftp/restart' });
  t.equal(write.statusCode, 401);
  t.same(write.json(), UNAUTHORIZED);
  const reload = await f.app.inject({ method: 'POST', url: '/api/config/reload' });
  t.equal(reload.statusCode, 401);
});

t.test('failed token attempts are limited per address: 429 with Retry-After, even for the right token', async (t) => {
  const f = await adminFixture(t, { admin: ['maxAuthFailures: 3'] });
  const from = (ip: string, token: string) => f.app.inject({ method: 'POST', url: '/api/config/reload', remoteAddress: ip, headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < 5; i++) {
    t.equal((await f.app.inject({ method: 'POST', url: '/api/config/reload', remoteAddress: '192.0.2.50' })).statusCode, 401, 'no token at all: refused');
  }
  t.equal((await from('192.0.2.50', TOKEN)).statusCode, 200, 'requests with no token are not guesses: they do not count');
  for (let i = 0; i < 3; i++) t.equal((await from('192.0.2.50', 'wrong-token-0123456789')).statusCode, 401);
  const limited = await from('192.0.2.50', TOKEN);
  t.equal(limited.statusCode, 429);
  const body = limited.json();
  t.equal(body.error, 'rate_limited');
  t.match(body.message, /^too many failed token attempts from 192\.0\.2\.50; try again in \d+ s$/);
  t.ok(body.retryAfter > 0 && body.retryAfter <= 60);
  t.equal(limited.headers['retry-after'], String(body.retryAfter));
  t.equal((await from('192.0.2.51', TOKEN)).statusCode, 200, 'another address is not affected');
});

t.test('the token: config, environment, or generated once into the state folder with mode 0600', async (t) => {
  const dir = t.testdir();
  const admin = defaults(appSpec).admin;
  t.same(resolveToken({ ...admin, token: 'from-config-0123456789' }, dir, {}), { token: 'from-config-0123456789', source: 'config' });
  t.same(resolveToken(admin, dir, { BOOTLAB_ADMIN_TOKEN: 'from-env-0123456789ab' }), { token: 'from-env-0123456789ab', source: 'environment' });
  t.throws(() => resolveToken(admin, dir, { BOOTLAB_ADMIN_TOKEN: 'short' }), new TokenError('BOOTLAB_ADMIN_TOKEN: must be at least 16 printable characters without spaces'));
  const state = join(dir, 'state');
  const first = resolveToken(admin, state, {});
  t.equal(first.source, 'generated');
  t.match(first.token, /^[A-Za-z0-9_-]{32}$/);
  const file = join(state, TOKEN_FILE);
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
  t.equal(readFileSync(file, 'utf8'), `${first.token}\n`);
  t.same(resolveToken(admin, state, {}), { token: first.token, source: 'file', file }, 'the next start reads the same token');
});

t.test('the error catalogue: one shape for bad JSON, unknown routes, too-large bodies and bad media types', async (t) => {
  const f = await adminFixture(t, { admin: ['bodyLimit: 2048'] });
  const notJson = await f.send('POST', '/api/services/tftp/fault', { kind: 'throw' });
  // The fault route exists only with BOOTLAB_FAULT_INJECTION=1: without it this is a 404.
  t.equal(notJson.statusCode, 404);
  t.same(notJson.json(), { error: 'not_found', message: 'POST /api/services/tftp/fault is not a route of this API' });
  const badJson = await f.send('POST', '/api/config/reload', '{"x":', { 'content-type': 'application/json' });
  t.equal(badJson.statusCode, 400);
  t.equal(badJson.json().error, 'bad_request');
  t.equal(badJson.json().field, 'body');
  t.match(badJson.json().message, /^body: not valid JSON/);
  const big = await f.send('POST', '/api/config/reload', JSON.stringify({ pad: 'x'.repeat(4096) }), { 'content-type': 'application/json' });
  t.equal(big.statusCode, 413);
  t.same(big.json(), { error: 'payload_too_large', message: 'the request body is larger than admin.bodyLimit (2048 bytes)' });
  const xml = await f.send('POST', '/api/config/reload', '<x/>', { 'content-type': 'application/xml' });
  t.equal(xml.statusCode, 415);
  t.same(xml.json(), { error: 'unsupported_media_type', message: 'content type application/xml is not accepted: send application/json' });
  const unknown = await f.send('POST', '/api/services/nope/start');
  t.equal(unknown.statusCode, 404);
  t.same(unknown.json(), { error: 'not_found', message: 'service "nope" not found (there are tftp, http, dhcp, mtftp)' });
});

t.test('CORS is off by default and allows only the configured origins', async (t) => {
  const off = await adminFixture(t);
  const r = await off.app.inject({ url: '/api/services', headers: { origin: 'http://198.51.100.7' } });
  t.equal(r.headers['access-control-allow-origin'], undefined, 'no CORS header by default');
  const on = await adminFixture(t, { admin: ['cors: ["http://198.51.100.7:3000"]'] });
  const ok = await on.app.inject({ url: '/api/services', headers: { origin: 'http://198.51.100.7:3000' } });
  t.equal(ok.headers['access-control-allow-origin'], 'http://198.51.100.7:3000');
  const other = await on.app.inject({ url: '/api/services', headers: { origin: 'http://203.0.113.9' } });
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an origin not listed gets none');
});

t.test('OpenAPI lists every route with its schemas; /docs is served from local files only', async (t) => {
  const f = await adminFixture(t);
  const spec = (await f.app.inject({ url: '/api/openapi.json' })).json();
  t.match(spec.openapi, /^3\./);
  const paths = Object.keys(spec.paths);
  for (const p of ['/api/services', '/api/services/{name}/restart', '/api/config/reload', '/api/hosts', '/api/hosts/{mac}', '/api/hosts/{mac}/boot-once',
    '/api/images', '/api/clients', '/api/clients/{mac}/events', '/api/clients/{mac}/booted', '/api/transfers', '/api/leases', '/api/events', '/healthz', '/readyz', '/metrics']) {
    t.ok(paths.includes(p), `${p} is documented`);
  }
  t.ok(spec.components.schemas.Error, 'the error schema is a shared component');
  t.ok(spec.paths['/api/services'].get.responses['200'], 'responses are described');
  const page = await f.app.inject({ url: '/docs/' });
  t.equal(page.statusCode, 200);
  const html = page.body;
  t.notMatch(html, /(src|href)="https?:\/\//, 'no script or style from another host');
  const init = await f.app.inject({ url: '/docs/static/swagger-initializer.js' });
  t.equal(init.statusCode, 200);
  const remote = init.body.split('\n').filter((l) => /https?:\/\//.test(l) && !/^\s*\/\//.test(l));
  t.same(remote, [], 'the initializer loads nothing from a remote URL (links in comments aside)');
  const bundle = await f.app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
  t.equal(bundle.statusCode, 200, 'the bundle is served by bootlab itself');
  t.ok(AUTH);
});
