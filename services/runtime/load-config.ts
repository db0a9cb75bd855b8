// The appliance config as the runtime and `check-config` use it: the file read, parsed and
// checked (core/config.ts, pure), then PXE MTFTP's files resolved against the disk
// (mtftp/config.ts). A problem anywhere is one ConfigError with file:line lines.
import { ConfigError, parseConfigSource, readConfigText, type AppConfig } from '../core/config.js';
import { resolveMtftpFiles } from '../mtftp/config.js';

/** Parses `text` as the config file `file` and resolves what it names on disk. */
export function parseAppConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): AppConfig {
  const { config, keyLines } = parseConfigSource(text, file, env);
  if (!config.mtftp.enabled) return config;
  const { files, lines } = resolveMtftpFiles(config, keyLines);
  if (lines.length > 0) throw new ConfigError(lines);
  return { ...config, mtftp: { ...config.mtftp, files } };
}

/** Reads and validates the config file; `env` (the process's by default) may override keys (ENV_OVERRIDES). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  return parseAppConfig(readConfigText(file), file, env);
}
