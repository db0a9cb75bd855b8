// A small CSV reader for classroom lists (POST /api/hosts with text/csv). RFC 4180 quoting
// ("a, b", "say ""hi""", a quoted line break) plus what a pasted list carries: a UTF-8 BOM
// (spreadsheet exports), CRLF line ends, blank lines and # comment lines, which are skipped.
// Each record keeps the line it starts on, so an error can say "line 3: mac". Fields are
// returned as written; trimming is the caller's business. No package: this is all of it.
// Also the columns of a classroom list and the header spellings each accepts.

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  line: number;
  fields: string[];
}

/** The columns of a classroom list, in the order of a list without a header line. */
export const CSV_COLUMNS = ['mac', 'hostname', 'image', 'ip'] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];

/**
 * What a header may call each column: the names spreadsheets, inventory exports and
 * `getmac` ("Physical Address") use. Compared without case, spaces, dots, hyphens or
 * underscores, so "MAC-Address", "mac_address" and "Mac address" are one.
 */
export const CSV_HEADERS: Record<CsvColumn, readonly string[]> = {
  mac: ['MAC', 'MAC address', 'Hardware address', 'HW address', 'Ethernet', 'Ethernet address', 'Physical address'],
  hostname: ['Hostname', 'Host name', 'Name', 'Computer name', 'Computer', 'PC', 'PC name', 'Machine', 'Device name'],
  image: ['Image', 'OS', 'Operating system', 'Boot image'],
  ip: ['IP', 'IP address', 'IPv4', 'IPv4 address', 'Fixed IP'],
};

const squash = (name: string) => name.toLowerCase().replace(/[\s._-]+/g, '');
const BY_SPELLING = new Map<string, CsvColumn>(
  CSV_COLUMNS.flatMap((c) => [c, ...CSV_HEADERS[c]].map((n) => [squash(n), c] as [string, CsvColumn])),
);

/** The column a header cell names, or null. */
export function csvColumn(cell: string): CsvColumn | null {
  return BY_SPELLING.get(squash(cell)) ?? null;
}

/** The spellings accepted, for an error: "mac: MAC, MAC address, ...; hostname: ...", or one column's. */
export function acceptedHeaders(column?: CsvColumn): string {
  const one = (c: CsvColumn) => CSV_HEADERS[c].join(', ');
  return column ? one(column) : CSV_COLUMNS.map((c) => `${c}: ${one(c)}`).join('; ');
}

export class CsvError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = 'CsvError';
  }
}

/** Splits `text` into records. Throws CsvError on an unterminated quote or text after one. */
export function readCsv(text: string, delimiter = ','): CsvRecord[] {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const start = line;
    const end = lineEnd(src, i);
    const raw = src.slice(i, end);
    // Blank and comment lines are only recognised where a record would start, so a "#"
    // inside a quoted multi-line field is data.
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) {
      i = skipBreak(src, end);
      line++;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      const field = readField(src, i, delimiter, start);
      fields.push(field.value);
      line += field.breaks;
      i = field.next;
      if (i < src.length && src[i] === delimiter) { i++; continue; }
      break;
    }
    records.push({ line: start, fields });
    i = skipBreak(src, i);
    line++;
  }
  return records;
}

function lineEnd(src: string, from: number): number {
  const n = src.indexOf('\n', from);
  const end = n < 0 ? src.length : n;
  return end > from && src[end - 1] === '\r' ? end - 1 : end;
}

function skipBreak(src: string, at: number): number {
  if (src[at] === '\r' && src[at + 1] === '\n') return at + 2;
  return src[at] === '\n' || src[at] === '\r' ? at + 1 : at;
}

/** One field from `at`: its value, where the reader stopped, and the line breaks it spanned. */
function readField(
  src: string, at: number, delimiter: string, line: number,
): { value: string; next: number; breaks: number } {
  let i = at;
  while (src[i] === ' ' || (src[i] === '\t' && delimiter !== '\t')) i++;
  if (src[i] !== '"') {
    let j = at;
    while (j < src.length && src[j] !== delimiter && src[j] !== '\n' && src[j] !== '\r') j++;
    return { value: src.slice(at, j), next: j, breaks: 0 };
  }
  let value = '';
  let breaks = 0;
  i++;
  for (;;) {
    const q = src.indexOf('"', i);
    if (q < 0) throw new CsvError(line, 'a quoted field is not closed');
    const part = src.slice(i, q);
    value += part;
    breaks += part.split('\n').length - 1;
    if (src[q + 1] === '"') { value += '"'; i = q + 2; continue; }
    i = q + 1;
    break;
  }
  // Spaces after the closing quote are tolerated (hand-typed lists); anything else is not.
  while (src[i] === ' ' || (src[i] === '\t' && delimiter !== '\t')) i++;
  if (i < src.length && src[i] !== delimiter && src[i] !== '\n' && src[i] !== '\r') {
    throw new CsvError(line + breaks, `unexpected text after a quoted field: ${JSON.stringify(src.slice(i, i + 10))}`);
  }
  return { value, next: i, breaks };
}
