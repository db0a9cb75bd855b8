// appliance.yaml: the schema of every key, and the loader that validates it once at
// start. Any problem stops the program with one line naming the file, line and key:
//   config/appliance.yaml:14 tftp.port: must be an integer 0-65535
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { entryProblems, groupProblem, mtftpName, parseAtftpdMtftp, type MtftpEntry } from '../mtftp/files.js';
import { ipToInt } from './net.js';
import { issueLines, yamlSyntaxLines } from './yamlpos.js';
import { autoInt, bool, int, list, obj, oneOf, optStr, path, str, validate, type Infer, type Issue } from './schema.js';

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;
const PORT_RANGE = /^\d{1,5}-\d{1,5}$/;
const IPV4_RANGE = /^\d{1,3}(\.\d{1,3}){3}-\d{1,3}(\.\d{1,3}){3}$/;

export const remapRuleSpec = obj({
  /** A JavaScript regular expression matched against the requested name. */
  match: str('', /./, 'a regular expression'),
  /** Replacement; \0-\9 are groups, \i the client IP, \x the client IP in hex (tftp-hpa). */
  replace: str(''),
  /** i: case-insensitive; g: replace every match. */
  flags: str('', /^(?!.*(.).*\1)[gi]*$/, 'made of the letters g and i, each at most once'),
  /** rewrite (default), or refuse: the request is answered with error 2. */
  action: oneOf(['rewrite', 'refuse'] as const, 'rewrite'),
  /** After this rule matched, stop looking at the rules below it. */
  stop: bool(false),
  /** Which requests the rule applies to. */
  requests: oneOf(['both', 'get', 'put'] as const, 'both'),
});

export const tftpSpec = obj({
  enabled: bool(true),
  address: str('0.0.0.0', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  port: int(0, 65535, 69), // 0: any free port, as for http and admin (its status says which)
  root: path('../tftpboot'),
  portRange: optStr(PORT_RANGE, 'a range like 49152-49407'),
  singlePort: bool(false),
  workers: autoInt(0, 64),
  maxTransfers: int(1, 10000, 500),
  maxPerClient: int(1, 10000, 16),
  maxBlockSize: int(8, 65464, 65464),
  maxWindowSize: int(1, 65535, 64),
  maxWindowBytes: int(512, 256 * 1024 * 1024, 4 * 1024 * 1024),
  timeout: int(1, 255, 5),
  minRetransmitMs: int(1, 10000, 20),
  maxRetries: int(1, 100, 8),
  firstReplyRetries: int(0, 100, 3),
  rollover: oneOf([0, 1] as const, 0),
  options: obj({
    blksize: bool(true),
    tsize: bool(true),
    timeout: bool(true),
    windowsize: bool(true),
  }),
  caseInsensitive: bool(false),
  maxFilenameLength: int(16, 4096, 255),
  progressIntervalMs: int(50, 60000, 250),
  write: obj({
    enabled: bool(false),
    dirs: list(str('', /^[^\0]+$/, 'a folder under tftp.root'), ['uploads']),
    policy: oneOf(['create-only', 'overwrite'] as const, 'create-only'),
    maxSize: int(0, Number.MAX_SAFE_INTEGER, 256 * 1024 * 1024),
    fileMode: str('0644', /^0?[0-7]{3}$/, 'an octal file mode in quotes, like "0644"'),
  }),
  remap: list(remapRuleSpec),
  /** RFC 2090: the "multicast" option. One group per file being sent; see docs/decisions/0005. */
  multicast: obj({
    enabled: bool(false),
    /** Groups are taken from this range (each active file gets its own). */
    addresses: str('239.255.2.1-239.255.2.254', IPV4_RANGE, 'a range of IPv4 multicast addresses like 239.255.2.1-239.255.2.254'),
    /** The client port of each group, from this range (RFC 2090 recommends 1758). */
    ports: str('1758-1758', PORT_RANGE, 'a range like 1758-1758'),
    /** Blocks sent ahead of the master client's ACK; 1 sends one block per ACK, as RFC 2090 describes. */
    window: int(1, 64, 8),
    /** Milliseconds a new group waits before its first block, for machines asking at nearly the same moment. */
    gatherMs: int(0, 10_000, 0),
  }),
});

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IFNAME = /^[^\s/]{1,15}$/;
const ipv4 = (doc = 'an IPv4 address like 192.0.2.10') => optStr(IPV4, doc);

/** A relayed subnet (RFC 2131 giaddr): the pool that contains the relay's giaddr serves it. */
export const relayPoolSpec = obj({
  start: ipv4(),
  end: ipv4(),
  netmask: ipv4('a netmask like 255.255.255.0'),
  /** Default: the relay's own address (giaddr). */
  router: ipv4(),
});

export const dhcpSpec = obj({
  /** proxy: answer PXE clients only, beside the site's DHCP server; full: hand out addresses; off. */
  mode: oneOf(['proxy', 'full', 'off'] as const, 'proxy'),
  /** The interfaces DHCP answers on; nothing else is ever answered. */
  interfaces: list(str('', IFNAME, 'an interface name like eth0')),
  /** Address clients are told to fetch boot files from (siaddr, option 54): default the interface's own. */
  serverAddress: ipv4(),
  pool: obj({ start: ipv4(), end: ipv4() }),
  /** Seconds. T1 is half of it, T2 seven eighths (RFC 2131 4.4.5). */
  leaseTime: int(60, 365 * 24 * 3600, 3600),
  /** Default: the interface's own netmask. */
  netmask: ipv4('a netmask like 255.255.255.0'),
  /**
   * The default gateway given out (option 3). Default: the default gateway of the
   * interface, if the route table has one there; else none (bootlab does not route).
   */
  router: ipv4(),
  /** DNS servers given out. Default: this machine's own name servers (from /etc/resolv.conf). */
  dns: list(str('', IPV4, 'an IPv4 address'), []),
  domain: optStr(/^[a-zA-Z0-9.-]{1,253}$/, 'a domain name'),
  relayPools: list(relayPoolSpec),
  /** Milliseconds to wait before answering: for firmware that mishandles an instant reply. */
  replyDelayMs: int(0, 10_000, 0),
  /** Seconds an address stays out of the pool after a client DECLINEd it (it was in use). */
  declineQuarantine: int(0, 7 * 24 * 3600, 600),
  /** The first-stage boot file per firmware architecture (option 93), under tftp.root. */
  bootFiles: obj({
    bios: str('undionly.kpxe'),
    uefi32: str('ipxe-i386.efi'),
    uefi64: str('snponly.efi'),
    arm32: str('ipxe-arm32.efi'),
    arm64: str('snponly-arm64.efi'),
  }),
  /** UEFI HTTP Boot (option 60 HTTPClient): the boot file's URL; null: such clients get no answer. */
  httpBootUrl: optStr(/^https?:\/\//, 'an http:// or https:// URL'),
});

/** What multicast traffic of both kinds shares: where it goes out, and how far. */
export const multicastSpec = obj({
  /** The one interface multicast leaves by and MTFTP answers on. Default: the first of dhcp.interfaces. */
  interface: optStr(IFNAME, 'an interface name like eth0'),
  /** IP time to live of multicast packets: 1 keeps them on the lab's own subnet. */
  ttl: int(1, 255, 1),
});

export const mtftpFileSpec = obj({
  /** The file's name under tftp.root, as clients ask for it. */
  file: str('', /^[^\0]+$/, 'a file name under tftp.root'),
  /** The multicast group the file is sent to. */
  group: ipv4('an IPv4 multicast address like 239.255.1.1'),
  /** The UDP port clients listen on for the group. */
  clientPort: int(1, 65535, 3001),
});

/** PXE MTFTP (PXE 2.1): for BIOS PXE ROMs and iPXE's mtftp:// URIs. */
export const mtftpSpec = obj({
  enabled: bool(false),
  /** Clients send their RRQs and ACKs here; DATA leaves from it (EDK2 accepts no other source port). */
  serverPort: int(1, 65535, 1759),
  /** Seconds a client listens for a running transfer before it opens one (option 43 sub-option 4). */
  openTimeout: int(1, 255, 2),
  /** Seconds a client waits after a transfer before re-opening to fill its gaps (sub-option 5). */
  reopenDelay: int(1, 255, 2),
  files: list(mtftpFileSpec),
  /** An atftpd --mtftp file to read as well: "filename group client_port" per line, # comments. */
  atftpdFile: optStr(/^[^\0]+$/, 'a path'),
});

/** The admin API and dashboard (services/admin). */
export const adminSpec = obj({
  enabled: bool(true),
  /** :: listens on every address, IPv4 included; 127.0.0.1 keeps the API on this machine. */
  address: str('::', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  port: int(0, 65535, 8080),
  /** The bearer token for writes; null: $BOOTLAB_ADMIN_TOKEN, else generated into stateDir/admin-token. */
  token: optStr(/^[\x21-\x7e]{16,256}$/, 'at least 16 printable characters without spaces'),
  /** Whether reads need the token too: auto protects them unless the address is loopback. */
  protectReads: oneOf(['auto', 'always', 'never'] as const, 'auto'),
  /** Origins allowed to call the API from a browser page of theirs; empty: CORS off. */
  cors: list(str('', /^https?:\/\/[^\s/]+$/, 'an origin like http://192.0.2.10:8080')),
  /** Largest request body, bytes (a classroom CSV is a few kilobytes). */
  bodyLimit: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  /** Milliseconds between two live updates to a dashboard. */
  sseIntervalMs: int(50, 10_000, 250),
  /** Seconds a finished or silent machine stays in the list. */
  clientTtl: int(10, 30 * 24 * 3600, 3600),
  /** Failed token attempts from one address per minute before it gets 429. */
  maxAuthFailures: int(1, 1000, 10),
  /** The dashboard's folder. */
  web: path('../web'),
});

/** The HTTP boot server (services/http): tftp.root and the generated files over HTTP. */
export const httpSpec = obj({
  enabled: bool(true),
  address: str('0.0.0.0', IP_ADDRESS, 'an IPv4 or IPv6 address'),
  /** 0: any free port (tests). */
  port: int(0, 65535, 80),
  /** The URL prefix clients are told; null: http://<server address>[:port]. */
  baseUrl: optStr(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'a URL like http://192.0.2.1:8069'),
});

/** The boot flow shared by DHCP, TFTP and HTTP (services/boot). */
export const bootSpec = obj({
  /** When a boot-once host goes back to the defaults: when it reports booted, or once its kernel was sent. */
  bootOnceEnds: oneOf(['booted', 'kernel'] as const, 'booted'),
  /** BIOS clients of a `loader: pxelinux` image get this file (from the pxelinux package, under tftp.root). */
  pxelinux: str('pxelinux.0', /^[^\0]+$/, 'a file under tftp.root'),
  /** UEFI clients of a `loader: grub` image get these (a GRUB network image with prefix (tftp)/grub). */
  grub: obj({
    uefi64: str('grubx64.efi', /^[^\0]+$/, 'a file under tftp.root'),
    arm64: str('grubaa64.efi', /^[^\0]+$/, 'a file under tftp.root'),
  }),
});

export const appSpec = obj({
  log: obj({
    level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    pretty: oneOf(['auto', 'always', 'never'] as const, 'auto'),
  }),
  stateDir: path('../state'),
  /** The host map: which machine boots what (see config/hosts.yaml). */
  hosts: path('hosts.yaml'),
  tftp: tftpSpec,
  dhcp: dhcpSpec,
  multicast: multicastSpec,
  mtftp: mtftpSpec,
  admin: adminSpec,
  http: httpSpec,
  boot: bootSpec,
});

export type AppConfig = Infer<typeof appSpec>;
export type TftpConfig = Infer<typeof tftpSpec>;
export type RemapRule = Infer<typeof remapRuleSpec>;
export type DhcpConfig = Infer<typeof dhcpSpec>;
export type MtftpConfig = Infer<typeof mtftpSpec>;
export type MtftpFile = Infer<typeof mtftpFileSpec>;
export type MulticastConfig = Infer<typeof multicastSpec>;
export type AdminConfig = Infer<typeof adminSpec>;
export type HttpConfig = Infer<typeof httpSpec>;
export type BootConfig = Infer<typeof bootSpec>;

/**
 * Environment variables that override the file (compose.yaml's `environment:`, a systemd
 * unit's Environment=): the variable and the key it sets. BOOTLAB_ADMIN_TOKEN is read
 * where the token is resolved (admin/auth.ts), so it never sits in the config object.
 */
export const ENV_OVERRIDES: { variable: string; path: string[]; parse: (v: string) => unknown }[] = [
  { variable: 'BOOTLAB_INTERFACE', path: ['dhcp', 'interfaces'], parse: (v) => v.split(/[\s,]+/).filter(Boolean) },
  { variable: 'BOOTLAB_DHCP_MODE', path: ['dhcp', 'mode'], parse: (v) => v.trim() },
  { variable: 'BOOTLAB_SERVER_ADDRESS', path: ['dhcp', 'serverAddress'], parse: (v) => v.trim() || null },
  { variable: 'BOOTLAB_HTTP_PORT', path: ['http', 'port'], parse: (v) => (/^\d+$/.test(v.trim()) ? Number(v) : v) },
  { variable: 'BOOTLAB_ADMIN_PORT', path: ['admin', 'port'], parse: (v) => (/^\d+$/.test(v.trim()) ? Number(v) : v) },
  { variable: 'BOOTLAB_LOG_LEVEL', path: ['log', 'level'], parse: (v) => v.trim() },
  { variable: 'BOOTLAB_STATE_DIR', path: ['stateDir'], parse: (v) => v.trim() },
];

/** Sets the overridden keys into the parsed file; returns which paths came from where. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const from = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const v = env[o.variable];
    if (v === undefined || v === '') continue;
    let node = raw;
    for (const k of o.path.slice(0, -1)) {
      if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[o.path[o.path.length - 1]] = o.parse(v);
    from.set(o.path.join('.'), `${o.variable}=${v}`);
  }
  return from;
}

export class ConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Checks that a schema cannot express: regexes compile, ranges are ordered. */
function semanticIssues(cfg: AppConfig): Issue[] {
  const issues: Issue[] = [];
  const pr = cfg.tftp.portRange;
  if (pr) {
    const [a, b] = pr.split('-').map(Number);
    if (a < 1 || b > 65535 || a > b) issues.push({ path: ['tftp', 'portRange'], message: 'must be a range low-high within 1-65535' });
  }
  cfg.tftp.remap.forEach((rule, i) => {
    if (rule.match === '') {
      issues.push({ path: ['tftp', 'remap', String(i), 'match'], message: 'is required: a regular expression' });
      return;
    }
    try {
      new RegExp(rule.match, rule.flags);
    } catch (e) {
      issues.push({ path: ['tftp', 'remap', String(i), 'match'], message: `is not a valid regular expression: ${(e as Error).message}` });
    }
  });
  cfg.tftp.write.dirs.forEach((d, i) => {
    if (d.split(/[\\/]/).includes('..')) issues.push({ path: ['tftp', 'write', 'dirs', String(i)], message: 'must stay under tftp.root (no "..")' });
  });
  issues.push(...dhcpIssues(cfg.dhcp));
  issues.push(...multicastIssues(cfg));
  return issues;
}

function multicastIssues(cfg: AppConfig): Issue[] {
  const issues: Issue[] = [];
  const m = cfg.tftp.multicast;
  if (m.enabled) {
    const [a, b] = m.addresses.split('-');
    const bad = groupProblem(a) ?? groupProblem(b);
    if (bad) issues.push({ path: ['tftp', 'multicast', 'addresses'], message: `${bad.replace(/^must/, 'both ends must')}` });
    else if (ipToInt(a) > ipToInt(b)) issues.push({ path: ['tftp', 'multicast', 'addresses'], message: 'must be a range low-high' });
    const [p, q] = m.ports.split('-').map(Number);
    if (p < 1 || q > 65535 || p > q) issues.push({ path: ['tftp', 'multicast', 'ports'], message: 'must be a range low-high within 1-65535' });
  }
  const t = cfg.mtftp;
  if (t.enabled) {
    t.files.forEach((f, i) => {
      const at = ['mtftp', 'files', String(i)];
      if (f.file === '') issues.push({ path: [...at, 'file'], message: 'is required: the file name under tftp.root' });
      if (f.group === null) issues.push({ path: [...at, 'group'], message: 'is required: a multicast group like 239.255.1.1' });
      else {
        const bad = groupProblem(f.group);
        if (bad) issues.push({ path: [...at, 'group'], message: bad });
      }
    });
    if (t.files.length === 0 && t.atftpdFile === null) issues.push({ path: ['mtftp', 'files'], message: 'names no file: list the files to multicast (or set mtftp.atftpdFile)' });
  }
  if ((t.enabled || (cfg.tftp.enabled && m.enabled)) && cfg.multicast.interface === null && cfg.dhcp.interfaces.length === 0) {
    issues.push({ path: ['multicast', 'interface'], message: 'is required for multicast (or name one in dhcp.interfaces): the lab interface groups are sent on' });
  }
  return issues;
}

/**
 * PXE MTFTP's files, with the atftpd file's lines added to mtftp.files, checked against
 * the files under tftp.root (size limit). Problems are ConfigError lines.
 */
function resolveMtftpFiles(cfg: AppConfig, keyLines: (issues: Issue[]) => string[]): string[] {
  const entries: MtftpEntry[] = cfg.mtftp.files.map((f, i) => ({
    file: mtftpName(f.file), group: f.group!, clientPort: f.clientPort, origin: `mtftp.files.${i}.file`,
  }));
  const lines: string[] = [];
  if (cfg.mtftp.atftpdFile !== null) {
    let text: string | null = null;
    try {
      text = readFileSync(cfg.mtftp.atftpdFile, 'utf8');
    } catch (e) {
      lines.push(...keyLines([{ path: ['mtftp', 'atftpdFile'], message: `cannot read ${cfg.mtftp.atftpdFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]));
    }
    if (text !== null) {
      const parsed = parseAtftpdMtftp(text, cfg.mtftp.atftpdFile);
      lines.push(...parsed.errors);
      entries.push(...parsed.entries);
    }
  }
  for (const p of entryProblems(entries, cfg.tftp.root)) {
    if (p.origin.startsWith('mtftp.files.')) lines.push(...keyLines([{ path: p.origin.split('.'), message: p.message }]));
    else lines.push(`${p.origin}: ${p.message}`);
  }
  cfg.mtftp.files = entries.map(({ file, group, clientPort }) => ({ file, group, clientPort }));
  return lines;
}


function dhcpIssues(d: DhcpConfig): Issue[] {
  const issues: Issue[] = [];
  const range = (start: string | null, end: string | null, at: string[]) => {
    if ((start === null) !== (end === null)) issues.push({ path: [...at, start === null ? 'start' : 'end'], message: 'is required when the other end of the pool is set' });
    else if (start !== null && end !== null && ipToInt(start) > ipToInt(end)) issues.push({ path: [...at, 'end'], message: `must not be below ${at.join('.')}.start (${start})` });
  };
  d.interfaces.forEach((name, i) => {
    if (d.interfaces.indexOf(name) !== i) issues.push({ path: ['dhcp', 'interfaces', String(i)], message: `names ${name} twice (it would answer every request twice)` });
  });
  range(d.pool.start, d.pool.end, ['dhcp', 'pool']);
  d.relayPools.forEach((p, i) => {
    const at = ['dhcp', 'relayPools', String(i)];
    if (p.start === null) issues.push({ path: [...at, 'start'], message: 'is required' });
    if (p.end === null) issues.push({ path: [...at, 'end'], message: 'is required' });
    if (p.netmask === null) issues.push({ path: [...at, 'netmask'], message: 'is required' });
    range(p.start, p.end, at);
  });
  if (d.mode === 'full' && d.pool.start === null && d.relayPools.length === 0) {
    issues.push({ path: ['dhcp', 'pool', 'start'], message: 'is required in full mode (with dhcp.pool.end): the addresses to hand out' });
  }
  return issues;
}

export interface LoadedConfig { config: AppConfig; file: string }

/** Parses and validates YAML text. `file` names the source in errors and anchors relative paths. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): AppConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(yamlSyntaxLines(doc, lineCounter, file));
  const raw: unknown = doc.contents === null ? {} : doc.toJS();
  // A file that is not a mapping is refused by validate() below; the environment applies to a mapping only.
  const isMapping = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  const fromEnv = isMapping ? applyEnv(raw as Record<string, unknown>, env) : new Map<string, string>();
  const issues: Issue[] = [];
  const config = validate(appSpec, raw, [], issues) as AppConfig;
  if (issues.length === 0) issues.push(...semanticIssues(config));
  if (issues.length > 0) {
    // A key set by the environment is named by its variable, not by a line of the file.
    const envLines = issues.filter((i) => envOrigin(fromEnv, i.path)).map((i) => `environment ${envOrigin(fromEnv, i.path)}: ${i.path.join('.')}: ${i.message}`);
    const fileIssues = issues.filter((i) => !envOrigin(fromEnv, i.path));
    throw new ConfigError([...envLines, ...(fileIssues.length > 0 ? issueLines(doc, lineCounter, file, fileIssues) : [])]);
  }
  // Relative paths resolve against the config file's folder, not the working directory.
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.stateDir = abs(config.stateDir);
  config.tftp.root = abs(config.tftp.root);
  config.hosts = abs(config.hosts);
  config.admin.web = abs(config.admin.web);
  if (config.mtftp.atftpdFile !== null) config.mtftp.atftpdFile = abs(config.mtftp.atftpdFile);
  if (config.mtftp.enabled) {
    const lines = resolveMtftpFiles(config, (found) => issueLines(doc, lineCounter, file, found));
    if (lines.length > 0) throw new ConfigError(lines);
  }
  return config;
}

function envOrigin(from: Map<string, string>, path: string[]): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const hit = from.get(path.slice(0, n).join('.'));
    if (hit) return hit;
  }
  return undefined;
}

/** Reads and validates the config file; `env` (the process's by default) may override keys (ENV_OVERRIDES). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseConfig(text, file, env);
}
