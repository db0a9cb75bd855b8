// appliance.yaml: the schema of every key, and the loader that validates it once at
// start. Any problem stops the program with one line naming the file, line and key:
//   config/appliance.yaml:14 tftp.port: must be an integer 1-65535
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ipToInt } from './net.js';
import { issueLines, yamlSyntaxLines } from './yamlpos.js';
import { autoInt, bool, int, list, obj, oneOf, optStr, path, str, validate, type Infer, type Issue } from './schema.js';

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;
const PORT_RANGE = /^\d{1,5}-\d{1,5}$/;

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
  port: int(1, 65535, 69),
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
  /** Default: the interface's own address. */
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
});

export type AppConfig = Infer<typeof appSpec>;
export type TftpConfig = Infer<typeof tftpSpec>;
export type RemapRule = Infer<typeof remapRuleSpec>;
export type DhcpConfig = Infer<typeof dhcpSpec>;

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
  return issues;
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
export function parseConfig(text: string, file: string): AppConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(yamlSyntaxLines(doc, lineCounter, file));
  const raw = doc.contents === null ? {} : doc.toJS();
  const issues: Issue[] = [];
  const config = validate(appSpec, raw, [], issues) as AppConfig;
  if (issues.length === 0) issues.push(...semanticIssues(config));
  if (issues.length > 0) throw new ConfigError(issueLines(doc, lineCounter, file, issues));
  // Relative paths resolve against the config file's folder, not the working directory.
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.stateDir = abs(config.stateDir);
  config.tftp.root = abs(config.tftp.root);
  config.hosts = abs(config.hosts);
  return config;
}

export function loadConfig(file: string): AppConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseConfig(text, file);
}
