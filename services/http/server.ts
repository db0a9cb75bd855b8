// The HTTP boot service: tftp.root and the generated files over HTTP (GET, HEAD, one byte
// range), so iPXE and UEFI HTTP Boot fetch kernels and initrds far faster than by TFTP.
// Names go through the same FileLayer as TFTP (root, remap, case folding, symlinks);
// files stream from their open handle with backpressure. Plus the booted report route
// /bootlab/booted/<mac>?key=<k>. node:http directly: nothing here needs a framework.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { BindError, ServiceBase, type BoundAddress, type Service, type ServiceContext } from '../core/service.js';
import { FileLayer, isRefusal, type FileRefusal } from '../core/files.js';
import { fileBody, memoryBody, type Body } from './body.js';
import { notModified, parseRange, rangeAllowed } from './range.js';
import { bootedRoute, fileName, parseTarget } from './request.js';
import { plainAddress } from '../core/net.js';

export interface HttpStats {
  requests: number;
  bytesSent: number;
  active: number;
  /** 404 answers. */
  notFound: number;
  /** Other refusals: 400, 403, 405, 416, 500 (each also an http.refused event). */
  refused: number;
  filesSent: number;
  failed: number;
  clientAborts: number;
}

/**
 * Checks a booted report (and records it): true or 'ok' accepts it, anything else is a bad
 * key. mac is aa:bb:cc:dd:ee:ff; ip the client's address.
 */
export type ReportBooted = (mac: string, key: string, ip: string) => boolean | 'ok' | 'bad-key' | Promise<boolean | 'ok' | 'bad-key'>;

export interface HttpOptions {
  /** Enables the route /bootlab/booted/<mac>?key=<k>; without it such paths are files like any other. */
  reportBooted?: ReportBooted;
  /** Milliseconds a client may take to send its request headers (slowloris). */
  headersTimeoutMs?: number;
  /** Milliseconds a connection may sit without any traffic, also mid-download (a stalled reader). */
  idleTimeoutMs?: number;
}

export interface HttpService extends Service {
  readonly name: 'http';
  readonly files: FileLayer;
  readonly stats: HttpStats;
  /** The bound TCP port (http.port 0 binds any free one). */
  port(): number;
}

interface Transfer {
  id: number; file: string; ip: string; size: number; startedAt: number; bytes: number; lastProgress: number;
}

const HEADERS_TIMEOUT_MS = 15_000;
const IDLE_TIMEOUT_MS = 60_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** A header that may only appear once; a repeated one counts as absent. */
const header = (req: IncomingMessage, name: string): string | undefined => {
  const h = req.headers[name];
  return typeof h === 'string' ? h : undefined;
};

/** The file layer's refusals as HTTP status codes. */
const STATUS_FOR: Record<FileRefusal['refused'], number> = { 'not-found': 404, forbidden: 403, error: 500 };
const statusFor = (r: FileRefusal): number => STATUS_FOR[r.refused];

export class HttpServer extends ServiceBase implements HttpService {
  readonly name = 'http' as const;
  readonly files: FileLayer;
  private readonly counters: Omit<HttpStats, 'active'> = { requests: 0, bytesSent: 0, notFound: 0, refused: 0, filesSent: 0, failed: 0, clientAborts: 0 };
  private server: Server | null = null;
  private readonly transfers = new Set<Transfer>();
  /** Every request being handled: close() waits for them, so no file handle outlives it. */
  private readonly inflight = new Set<Promise<void>>();
  private readonly timedOut = new WeakSet<Socket>();
  private nextId = 1;
  private closing = false;

  private readonly log: Logger;
  private readonly events: EventBus;

  constructor(private readonly ctx: ServiceContext, private readonly opts: HttpOptions = {}) {
    super(ctx.fail);
    this.log = ctx.log.child({ service: 'http' });
    this.events = ctx.events;
    this.files = FileLayer.fromConfig(ctx.config.tftp);
  }

  async listen(): Promise<void> {
    const { address, port } = this.ctx.config.http;
    this.setState('starting');
    const server = createServer({
      keepAlive: true,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: this.opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      requestTimeout: 2 * (this.opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS),
      // How often the headers/request timeouts are checked (30 s by default).
      connectionsCheckingInterval: Math.min(1000, this.opts.headersTimeoutMs ?? 1000),
    });
    server.setTimeout(this.opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS, (socket: Socket) => {
      this.timedOut.add(socket);
      socket.destroy();
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.track(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new BindError('http.port', address, port, e.code ?? e.message)));
      server.listen(port, address, () => resolve());
    });
    server.removeAllListeners('error');
    server.on('error', (e) => {
      this.lastError = e.message;
      this.log.error({ err: e }, 'http server error');
      this.fail?.(e);
    });
    this.server = server;
    this.setState('running');
    const a = server.address() as AddressInfo;
    // From now on DHCP and the generated scripts name this server's URL (core/site.ts).
    this.ctx.site.announceHttp(a.port);
    this.log.info({ address: a.address, port: a.port, root: this.ctx.config.tftp.root }, 'http listening');
  }

  get stats(): HttpStats {
    return { ...this.counters, active: this.transfers.size };
  }

  port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  protected bound(): BoundAddress[] {
    const a = this.server?.address();
    return a && typeof a === 'object' ? [{ protocol: 'tcp', address: a.address, port: a.port }] : [];
  }

  protected counts(): Record<string, number> {
    return { ...this.stats };
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const p = this.handle(req, res)
      .catch((e: Error) => {
        this.lastError = e.message;
        this.log.error({ err: e, url: req.url }, 'http request failed');
        if (!res.headersSent && !res.destroyed) this.plain(res, 500, 'internal error');
        else res.destroy();
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests++;
    const ip = plainAddress(req.socket.remoteAddress);
    const target = parseTarget(req.url ?? '/');
    if (target === null) return this.refuse(res, req.url ?? '', ip, 400, 'bad request: broken percent-encoding', 'undecodable path');
    const file = fileName(target.path);
    const booted = bootedRoute(target.path);
    if (booted !== null && this.opts.reportBooted) return this.booted(req, res, file, ip, booted, target.query.get('key') ?? '');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.refuse(res, file, ip, 405, 'method not allowed', `method ${req.method}`);
    }
    const opened = await this.files.openRead(file, { address: ip, port: req.socket.remotePort ?? 0 });
    if (isRefusal(opened)) return this.refuse(res, file, ip, statusFor(opened), opened.message, opened.reason);
    const body = opened.kind === 'file' ? await fileBody(opened) : memoryBody(opened);
    try {
      await this.serve(req, res, file, ip, body);
    } finally {
      await body.close();
    }
  }

  /** Headers, conditionals and the range; then the bytes (GET) or nothing (HEAD). */
  private async serve(req: IncomingMessage, res: ServerResponse, file: string, ip: string, body: Body): Promise<void> {
    const v = body.validators;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', v.etag);
    res.setHeader('Last-Modified', new Date(v.mtimeMs ?? Date.now()).toUTCString());
    res.setHeader('Content-Type', body.contentType);
    // Generated files can change with every request (the host map, boot-once).
    if (body.generated) res.setHeader('Cache-Control', 'no-cache');
    if (notModified(req.headers, v)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const range = rangeAllowed(header(req, 'if-range'), v) ? parseRange(req.headers.range, body.size) : { kind: 'whole' as const };
    if (range.kind === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${body.size}`);
      return this.refuse(res, file, ip, 416, 'range not satisfiable', `range ${req.headers.range} of ${body.size} bytes`);
    }
    const [start, end] = range.kind === 'single' ? [range.start, range.end] : [0, body.size - 1];
    res.statusCode = range.kind === 'single' ? 206 : 200;
    if (range.kind === 'single') res.setHeader('Content-Range', `bytes ${start}-${end}/${body.size}`);
    res.setHeader('Content-Length', end - start + 1);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await this.transfer(res, file, ip, body, start, end, range.kind === 'single');
  }

  private async transfer(
    res: ServerResponse, file: string, ip: string, body: Body, start: number, end: number, ranged: boolean,
  ): Promise<void> {
    const now = Date.now();
    const size = end - start + 1;
    const t: Transfer = { id: this.nextId++, file, ip, size, startedAt: now, bytes: 0, lastProgress: now };
    this.transfers.add(t);
    this.log.debug({ transfer: t.id, client: ip, file, size: t.size, range: ranged ? [start, end] : null }, 'http get start');
    this.events.emit({ kind: 'http.start', id: t.id, file, size: t.size, ip, method: 'GET', range: ranged ? [start, end] : null });
    try {
      const outcome = await body.send(res, start, end, (n) => this.onBytes(t, n));
      if (outcome === 'finished') this.done(t);
      else this.failed(t, res, null);
    } catch (e) {
      res.destroy();
      this.failed(t, res, (e as Error).message);
    } finally {
      this.transfers.delete(t);
    }
  }

  private onBytes(t: Transfer, n: number): void {
    t.bytes += n;
    this.counters.bytesSent += n;
    const now = Date.now();
    if (now - t.lastProgress < this.ctx.config.tftp.progressIntervalMs || t.bytes >= t.size) return;
    t.lastProgress = now;
    const secs = (now - t.startedAt) / 1000;
    this.events.emit({ kind: 'http.progress', id: t.id, file: t.file, bytes: t.bytes, size: t.size, rate: secs > 0 ? t.bytes / secs : 0, ip: t.ip });
  }

  private done(t: Transfer): void {
    this.counters.filesSent++;
    const seconds = (Date.now() - t.startedAt) / 1000;
    const throughput = seconds > 0 ? t.bytes / seconds : 0;
    this.log.info({ transfer: t.id, client: t.ip, file: t.file, bytes: t.bytes, seconds: +seconds.toFixed(3), mbps: +(throughput / 1e6).toFixed(2) }, 'http get done');
    this.events.emit({ kind: 'http.done', id: t.id, file: t.file, bytes: t.bytes, seconds, throughput, ip: t.ip });
  }

  /** error: what broke on our side; null: the connection closed before the end. */
  private failed(t: Transfer, res: ServerResponse, error: string | null): void {
    const timedOut = res.socket ? this.timedOut.has(res.socket) : false;
    const clientAbort = error === null && !this.closing && !timedOut;
    const reason = error ?? (this.closing ? 'server shutting down' : timedOut ? 'client stopped reading (idle timeout)' : 'client closed the connection');
    if (clientAbort) this.counters.clientAborts++;
    else this.counters.failed++;
    this.log[clientAbort ? 'debug' : 'warn']({ transfer: t.id, client: t.ip, file: t.file, bytes: t.bytes, size: t.size, reason }, 'http get ended early');
    this.events.emit({ kind: 'http.failed', id: t.id, file: t.file, bytes: t.bytes, reason, clientAbort, ip: t.ip });
  }

  /** GET|POST /bootlab/booted/<mac>?key=<k>: the script's or OS's booted report. */
  private async booted(req: IncomingMessage, res: ServerResponse, file: string, ip: string, route: { mac: string } | 'bad-mac', key: string): Promise<void> {
    req.resume(); // a POST body says nothing we need
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      return this.refuse(res, file, ip, 405, 'method not allowed', `method ${req.method} on the booted route`);
    }
    if (route === 'bad-mac') return this.refuse(res, file, ip, 400, 'bad request: not a MAC address', 'booted report for no MAC');
    const r = await this.opts.reportBooted!(route.mac, key, ip);
    if (r !== true && r !== 'ok') return this.refuse(res, file, ip, 403, 'bad key', `booted report for ${route.mac} with a bad key`);
    this.log.info({ client: ip, mac: route.mac }, 'booted report');
    this.plain(res, 200, 'ok');
  }

  private refuse(res: ServerResponse, file: string, ip: string, code: number, message: string, reason: string): void {
    if (code === 404) this.counters.notFound++;
    else this.counters.refused++;
    this.log.info({ client: ip, file, code, reason }, 'http request refused');
    this.events.emit({ kind: 'http.refused', file, code, reason, ip });
    this.plain(res, code, message);
  }

  private plain(res: ServerResponse, code: number, message: string): void {
    const text = `${message}\n`;
    res.statusCode = code;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  }

  /** Stops listening, ends every connection (active downloads too) and waits for the handlers. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.closing = true;
    this.ctx.site.announceHttp(null);
    this.setState('stopping');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await Promise.allSettled([...this.inflight]);
    this.setState('stopped');
    this.log.info({ stats: this.stats }, 'http stopped');
  }
}

export async function start(ctx: ServiceContext, opts: HttpOptions = {}): Promise<HttpService> {
  const server = new HttpServer(ctx, opts);
  await server.listen();
  return server;
}
