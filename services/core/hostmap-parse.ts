// The host map file (config/hosts.yaml): its schema, MAC notations and validation with
// issues {path, line, message} (their text: `file:line key: message`). Pure: text in,
// data or issues out.
import { isIPv4 } from 'node:net';
import type { Static } from 'typebox';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { ARCHES, type Arch } from './firmware.js';
import type { HostSchema } from './hostmap-schema.js';
import type { Issue } from './schema.js';
import { issueText, lineOf, locateIssues, yamlSyntaxIssues, type LocatedIssue } from './yamlpos.js';

export type DefaultAction = 'menu' | 'local' | 'image' | 'none';

/** What the boot decision and the generated files read of the host map (HostMap, or a fixed one in tests). */
export interface HostView {
  lookup(mac: string): Host | undefined;
  readonly images: ReadonlyMap<string, Image>;
  readonly defaults: HostMapData['defaults'];
}

/** What loads a kernel image: iPXE (default), pxelinux (BIOS) or GRUB (UEFI), each from a generated config. */
export const LOADERS = ['ipxe', 'pxelinux', 'grub'] as const;
export type Loader = (typeof LOADERS)[number];

export type Image =
  | { name: string; kind: 'kernel'; kernel: string; initrd: string | null; cmdline: string; loader: Loader }
  | { name: string; kind: 'script'; script: string }
  | { name: string; kind: 'chain'; url: string }
  | { name: string; kind: 'files'; files: Partial<Record<Arch, string>> };

/** One host (mac: normal form, lower-case, colon-separated); its type is its API schema's. */
export type Host = Static<typeof HostSchema>;

export interface HostMapData {
  /** menuDefault: an image name or 'local', what the menu boots when menuTimeout (seconds) runs out. */
  defaults: { action: DefaultAction; image: string | null; menuDefault: string; menuTimeout: number };
  images: Map<string, Image>;
  hosts: Map<string, Host>;
}

/** A problem of the host map: its key path (['hosts', key, 'hostname']), its line (null: the whole file), and what. */
export type HostMapIssue = LocatedIssue;

/**
 * The host map refused a file or a write: `issues` for code (the API names the field from
 * the path), `lines` their text (`file:line key.path: message`) for logs, the CLI and the API.
 */
export class HostMapError extends Error {
  readonly lines: string[];

  /** `file` null: issues about no file (a MAC given to a write). */
  constructor(readonly file: string | null, readonly issues: HostMapIssue[]) {
    const lines = issues.map((i) => issueText(file, i));
    super(lines.join('\n'));
    this.lines = lines;
    this.name = 'HostMapError';
  }
}

const HEX12 = /^[0-9a-f]{12}$/;

/** Already aa:bb:cc:dd:ee:ff (a cheap test for the per-packet paths, before normalizeMac). */
export function isNormalMac(mac: string): boolean {
  return mac.length === 17 && NORMAL_MAC.test(mac);
}
const NORMAL_MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Any usual notation (aa:bb:.., AA-BB-.., aabb.ccdd.eeff, aabbccddeeff) to aa:bb:cc:dd:ee:ff, or null. */
export function normalizeMac(input: string): string | null {
  const s = input.trim().toLowerCase();
  let hex: string;
  if (/^([0-9a-f]{1,2}[:-]){5}[0-9a-f]{1,2}$/.test(s)) {
    const sep = s.includes(':') ? ':' : '-';
    if (s.includes(':') && s.includes('-')) return null;
    hex = s.split(sep).map((p) => p.padStart(2, '0')).join('');
  } else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(s)) {
    hex = s.replace(/\./g, '');
  } else {
    hex = s;
  }
  if (!HEX12.test(hex)) return null;
  return hex.match(/../g)!.join(':');
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function unknownKeys(obj: Record<string, unknown>, allowed: string[], path: string[], issues: Issue[]): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) issues.push({ path: [...path, k], message: `unknown key (expected one of ${allowed.join(', ')})` });
}

function parseImage(name: string, v: unknown, issues: Issue[]): Image | null {
  const path = ['images', name];
  if (!isObject(v)) { issues.push({ path, message: 'must be a mapping with kernel, script, chain or files' }); return null; }
  unknownKeys(v, ['kernel', 'initrd', 'cmdline', 'loader', 'script', 'chain', 'files'], path, issues);
  if (v.loader !== undefined && v.kernel === undefined) issues.push({ path: [...path, 'loader'], message: 'applies to kernel images only' });
  const kinds = ['kernel', 'script', 'chain', 'files'].filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) {
    issues.push({ path, message: kinds.length === 0 ? 'needs one of kernel, script, chain or files' : `has ${kinds.join(' and ')}: choose one` });
    return null;
  }
  const text = (key: string, optional = false): string | null => {
    const x = v[key];
    if (x === undefined || x === null) { if (!optional) issues.push({ path: [...path, key], message: 'must be a non-empty string' }); return null; }
    if (!isText(x)) { issues.push({ path: [...path, key], message: 'must be a non-empty string' }); return null; }
    return x;
  };
  switch (kinds[0]) {
    case 'kernel': {
      const kernel = text('kernel');
      const initrd = text('initrd', true);
      const cmdline = v.cmdline === undefined ? '' : typeof v.cmdline === 'string' ? v.cmdline : (issues.push({ path: [...path, 'cmdline'], message: 'must be a string' }), '');
      let loader: Loader = 'ipxe';
      if (v.loader !== undefined && v.loader !== null) {
        if (!LOADERS.includes(v.loader as Loader)) issues.push({ path: [...path, 'loader'], message: `must be one of ${LOADERS.join(', ')}` });
        else loader = v.loader as Loader;
      }
      return kernel ? { name, kind: 'kernel', kernel, initrd, cmdline, loader } : null;
    }
    case 'script': {
      const script = text('script');
      return script ? { name, kind: 'script', script } : null;
    }
    case 'chain': {
      const url = text('chain');
      if (url && !/^(https?|tftp):\/\//.test(url)) { issues.push({ path: [...path, 'chain'], message: 'must be an http://, https:// or tftp:// URL' }); return null; }
      return url ? { name, kind: 'chain', url } : null;
    }
    default: {
      const files = v.files;
      if (!isObject(files) || Object.keys(files).length === 0) { issues.push({ path: [...path, 'files'], message: `must map architectures (${ARCHES.join(', ')}) to boot files` }); return null; }
      unknownKeys(files, [...ARCHES], [...path, 'files'], issues);
      const out: Partial<Record<Arch, string>> = {};
      for (const a of ARCHES) {
        if (files[a] === undefined) continue;
        if (!isText(files[a])) issues.push({ path: [...path, 'files', a], message: 'must be a non-empty string' });
        else out[a] = files[a] as string;
      }
      return { name, kind: 'files', files: out };
    }
  }
}

function parseHost(key: string, v: unknown, images: Map<string, Image>, issues: Issue[]): Host | null {
  const path = ['hosts', key];
  const mac = normalizeMac(key);
  if (!mac) { issues.push({ path, message: 'is not a MAC address (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff)' }); return null; }
  const h = v === null || v === undefined ? {} : v;
  if (!isObject(h)) { issues.push({ path, message: 'must be a mapping (hostname, image, ip, bootOnce, labels)' }); return null; }
  unknownKeys(h, ['hostname', 'image', 'ip', 'bootOnce', 'labels'], path, issues);
  const host: Host = { mac, hostname: null, image: null, ip: null, bootOnce: false, labels: {} };
  if (h.hostname !== undefined && h.hostname !== null) {
    if (typeof h.hostname !== 'string' || !HOSTNAME.test(h.hostname)) issues.push({ path: [...path, 'hostname'], message: 'must be a host name (letters, digits, hyphens; dots between labels)' });
    else host.hostname = h.hostname;
  }
  if (h.image !== undefined && h.image !== null) {
    if (typeof h.image !== 'string' || !images.has(h.image)) issues.push({ path: [...path, 'image'], message: `names no image in images${images.size ? ` (${[...images.keys()].join(', ')})` : ''}` });
    else host.image = h.image;
  }
  if (h.ip !== undefined && h.ip !== null) {
    if (typeof h.ip !== 'string' || !isIPv4(h.ip)) issues.push({ path: [...path, 'ip'], message: 'must be an IPv4 address' });
    else host.ip = h.ip;
  }
  if (h.bootOnce !== undefined) {
    if (typeof h.bootOnce !== 'boolean') issues.push({ path: [...path, 'bootOnce'], message: 'must be true or false' });
    else host.bootOnce = h.bootOnce;
  }
  if (h.labels !== undefined && h.labels !== null) {
    if (!isObject(h.labels)) issues.push({ path: [...path, 'labels'], message: 'must be a mapping of names to values' });
    else for (const [k, x] of Object.entries(h.labels)) {
      if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') host.labels[k] = String(x);
      else issues.push({ path: [...path, 'labels', k], message: 'must be a string or a number' });
    }
  }
  return host;
}

/** A host whose hostname an earlier host already has: `key` and `first` are the keys as written. */
export interface SharedHostname { key: string; first: string; hostname: string }

/**
 * Hosts that share a hostname with an earlier one, compared without case as DNS compares
 * names (RFC 4343): DHCP hands both machines the same name (option 12), and in full mode,
 * where those names are the machines' names on the network, two would answer to one.
 */
function sharedHostnames(hosts: Map<string, Host>, keyOf: Map<string, string>): SharedHostname[] {
  const firstWith = new Map<string, string>();
  const out: SharedHostname[] = [];
  for (const host of hosts.values()) {
    if (host.hostname === null) continue;
    const name = host.hostname.toLowerCase();
    const first = firstWith.get(name);
    if (first === undefined) firstWith.set(name, keyOf.get(host.mac)!);
    else out.push({ key: keyOf.get(host.mac)!, first, hostname: host.hostname });
  }
  return out;
}

/** Validates a parsed document. Returns the data, or the issues found; and the hosts that share a hostname. */
export function validateHostMap(raw: unknown): { data: HostMapData | null; issues: Issue[]; shared: SharedHostname[] } {
  const issues: Issue[] = [];
  const root = raw === null || raw === undefined ? {} : raw;
  if (!isObject(root)) return { data: null, issues: [{ path: [], message: 'the host map must be a mapping (defaults, images, hosts)' }], shared: [] };
  unknownKeys(root, ['defaults', 'images', 'hosts'], [], issues);
  const images = new Map<string, Image>();
  const rawImages = root.images ?? {};
  if (!isObject(rawImages)) issues.push({ path: ['images'], message: 'must be a mapping of image names' });
  else
    for (const [name, v] of Object.entries(rawImages)) {
      const img = parseImage(name, v, issues);
      if (img) images.set(name, img);
    }
  const defaults: HostMapData['defaults'] = { action: 'menu', image: null, menuDefault: 'local', menuTimeout: 10 };
  const d = root.defaults ?? {};
  if (!isObject(d)) issues.push({ path: ['defaults'], message: 'must be a mapping (action, image, menuDefault, menuTimeout)' });
  else {
    unknownKeys(d, ['action', 'image', 'menuDefault', 'menuTimeout'], ['defaults'], issues);
    if (d.menuDefault !== undefined && d.menuDefault !== null) {
      if (typeof d.menuDefault !== 'string' || (d.menuDefault !== 'local' && !images.has(d.menuDefault))) issues.push({ path: ['defaults', 'menuDefault'], message: `must be local or an image name${images.size ? ` (${[...images.keys()].join(', ')})` : ''}` });
      else defaults.menuDefault = d.menuDefault;
    }
    if (d.menuTimeout !== undefined && d.menuTimeout !== null) {
      if (typeof d.menuTimeout !== 'number' || !Number.isInteger(d.menuTimeout) || d.menuTimeout < 0 || d.menuTimeout > 3600) issues.push({ path: ['defaults', 'menuTimeout'], message: 'must be whole seconds, 0-3600 (0 boots the default at once)' });
      else defaults.menuTimeout = d.menuTimeout;
    }
    if (d.action !== undefined) {
      if (!['menu', 'local', 'image', 'none'].includes(d.action as string)) issues.push({ path: ['defaults', 'action'], message: 'must be one of menu, local, image, none' });
      else defaults.action = d.action as DefaultAction;
    }
    if (d.image !== undefined && d.image !== null) {
      if (typeof d.image !== 'string' || !images.has(d.image)) issues.push({ path: ['defaults', 'image'], message: 'names no image in images' });
      else defaults.image = d.image;
    }
    if (defaults.action === 'image' && defaults.image === null && d.image === undefined) issues.push({ path: ['defaults', 'image'], message: 'is required when defaults.action is image' });
  }
  const hosts = new Map<string, Host>();
  const seen = new Map<string, string>();
  const rawHosts = root.hosts ?? {};
  if (!isObject(rawHosts)) issues.push({ path: ['hosts'], message: 'must be a mapping of MAC addresses' });
  else for (const [key, v] of Object.entries(rawHosts)) {
    const host = parseHost(key, v, images, issues);
    if (!host) continue;
    const first = seen.get(host.mac);
    if (first !== undefined) { issues.push({ path: ['hosts', key], message: `is the same MAC as ${first} (${host.mac})` }); continue; }
    seen.set(host.mac, key);
    hosts.set(host.mac, host);
  }
  return { data: issues.length ? null : { defaults, images, hosts }, issues, shared: sharedHostnames(hosts, seen) };
}

export interface ParseOptions {
  /**
   * Two hosts with one hostname are an error rather than a warning: full DHCP mode, where
   * the hostname is the name the machine is given on the network.
   */
  uniqueHostnames?: boolean;
}

/**
 * Parses host-map text. Throws HostMapError with an issue per problem.
 * `warnings` are lines for what is allowed but likely a mistake (two hosts, one hostname).
 */
export function parseHostMap(
  text: string, file: string, opts: ParseOptions = {},
): { data: HostMapData; doc: Document; warnings: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw new HostMapError(file, yamlSyntaxIssues(doc, lines));
  // A MAC written as bare digits (001122334455) is a YAML number and would lose its
  // leading zeros: host keys are taken as written.
  const hosts = doc.get('hosts', true);
  if (isMap(hosts)) {
    for (const pair of hosts.items) {
      if (isScalar(pair.key) && typeof pair.key.value === 'number' && pair.key.range) pair.key.value = text.slice(pair.key.range[0], pair.key.range[1]);
    }
  }
  const { data, issues, shared } = validateHostMap(doc.toJS());
  // Both lines are named: the teacher has to choose which machine keeps the name.
  const sharedIssues = shared.map(({ key, first, hostname }): HostMapIssue => {
    const at = (k: string) => lineOf(doc, lines, ['hosts', k, 'hostname']);
    const why = opts.uniqueHostnames ? 'in full DHCP mode each machine needs a name of its own' : 'DHCP gives both machines that name';
    const message = `"${hostname}" is also the hostname of ${first} (line ${at(first)}): ${why}`;
    return { path: ['hosts', key, 'hostname'], line: at(key), message };
  });
  if (!data) throw new HostMapError(file, locateIssues(doc, lines, issues));
  if (opts.uniqueHostnames && sharedIssues.length > 0) throw new HostMapError(file, sharedIssues);
  return { data, doc, warnings: sharedIssues.map((i) => issueText(file, i)) };
}
