// Starts the HTTP boot service on loopback (any free port) for a test, and talks to it
// with real clients: curl (a child process, run asynchronously so the in-process server
// keeps serving) and raw TCP sockets for the misbehaving ones.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { appSpec, type AppConfig } from '../../services/core/config.js';
import { EventBus, type BootEvent, type BootEventKind, type EventOf } from '../../services/core/events.js';
import { defaults } from '../../services/core/schema.js';
import { start, type HttpOptions, type HttpService } from '../../services/http/server.js';
import { serviceContext } from './context.js';
import type { Teardown } from './util.js';

const run = promisify(execFile);

export interface Harness {
  service: HttpService;
  port: number;
  base: string;
  events: EventBus;
  seen: BootEvent[];
  config: AppConfig;
}

export function httpConfig(root: string, progressIntervalMs = 250): AppConfig {
  const config = defaults(appSpec);
  config.log.level = 'silent';
  config.stateDir = mkdtempSync(join(tmpdir(), 'bootlab-state-'));
  config.tftp = { ...config.tftp, root, progressIntervalMs };
  config.http = { ...config.http, address: '127.0.0.1', port: 0 };
  return config;
}

export async function startHttp(
  t: Teardown,
  root: string,
  opts: HttpOptions & { progressIntervalMs?: number } = {},
): Promise<Harness> {
  const config = httpConfig(root, opts.progressIntervalMs);
  const events = new EventBus();
  const seen: BootEvent[] = [];
  events.onAny((e) => seen.push(e));
  const service = await start(await serviceContext(config, { events }), opts);
  t.teardown(() => service.close());
  const port = service.port();
  return { service, port, base: `http://127.0.0.1:${port}`, events, seen, config };
}

export interface CurlResult { status: number; headers: Record<string, string>; body: Buffer }

/** Runs curl with -i and splits the (last) response into status, headers and body. */
export async function curl(args: string[]): Promise<CurlResult> {
  const { stdout } = await run('curl', ['-s', '-i', '--max-time', '20', ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  let rest = stdout;
  // A 100 Continue or several responses: the last header block is the answer.
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no header block in curl output: ${rest.toString().slice(0, 200)}`);
    const head = rest.subarray(0, end).toString('latin1').split('\r\n');
    const body = rest.subarray(end + 4);
    const status = Number(head[0].split(' ')[1]);
    if (status === 100) { rest = body; continue; }
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return { status, headers, body };
  }
}

/** curl -w output only (the body goes to /dev/null). */
export async function curlWrite(args: string[], format: string): Promise<string> {
  const { stdout } = await run('curl', ['-s', '--max-time', '60', '-o', '/dev/null', '-w', format, ...args], { encoding: 'utf8' });
  return stdout;
}

/** A raw TCP connection that sends `request` and collects what comes back. */
export function rawClient(port: number, request: string): Promise<{ socket: Socket; received: () => Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(request);
      resolve({ socket, received: () => Buffer.concat(chunks) });
    });
    socket.on('data', (c) => chunks.push(c));
    socket.once('error', reject);
  });
}

/** The first event of a kind, waited for (rejects after `ms`). */
export function nextEvent<K extends BootEventKind>(h: Harness, kind: K, ms = 10_000): Promise<EventOf<K>> {
  const have = h.seen.find((e) => e.kind === kind);
  if (have) return Promise.resolve(have as EventOf<K>);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${kind} within ${ms} ms`)); }, ms);
    const off = h.events.on(kind, (e) => { clearTimeout(timer); off(); resolve(e); });
  });
}

/** File descriptors of this process open on `path` (Linux /proc). */
export function openFds(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try { if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

/** The event without its timestamp, for exact comparisons. */
export function withoutAt<E extends { at: number }>(e: E): Omit<E, 'at'> {
  const { at: _at, ...rest } = e;
  return rest;
}
