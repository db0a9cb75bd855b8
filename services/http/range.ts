// HTTP byte ranges (RFC 9110 section 14) and the conditional headers of a download, as
// pure functions: what part of a representation of `size` bytes a request gets.
// One range is served as a 206; several ranges are answered with the whole file (RFC
// 9110 lets a server ignore Range), so no multipart/byteranges is ever built.

/** What a Range header asks of a representation of a known size. */
export type RangeResult =
  /** No Range, a unit other than bytes, a malformed header, or several ranges: send it all. */
  | { kind: 'whole' }
  /** One satisfiable range, inclusive bounds, clipped to the size. */
  | { kind: 'single'; start: number; end: number }
  /** A well-formed single range that selects nothing: 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;

/** Parses one byte-range-spec: null when malformed. */
function parseSpec(spec: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = SPEC.exec(spec);
  if (!m) return null;
  if (m[3] !== undefined) {
    // Suffix range: the last n bytes. "-0" selects nothing.
    const n = Number(m[3]);
    if (!Number.isSafeInteger(n)) return null;
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? null : Number(m[2]);
  if (!Number.isSafeInteger(start) || (last !== null && !Number.isSafeInteger(last))) return null;
  // RFC 9110 14.1.1: a last position below the first makes the range invalid (ignored).
  if (last !== null && last < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === null ? size - 1 : Math.min(last, size - 1) };
}

/** Which bytes a `Range` header selects from `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'whole' };
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'whole' };
  const specs = header.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return { kind: 'whole' };
  const r = parseSpec(specs[0], size);
  if (r === null) return { kind: 'whole' };
  if (r === 'unsatisfiable') return { kind: 'unsatisfiable' };
  return { kind: 'single', ...r };
}

/** What a response's validators are: a strong ETag and, for files, the modification time. */
export interface Validators { etag: string; mtimeMs: number | null }

/** A strong ETag from the size and modification time, as nginx makes them. */
export function fileEtag(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

/** HTTP dates have whole seconds. */
const seconds = (ms: number): number => Math.floor(ms / 1000);

function parseDate(v: string): number | null {
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

function etagListHas(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  // Weak comparison (RFC 9110 13.1.2): W/ is ignored.
  return list.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** If-None-Match, or else If-Modified-Since: whether a GET/HEAD gets 304 Not Modified. */
export function notModified(headers: { 'if-none-match'?: string; 'if-modified-since'?: string }, v: Validators): boolean {
  const inm = headers['if-none-match'];
  if (inm !== undefined) return etagListHas(inm, v.etag);
  const ims = headers['if-modified-since'];
  if (ims === undefined || v.mtimeMs === null) return false;
  const since = parseDate(ims);
  return since !== null && seconds(v.mtimeMs) <= seconds(since);
}

/** If-Range (RFC 9110 13.1.5): whether the Range header may be used; a mismatch sends the whole file. */
export function rangeAllowed(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === v.etag;
  if (value.startsWith('W/')) return false; // a weak tag never matches If-Range
  const date = parseDate(value);
  return date !== null && v.mtimeMs !== null && seconds(date) === seconds(v.mtimeMs);
}

const TEXT_EXTENSIONS = new Set(['ipxe', 'cfg', 'txt', 'conf', 'lst', 'sh', 'menu']);

/** text/plain for scripts and configs (iPXE, pxelinux, GRUB), octets for everything else. */
export function contentType(name: string, generated: boolean): string {
  if (generated) return 'text/plain; charset=utf-8';
  const base = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  const ext = dot >= 0 ? base.slice(dot + 1) : '';
  if (TEXT_EXTENSIONS.has(ext)) return 'text/plain; charset=utf-8';
  if (/(^|\/)pxelinux\.cfg\//i.test(name) || /^grub\.cfg/.test(base)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
