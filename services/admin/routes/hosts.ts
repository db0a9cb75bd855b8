// REST for the host map: GET /api/hosts, GET/PUT/PATCH/DELETE /api/hosts/:mac, POST
// /api/hosts (a classroom list, JSON or CSV, as one atomic write) and POST
// /api/hosts/:mac/boot-once. Every write is one HostMap.edit (or removeHost): the host map
// is the only writer of hosts.yaml, it keeps the file's comments, and its validation
// decides what a good host is. This file checks only what a schema cannot (the MAC in the path, that the image
// exists, duplicates in a list) and names the field of a write the host map refused. The
// HostMap is the instance DHCP and TFTP read, so the next packet sees a write.
import { Type, type TSchema } from 'typebox';
import type { Document } from 'yaml';
import { findHostKey, HostMapBusy, HostMapError, hostnameIn, hostnameOwner, normalizeMac, setHostIn, type Host, type HostFields } from '../../core/hostmap.js';
import { HostSchema } from '../../core/hostmap-schema.js';
import type { AdminApp } from '../app.js';
import type { AdminContext } from '../context.js';
import { acceptedHeaders, CSV_COLUMNS, csvColumn, CsvError, readCsv, type CsvColumn, type CsvRecord } from '../csv.js';
import { ApiError, badRequest, errorResponses, notFound, unknownImage } from '../errors.js';
import { MAC_FORMS, nullable, MacParams, macOrBadRequest } from '../schemas.js';



// Types and unknown keys are the schema's; what a good host name or IPv4 address is, the
// host map's (its message comes back naming the field).
const fieldSchemas = {
  hostname: Type.Optional(nullable(Type.String())),
  image: Type.Optional(nullable(Type.String({ minLength: 1 }))),
  ip: Type.Optional(nullable(Type.String())),
  bootOnce: Type.Optional(nullable(Type.Boolean())),
  labels: Type.Optional(nullable(Type.Record(Type.String(), Type.String()))),
};
const HostBody = Type.Object(fieldSchemas, { additionalProperties: false });
const BulkRow = Type.Object({ mac: Type.String(), hostname: fieldSchemas.hostname, image: fieldSchemas.image, ip: fieldSchemas.ip }, { additionalProperties: false });
const BulkBody = Type.Object({ hosts: Type.Array(BulkRow, { minItems: 1 }) }, { additionalProperties: false });
const BootOnceBody = Type.Object({ image: Type.String({ minLength: 1 }) }, { additionalProperties: false });

type Body = { hostname?: string | null; image?: string | null; ip?: string | null; bootOnce?: boolean | null; labels?: Record<string, string> | null };

/** One host of a write: its MAC, its fields, where it stands in the request ("hosts[2]", "line 3") and how an error names a field of it. */
interface Row { mac: string; fields: HostFields; at: string; where: (field: string) => string }
/** A row refused before the host map saw it (no MAC, too many CSV fields). */
interface BadRow { problem: ApiError }
type ParsedRow = Row | BadRow;

/** Every problem of a refused write: the first decides the code; `lines` lists them all when there are several. */
class Problems {
  private readonly list: ApiError[] = [];
  add(error: ApiError): void { this.list.push(error); }
  get size(): number { return this.list.length; }
  error(): ApiError {
    const [first] = this.list;
    if (this.list.length === 1) return first;
    const more = ` (and ${this.list.length - 1} more: see lines)`;
    return new ApiError(first.code, `${first.message}${more}`, { ...first.extra, lines: this.list.map((p) => p.message) });
  }
}

/** A host as the API lists it: every field of HostSchema, named (a copy: the map's own stays untouched). */
const toRow = (h: Host): Host => ({
  mac: h.mac, hostname: h.hostname, image: h.image, ip: h.ip, bootOnce: h.bootOnce, labels: { ...h.labels },
});


function knownImage(ctx: AdminContext, image: string | null | undefined, field = 'image'): ApiError | null {
  if (image === undefined || image === null || ctx.hosts.images.has(image)) return null;
  const e = unknownImage(image, [...ctx.hosts.images.keys()]);
  return field === 'image' ? e : new ApiError('unknown_image', e.message.replace(/^image:/, `${field}:`), { field });
}

/** A request body to host-map fields: null removes; false and {} are the defaults, so they remove too (the file stays tidy). */
function fieldsOf(body: Body, replace: boolean): HostFields {
  const pick = <K extends keyof Body>(k: K) => (body[k] === undefined ? (replace ? null : undefined) : body[k]);
  const bootOnce = pick('bootOnce');
  const labels = pick('labels');
  return {
    hostname: pick('hostname'), image: pick('image'), ip: pick('ip'),
    bootOnce: bootOnce === undefined ? undefined : bootOnce === true ? true : null,
    labels: labels === undefined ? undefined : labels !== null && Object.keys(labels).length > 0 ? labels : null,
  };
}

/** The fields of a host a write sets: an issue at hosts.<key>.<field>(.<more>) is that field's. */
const HOST_FIELDS = new Set(['hostname', 'image', 'ip', 'bootOnce', 'labels']);

/** The file on disk is invalid (a hand edit): no write can land until it is fixed, and this request is not to blame. */
const brokenFile = (e: HostMapError) => new ApiError('conflict', `the host map file has an error to fix first (a hand edit?): ${e.lines[0]}`, { lines: e.lines });

/**
 * The file would not hold still (a hand edit being saved) or is missing: nothing was
 * written, and the request can simply be sent again (retryAfter, in seconds).
 */
const busy = (e: HostMapBusy) => new ApiError('conflict', `the host map was not changed: ${e.message}`, { retryAfter: 1 });

/** The host map refused the result of a write: each line names a field of a row (400, or 422 for the image). */
function refusal(e: HostMapError, rows: Row[]): ApiError {
  const byMac = new Map(rows.map((r) => [r.mac, r]));
  const problems = new Problems();
  for (const { path: [top, key, name], message } of e.issues) {
    const row = top === 'hosts' && key !== undefined ? byMac.get(normalizeMac(key) ?? '') : undefined;
    if (!row || name === undefined || !HOST_FIELDS.has(name)) return brokenFile(e);
    const field = row.where(name);
    const image = name === 'image';
    problems.add(image ? new ApiError('unknown_image', `${field}: ${message}`, { field }) : badRequest(field, message));
  }
  return problems.size > 0 ? problems.error() : brokenFile(e);
}

/**
 * Rows into hosts.yaml in one HostMap.edit: all land or none does. Whether a host is new
 * (201 or 200) and whether it must exist (PATCH) are decided inside the edit, against the
 * file as it is then. A refusal before the rows were applied means the file was already
 * invalid (409); after, the rows made it so (their fields are named). Returns the count of
 * new hosts.
 */
async function writeRows(ctx: AdminContext, rows: Row[], mustExist = false): Promise<number> {
  let applied = false;
  let created = 0;
  try {
    // Runs again when the file changed under the write, and later on top of a recovered
    // hand edit: it counts from zero each time.
    await ctx.hosts.edit((doc) => {
      applied = true;
      created = 0;
      const before = rows.map((r) => hostnameIn(doc, r.mac));
      for (const r of rows) {
        if (mustExist && findHostKey(doc, r.mac) === null) throw notFound(`host ${r.mac}`);
        if (setHostIn(doc, r.mac, r.fields)) created++;
      }
      const taken = namesTaken(doc, rows, before);
      if (taken) throw taken;
    });
  } catch (e) {
    if (e instanceof HostMapBusy) throw busy(e);
    if (!(e instanceof HostMapError)) throw e;
    throw applied ? refusal(e, rows) : brokenFile(e);
  }
  return created;
}

/**
 * A row that gives its host a hostname another host already has: refused (400 naming the
 * field), since DHCP would give both machines that name. A host that already had the name
 * may keep it (a file with two already only warns; full DHCP mode refuses such a file).
 */
function namesTaken(doc: Document, rows: Row[], before: (string | null)[]): ApiError | null {
  const problems = new Problems();
  rows.forEach((r, i) => {
    const name = r.fields.hostname;
    if (typeof name !== 'string' || before[i]?.toLowerCase() === name.toLowerCase()) return;
    const owner = hostnameOwner(doc, name, r.mac);
    if (owner !== null) problems.add(badRequest(r.where('hostname'), `"${name}" is already the hostname of ${owner}: each machine needs a name of its own`));
  });
  return problems.size > 0 ? problems.error() : null;
}

/** One host named by the path: errors name its fields plainly ("hostname"). */
const single = (mac: string, fields: HostFields): Row => ({ mac, fields, at: mac, where: (field) => field });

export default function register(app: AdminApp, ctx: AdminContext): void {
  app.addSchema(HostSchema);
  const row = Type.Ref('HostRow');
  const tags = ['hosts'];

  app.get('/api/hosts', {
    config: { access: 'read' },
    schema: {
      tags, summary: 'The host map: every host, the defaults, and the error of a refused hand edit',
      response: {
        200: Type.Object({
          hosts: Type.Array(row),
          defaults: Type.Object({ action: Type.Union([Type.Literal('menu'), Type.Literal('local'), Type.Literal('image'), Type.Literal('none')]), image: nullable(Type.String()),
            menuDefault: Type.String({ description: 'what the boot menu boots when its timeout runs out: local or an image' }),
            menuTimeout: Type.Integer({ description: 'seconds the boot menu waits' }) }),
          lastError: nullable(Type.Array(Type.String()), 'the lines of the last hand edit that was refused (the last good map stays in use)'),
          warnings: Type.Array(Type.String(), { description: 'what the file allows but is likely a mistake, one line each (two hosts with one hostname)' }),
          bootOnceEnds: Type.Enum(['booted', 'kernel'], { description: 'when a boot-once host goes back to the defaults (boot.bootOnceEnds): when it reports booted, or once its kernel was sent' }),
        }),
        ...errorResponses(401, 429),
      },
    },
  }, async () => ({ hosts: [...ctx.hosts.hosts.values()].map(toRow), defaults: { ...ctx.hosts.defaults }, lastError: ctx.hosts.lastError, warnings: [...ctx.hosts.warnings], bootOnceEnds: ctx.config.boot.bootOnceEnds }));

  app.get('/api/hosts/:mac', {
    config: { access: 'read' },
    schema: { tags, summary: 'One host', params: MacParams, response: { 200: row, ...errorResponses(400, 401, 404, 429) } },
  }, async (req) => {
    const host = ctx.hosts.lookup(macOrBadRequest(req.params.mac));
    if (!host) throw notFound(`host ${normalizeMac(req.params.mac)}`);
    return toRow(host);
  });

  app.put('/api/hosts/:mac', {
    config: { access: 'write' },
    schema: {
      tags, summary: 'Create or replace a host (fields not given are removed)', params: MacParams, body: HostBody,
      response: { 200: row, 201: row, ...errorResponses(400, 401, 409, 422, 429) },
    },
  }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    const body = req.body as Body;
    const bad = knownImage(ctx, body.image);
    if (bad) throw bad;
    const created = await writeRows(ctx, [single(mac, fieldsOf(body, true))]);
    return reply.code(created ? 201 : 200).send(toRow(ctx.hosts.lookup(mac)!));
  });

  app.patch('/api/hosts/:mac', {
    config: { access: 'write' },
    schema: {
      tags, summary: 'Change some fields of a host (null removes a field; labels are replaced as a whole)', params: MacParams, body: HostBody,
      response: { 200: row, ...errorResponses(400, 401, 404, 409, 422, 429) },
    },
  }, async (req) => {
    const mac = macOrBadRequest(req.params.mac);
    const body = req.body as Body;
    const bad = knownImage(ctx, body.image);
    if (bad) throw bad;
    await writeRows(ctx, [single(mac, fieldsOf(body, false))], true);
    return toRow(ctx.hosts.lookup(mac)!);
  });

  app.delete('/api/hosts/:mac', {
    config: { access: 'write' },
    schema: { tags, summary: 'Remove a host', params: MacParams, response: { 204: Type.Null({ description: 'removed' }), ...errorResponses(400, 401, 404, 409, 429) } },
  }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    let removed: boolean;
    try {
      removed = await ctx.hosts.removeHost(mac);
    } catch (e) {
      // Removing a host cannot make a valid file invalid: the file was broken already.
      throw e instanceof HostMapError ? brokenFile(e) : e instanceof HostMapBusy ? busy(e) : e;
    }
    if (!removed) throw notFound(`host ${mac}`);
    return reply.code(204).send(null);
  });

  app.post('/api/hosts/:mac/boot-once', {
    config: { access: 'write' },
    schema: {
      tags, summary: 'Boot an image once (creates the host if new)', params: MacParams, body: BootOnceBody,
      response: { 200: row, 201: row, ...errorResponses(400, 401, 409, 422, 429) },
    },
  }, async (req, reply) => {
    const mac = macOrBadRequest(req.params.mac);
    const { image } = req.body as { image: string };
    const bad = knownImage(ctx, image);
    if (bad) throw bad;
    const created = await writeRows(ctx, [single(mac, { image, bootOnce: true })]);
    return reply.code(created ? 201 : 200).send(toRow(ctx.hosts.lookup(mac)!));
  });

  registerBulk(app, ctx, row);
}

function registerBulk(app: AdminApp, ctx: AdminContext, row: TSchema): void {
  const csv = { schema: Type.String({ description: `one host per line: ${CSV_COLUMNS.join(',')} (ip optional; a header line may name the columns in any order; blank lines and # comments are skipped)` }) };
  app.post('/api/hosts', {
    config: { access: 'write' },
    schema: {
      tags: ['hosts'],
      summary: 'Register a list of hosts in one atomic write (JSON, or CSV of mac,hostname,image)',
      description: 'Each row sets the fields it gives and keeps the others (an empty CSV cell gives nothing; JSON null removes). Any bad row refuses the whole list and the file is not touched; the error names the first bad row, and `lines` lists every problem when there are several.',
      // Per content type: Fastify validates a JSON body against BulkBody and leaves CSV text to csvRows.
      body: { content: { 'application/json': { schema: BulkBody }, 'text/csv': csv, 'text/plain': csv } } as never,
      response: { 200: Type.Object({ created: Type.Integer(), updated: Type.Integer(), hosts: Type.Array(row) }), ...errorResponses(400, 401, 409, 413, 415, 422, 429) },
    },
  }, async (req) => {
    const body = req.body as unknown;
    if (typeof body !== 'string' && (typeof body !== 'object' || body === null)) {
      throw badRequest('body', 'send {"hosts": [...]} as application/json, or a list as text/csv');
    }
    const rows = checked(ctx, typeof body === 'string' ? csvRows(body) : jsonRows((body as { hosts: (Body & { mac: string })[] }).hosts));
    const created = await writeRows(ctx, rows);
    return { created, updated: rows.length - created, hosts: rows.map((r) => toRow(ctx.hosts.lookup(r.mac)!)) };
  });
}

/** Refuses a list with a bad row, a MAC or hostname listed twice or an unknown image, naming every problem; nothing is written. */
function checked(ctx: AdminContext, rows: ParsedRow[]): Row[] {
  const problems = new Problems();
  const seen = new Map<string, string>();
  const names = new Map<string, string>();
  const good: Row[] = [];
  for (const r of rows) {
    if ('problem' in r) { problems.add(r.problem); continue; }
    const first = seen.get(r.mac);
    if (first !== undefined) problems.add(badRequest(r.where('mac'), `${r.mac} is listed twice (first at ${first})`));
    else seen.set(r.mac, r.at);
    const name = typeof r.fields.hostname === 'string' ? r.fields.hostname.toLowerCase() : null;
    const firstName = name === null ? undefined : names.get(name);
    if (firstName !== undefined) problems.add(badRequest(r.where('hostname'), `"${r.fields.hostname}" is listed twice (first at ${firstName}): each machine needs a name of its own`));
    else if (name !== null) names.set(name, r.at);
    const bad = knownImage(ctx, r.fields.image, r.where('image'));
    if (bad) problems.add(bad);
    good.push(r);
  }
  if (problems.size > 0) throw problems.error();
  return good;
}

const notMac = (field: string, raw: string) => badRequest(field, `"${raw}" is not a MAC address (${MAC_FORMS})`);

function jsonRows(hosts: (Body & { mac: string })[]): ParsedRow[] {
  return hosts.map(({ mac: raw, ...body }, i) => {
    const at = `hosts[${i}]`;
    const where = (field: string) => `${at}.${field}`;
    const mac = normalizeMac(raw);
    return mac ? { mac, fields: fieldsOf(body, false), at, where } : { problem: notMac(where('mac'), raw) };
  });
}

/** CSV lines to rows: columns mac,hostname,image[,ip], or in the order a header line names them. */
function csvRows(text: string): ParsedRow[] {
  // A list pasted from a spreadsheet comes tab-separated; some locales export with ";".
  const delimiter = text.includes(',') ? ',' : text.includes('\t') ? '\t' : text.includes(';') ? ';' : ',';
  let records: CsvRecord[];
  try {
    records = readCsv(text, delimiter);
  } catch (e) {
    if (e instanceof CsvError) throw badRequest(`line ${e.line}`, e.reason);
    throw e;
  }
  const named = header(records[0]);
  const columns = named ?? CSV_COLUMNS;
  if (named) records = records.slice(1);
  if (records.length === 0) throw badRequest('body', 'the list has no host lines');
  return records.map(({ line, fields: cells }) => {
    const at = `line ${line}`;
    const where = (field: string) => `${at}: ${field}`;
    // Spreadsheets export empty trailing cells ("pc01,52:54:..,,"): they do not count.
    const used = cells.length - [...cells].reverse().findIndex((c) => c.trim() !== '');
    if (used > columns.length && cells.some((c) => c.trim() !== '')) return { problem: badRequest(at, `has ${used} fields; expected at most ${columns.length} (${columns.join(',')})`) };
    const given: Partial<Record<CsvColumn, string>> = {};
    columns.forEach((c, i) => { const v = cells[i]?.trim(); if (v) given[c] = v; });
    const mac = normalizeMac(given.mac ?? '');
    if (!mac) return { problem: notMac(where('mac'), given.mac ?? '') };
    return { mac, fields: { hostname: given.hostname, image: given.image, ip: given.ip }, at, where };
  });
}

/**
 * The columns a header line names, or null when the first line is a host. It is a header
 * when its first cell is no MAC address and one of its cells names a column (in any of
 * the spellings a spreadsheet uses: "Name", "MAC address", "OS"...).
 */
function header(first: CsvRecord | undefined): CsvColumn[] | null {
  if (!first || normalizeMac(first.fields[0] ?? '') !== null) return null;
  const cells = first.fields.map((c) => c.trim());
  while (cells.length > 1 && cells[cells.length - 1] === '') cells.pop(); // empty columns a spreadsheet exported
  const head = cells.map(csvColumn);
  if (head.every((c) => c === null)) return null;
  const at = `line ${first.line}`;
  head.forEach((c, i) => {
    if (cells[i] === '') throw badRequest(`${at}: column ${i + 1}`, 'has no name (name it, or remove the column)');
    if (c === null) throw badRequest(`${at}: ${cells[i]}`, `is not a column bootlab knows; it accepts (in any case, with or without spaces) ${acceptedHeaders()}`);
    if (head.indexOf(c) !== i) throw badRequest(`${at}: ${cells[i]}`, `is a column named twice (${cells[head.indexOf(c)]} is the ${c} column too)`);
  });
  if (!head.includes('mac')) throw badRequest(at, `the header names no MAC column; it accepts ${acceptedHeaders('mac')}`);
  return head as CsvColumn[];
}
