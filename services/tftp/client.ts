// A TFTP client (RFC 1350) for pushing firmware to a boot loader and fetching files
// from a device: the router-recovery procedure of `bootlab flash` / `bootlab get`.
//
// - The request is sent again every `retryEveryMs` until anything answers or `waitMs`
//   runs out: a boot loader listens for a few seconds after power-on only (the DD-WRT
//   recovery guide's `rexmt 1`, `timeout 60`).
// - The first answer fixes the server's port (its TID); packets from any other port get
//   ERROR 5 and are otherwise ignored (RFC 1350 section 4).
// - Options (RFC 2347) only when the caller asks for them (blksize): many boot loaders
//   break on them. With none sent, an OACK is a protocol error; a device that refuses
//   them (ERROR 8) is asked again without.
// - Lock-step DATA/ACK; on a timeout the last packet is sent again, up to maxRetries.
//   The resend wait adapts to the round trip (rto.ts), for DATA (put) and ACK (get)
//   alike. A duplicate ACK is ignored, never answered with a resend (the sorcerer's
//   apprentice bug, RFC 1123 section 4.2.3.1). Block numbers roll over from 65535 to 0.
// - ICMP port unreachable before the first answer is "not up yet" (keep trying); after
//   it, the transfer is broken.
//
// `password` (put only): the boot loaders that ask for one read it from the request's
// file-name field. The one such server in public source, DD-WRT's RedBoot tftpd
// (net/tftp_server.c, FIRMWARE_PASSWORD "flash_update"), parses a WRQ as
// `password = th_stuff; mode = password + strlen(password) + 1`; redsand.net's
// linksys-tftp takes it as `put FILE PASSWORD`, where other clients take the remote
// name. So with a password the WRQ is `02 | password | 00 | octet | 00`, with no option.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ClientSocket, type Incoming } from './client-socket.js';
import { RetransmitTimer } from './rto.js';
import { decode, encode, ErrorCode, isDecodeError, type Options, type Packet } from './packet.js';

export interface TransferOptions {
  target: string;
  port?: number;
  remoteName: string;
  retryEveryMs?: number;
  waitMs?: number;
  blksize?: number | null;
  password?: string | null;
  /** Per-packet retransmission wait once the transfer runs. */
  timeoutMs?: number;
  maxRetries?: number;
  signal?: AbortSignal;
}
export interface PutOptions extends TransferOptions { data: Buffer }
export interface GetOptions extends TransferOptions { out: string }

export type TransferResult =
  | { kind: 'ok'; bytes: number; seconds: number }
  | { kind: 'no-answer'; waitedMs: number; attempts: number }
  | { kind: 'refused'; code: number; message: string }
  | { kind: 'broken'; reason: string; bytes: number };

export interface Progress {
  phase: 'waiting' | 'sending' | 'receiving' | 'done';
  attempts: number;
  bytes: number;
  /** Bytes expected: the firmware's size (put), tsize when the server told it (get), else null. */
  total: number | null;
}
export type OnProgress = (p: Progress) => void;

const DEFAULT_BLKSIZE = 512;

/**
 * What a transfer uses when not told otherwise; the CLI (client-cli.ts) and the API
 * (admin/routes/flash.ts, which shows them as its schema's defaults) read them from here.
 */
export const CLIENT_DEFAULTS = {
  port: 69, retryEveryMs: 1000, waitMs: 60_000, timeoutMs: 1000, maxRetries: 10,
} as const;

interface Session {
  sock: ClientSocket;
  o: Required<Omit<TransferOptions, 'signal' | 'blksize' | 'password'>> & TransferOptions;
  tid: number;
  blksize: number;
  started: number;
  attempts: number;
}

type Answer = { packet: Packet; port: number } | { result: TransferResult };

function withDefaults<T extends TransferOptions>(o: T): Session['o'] & T {
  return { ...CLIENT_DEFAULTS, blksize: null, password: null, ...o };
}

function requestOptions(o: TransferOptions, tsize: number): Options {
  const opts: Options = new Map();
  if (o.blksize) {
    opts.set('blksize', String(o.blksize));
    opts.set('tsize', String(tsize));
  }
  return opts;
}

function broken(reason: string, bytes: number): TransferResult {
  return { kind: 'broken', reason, bytes };
}

/** Sends the request every retryEveryMs until a packet comes from the target, or the wait ends. */
async function awaitFirstAnswer(s: Session, request: Buffer, onProgress?: OnProgress): Promise<Answer> {
  const deadline = s.started + s.o.waitMs;
  let nextSend = Date.now();
  for (;;) {
    const now = Date.now();
    if (now >= deadline) return { result: { kind: 'no-answer', waitedMs: now - s.started, attempts: s.attempts } };
    if (now >= nextSend) {
      s.attempts += 1;
      onProgress?.({ phase: 'waiting', attempts: s.attempts, bytes: 0, total: null });
      s.sock.send(request, s.o.port);
      nextSend = now + s.o.retryEveryMs;
    }
    const x = await s.sock.next(Math.min(nextSend, deadline) - Date.now(), s.o.signal);
    if (x.kind === 'aborted') return { result: broken('aborted', 0) };
    // ICMP unreachable, timeouts and strangers: the boot loader is not up yet.
    if (x.kind !== 'packet' || x.address !== s.sock.target) continue;
    const packet = decode(x.buf);
    if (isDecodeError(packet)) continue;
    s.tid = x.port;
    await s.sock.lock(x.port);
    return { packet, port: x.port };
  }
}

/**
 * Waits up to `ms` for a packet from the TID. Strangers get ERROR 5; `accept` says
 * which packets end the wait (others, such as duplicate ACKs, are dropped and the
 * wait goes on with the time left).
 */
async function awaitPacket(s: Session, ms: number, accept: (p: Packet) => boolean): Promise<Packet | Incoming['kind']> {
  const until = Date.now() + ms;
  for (;;) {
    const x = await s.sock.next(until - Date.now(), s.o.signal);
    if (x.kind !== 'packet') return x.kind;
    if (x.address !== s.sock.target || x.port !== s.tid) {
      if (x.address === s.sock.target) s.sock.send(encode({ op: 'ERROR', code: ErrorCode.UnknownTid, message: 'Unknown transfer ID' }), x.port);
      continue;
    }
    const p = decode(x.buf);
    if (isDecodeError(p)) continue;
    if (p.op === 'ERROR' || accept(p)) return p;
  }
}

/**
 * Sends the request built with `sent` options until the device answers. A device that
 * refuses the options (ERROR 8, RFC 2347) is asked once more without any, as the RFC
 * lets a client do; the options actually in force are returned with the answer.
 */
async function request(
  s: Session,
  build: (o: Options) => Buffer,
  sent: Options,
  onProgress?: OnProgress,
): Promise<{ answer: Answer; sent: Options }> {
  const answer = await awaitFirstAnswer(s, build(sent), onProgress);
  if ('result' in answer || sent.size === 0) return { answer, sent };
  const p = answer.packet;
  if (p.op !== 'ERROR' || p.code !== ErrorCode.OptionRefused) return { answer, sent };
  const none: Options = new Map();
  return { answer: await awaitFirstAnswer(s, build(none), onProgress), sent: none };
}

/** Reads the server's OACK: only options we sent, blksize no larger than asked. */
function applyOack(s: Session, options: Options, sent: Options): string | null {
  if (sent.size === 0) return 'the device sent an OACK though no option was asked for';
  for (const [k, v] of options) {
    if (!sent.has(k)) return `the device acknowledged option "${k}", which was not asked for`;
    if (k === 'blksize') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 8 || n > Number(sent.get(k))) return `the device answered blksize ${v}`;
      s.blksize = n;
    }
  }
  return null;
}

function abortWith(s: Session, code: number, message: string, bytes: number): TransferResult {
  s.sock.send(encode({ op: 'ERROR', code, message }), s.tid);
  return broken(message, bytes);
}

/** Floor of the adaptive retransmission wait: a lost block on a LAN costs milliseconds. */
const MIN_RETRANSMIT_MS = 20;

/**
 * Sends the DATA blocks of `data` in lock step. The wait before a resend adapts to the
 * round trip (rto.ts, RFC 6298) with `timeoutMs` as its ceiling; only waits at the
 * ceiling count against `maxRetries`, so a slow device gets the full timeouts.
 */
async function sendBlocks(s: Session, data: Buffer, onProgress?: OnProgress): Promise<TransferResult> {
  const count = Math.floor(data.length / s.blksize) + 1;
  const rto = new RetransmitTimer(Math.min(MIN_RETRANSMIT_MS, s.o.timeoutMs), s.o.timeoutMs);
  for (let block = 1; block <= count; block++) {
    const start = (block - 1) * s.blksize;
    const packet = encode({ op: 'DATA', block, data: data.subarray(start, Math.min(start + s.blksize, data.length)) });
    const wire = block & 0xffff;
    let tries = 0;
    for (let resent = false; ; resent = true) {
      const sentAt = Date.now();
      const wait = rto.current();
      s.sock.send(packet, s.tid);
      const p = await awaitPacket(s, wait, (q) => q.op === 'ACK' && q.block === wire);
      if (typeof p !== 'string') {
        if (p.op === 'ERROR') return broken(`the device sent ERROR ${p.code}: ${p.message}`, start);
        if (!resent) rto.sample(Date.now() - sentAt); // Karn: no sample across a resend
        rto.progress();
        break;
      }
      if (p === 'aborted') return abortWith(s, ErrorCode.NotDefined, 'transfer cancelled', start);
      if (p === 'unreachable') return broken('the device stopped listening (ICMP port unreachable)', start);
      if (wait >= s.o.timeoutMs && ++tries > s.o.maxRetries) return abortWith(s, ErrorCode.NotDefined, `no ACK for block ${block} after ${tries} full timeouts`, start);
      rto.backOff();
    }
    onProgress?.({ phase: 'sending', attempts: s.attempts, bytes: Math.min(block * s.blksize, data.length), total: data.length });
  }
  return { kind: 'ok', bytes: data.length, seconds: (Date.now() - s.started) / 1000 };
}

async function session<T extends TransferOptions>(o: T, run: (s: Session, o: Session['o'] & T) => Promise<TransferResult>): Promise<TransferResult> {
  const full = withDefaults(o);
  const sock = await ClientSocket.open(full.target);
  const s: Session = { sock, o: full, tid: -1, blksize: DEFAULT_BLKSIZE, started: Date.now(), attempts: 0 };
  try {
    return await run(s, full);
  } finally {
    sock.close();
  }
}

/** Writes `data` to the device as `remoteName`, or under `password` when given (WRQ, octet mode). */
export function put(o: PutOptions, onProgress?: OnProgress): Promise<TransferResult> {
  return session(o, async (s, full) => {
    const filename = full.password ?? full.remoteName;
    const { answer: first, sent } = await request(s, (options) => encode({ op: 'WRQ', filename, mode: 'octet', options }), requestOptions(full, full.data.length), onProgress);
    if ('result' in first) return first.result;
    const p = first.packet;
    if (p.op === 'ERROR') return { kind: 'refused', code: p.code, message: p.message };
    if (p.op === 'OACK') {
      const bad = applyOack(s, p.options, sent);
      if (bad) return abortWith(s, ErrorCode.OptionRefused, bad, 0);
    } else if (p.op !== 'ACK' || p.block !== 0) {
      return abortWith(s, ErrorCode.IllegalOperation, `expected ACK 0, got ${p.op}`, 0);
    }
    s.started = Date.now();
    onProgress?.({ phase: 'sending', attempts: s.attempts, bytes: 0, total: full.data.length });
    const r = await sendBlocks(s, full.data, onProgress);
    if (r.kind === 'ok') onProgress?.({ phase: 'done', attempts: s.attempts, bytes: r.bytes, total: full.data.length });
    return r;
  });
}

interface Receiver { fd: number; bytes: number; total: number | null }

/**
 * Receives DATA blocks from `expected` on, writing them to `r.fd`; `first` is a DATA 1
 * already in hand. The wait before our last ACK is sent again adapts to the round trip
 * (ACK sent to the next DATA in), as sendBlocks' does; only waits at the ceiling
 * (`timeoutMs`) count against `maxRetries`.
 */
async function receiveBlocks(
  s: Session,
  r: Receiver,
  first: Packet | null,
  onProgress?: OnProgress,
): Promise<TransferResult> {
  let expected = 1;
  let lastAck = encode({ op: 'ACK', block: 0 });
  let pending: Packet | null = first;
  let tries = 0;
  const rto = new RetransmitTimer(Math.min(MIN_RETRANSMIT_MS, s.o.timeoutMs), s.o.timeoutMs);
  let ackedAt = Date.now();
  let resent = false;
  for (;;) {
    const wait = rto.current();
    const p = pending ?? (await awaitPacket(s, wait, (q) => q.op === 'DATA'));
    pending = null;
    if (typeof p === 'string') {
      if (p === 'aborted') return abortWith(s, ErrorCode.NotDefined, 'transfer cancelled', r.bytes);
      if (p === 'unreachable') return broken('the device stopped listening (ICMP port unreachable)', r.bytes);
      if (wait >= s.o.timeoutMs && ++tries > s.o.maxRetries)
        return abortWith(s, ErrorCode.NotDefined, `no DATA ${expected} after ${tries} full timeouts`, r.bytes);
      rto.backOff();
      resent = true;
      s.sock.send(lastAck, s.tid);
      continue;
    }
    if (p.op === 'ERROR') return broken(`the device sent ERROR ${p.code}: ${p.message}`, r.bytes);
    if (p.op !== 'DATA') continue;
    // A repeat of the block just acknowledged: our ACK was lost, say it again.
    if (p.block !== (expected & 0xffff)) {
      if (p.block === ((expected - 1) & 0xffff)) s.sock.send(lastAck, s.tid);
      continue;
    }
    if (expected > 1 && !resent) rto.sample(Date.now() - ackedAt); // Karn: none across a resend
    rto.progress();
    tries = 0;
    resent = false;
    writeSync(r.fd, p.data);
    r.bytes += p.data.length;
    lastAck = encode({ op: 'ACK', block: expected });
    s.sock.send(lastAck, s.tid);
    ackedAt = Date.now();
    onProgress?.({ phase: 'receiving', attempts: s.attempts, bytes: r.bytes, total: r.total });
    if (p.data.length < s.blksize) return { kind: 'ok', bytes: r.bytes, seconds: (Date.now() - s.started) / 1000 };
    expected += 1;
  }
}

/** The first answer to an RRQ: DATA 1, an OACK (acknowledged with ACK 0) or an ERROR. */
function startReceiving(s: Session, p: Packet, sent: Options, r: Receiver): TransferResult | Packet | null {
  if (p.op === 'ERROR') return { kind: 'refused', code: p.code, message: p.message };
  if (p.op === 'OACK') {
    const bad = applyOack(s, p.options, sent);
    if (bad) return abortWith(s, ErrorCode.OptionRefused, bad, 0);
    const tsize = Number(p.options.get('tsize'));
    if (Number.isInteger(tsize) && tsize >= 0 && p.options.has('tsize')) r.total = tsize;
    s.sock.send(encode({ op: 'ACK', block: 0 }), s.tid);
    return null;
  }
  if (p.op !== 'DATA' || p.block !== 1) return abortWith(s, ErrorCode.IllegalOperation, `expected DATA 1, got ${p.op}`, 0);
  return p;
}

/** Reads `remoteName` from the device into `out` (through out.part, renamed at the end). */
export function get(o: GetOptions, onProgress?: OnProgress): Promise<TransferResult> {
  return session(o, async (s, full) => {
    const { answer: first, sent } = await request(s, (options) => encode({ op: 'RRQ', filename: full.remoteName, mode: 'octet', options }), requestOptions(full, 0), onProgress);
    if ('result' in first) return first.result;
    const part = `${full.out}.part`;
    const r: Receiver = { fd: openSync(part, 'w'), bytes: 0, total: null };
    let result: TransferResult;
    try {
      const start = startReceiving(s, first.packet, sent, r);
      s.started = Date.now();
      result = start !== null && 'kind' in start ? start : await receiveBlocks(s, r, start, onProgress);
    } finally {
      closeSync(r.fd);
    }
    if (result.kind !== 'ok') {
      rmSync(part, { force: true });
      return result;
    }
    renameSync(part, full.out);
    onProgress?.({ phase: 'done', attempts: s.attempts, bytes: r.bytes, total: r.total });
    return result;
  });
}
