// The TFTP wire codec: pure functions over Buffers (RFC 1350, RFC 2347 OACK).
// decode() never throws on network input: it returns a typed DecodeError that the
// server logs and drops, or answers with an ERROR packet. Every length is checked
// before it is read (atftpd CVE-2019-11365 / CVE-2020-6097, tftp-hpa CVE-2011-2199).
import type { FileRefusal } from '../core/files.js';

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 + RFC 2347 error codes. */
export const ErrorCode = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTid: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8,
} as const;

/** The file layer's refusals (core/files.ts) as TFTP error codes (RFC 1350). */
const ERROR_FOR_REFUSAL: Record<FileRefusal['refused'], number> = { 'not-found': ErrorCode.FileNotFound, forbidden: ErrorCode.AccessViolation, error: ErrorCode.NotDefined };
export const tftpErrorFor = (r: FileRefusal): number => ERROR_FOR_REFUSAL[r.refused];

/** Option names are case-insensitive (RFC 2347); kept lower-cased, in the order sent. */
export type Options = Map<string, string>;

export interface Rrq { op: 'RRQ'; filename: string; mode: string; options: Options }
export interface Wrq { op: 'WRQ'; filename: string; mode: string; options: Options }
export interface Data { op: 'DATA'; block: number; data: Buffer }
export interface Ack { op: 'ACK'; block: number }
export interface ErrorPacket { op: 'ERROR'; code: number; message: string }
export interface Oack { op: 'OACK'; options: Options }
export type Packet = Rrq | Wrq | Data | Ack | ErrorPacket | Oack;
export type Request = Rrq | Wrq;

export type DecodeErrorKind = 'truncated' | 'oversized' | 'bad-opcode' | 'unterminated' | 'bad-option' | 'empty-filename';
export interface DecodeError { op: 'DECODE_ERROR'; kind: DecodeErrorKind; message: string }

/** Largest datagram we ever accept: 4-byte header + the RFC 2348 maximum block size. */
export const MAX_PACKET = 65468;
/** Strings in requests are netascii; latin1 keeps every byte as one char, losslessly. */
const TEXT = 'latin1';

function fail(kind: DecodeErrorKind, message: string): DecodeError {
  return { op: 'DECODE_ERROR', kind, message };
}

export function isDecodeError(p: Packet | DecodeError): p is DecodeError {
  return p.op === 'DECODE_ERROR';
}

/** Splits NUL-terminated strings from `start`. Returns null when the last one is not terminated. */
function readStrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = [];
  let pos = start;
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) return null;
    out.push(buf.toString(TEXT, pos, end));
    pos = end + 1;
  }
  return out;
}

function readOptions(strings: string[], from: number): Options | DecodeError {
  const options: Options = new Map();
  if ((strings.length - from) % 2 !== 0) return fail('bad-option', 'option without a value');
  for (let i = from; i < strings.length; i += 2) {
    const name = strings[i].toLowerCase();
    if (name === '') return fail('bad-option', 'empty option name');
    // RFC 2347 does not allow repeats; keep the first, as tftp-hpa does.
    if (!options.has(name)) options.set(name, strings[i + 1]);
  }
  return options;
}

export function decode(buf: Buffer): Packet | DecodeError {
  if (buf.length < 2) return fail('truncated', `packet of ${buf.length} bytes has no opcode`);
  if (buf.length > MAX_PACKET) return fail('oversized', `packet of ${buf.length} bytes is over ${MAX_PACKET}`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const strings = readStrings(buf, 2);
      if (strings === null) return fail('unterminated', 'request string not NUL-terminated');
      if (strings.length < 2) return fail('truncated', 'request without filename and mode');
      if (strings[0] === '') return fail('empty-filename', 'empty filename');
      const options = readOptions(strings, 2);
      if ('kind' in options) return options;
      return { op: op === Opcode.RRQ ? 'RRQ' : 'WRQ', filename: strings[0], mode: strings[1].toLowerCase(), options };
    }
    case Opcode.DATA:
      if (buf.length < 4) return fail('truncated', 'DATA shorter than its header');
      return { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case Opcode.ACK:
      // Some clients pad ACKs; RFC 1350 fixes the size at 4, extra bytes are ignored.
      if (buf.length < 4) return fail('truncated', 'ACK shorter than 4 bytes');
      return { op: 'ACK', block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('truncated', 'ERROR shorter than its header');
      // A missing terminator is tolerated: the message runs to the end (atftpd CVE-2019-11365
      // was reading past it). Only the first string counts.
      const end = buf.indexOf(0, 4);
      const message = buf.toString(TEXT, 4, end < 0 ? buf.length : end);
      return { op: 'ERROR', code: buf.readUInt16BE(2), message };
    }
    case Opcode.OACK: {
      const strings = readStrings(buf, 2);
      if (strings === null) return fail('unterminated', 'OACK string not NUL-terminated');
      const options = readOptions(strings, 0);
      if ('kind' in options) return options;
      return { op: 'OACK', options };
    }
    default:
      return fail('bad-opcode', `unknown opcode ${op}`);
  }
}

function stringsLength(strings: string[]): number {
  let n = 0;
  for (const s of strings) n += Buffer.byteLength(s, TEXT) + 1;
  return n;
}

function writeStrings(buf: Buffer, pos: number, strings: string[]): number {
  for (const s of strings) {
    pos += buf.write(s, pos, TEXT);
    buf[pos++] = 0;
  }
  return pos;
}

function optionStrings(options: Options): string[] {
  const out: string[] = [];
  for (const [k, v] of options) out.push(k, v);
  return out;
}

export function encode(p: Packet): Buffer {
  switch (p.op) {
    case 'RRQ':
    case 'WRQ': {
      const strings = [p.filename, p.mode, ...optionStrings(p.options)];
      const buf = Buffer.allocUnsafe(2 + stringsLength(strings));
      buf.writeUInt16BE(p.op === 'RRQ' ? Opcode.RRQ : Opcode.WRQ, 0);
      writeStrings(buf, 2, strings);
      return buf;
    }
    case 'DATA': {
      const buf = Buffer.allocUnsafe(4 + p.data.length);
      buf.writeUInt16BE(Opcode.DATA, 0);
      buf.writeUInt16BE(p.block & 0xffff, 2);
      p.data.copy(buf, 4);
      return buf;
    }
    case 'ACK': {
      const buf = Buffer.allocUnsafe(4);
      buf.writeUInt16BE(Opcode.ACK, 0);
      buf.writeUInt16BE(p.block & 0xffff, 2);
      return buf;
    }
    case 'ERROR': {
      const buf = Buffer.allocUnsafe(4 + stringsLength([p.message]));
      buf.writeUInt16BE(Opcode.ERROR, 0);
      buf.writeUInt16BE(p.code & 0xffff, 2);
      writeStrings(buf, 4, [p.message]);
      return buf;
    }
    case 'OACK': {
      const strings = optionStrings(p.options);
      const buf = Buffer.allocUnsafe(2 + stringsLength(strings));
      buf.writeUInt16BE(Opcode.OACK, 0);
      writeStrings(buf, 2, strings);
      return buf;
    }
  }
}

/** The 4-byte DATA header, written in place: the hot path sends header and payload as two iovecs. */
export function dataHeader(block: number, into: Buffer = Buffer.allocUnsafe(4)): Buffer {
  into[0] = 0;
  into[1] = Opcode.DATA;
  into[2] = (block >> 8) & 0xff;
  into[3] = block & 0xff;
  return into;
}

export function errorPacket(code: number, message: string): Buffer {
  return encode({ op: 'ERROR', code, message });
}

export function ackPacket(block: number): Buffer {
  return encode({ op: 'ACK', block });
}
