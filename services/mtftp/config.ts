// PXE MTFTP's files as the running appliance serves them: mtftp.files with an atftpd
// --mtftp file's lines added, checked against the files under tftp.root (a name twice, a
// file over 65535 blocks). Reads the disk, so it runs when the config is loaded
// (runtime/load-config.ts), never inside the pure parser.
import { readFileSync } from 'node:fs';
import type { AppConfig, MtftpFile } from '../core/config.js';
import { mtftpName } from '../core/multicast.js';
import type { Issue } from '../core/schema.js';
import { entryProblems, parseAtftpdMtftp, type MtftpEntry } from './files.js';

/**
 * mtftp.files with the atftpd file's entries added, and the problems as config error
 * lines (`keyLines` names a key's line in the config file; the atftpd file's own lines
 * name themselves).
 */
export function resolveMtftpFiles(
  cfg: AppConfig, keyLines: (issues: Issue[]) => string[],
): { files: MtftpFile[]; lines: string[] } {
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
  return { files: entries.map(({ file, group, clientPort }) => ({ file, group, clientPort })), lines };
}
