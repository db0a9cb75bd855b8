// The admin token: admin.token, BOOTLAB_ADMIN_TOKEN, or the one stored in the state folder
// (generated and kept, readable by its owner only, when none is configured). Resolved by
// the runtime and by `bootlab token`; the admin API checks requests against it (admin/auth.ts).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminConfig } from '../core/config.js';

export const TOKEN_FILE = 'admin-token';
export const TOKEN_ENV = 'BOOTLAB_ADMIN_TOKEN';

/** The token cannot be read or stored (the state folder is not writable, say). */
export class TokenError extends Error {
  override name = 'TokenError';
}

export interface TokenSource { token: string; source: 'config' | 'environment' | 'file' | 'generated'; file?: string }

/** Finds the token; generates and stores one when none is configured. */
export function resolveToken(admin: AdminConfig, stateDir: string, env: NodeJS.ProcessEnv = process.env): TokenSource {
  if (admin.token !== null) return { token: admin.token, source: 'config' };
  const fromEnv = env[TOKEN_ENV]?.trim();
  if (fromEnv) {
    if (!/^[\x21-\x7e]{16,256}$/.test(fromEnv)) throw new TokenError(`${TOKEN_ENV}: must be at least 16 printable characters without spaces`);
    return { token: fromEnv, source: 'environment' };
  }
  const file = join(stateDir, TOKEN_FILE);
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored.length >= 16) return { token: stored, source: 'file', file };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TokenError(`${file}: cannot read the admin token: ${(e as NodeJS.ErrnoException).code}`);
  }
  const token = randomBytes(24).toString('base64url');
  try {
    mkdirSync(stateDir, { recursive: true });
    // 'wx': never overwrite a token another process wrote meanwhile; 0600: its owner only.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw new TokenError(`cannot store a generated token in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): make stateDir writable, or set admin.token or ${TOKEN_ENV}`);
  }
  return { token, source: 'generated', file };
}
