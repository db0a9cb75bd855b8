// appliance.yaml: the schema of every key, and the loader that validates it once at
// start. Any problem stops the program with one line naming the file, line and key:
//   config/appliance.yaml:14 tftp.port: must be an integer 1-65535
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
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

export const appSpec = obj({
  log: obj({
    level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    pretty: oneOf(['auto', 'always', 'never'] as const, 'auto'),
  }),
  stateDir: path('../state'),
  tftp: tftpSpec,
});

export type AppConfig = Infer<typeof appSpec>;
export type TftpConfig = Infer<typeof tftpSpec>;
export type RemapRule = Infer<typeof remapRuleSpec>;

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
