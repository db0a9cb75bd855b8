// The pino root logger. JSON lines by default (for journald, Docker and log shippers);
// human-readable through pino-pretty when stdout is a terminal. Services take a child
// logger ({ service: 'tftp' }) and each transfer a grandchild ({ client, file }).
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LogOptions {
  level: LogLevel;
  pretty: 'auto' | 'always' | 'never';
}

export function createLogger(opts: LogOptions, destination: NodeJS.WritableStream = process.stdout): Logger {
  const pretty = opts.pretty === 'always' || (opts.pretty === 'auto' && (destination as NodeJS.WriteStream).isTTY === true);
  if (pretty) {
    return pino({
      level: opts.level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level: opts.level, base: { pid: process.pid } }, destination as pino.DestinationStream);
}

/** A logger that drops everything: for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
