// decode() against 20 000 seeded random inputs: random buffers (lengths 0-600, often with
// a valid opcode so the parsers behind it run) and mutations of valid packets (flipped
// bytes, truncations, appended garbage). It must never throw, must always answer a
// packet or a DECODE_ERROR, and whatever decodes must re-encode to the same value.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { decode, encode, isDecodeError, type Packet } from '../../services/tftp/packet.js';
import { prng } from '../helpers/prng.js';

const SEED = 0x7f7f2024;
const RUNS = 20_000;

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const ALPHABET = ['a', 'B', '0', '9', '.', '/', '\\', '-', '\u00e9', '\u00ff', ' '];
const OPTION_NAMES = ['blksize', 'tsize', 'timeout', 'windowsize', 'BlkSize', 'multicast', 'x'];

function randString(max: number, allowEmpty = true): string {
  const n = allowEmpty ? int(max + 1) : 1 + int(max);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(ALPHABET);
  return s;
}

function randOptions(): Map<string, string> {
  const m = new Map<string, string>();
  const n = int(5);
  for (let i = 0; i < n; i++) {
    const name = pick(OPTION_NAMES).toLowerCase();
    if (!m.has(name)) m.set(name, rand() < 0.8 ? String(int(70000)) : randString(6));
  }
  return m;
}

/** A random valid packet value, already in decoded (canonical) form. */
function randPacket(): Packet {
  switch (int(6)) {
    case 0: return { op: 'RRQ', filename: randString(40, false), mode: pick(['octet', 'netascii', 'mail']), options: randOptions() };
    case 1: return { op: 'WRQ', filename: randString(40, false), mode: pick(['octet', 'netascii']), options: randOptions() };
    case 2: {
      const data = Buffer.alloc(int(600));
      for (let i = 0; i < data.length; i++) data[i] = int(256);
      return { op: 'DATA', block: int(65536), data };
    }
    case 3: return { op: 'ACK', block: int(65536) };
    case 4: return { op: 'ERROR', code: int(65536), message: randString(60) };
    default: return { op: 'OACK', options: randOptions() };
  }
}

function randBuffer(): Buffer {
  const len = int(601);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    // Many NULs and option-like bytes, so strings split in interesting places.
    const r = rand();
    b[i] = r < 0.15 ? 0 : r < 0.3 ? 0x61 + int(26) : int(256);
  }
  // Half the time, a valid opcode (0-7) so the parsers behind it are exercised.
  if (len >= 2 && rand() < 0.6) { b[0] = 0; b[1] = int(8); }
  return b;
}

function mutate(valid: Buffer): Buffer {
  const b = Buffer.from(valid);
  switch (int(5)) {
    case 0: {
      // flip a few bytes
      const n = 1 + int(3);
      for (let i = 0; i < n && b.length > 0; i++) b[int(b.length)] ^= 1 << int(8);
      return b;
    }
    case 1:
      return b.subarray(0, int(b.length + 1)); // truncate
    case 2: {
      // set a byte to NUL (splits or shortens a string)
      if (b.length > 0) b[int(b.length)] = 0;
      return b;
    }
    case 3:
      // append
      return Buffer.concat([b, Buffer.from(randString(8)), rand() < 0.5 ? Buffer.from([0]) : Buffer.alloc(0)]);
    default: {
      // remove one byte from the middle
      if (b.length === 0) return b;
      const i = int(b.length);
      return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    }
  }
}

const OPS = new Set(['RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK']);
const KINDS = new Set(['truncated', 'bad-opcode', 'unterminated', 'bad-option', 'empty-filename']);

t.test(`${RUNS} random and mutated buffers (seed ${SEED.toString(16)})`, async (t) => {
  let threw: { input: string; error: string } | null = null;
  let malformed: { input: string; out: unknown } | null = null;
  let roundTripFailure: { input: string; first: unknown; second: unknown } | null = null;
  const seen = {
    decoded: 0,
    errors: 0,
    reencoded: 0,
    byOp: new Map<string, number>(),
    byKind: new Map<string, number>(),
  };

  for (let i = 0; i < RUNS; i++) {
    const input = i % 2 === 0 ? randBuffer() : mutate(encode(randPacket()));
    let out: ReturnType<typeof decode>;
    try {
      out = decode(input);
    } catch (e) {
      threw ??= { input: input.toString('hex'), error: String(e) };
      continue;
    }
    if (isDecodeError(out)) {
      seen.errors++;
      seen.byKind.set(out.kind, (seen.byKind.get(out.kind) ?? 0) + 1);
      if (!KINDS.has(out.kind) || typeof out.message !== 'string' || out.message === '') malformed ??= { input: input.toString('hex'), out };
      continue;
    }
    seen.decoded++;
    seen.byOp.set(out.op, (seen.byOp.get(out.op) ?? 0) + 1);
    if (!OPS.has(out.op)) { malformed ??= { input: input.toString('hex'), out }; continue; }
    let second: ReturnType<typeof decode> | string;
    try {
      second = decode(encode(out));
    } catch (e) {
      second = `threw: ${String(e)}`;
    }
    seen.reencoded++;
    if (!isDeepStrictEqual(second, out)) roundTripFailure ??= { input: input.toString('hex'), first: out, second };
  }

  t.equal(threw, null, 'decode() never threw');
  t.equal(malformed, null, 'every answer is a packet or a DECODE_ERROR with a known kind and a message');
  t.equal(roundTripFailure, null, 'every decoded packet re-encodes and decodes to the same value');
  // The generator must actually reach every parser, or the test proves little.
  for (const op of OPS) t.ok((seen.byOp.get(op) ?? 0) > 50, `${op} decoded ${seen.byOp.get(op) ?? 0} times`);
  for (const kind of KINDS) t.ok((seen.byKind.get(kind) ?? 0) > 20, `${kind} seen ${seen.byKind.get(kind) ?? 0} times`);
});

t.test('random valid packets: decode(encode(x)) deep-equals x', async (t) => {
  let failure: { value: Packet; got: unknown } | null = null;
  for (let i = 0; i < 5000; i++) {
    const value = randPacket();
    const got = decode(encode(value));
    if (!isDeepStrictEqual(got, value)) failure ??= { value, got };
  }
  t.equal(failure, null, 'round trip of 5000 generated values');
});
