// Option negotiation (RFC 2347): pure. The OACK carries only options the client sent
// and this server accepts (pxelinux rejects an OACK with options it did not ask for);
// unknown options are ignored. Out-of-range blksize and timeout get error 8, as atftpd
// does and atftp's test suite expects.
import { ErrorCode, type Options } from './packet.js';

export const MIN_BLKSIZE = 8; // RFC 2348
export const MAX_BLKSIZE = 65464; // RFC 2348: 65535 - 20 (IP) - 8 (UDP) - 4 (TFTP) + slack
export const DEFAULT_BLKSIZE = 512; // RFC 1350

export interface NegotiationPolicy {
  options: { blksize: boolean; tsize: boolean; timeout: boolean; windowsize: boolean };
  maxBlockSize: number;
  maxWindowSize: number;
  maxWindowBytes: number;
  /** Seconds; the retransmission ceiling when the client does not ask for one. */
  timeout: number;
  /** Largest upload accepted, in bytes (WRQ tsize). */
  maxUploadSize: number;
  /** RFC 2090: whether reads may join a multicast group. */
  multicast?: boolean;
}

export interface Negotiated {
  blockSize: number;
  windowSize: number;
  /** Retransmission ceiling in seconds. */
  timeout: number;
  /** RRQ: the size we announced; WRQ: the size the client announced. */
  tsize: number | null;
  /** The OACK's options, or null when none was accepted (then DATA 1 or ACK 0 answers). */
  oack: Options | null;
  /** RFC 2090: the client asked to join a group; the OACK's "multicast" value is left empty for the group to fill. */
  multicast: boolean;
}

export interface NegotiationError { code: number; message: string }

const DECIMAL = /^\d{1,10}$/;

function parseDecimal(value: string): number {
  return DECIMAL.test(value) ? Number(value) : NaN;
}

/** A decimal option value within [min, max], or the error 8 that refuses it. */
function ranged(name: string, value: string, min: number, max: number): number | NegotiationError {
  const n = parseDecimal(value);
  return n >= min && n <= max ? n : { code: ErrorCode.OptionRefused, message: `${name} ${value} out of range ${min}-${max}` };
}

/**
 * @param size RRQ: the size of what will be sent, when known; WRQ: ignored.
 */
interface OptionContext { direction: 'read' | 'write'; policy: NegotiationPolicy; size: number | null }

/**
 * One option: sets what it decides in `result` and returns its OACK value, null to leave it
 * out of the OACK (not offered, or nothing to say), or an error that refuses the request.
 */
type TakeOption = (value: string, c: OptionContext, result: Negotiated) => string | null | NegotiationError;

/** The options bootlab takes, by name (iPXE's tftp.c keeps the same { name, process } table). */
const OPTIONS = new Map<string, TakeOption>([
  ['blksize', (value, c, result) => {
    if (!c.policy.options.blksize) return null;
    const n = ranged('blksize', value, MIN_BLKSIZE, MAX_BLKSIZE);
    if (typeof n !== 'number') return n;
    result.blockSize = Math.min(n, c.policy.maxBlockSize);
    return String(result.blockSize);
  }],
  ['timeout', (value, c, result) => {
    if (!c.policy.options.timeout) return null;
    const n = ranged('timeout', value, 1, 255);
    if (typeof n !== 'number') return n;
    result.timeout = n;
    return String(n);
  }],
  ['tsize', (value, c, result) => {
    if (!c.policy.options.tsize) return null;
    const n = parseDecimal(value);
    if (Number.isNaN(n)) return { code: ErrorCode.OptionRefused, message: `tsize ${value} is not a number` };
    if (c.direction === 'write') {
      if (n > c.policy.maxUploadSize) {
        return { code: ErrorCode.DiskFull, message: `upload of ${n} bytes is over the limit of ${c.policy.maxUploadSize}` };
      }
      result.tsize = n;
      return String(n);
    }
    // RFC 2349: the client sends 0 and the server answers the size. Unknown size: leave it
    // out. (curl 7.88 rejects an OACK with "tsize 0" for an empty file as invalid; that is
    // curl's check, tftpd-hpa's answer fails it the same way, and RFC-following clients such
    // as atftp and EDK2's tsize probe need the 0.)
    if (c.size === null) return null;
    result.tsize = c.size;
    return String(c.size);
  }],
  ['windowsize', (value, c, result) => {
    if (!c.policy.options.windowsize) return null;
    const n = ranged('windowsize', value, 1, 65535);
    if (typeof n !== 'number') return n;
    result.windowSize = n;
    return String(n);
  }],
  ['multicast', (_value, c, result) => {
    // RFC 2090: the client sends it empty. Writes never multicast.
    if (!c.policy.multicast || c.direction !== 'read') return null;
    result.multicast = true;
    return '';
  }],
]);

export function negotiate(
  direction: 'read' | 'write',
  requested: Options,
  policy: NegotiationPolicy,
  size: number | null,
): Negotiated | NegotiationError {
  const oack: Options = new Map();
  const result: Negotiated = {
    blockSize: DEFAULT_BLKSIZE, windowSize: 1, timeout: policy.timeout, tsize: null, oack: null, multicast: false,
  };
  const c: OptionContext = { direction, policy, size };
  // Iterate in the client's order so the OACK mirrors it. RFC 2347: unknown options are ignored.
  for (const [name, value] of requested) {
    const out = OPTIONS.get(name)?.(value, c, result) ?? null;
    if (out === null) continue;
    if (typeof out !== 'string') return out;
    oack.set(name, out);
  }
  // A multicast group is paced by its master's ACKs, not by a window (RFC 2090).
  if (result.multicast && oack.has('windowsize')) {
    oack.delete('windowsize');
    result.windowSize = 1;
  }
  // The window is bounded in blocks and in bytes; decided after blksize, whatever the order.
  if (oack.has('windowsize')) {
    const byBytes = Math.max(1, Math.floor(policy.maxWindowBytes / result.blockSize));
    result.windowSize = Math.min(result.windowSize, policy.maxWindowSize, byBytes);
    oack.set('windowsize', String(result.windowSize));
  }
  result.oack = oack.size > 0 ? oack : null;
  return result;
}

export function isNegotiationError(r: Negotiated | NegotiationError): r is NegotiationError {
  return 'code' in r;
}
