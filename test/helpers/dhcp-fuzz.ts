// Runs the DHCP fuzzer (dhcp-fuzz-main.ts, packets from dhcp-fuzzgen.ts) in a lab namespace
// against a bootlab on the same bridge, to the end, and reads its report.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzRun } from './dhcp-fuzz-main.js';
import type { NetLab } from './netlab.js';

export type { FuzzRun };

export interface FuzzResult {
  sent: number;
  /** Batches, each closed by a marker the server answered. */
  markers: number;
  /** Markers sent again because their NAK did not come back within 500 ms. */
  markerRetries: number;
  byKind: Record<string, number>;
  output: string;
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'dhcp-fuzz-main.js');

/** Runs the fuzzer in `member` (an address on the server's /24, a route for broadcasts added). */
export async function fuzz(lab: NetLab, member: string, spec: FuzzRun, timeoutMs: number): Promise<FuzzResult> {
  lab.exec(member, 'ip', ['route', 'replace', '255.255.255.255/32', 'dev', 'eth0']);
  const proc = lab.spawn(member, process.execPath, [MAIN, JSON.stringify(spec)]);
  const timer = setTimeout(() => { void proc.stop(); }, timeoutMs);
  const { code } = await proc.exited;
  clearTimeout(timer);
  const output = `${proc.stdout().slice(-2000)}${proc.stderr().slice(-2000)}`;
  let j: { sent?: number; markers?: number; retries?: number; counts?: Record<string, number> } = {};
  try {
    j = JSON.parse(proc.stdout().trim().split('\n').at(-1) ?? '') as typeof j;
  } catch {
    // reported below
  }
  if (code !== 0 || j.sent === undefined) throw new Error(`the fuzzer in ${member} failed (exit ${code}): ${output}`);
  return { sent: j.sent, markers: j.markers ?? 0, markerRetries: j.retries ?? 0, byKind: j.counts ?? {}, output };
}
