// Whether a TFTP request is taken, and on what terms: pure functions over the request,
// the server's load, the config and what the file layer found, in the order the server
// asks them (receive → admit → resolve the file → acceptRead/acceptWrite → dispatch). The
// TFTP twin of dhcp/respond.ts: every refusal is a value, so each rule is tested without
// a socket (test/tftp/accept.test.ts).
import type { TftpConfig } from '../core/config.js';
import { isNegotiationError, negotiate, type Negotiated, type NegotiationPolicy } from './negotiate.js';
import { ErrorCode, type Request } from './packet.js';

/** netascii reads are converted in memory; bigger files must be fetched in octet mode. */
export const MAX_NETASCII_FILE = 64 * 1024 * 1024;

/** A refused request: the ERROR the client gets (code, message) and the log's reason. */
export interface Refusal { refused: true; code: number; message: string; reason: string }

const refuse = (code: number, message: string, reason: string): Refusal => ({ refused: true, code, message, reason });

export const isRefused = (x: unknown): x is Refusal => typeof x === 'object' && x !== null && (x as Partial<Refusal>).refused === true;

/** Transfers running now: all of them, and those of the asking address. */
export interface Load { active: number; fromClient: number }

export type AdmitConfig = Pick<TftpConfig, 'maxTransfers' | 'maxPerClient'> & { write: Pick<TftpConfig['write'], 'enabled'> };

/** Before the file system is asked: the limits, the mode, and whether writes are on. */
export function admit(req: Request, load: Load, cfg: AdmitConfig): Refusal | null {
  if (load.active >= cfg.maxTransfers) {
    return refuse(ErrorCode.NotDefined, 'server busy, try again later', `limit tftp.maxTransfers=${cfg.maxTransfers} reached`);
  }
  if (load.fromClient >= cfg.maxPerClient) {
    return refuse(ErrorCode.NotDefined, 'too many transfers from your address', `limit tftp.maxPerClient=${cfg.maxPerClient} reached`);
  }
  if (req.mode === 'mail') return refuse(ErrorCode.IllegalOperation, 'mail mode is not supported', 'mode mail');
  if (req.mode !== 'octet' && req.mode !== 'netascii') {
    return refuse(ErrorCode.IllegalOperation, `unknown transfer mode "${req.mode}"`, `mode ${req.mode}`);
  }
  if (req.op === 'WRQ' && !cfg.write.enabled) {
    return refuse(ErrorCode.AccessViolation, 'writes are disabled on this server', 'tftp.write.enabled is false');
  }
  return null;
}

/**
 * A read of a file on disk in netascii mode is converted in memory: within the limit the
 * server reads it ('read-into-memory'), over it the client is told to use octet.
 */
export function netasciiPlan(req: Request, target: { kind: 'file' | 'memory'; size: number }): Refusal | 'read-into-memory' | 'as-is' {
  if (req.mode !== 'netascii' || target.kind !== 'file') return 'as-is';
  if (target.size > MAX_NETASCII_FILE) {
    return refuse(ErrorCode.NotDefined, 'file too large for netascii, use octet', `netascii file of ${target.size} bytes`);
  }
  return 'read-into-memory';
}

/** The options of a read of `size` bytes (as sent: after any netascii conversion). */
export function acceptRead(req: Request, size: number, policy: NegotiationPolicy): Negotiated | Refusal {
  const neg = negotiate('read', req.options, policy, size);
  return isNegotiationError(neg) ? refuse(neg.code, neg.message, neg.message) : neg;
}

export type WriteConfig = Pick<TftpConfig['write'], 'policy'>;

/** A write into a path the file layer allowed: create-only refuses an existing file; then the options. */
export function acceptWrite(
  req: Request,
  target: { name: string; exists: boolean },
  cfg: WriteConfig,
  policy: NegotiationPolicy,
): Negotiated | Refusal {
  if (target.exists && cfg.policy === 'create-only') {
    return refuse(ErrorCode.FileExists, 'file already exists', `${target.name} exists (tftp.write.policy create-only)`);
  }
  const neg = negotiate('write', req.options, policy, null);
  return isNegotiationError(neg) ? refuse(neg.code, neg.message, neg.message) : neg;
}
