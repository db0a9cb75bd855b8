// How a host-map write lands: every write is one HostMap.edit (or removeHost), so the host
// map stays the only writer of hosts.yaml, keeps the file's comments, and its validation
// decides what a good host is. Here: a request's rows to host-map fields, the edit, and
// its refusals turned into API errors that name the field of the row at fault.
import type { Document } from 'yaml';
import { findHostKey, hostnameIn, hostnameOwner, setHostIn } from '../../../core/hostmap-doc.js';
import { HostMapBusy, HostMapError, normalizeMac, type Host, type HostFields } from '../../../core/hostmap.js';
import type { AdminContext } from '../../context.js';
import { ApiError, badRequest, notFound, unknownImage } from '../../errors.js';
import type { HostBody } from './schemas.js';

/**
 * One host of a write: its MAC, its fields, where it stands in the request ("hosts[2]",
 * "line 3") and how an error names a field of it.
 */
export interface Row { mac: string; fields: HostFields; at: string; where: (field: string) => string }
/** A row refused before the host map saw it (no MAC, too many CSV fields). */
export interface BadRow { problem: ApiError }
export type ParsedRow = Row | BadRow;

/** Every problem of a refused write: the first decides the code; `lines` lists them all when there are several. */
export class Problems {
  private readonly list: ApiError[] = [];
  add(error: ApiError): void { this.list.push(error); }
  get size(): number { return this.list.length; }
  error(): ApiError {
    const [first] = this.list;
    if (this.list.length === 1) return first;
    const more = ` (and ${this.list.length - 1} more: see lines)`;
    const lines = this.list.map((p) => p.message);
    return new ApiError(first.code, `${first.message}${more}`, { ...first.extra, lines });
  }
}

/** A host as the API lists it: every field of HostSchema, named (a copy: the map's own stays untouched). */
export const toRow = (h: Host): Host => ({
  mac: h.mac, hostname: h.hostname, image: h.image, ip: h.ip, bootOnce: h.bootOnce, labels: { ...h.labels },
});

/** A 422 when `image` names no image of the host map (the error names `field`). */
export function knownImage(ctx: AdminContext, image: string | null | undefined, field = 'image'): ApiError | null {
  if (image === undefined || image === null || ctx.hosts.images.has(image)) return null;
  const e = unknownImage(image, [...ctx.hosts.images.keys()]);
  return field === 'image' ? e : new ApiError('unknown_image', e.message.replace(/^image:/, `${field}:`), { field });
}

/**
 * A request body to host-map fields: null removes; false and {} are the defaults, so they
 * remove too (the file stays tidy).
 */
export function fieldsOf(body: HostBody, replace: boolean): HostFields {
  const pick = <K extends keyof HostBody>(k: K) => (body[k] === undefined ? (replace ? null : undefined) : body[k]);
  const bootOnce = pick('bootOnce');
  const labels = pick('labels');
  return {
    hostname: pick('hostname'), image: pick('image'), ip: pick('ip'),
    bootOnce: bootOnce === undefined ? undefined : bootOnce === true ? true : null,
    labels: labels === undefined ? undefined : labels !== null && Object.keys(labels).length > 0 ? labels : null,
  };
}

/** One host named by the path: errors name its fields plainly ("hostname"). */
export const single = (mac: string, fields: HostFields): Row => ({ mac, fields, at: mac, where: (field) => field });

/** The fields of a host a write sets: an issue at hosts.<key>.<field>(.<more>) is that field's. */
const HOST_FIELDS = new Set(['hostname', 'image', 'ip', 'bootOnce', 'labels']);

/** The file on disk is invalid (a hand edit): no write can land until it is fixed, and this request is not to blame. */
export const brokenFile = (e: HostMapError) => new ApiError('conflict',
  `the host map file has an error to fix first (a hand edit?): ${e.lines[0]}`, { lines: e.lines });

/**
 * The file would not hold still (a hand edit being saved) or is missing: nothing was
 * written, and the request can simply be sent again (retryAfter, in seconds).
 */
export const busy = (e: HostMapBusy) =>
  new ApiError('conflict', `the host map was not changed: ${e.message}`, { retryAfter: 1 });

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
export async function writeRows(ctx: AdminContext, rows: Row[], mustExist = false): Promise<number> {
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
    if (owner !== null) {
      problems.add(badRequest(r.where('hostname'),
        `"${name}" is already the hostname of ${owner}: each machine needs a name of its own`));
    }
  });
  return problems.size > 0 ? problems.error() : null;
}
