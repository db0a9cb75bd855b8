// The files PXE MTFTP serves: from appliance.yaml (mtftp.files) and, so existing atftpd
// setups move over, from an atftpd --mtftp file: one "filename group client_port" per
// line, # starts a comment (atftpd tftpd_mtftp.c). Pure apart from the stat of sizes.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { groupProblem, mtftpName } from '../core/multicast.js';

/** PXE MTFTP sends 512-byte blocks numbered 1..65535 and cannot roll over (PXE 2.1). */
export const MTFTP_BLOCK_SIZE = 512;
export const MAX_MTFTP_BLOCKS = 65535;
/** A file of n*512 bytes ends with an empty block, so the largest has 65534 full blocks and 511 bytes. */
export const MAX_MTFTP_FILE_SIZE = (MAX_MTFTP_BLOCKS - 1) * MTFTP_BLOCK_SIZE + (MTFTP_BLOCK_SIZE - 1);

export interface MtftpEntry {
  file: string;
  group: string;
  clientPort: number;
  /** Where the entry was written, for messages: a config key path, or file:line. */
  origin: string;
}

/** Parses the text of an atftpd --mtftp file; errors read "file:line: message". */
export function parseAtftpdMtftp(text: string, file: string): { entries: MtftpEntry[]; errors: string[] } {
  const entries: MtftpEntry[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const at = `${file}:${i + 1}`;
    const words = line.split(/\s+/);
    if (words.length !== 3) {
      errors.push(`${at}: expected "filename multicast-group client-port", found ${words.length} word(s)`);
      return;
    }
    const [name, group, port] = words;
    const problem = groupProblem(group);
    if (problem) errors.push(`${at}: group ${group} ${problem}`);
    const clientPort = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(clientPort >= 1 && clientPort <= 65535)) errors.push(`${at}: client port ${port} must be an integer 1-65535`);
    entries.push({ file: mtftpName(name), group, clientPort, origin: at });
  });
  return { entries, errors };
}

/**
 * Problems that stop start-up: a file named twice, a file too big for 65535 blocks.
 * `origin` names the key or line. A missing file is not one: it may be installed later,
 * and is refused then. Two files on one group and port are not one either: the channel
 * is shared, and served without ever mixing them (sharedChannels).
 */
export function entryProblems(entries: MtftpEntry[], root: string): { origin: string; message: string }[] {
  const problems: { origin: string; message: string }[] = [];
  const byName = new Map<string, string>();
  for (const e of entries) {
    const name = mtftpName(e.file);
    const seen = byName.get(name);
    if (seen) problems.push({ origin: e.origin, message: `names ${name} again (already at ${seen})` });
    else byName.set(name, e.origin);
    let size: number | null = null;
    try {
      size = statSync(join(root, name)).size;
    } catch {
      // Not there yet: the server warns at start and refuses requests until it exists.
    }
    if (size !== null && size > MAX_MTFTP_FILE_SIZE) {
      problems.push({
        origin: e.origin,
        message: `${name} has ${size} bytes, over PXE MTFTP's limit of ${MAX_MTFTP_FILE_SIZE} (65535 blocks of 512 bytes); `
          + 'serve it over TFTP or HTTP instead, or load it from a smaller first stage',
      });
    }
  }
  return problems;
}
