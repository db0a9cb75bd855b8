// Edits of the host map's YAML Document, for HostMap.edit() (many hosts in one write):
// set a host's fields, find a host's key whatever its MAC notation, read and check
// hostnames. Pure: a Document in, the same Document changed.
import { isMap, isScalar, type Document } from 'yaml';
import { normalizeMac } from './hostmap-parse.js';

/** Fields a write may set on a host; null removes the field. */
export type HostFields = Partial<{
  hostname: string | null;
  image: string | null;
  ip: string | null;
  bootOnce: boolean | null;
  labels: Record<string, string> | null;
}>;

/**
 * Sets fields of one host inside a Document (for edit(): many hosts in one write); null
 * removes a field. Returns true when the host was added. `mac` is in normal form.
 */
export function setHostIn(doc: Document, mac: string, fields: HostFields): boolean {
  const hosts = doc.get('hosts', true);
  if (!isMap(hosts)) doc.setIn(['hosts'], doc.createNode({}));
  // The shipped file says `hosts: {}`: entries added to that flow map would stay in flow
  // style, one long `{ ... }` line nobody wants to hand-edit. An empty one becomes a block.
  else if (hosts.flow && hosts.items.length === 0) hosts.flow = false;
  const existing = findHostKey(doc, mac);
  const path = ['hosts', existing ?? mac];
  if (existing === null) doc.setIn(path, doc.createNode({}));
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value === null) doc.deleteIn([...path, field]);
    else doc.setIn([...path, field], doc.createNode(value));
  }
  return existing === null;
}

/** The key under `hosts` that names this MAC, in whatever notation the file uses. */
export function findHostKey(doc: Document, mac: string): string | null {
  const hosts = doc.get('hosts', true);
  if (!isMap(hosts)) return null;
  for (const pair of hosts.items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (normalizeMac(k) === mac) return k;
  }
  return null;
}

/** A host's hostname as written in the Document, or null. `mac` is in normal form. */
export function hostnameIn(doc: Document, mac: string): string | null {
  const key = findHostKey(doc, mac);
  const name = key === null ? null : doc.getIn(['hosts', key, 'hostname']);
  return typeof name === 'string' ? name : null;
}

/**
 * The MAC (normal form) of another host than `mac` whose hostname is `hostname`, compared
 * without case as DNS compares names (RFC 4343); null when there is none.
 */
export function hostnameOwner(doc: Document, hostname: string, mac: string): string | null {
  const hosts = doc.get('hosts', true);
  if (!isMap(hosts)) return null;
  const want = hostname.toLowerCase();
  for (const pair of hosts.items) {
    const other = normalizeMac(isScalar(pair.key) ? String(pair.key.value) : String(pair.key));
    if (other === null || other === mac || !isMap(pair.value)) continue;
    const name = pair.value.get('hostname');
    if (typeof name === 'string' && name.toLowerCase() === want) return other;
  }
  return null;
}
