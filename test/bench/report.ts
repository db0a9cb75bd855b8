// What the benchmarks share for their reports: medians and number formatting, the
// machine's load and busy share, the server log summarised, and the rewrite of a
// benchmark's own block between its markers in docs/benchmarks.md.
// (The benchmarks themselves are entry points: their main() runs on import, so what two
// of them need lives here.)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function median(v: number[]): number | null {
  if (v.length === 0) return null;
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Three significant digits or so: 123, 12.3, 1.23 ('-' for nothing). */
export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// ---------------------------------------------------------------------------------------
// Machine

export interface MachineSample { load1: number; busyPct: number | null; stealPct: number | null }

/** The first line of /proc/stat: CPU time of all CPUs by state, in ticks. */
export function procStat(): number[] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  return line.trim().split(/\s+/).slice(1).map(Number);
}

/** How busy all CPUs were between two procStat() samples (and the steal share). */
export function machineBetween(a: number[], b: number[], load1: number): MachineSample {
  const d = b.map((v, i) => v - (a[i] ?? 0));
  const total = d.slice(0, 8).reduce((x, y) => x + y, 0);
  if (total <= 0) return { load1, busyPct: null, stealPct: null };
  const idle = (d[3] ?? 0) + (d[4] ?? 0);
  return { load1, busyPct: (100 * (total - idle)) / total, stealPct: (100 * (d[7] ?? 0)) / total };
}

export const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** A command's output (stdout, else stderr: atftp prints its version there). */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return (r.stdout?.trim() || r.stderr?.trim() || 'unknown');
}

export function cpuModel(): string {
  return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
}

// ---------------------------------------------------------------------------------------
// Logs and the document

/** What a server logged (pino JSON lines or plain text), counted by message: the top five. */
export function summariseLog(text: string): string[] {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let key = line.slice(0, 160);
    try {
      const j = JSON.parse(line) as { msg?: string; reason?: string; err?: { message?: string } };
      key = [j.msg, j.reason ?? j.err?.message].filter(Boolean).join(': ');
    } catch { /* not JSON */ }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((x, y) => y[1] - x[1]).slice(0, 5).map(([k, n]) => `${n} × ${k}`);
}

/**
 * Replaces the block between `begin` and `end` in `file` with `body` (the begin marker is
 * found by its text up to "begin", so a reworded comment after it still matches). Without
 * the markers, appends `heading` and the block at the end.
 */
export function writeMarkedBlock(file: string, begin: string, end: string, body: string, heading: string): string {
  const block = `${begin}\n${body}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(begin.slice(0, begin.indexOf('begin') + 5));
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${heading}\n\n${block}\n`;
  writeFileSync(file, text);
  return file;
}

const started = Date.now();
/** A progress line on stdout, with the seconds since the benchmark started. */
export function log(msg: string): void {
  const secs = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${secs}s] ${msg}\n`);
}

/** The folded "Every run" section that ends each benchmark's block in docs/benchmarks.md. */
export function everyRun(body: string): string[] {
  return ['<details><summary>Every run</summary>', '', body, '', '</details>'];
}

/** The markers around the block `npm run bench:<name>` writes (writeMarkedBlock). */
export function benchMarkers(name: string): { begin: string; end: string } {
  return { begin: `<!-- bench:${name}:begin (written by npm run bench:${name}; edit outside the markers) -->`, end: `<!-- bench:${name}:end -->` };
}
