// The admin server: the API and dashboard (app.ts) over a running appliance
// (runtime/runtime.ts), listening on admin.address and admin.port.
import type { Runtime } from '../runtime/runtime.js';
import { build, type AdminApp, type BuildOptions } from './app.js';

/** Builds the app and listens on admin.address and admin.port. */
export async function listenAdmin(runtime: Runtime, opts: BuildOptions = {}): Promise<{ app: AdminApp; url: string }> {
  const app = await build(runtime, opts);
  const { address, port } = runtime.config.admin;
  try {
    await app.listen({ host: address, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // "::" on a machine (or container) without IPv6: every IPv4 address instead.
    if (address === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) await app.listen({ host: '0.0.0.0', port });
    else throw e;
  }
  const bound = app.server.address();
  const where = typeof bound === 'object' && bound !== null ? bound : { address, port };
  const host = where.address === '::' || where.address === '0.0.0.0' ? '127.0.0.1' : where.address;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${where.port}`;
  return { app, url };
}
