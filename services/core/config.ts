// appliance.yaml: the loader that validates it once at start, with the checks its schema
// (config-spec.ts) cannot express and the environment's overrides. Any problem stops the
// program with one line naming the file, line and key:
//   config/appliance.yaml:14 tftp.port: must be an integer 0-65535
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { appSpec, type AppConfig, type DhcpConfig } from './config-spec.js';
import { groupProblem } from './multicast.js';
import { ipToInt } from './net.js';
import { validate, type Issue } from './schema.js';
import { issueLines, yamlSyntaxLines } from './yamlpos.js';

export * from './config-spec.js';

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
  const multicasts = t.enabled || (cfg.tftp.enabled && m.enabled);
  if (multicasts && cfg.multicast.interface === null && cfg.dhcp.interfaces.length === 0) {
    issues.push({ path: ['multicast', 'interface'], message: 'is required for multicast (or name one in dhcp.interfaces): the lab interface groups are sent on' });
  }
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

/** A parsed config and the means to name the lines of keys found wrong later (mtftp/config.ts). */
export interface ParsedConfig {
  config: AppConfig;
  /** `file:line key: message` for issues about the config's keys. */
  keyLines(issues: Issue[]): string[];
}

/**
 * Parses and validates YAML text. `file` names the source in errors and anchors relative
 * paths. Pure: it reads nothing from disk (the files the config names are checked by the
 * services that use them; loadConfig in runtime/load-config.ts does PXE MTFTP's).
 */
export function parseConfigSource(text: string, file: string, env: NodeJS.ProcessEnv = {}): ParsedConfig {
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
    throw new ConfigError([
      ...envLines,
      ...(fileIssues.length > 0 ? issueLines(doc, lineCounter, file, fileIssues) : []),
    ]);
  }
  // Relative paths resolve against the config file's folder, not the working directory.
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.stateDir = abs(config.stateDir);
  config.tftp.root = abs(config.tftp.root);
  config.hosts = abs(config.hosts);
  config.admin.web = abs(config.admin.web);
  if (config.mtftp.atftpdFile !== null) config.mtftp.atftpdFile = abs(config.mtftp.atftpdFile);
  return { config, keyLines: (found) => issueLines(doc, lineCounter, file, found) };
}

/** parseConfigSource's config alone. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): AppConfig {
  return parseConfigSource(text, file, env).config;
}

function envOrigin(from: Map<string, string>, path: string[]): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const hit = from.get(path.slice(0, n).join('.'));
    if (hit) return hit;
  }
  return undefined;
}

/** The config file's text; a file that cannot be read is a ConfigError naming it. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
}
