// POST /api/hosts: a classroom list, JSON or CSV, as one atomic write. This file checks
// what a schema cannot (the MACs, duplicates in the list, that the images exist, the CSV
// header) and hands the rows to writeRows (write.ts).
import { Type } from 'typebox';
import { normalizeMac } from '../../../core/hostmap.js';
import type { AdminApp } from '../../app.js';
import type { AdminContext } from '../../context.js';
import {
  acceptedHeaders, CSV_COLUMNS, csvColumn, CsvError, readCsv, type CsvColumn, type CsvRecord,
} from '../../csv.js';
import { badRequest, errorResponses } from '../../errors.js';
import { MAC_FORMS } from '../../schemas.js';
import { BulkBody, type BulkRow } from './schemas.js';
import { knownImage, fieldsOf, Problems, toRow, writeRows, type ParsedRow, type Row } from './write.js';

const csv = {
  schema: Type.String({
    description: `one host per line: ${CSV_COLUMNS.join(',')} (ip optional; a header line may name the columns `
      + 'in any order; blank lines and # comments are skipped)',
  }),
};

const postHostsSchema = {
  tags: ['hosts'],
  summary: 'Register a list of hosts in one atomic write (JSON, or CSV of mac,hostname,image)',
  description: 'Each row sets the fields it gives and keeps the others (an empty CSV cell gives nothing; JSON null '
    + 'removes). Any bad row refuses the whole list and the file is not touched; the error names the first bad row, '
    + 'and `lines` lists every problem when there are several.',
  // Per content type: Fastify validates a JSON body against BulkBody and leaves CSV text to csvRows.
  body: { content: { 'application/json': { schema: BulkBody }, 'text/csv': csv, 'text/plain': csv } } as never,
  response: {
    200: Type.Object({ created: Type.Integer(), updated: Type.Integer(), hosts: Type.Array(Type.Ref('HostRow')) }),
    ...errorResponses(400, 401, 409, 413, 415, 422, 429),
  },
};

export function postHosts(app: AdminApp, ctx: AdminContext): void {
  app.post('/api/hosts', { config: { access: 'write' }, schema: postHostsSchema }, async (req) => {
    const body = req.body as unknown;
    if (typeof body !== 'string' && (typeof body !== 'object' || body === null)) {
      throw badRequest('body', 'send {"hosts": [...]} as application/json, or a list as text/csv');
    }
    const rows = checked(ctx, typeof body === 'string' ? csvRows(body) : jsonRows((body as BulkBody).hosts));
    const created = await writeRows(ctx, rows);
    return { created, updated: rows.length - created, hosts: rows.map((r) => toRow(ctx.hosts.lookup(r.mac)!)) };
  });
}

/**
 * Refuses a list with a bad row, a MAC or hostname listed twice or an unknown image,
 * naming every problem; nothing is written.
 */
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
    if (firstName !== undefined) {
      problems.add(badRequest(r.where('hostname'),
        `"${r.fields.hostname}" is listed twice (first at ${firstName}): each machine needs a name of its own`));
    } else if (name !== null) names.set(name, r.at);
    const bad = knownImage(ctx, r.fields.image, r.where('image'));
    if (bad) problems.add(bad);
    good.push(r);
  }
  if (problems.size > 0) throw problems.error();
  return good;
}

const notMac = (field: string, raw: string) => badRequest(field, `"${raw}" is not a MAC address (${MAC_FORMS})`);

function jsonRows(hosts: BulkRow[]): ParsedRow[] {
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
  return records.map((record) => csvRow(record, columns));
}

/** One CSV line to a row, or the problem with it. */
function csvRow({ line, fields: cells }: CsvRecord, columns: readonly CsvColumn[]): ParsedRow {
  const at = `line ${line}`;
  const where = (field: string) => `${at}: ${field}`;
  // Spreadsheets export empty trailing cells ("pc01,52:54:..,,"): they do not count.
  const used = cells.length - [...cells].reverse().findIndex((c) => c.trim() !== '');
  if (used > columns.length && cells.some((c) => c.trim() !== '')) {
    return { problem: badRequest(at, `has ${used} fields; expected at most ${columns.length} (${columns.join(',')})`) };
  }
  const given: Partial<Record<CsvColumn, string>> = {};
  columns.forEach((c, i) => { const v = cells[i]?.trim(); if (v) given[c] = v; });
  const mac = normalizeMac(given.mac ?? '');
  if (!mac) return { problem: notMac(where('mac'), given.mac ?? '') };
  return { mac, fields: { hostname: given.hostname, image: given.image, ip: given.ip }, at, where };
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
    if (c === null) {
      throw badRequest(`${at}: ${cells[i]}`,
        `is not a column bootlab knows; it accepts (in any case, with or without spaces) ${acceptedHeaders()}`);
    }
    if (head.indexOf(c) !== i) {
      throw badRequest(`${at}: ${cells[i]}`,
        `is a column named twice (${cells[head.indexOf(c)]} is the ${c} column too)`);
    }
  });
  if (!head.includes('mac')) {
    throw badRequest(at, `the header names no MAC column; it accepts ${acceptedHeaders('mac')}`);
  }
  return head as CsvColumn[];
}
