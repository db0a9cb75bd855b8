// One way to start `bootlab serve` in a test: a folder holding appliance.yaml and
// hosts.yaml, the process in a lab namespace (`lab` + `member`) or on this machine, and
// readiness taken from the ready line's fields (`config` is this file, `services` lists
// what runs), not from its wording.
//
// appliance.yaml holds only the test's `config` over a small base (JSON log at debug,
// state/, hosts.yaml, tftpboot/ beside it); bootlab fills every other key from the schema's
// defaults itself, as for a teacher's file. Keys are exactly as documented: YAML is a
// superset of JSON, so the files are written as JSON.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../../services/core/config.js';
import { watchProcess, type LabProcess, type NetLab } from './netlab.js';
import { CLI } from './paths.js';
import { merge, waitFor, type DeepPartial, type Teardown } from './util.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export type BootlabConfig = DeepPartial<AppConfig>;

export interface SpawnBootlabOptions {
  /**
   * The folder for appliance.yaml, hosts.yaml, state/ and tftpboot/ (made if missing; reused to run
   * again with the same state).
   */
  home: string;
  /** appliance.yaml: only what the test needs, over the base. */
  config?: BootlabConfig;
  /** hosts.yaml: the whole document, or its YAML text as is (default: the menu for everyone, no images, no hosts). */
  hosts?: Record<string, unknown> | string;
  /** Run inside this lab namespace; without it, on this machine (then choose loopback addresses and free ports). */
  lab?: NetLab;
  member?: string;
  /** Stops the process when the test ends (a lab also stops it in destroy()). */
  t?: Teardown;
  env?: Record<string, string>;
  cwd?: string;
  /** Ceiling for the ready line (default 30 s: a loaded 2-core machine). */
  readyTimeoutMs?: number;
}

export interface Bootlab {
  proc: LabProcess;
  /** The folder of appliance.yaml, hosts.yaml and state/. */
  home: string;
  configFile: string;
  /** The ready line: `services` (what runs), `admin` (the API's URL or null). */
  ready: LogLine;
  logs(): LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine | undefined>;
  alive(): boolean;
  /** The last log lines and stderr, for assertion diagnostics. */
  tail(n?: number): string;
  stop(): Promise<void>;
}

const BASE: BootlabConfig = {
  log: { level: 'debug', pretty: 'never' },
  stateDir: 'state',
  hosts: 'hosts.yaml',
  tftp: { root: 'tftpboot' },
};

/** Writes appliance.yaml and hosts.yaml into `home`; returns the config file's path. */
export function writeBootlabHome(
  home: string,
  config: BootlabConfig = {},
  hosts?: Record<string, unknown> | string,
): string {
  mkdirSync(join(home, 'tftpboot'), { recursive: true }); // tftp.root must exist even with TFTP off
  const configFile = join(home, 'appliance.yaml');
  writeFileSync(configFile, `${JSON.stringify(merge(BASE, config), null, 2)}\n`);
  const doc = hosts ?? { defaults: { action: 'menu' }, images: {}, hosts: {} };
  writeFileSync(join(home, 'hosts.yaml'), typeof doc === 'string' ? doc : `${JSON.stringify(doc, null, 2)}\n`);
  return configFile;
}

/** Parses a process's pino JSON lines from its stdout, incrementally: call it to read what came so far. */
export function jsonLog(proc: LabProcess): () => LogLine[] {
  let parsed: LogLine[] = [];
  let consumed = 0;
  return () => {
    const out = proc.stdout();
    if (out.length < consumed) { parsed = []; consumed = 0; } // the output buffer was trimmed
    const end = out.lastIndexOf('\n') + 1;
    if (end > consumed) {
      for (const line of out.slice(consumed, end).split('\n')) {
        if (!line.trim()) continue;
        try {
          const j = JSON.parse(line) as LogLine;
          if (j && typeof j === 'object') parsed.push(j);
        } catch {
          parsed.push({ level: 0, msg: `(not JSON) ${line}` });
        }
      }
      consumed = end;
    }
    return parsed;
  };
}

/** The last `n` lines of a process's stdout and its stderr, labelled, for a failure message. */
export function tailOf(proc: LabProcess, kind = 'bootlab', n = 25, exited = false): string {
  const lines = proc.stdout().trimEnd().split('\n').slice(-n).join('\n');
  const err = proc.stderr().trim();
  return `--- ${kind} stdout (last ${n} lines) ---\n${lines}${err ? `\n--- ${kind} stderr ---\n${err.slice(-3000)}` : ''}${exited ? `\n--- (${kind} has exited) ---` : ''}`;
}

/** Writes the files, starts `bootlab serve`, and resolves once its ready line names this config file. */
export async function spawnBootlab(o: SpawnBootlabOptions): Promise<Bootlab> {
  const configFile = writeBootlabHome(o.home, o.config, o.hosts);
  const args = [CLI, 'serve', '--config', configFile];
  const env = o.env ? { env: { ...process.env, ...o.env } } : {};
  const cwd = o.cwd ? { cwd: o.cwd } : {};
  let proc: LabProcess;
  if (o.lab) {
    if (!o.member) throw new Error('spawnBootlab: a lab needs a member namespace');
    proc = o.lab.spawn(o.member, process.execPath, args, { ...env, ...cwd });
  } else {
    proc = watchProcess(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...env, ...cwd }), 'bootlab');
  }
  o.t?.teardown(() => proc.stop());
  const logs = jsonLog(proc);
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const isReady = (l: LogLine) => l.config === configFile && Array.isArray(l.services);
  const ready = await waitFor(() => exited || logs().find(isReady), o.readyTimeoutMs ?? 30_000);
  if (!ready || ready === true) {
    await proc.stop();
    throw new Error(`bootlab did not start (${exited ? 'it exited' : 'no ready line in time'}); config ${configFile}:\n${JSON.stringify(merge(BASE, o.config))}\n${tailOf(proc)}`);
  }
  return {
    proc,
    home: o.home,
    configFile,
    ready,
    logs,
    waitLog: (pred, timeoutMs = 5000) => waitFor(() => logs().find(pred), timeoutMs),
    alive: () => !exited,
    tail: (n = 25) => tailOf(proc, 'bootlab', n, exited),
    stop: () => proc.stop(),
  };
}
