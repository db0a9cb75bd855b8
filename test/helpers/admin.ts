// An admin runtime for a test: a config file, a host map and a tftpboot folder in a
// temporary folder, the real wiring (createRuntime) and the app built on it, driven with
// app.inject. TFTP runs for real on a free loopback port (tftp.port: 0; the service's row says
// which) when asked; DHCP and MTFTP are off.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { build, type AdminApp } from '../../services/admin/app.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../services/runtime/runtime.js';
import { silentLogger } from '../../services/core/log.js';
import type { Teardown } from './util.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const AUTH = { authorization: `Bearer ${TOKEN}` };
/** The body of every 401 (errors.ts). */
export const UNAUTHORIZED = { error: 'unauthorized', message: 'a valid bearer token is required (Authorization: Bearer <token>)' };

export interface AdminFixtureOptions {
  /** config/hosts.yaml text. */
  hosts?: string;
  /** Files under tftpboot/ (name → content). */
  files?: Record<string, string | Buffer>;
  /** Extra YAML appended to appliance.yaml (top-level keys other than those written here). */
  extra?: string;
  /** Lines inside `admin:` (indented by the helper), e.g. ['protectReads: always']. */
  admin?: string[];
  /** Lines inside `tftp:`; TFTP is off unless `tftp` is given. */
  tftp?: string[];
  /** Lines inside `http:`; the HTTP boot server is off unless `http` is given (then on 127.0.0.1, any port). */
  http?: string[];
  runtime?: RuntimeOptions;
}

export interface AdminFixture {
  dir: string;
  configFile: string;
  hostsFile: string;
  root: string;
  runtime: Runtime;
  app: AdminApp;
  /** GET with the token. */
  get(url: string): Promise<LightMyRequestResponse>;
  /** Any method with the token; a string body is sent as is (set content-type in headers). */
  send(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

export function applianceYaml(dir: string, o: AdminFixtureOptions): string {
  const lines = [
    'log:', '  level: silent',
    `stateDir: ${join(dir, 'state')}`,
    `hosts: ${join(dir, 'hosts.yaml')}`,
    'tftp:',
    ...(o.tftp ? ['  enabled: true', '  address: 127.0.0.1', '  port: 0', ...o.tftp.map((l) => `  ${l}`)] : ['  enabled: false']),
    `  root: ${join(dir, 'tftpboot')}`,
    'dhcp:', '  mode: off',
    'mtftp:', '  enabled: false',
    'http:', ...(o.http ? ['  enabled: true', '  address: 127.0.0.1', '  port: 0', ...o.http.map((l) => `  ${l}`)] : ['  enabled: false']),
    'admin:', '  address: 127.0.0.1', '  port: 0', `  token: ${TOKEN}`, `  web: ${join(dir, 'web')}`,
    ...(o.admin ?? []).map((l) => `  ${l}`),
  ];
  return `${lines.join('\n')}\n${o.extra ?? ''}`;
}

export async function adminFixture(t: Teardown, o: AdminFixtureOptions = {}): Promise<AdminFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'bootlab-admin-'));
  const root = join(dir, 'tftpboot');
  mkdirSync(root);
  mkdirSync(join(dir, 'web'));
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>bootlab test page</title>\n');
  for (const [name, content] of Object.entries(o.files ?? {})) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
  const hostsFile = join(dir, 'hosts.yaml');
  writeFileSync(hostsFile, o.hosts ?? 'hosts: {}\n');
  const configFile = join(dir, 'appliance.yaml');
  writeFileSync(configFile, applianceYaml(dir, o));
  const runtime = await createRuntime(configFile, { log: silentLogger(), processMetrics: false, ...o.runtime });
  // Registered before anything can throw: a failed start still closes the watcher and sockets.
  let app: AdminApp | null = null;
  t.teardown(async () => {
    await app?.close();
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await runtime.supervisor.startAll();
  app = await build(runtime);
  const built = app;
  return {
    dir, configFile, hostsFile, root, runtime, app: built,
    get: (url) => built.inject({ method: 'GET', url, headers: AUTH }),
    send: (method, url, body, headers = {}) => built.inject({
      method, url, headers: { ...AUTH, ...headers },
      ...(body === undefined ? {} : typeof body === 'string' ? { payload: body } : { payload: body as object }),
    }),
  };
}
