// netascii (RFC 764 via RFC 1350): the encoder for reads and the streaming decoder for
// writes, whose CR may end one block while its partner starts the next.
import t from 'tap';
import { NetasciiDecoder, toNetascii } from '../../services/tftp/netascii.js';
import { prng } from '../helpers/prng.js';

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const b = (...xs: (number | string)[]) => Buffer.concat(xs.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));

/** Decodes `chunks` with one decoder, end() included. */
function decodeChunks(chunks: Buffer[]): Buffer {
  const d = new NetasciiDecoder();
  const out = chunks.map((c) => d.push(c));
  out.push(d.end());
  return Buffer.concat(out);
}

// [name, local text, netascii]
const pairs: [string, Buffer, Buffer][] = [
  ['empty', b(), b()],
  ['no line ends', b('abc'), b('abc')],
  ['LF → CR LF', b('a', LF, 'b'), b('a', CR, LF, 'b')],
  ['CR → CR NUL', b('a', CR, 'b'), b('a', CR, NUL, 'b')],
  ['CR LF in local text → CR NUL CR LF', b(CR, LF), b(CR, NUL, CR, LF)],
  ['LF CR', b(LF, CR), b(CR, LF, CR, NUL)],
  ['trailing LF', b('x', LF), b('x', CR, LF)],
  ['trailing CR', b('x', CR), b('x', CR, NUL)],
  ['only LFs', b(LF, LF, LF), b(CR, LF, CR, LF, CR, LF)],
  ['only CRs', b(CR, CR), b(CR, NUL, CR, NUL)],
  ['NUL passes through', b('a', NUL, 'b'), b('a', NUL, 'b')],
  ['CR then NUL in local text', b(CR, NUL), b(CR, NUL, NUL)],
  ['high bytes pass through', b(0xff, LF, 0x80), b(0xff, CR, LF, 0x80)],
  ['pxelinux config', b('DEFAULT menu\nLABEL x\n'), b('DEFAULT menu\r\nLABEL x\r\n')],
];

t.test('toNetascii', async (t) => {
  for (const [name, local, wire] of pairs) t.same(toNetascii(local), wire, name);
});

t.test('decoder, whole buffer', async (t) => {
  for (const [name, local, wire] of pairs) t.same(decodeChunks([wire]), local, name);
});

t.test('decoder: netascii that is not strictly netascii', async (t) => {
  const cases: [string, Buffer, Buffer][] = [
    ['bare CR before a letter is kept', b('a', CR, 'b'), b('a', CR, 'b')],
    ['bare CR before CR LF', b(CR, CR, LF), b(CR, LF)],
    ['CR CR NUL', b(CR, CR, NUL), b(CR, CR)],
    ['trailing CR is flushed by end()', b('a', CR), b('a', CR)],
    ['lone LF is kept', b('a', LF, 'b'), b('a', LF, 'b')],
  ];
  for (const [name, wire, local] of cases) t.same(decodeChunks([wire]), local, name);
});

t.test('end() flushes a held CR, once', async (t) => {
  const d = new NetasciiDecoder();
  t.same(d.push(b('ab', CR)), b('ab'), 'a CR at the end of a chunk is held back');
  t.same(d.end(), b(CR), 'end() writes the held CR');
  t.same(d.end(), b(), 'a second end() writes nothing');
  const e = new NetasciiDecoder();
  t.same(e.push(b('ab')), b('ab'));
  t.same(e.end(), b(), 'nothing held, nothing flushed');
});

t.test('a CR at a chunk end pairs with the next chunk', async (t) => {
  const d = new NetasciiDecoder();
  t.same(d.push(b('a', CR)), b('a'));
  t.same(d.push(b(LF, 'b')), b(LF, 'b'), 'CR | LF → LF');
  t.same(d.push(b('c', CR)), b('c'));
  t.same(d.push(b(NUL, 'd')), b(CR, 'd'), 'CR | NUL → CR');
  t.same(d.push(b(CR)), b());
  t.same(d.push(b()), b(), 'an empty chunk keeps the CR held');
  t.same(d.push(b(LF)), b(LF), 'CR | (empty) | LF → LF');
  t.same(d.push(b(CR)), b());
  t.same(d.push(b('z')), b(CR, 'z'), 'CR | z → CR z (bare CR kept)');
  t.same(d.push(b(CR)), b());
  t.same(d.push(b(CR)), b(CR), 'CR | CR → the first is bare, the second held');
  t.same(d.push(b(NUL)), b(CR));
  t.same(d.end(), b());
});

// A text with every interesting pair in it, to split at every position.
const sample = b('ab', LF, CR, 'c', CR, LF, LF, NUL, CR, CR, 'd', CR);

t.test('every split into two chunks', async (t) => {
  const wire = toNetascii(sample);
  const bad: number[] = [];
  for (let i = 0; i <= wire.length; i++) {
    const out = decodeChunks([wire.subarray(0, i), wire.subarray(i)]);
    if (!out.equals(sample)) bad.push(i);
  }
  t.same(bad, [], `all ${wire.length + 1} split positions decode to the original`);
});

t.test('every split into three chunks', async (t) => {
  const wire = toNetascii(sample);
  const bad: [number, number][] = [];
  let n = 0;
  for (let i = 0; i <= wire.length; i++) {
    for (let j = i; j <= wire.length; j++) {
      n++;
      const out = decodeChunks([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]);
      if (!out.equals(sample)) bad.push([i, j]);
    }
  }
  t.same(bad, [], `all ${n} ways into three chunks decode to the original`);
});

t.test('every split into one-byte chunks', async (t) => {
  const wire = toNetascii(sample);
  t.same(decodeChunks([...wire].map((x) => Buffer.from([x]))), sample);
});

t.test('random text: toNetascii then the decoder (random chunks) is the identity', async (t) => {
  const rand = prng(1350);
  const int = (n: number) => Math.floor(rand() * n);
  let failure: { text: string; cuts: number[] } | null = null;
  for (let run = 0; run < 2000; run++) {
    const text = Buffer.alloc(int(200));
    for (let i = 0; i < text.length; i++) {
      const r = rand();
      text[i] = r < 0.2 ? CR : r < 0.4 ? LF : r < 0.5 ? NUL : int(256);
    }
    const wire = toNetascii(text);
    const cuts = [...new Set(Array.from({ length: int(6) }, () => int(wire.length + 1)))].sort((x, y) => x - y);
    const chunks: Buffer[] = [];
    let from = 0;
    for (const c of cuts) { chunks.push(wire.subarray(from, c)); from = c; }
    chunks.push(wire.subarray(from));
    if (!decodeChunks(chunks).equals(text)) failure ??= { text: text.toString('hex'), cuts };
  }
  t.equal(failure, null, '2000 random texts round-trip');
});

t.test('the netascii form is well formed: every CR is followed by LF or NUL', async (t) => {
  const rand = prng(764);
  let bad = 0;
  for (let run = 0; run < 500; run++) {
    const text = Buffer.from(Array.from({ length: 100 }, () => [CR, LF, 0x41][Math.floor(rand() * 3)]));
    const wire = toNetascii(text);
    for (let i = 0; i < wire.length; i++) {
      if (wire[i] === CR && wire[i + 1] !== LF && wire[i + 1] !== NUL) bad++;
      if (wire[i] === LF && wire[i - 1] !== CR) bad++;
    }
  }
  t.equal(bad, 0);
});
