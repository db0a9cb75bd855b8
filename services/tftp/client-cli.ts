// `bootlab flash` and `bootlab get`: the TFTP client (client.ts) from the command line,
// with a progress bar on a terminal (stderr, redrawn with \r) and plain lines otherwise.
// Exit codes: 0 done, 1 usage or local file error, 3 no device answered within the wait,
// 4 the device refused (its ERROR code and message are printed), 5 the transfer broke.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isIP } from 'node:net';
import {
  CLIENT_DEFAULTS as D, get, put, type OnProgress, type TransferOptions, type TransferResult,
} from './client.js';

export const EXIT = { ok: 0, usage: 1, noAnswer: 3, refused: 4, broken: 5 } as const;

export interface ClientArgs {
  target?: string;
  file?: string;
  out?: string;
  port?: string;
  'remote-name'?: string;
  'retry-every'?: string;
  wait?: string;
  blksize?: string;
  password?: string;
  timeout?: string;
  retries?: string;
}

export class UsageError extends Error {}

/** "1s", "500ms", "2m" or plain seconds, in milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${what} ${text}: give a duration such as 1s, 500ms, 2m or plain seconds`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new UsageError(`--${what} ${text}: must be more than zero`);
  return ms;
}

function parseInteger(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${what} ${text}: give a whole number from ${min} to ${max}`);
  return n;
}

/** The options both commands share, checked. */
export function transferOptions(a: ClientArgs, remoteName: string): TransferOptions {
  if (!a.target) throw new UsageError('--target IP is required');
  if (!isIP(a.target)) throw new UsageError(`--target ${a.target}: give the device's IP address`);
  return {
    target: a.target,
    remoteName,
    port: a.port === undefined ? D.port : parseInteger(a.port, 'port', 1, 65535),
    retryEveryMs: a['retry-every'] === undefined ? D.retryEveryMs : parseDuration(a['retry-every'], 'retry-every'),
    waitMs: a.wait === undefined ? D.waitMs : parseDuration(a.wait, 'wait'),
    blksize: a.blksize === undefined ? null : parseInteger(a.blksize, 'blksize', 8, 65464),
    timeoutMs: a.timeout === undefined ? D.timeoutMs : parseDuration(a.timeout, 'timeout'),
    maxRetries: a.retries === undefined ? D.maxRetries : parseInteger(a.retries, 'retries', 0, 1000),
  };
}

/**
 * --password goes where the boot loaders that ask for one read it: the write request's
 * file-name field (client.ts), so it cannot come with --remote-name, and get has no use for it.
 */
function passwordOf(a: ClientArgs, command: 'flash' | 'get'): string | null {
  if (a.password === undefined) return null;
  if (command === 'get') throw new UsageError('--password is for flash only (it takes the place of the file name in a write request)');
  if (a['remote-name'] !== undefined) throw new UsageError('--password and --remote-name cannot both be given: the password is sent in the request\'s file-name field');
  if (a.password === '' || a.password.length > 255 || a.password.includes('\0')) throw new UsageError('--password: give 1 to 255 characters, no NUL');
  return a.password;
}

/** A bar on a terminal, plain lines (each attempt, every 10 %) otherwise. */
export function progressPrinter(where: string, out: NodeJS.WriteStream = process.stderr): OnProgress & { end(): void } {
  const tty = out.isTTY === true;
  let lastTenth = -1;
  let drawn = false;
  const fn = ((p) => {
    if (p.phase === 'waiting') {
      const line = `waiting for ${where} (attempt ${p.attempts})`;
      if (tty) { out.write(`\r${line}\x1b[K`); drawn = true; } else out.write(`${line}\n`);
      return;
    }
    const pct = p.total ? Math.min(100, Math.floor((p.bytes * 100) / p.total)) : null;
    if (tty) {
      const width = 30;
      const fill = pct === null ? 0 : Math.round((pct * width) / 100);
      out.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct === null ? '' : `${pct}% `}${p.bytes} bytes\x1b[K`);
      drawn = true;
      return;
    }
    const tenth = pct === null ? Math.floor(p.bytes / (1 << 20)) : Math.floor(pct / 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      out.write(pct === null ? `${p.bytes} bytes\n` : `${pct}% (${p.bytes} of ${p.total} bytes)\n`);
    }
  }) as OnProgress & { end(): void };
  fn.end = () => { if (drawn) out.write('\n'); };
  return fn;
}

/** Prints the outcome and returns the exit code. */
export function report(r: TransferResult, verb: 'Sent' | 'Received', where: string): number {
  switch (r.kind) {
    case 'ok':
      process.stdout.write(`${verb} ${r.bytes} bytes in ${r.seconds.toFixed(1)} seconds\n`);
      return EXIT.ok;
    case 'no-answer':
      process.stderr.write(`bootlab: no answer from ${where} in ${(r.waitedMs / 1000).toFixed(1)} s (${r.attempts} requests sent)\n`);
      return EXIT.noAnswer;
    case 'refused':
      process.stderr.write(`bootlab: ${where} refused: ERROR ${r.code}: ${r.message}\n`);
      return EXIT.refused;
    case 'broken':
      process.stderr.write(`bootlab: the transfer broke after ${r.bytes} bytes: ${r.reason}\n`);
      return EXIT.broken;
  }
}

function withSignals<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return run(ac.signal).finally(() => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
}

export async function flashCommand(a: ClientArgs): Promise<number> {
  if (!a.file) throw new UsageError('--file FIRMWARE is required');
  const password = passwordOf(a, 'flash');
  const o = { ...transferOptions(a, a['remote-name'] ?? basename(a.file)), password };
  let data: Buffer;
  try {
    data = readFileSync(a.file);
  } catch (e) {
    throw new UsageError(`${a.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const where = `${o.target}:${o.port}`;
  const progress = progressPrinter(where);
  const r = await withSignals((signal) => put({ ...o, data, signal }, progress));
  progress.end();
  return report(r, 'Sent', where);
}

export async function getCommand(a: ClientArgs): Promise<number> {
  if (!a.file) throw new UsageError('--file NAME is required');
  passwordOf(a, 'get');
  const o = transferOptions(a, a['remote-name'] ?? a.file);
  const out = a.out ?? basename(a.file);
  const where = `${o.target}:${o.port}`;
  const progress = progressPrinter(where);
  let r: TransferResult;
  try {
    r = await withSignals((signal) => get({ ...o, out, signal }, progress));
  } catch (e) {
    progress.end();
    throw new UsageError(`${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  progress.end();
  return report(r, 'Received', where);
}
