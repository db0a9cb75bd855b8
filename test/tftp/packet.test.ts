// The TFTP codec against byte-exact fixtures (RFC 1350, RFC 2347): each fixture is the
// packet as it is on the wire, written as annotated hex, in the style of dns-packet's
// and mqtt-packet's tests.
import t from 'tap';
import {
  ackPacket, dataHeader, decode, encode, errorPacket, isDecodeError, MAX_PACKET, Opcode,
  type DecodeError, type DecodeErrorKind, type Packet,
} from '../../services/tftp/packet.js';

/** Hex bytes, whitespace-separated; `#` starts a comment that runs to the end of the line. */
function hex(strings: TemplateStringsArray): Buffer {
  const text = strings.raw.join('').replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`bad hex fixture: ${text}`);
  return Buffer.from(text, 'hex');
}

const opts = (...pairs: [string, string][]) => new Map(pairs);

interface Fixture { name: string; wire: Buffer; value: Packet }

// Packets whose encoding is canonical: decode(wire) == value and encode(value) == wire.
const fixtures: Fixture[] = [
  {
    name: 'RRQ without options',
    wire: hex`
      00 01                               # opcode 1 RRQ
      70 78 65 6c 69 6e 75 78 2e 30 00    # "pxelinux.0" NUL
      6f 63 74 65 74 00                   # "octet" NUL
    `,
    value: { op: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: opts() },
  },
  {
    name: 'RRQ with blksize, tsize, windowsize',
    wire: hex`
      00 01                               # RRQ
      62 6f 6f 74 2f 78 36 34 2e 65 66 69 00  # "boot/x64.efi"
      6f 63 74 65 74 00                   # "octet"
      62 6c 6b 73 69 7a 65 00             # "blksize"
      31 34 36 38 00                      # "1468"
      74 73 69 7a 65 00                   # "tsize"
      30 00                               # "0"
      77 69 6e 64 6f 77 73 69 7a 65 00    # "windowsize"
      31 36 00                            # "16"
    `,
    value: {
      op: 'RRQ', filename: 'boot/x64.efi', mode: 'octet',
      options: opts(['blksize', '1468'], ['tsize', '0'], ['windowsize', '16']),
    },
  },
  {
    name: 'RRQ netascii with an empty option value',
    wire: hex`
      00 01                               # RRQ
      61 00                               # "a"
      6e 65 74 61 73 63 69 69 00          # "netascii"
      6d 75 6c 74 69 63 61 73 74 00       # "multicast"
      00                                  # "" (RFC 2090 sends an empty value)
    `,
    value: { op: 'RRQ', filename: 'a', mode: 'netascii', options: opts(['multicast', '']) },
  },
  {
    name: 'RRQ with a latin1 byte in the name (kept byte for byte)',
    wire: hex`
      00 01                               # RRQ
      66 ff e9 00                         # "f" 0xff 0xe9
      6f 63 74 65 74 00                   # "octet"
    `,
    value: { op: 'RRQ', filename: 'f\u00ff\u00e9', mode: 'octet', options: opts() },
  },
  {
    name: 'WRQ without options',
    wire: hex`
      00 02                               # opcode 2 WRQ
      75 70 6c 6f 61 64 73 2f 6c 6f 67 00 # "uploads/log"
      6f 63 74 65 74 00                   # "octet"
    `,
    value: { op: 'WRQ', filename: 'uploads/log', mode: 'octet', options: opts() },
  },
  {
    name: 'WRQ with tsize and blksize',
    wire: hex`
      00 02                               # WRQ
      78 00                               # "x"
      6f 63 74 65 74 00                   # "octet"
      74 73 69 7a 65 00                   # "tsize"
      34 30 39 36 00                      # "4096"
      62 6c 6b 73 69 7a 65 00             # "blksize"
      35 31 32 00                         # "512"
    `,
    value: { op: 'WRQ', filename: 'x', mode: 'octet', options: opts(['tsize', '4096'], ['blksize', '512']) },
  },
  {
    name: 'DATA with payload',
    wire: hex`
      00 03                               # opcode 3 DATA
      00 01                               # block 1
      de ad be ef 00 0d 0a                # payload (NULs are data here)
    `,
    value: { op: 'DATA', block: 1, data: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x0d, 0x0a]) },
  },
  {
    name: 'DATA with empty payload (end of a file of n*blksize bytes)',
    wire: hex`
      00 03                               # DATA
      01 02                               # block 258
    `,
    value: { op: 'DATA', block: 258, data: Buffer.alloc(0) },
  },
  {
    name: 'DATA block 65535',
    wire: hex`
      00 03 ff ff                         # DATA block 65535
      41                                  # "A"
    `,
    value: { op: 'DATA', block: 65535, data: Buffer.from('A') },
  },
  {
    name: 'ACK 0 (answers an OACK)',
    wire: hex`
      00 04                               # opcode 4 ACK
      00 00                               # block 0
    `,
    value: { op: 'ACK', block: 0 },
  },
  {
    name: 'ACK 0x1234',
    wire: hex`00 04 12 34`,
    value: { op: 'ACK', block: 0x1234 },
  },
  {
    name: 'ERROR file not found',
    wire: hex`
      00 05                               # opcode 5 ERROR
      00 01                               # code 1
      46 69 6c 65 20 6e 6f 74 20 66 6f 75 6e 64 00  # "File not found" NUL
    `,
    value: { op: 'ERROR', code: 1, message: 'File not found' },
  },
  {
    name: 'ERROR with empty message',
    wire: hex`
      00 05 00 08                         # ERROR code 8
      00                                  # "" NUL
    `,
    value: { op: 'ERROR', code: 8, message: '' },
  },
  {
    name: 'OACK',
    wire: hex`
      00 06                               # opcode 6 OACK
      62 6c 6b 73 69 7a 65 00             # "blksize"
      31 34 33 32 00                      # "1432"
      74 73 69 7a 65 00                   # "tsize"
      31 32 33 34 35 00                   # "12345"
    `,
    value: { op: 'OACK', options: opts(['blksize', '1432'], ['tsize', '12345']) },
  },
];

t.test('fixtures: decode, encode and round trip', async (t) => {
  for (const f of fixtures) {
    t.test(f.name, async (t) => {
      t.same(decode(f.wire), f.value, 'decode(wire) is the value');
      t.same(encode(f.value), f.wire, 'encode(value) is the wire bytes');
      const again = decode(encode(f.value));
      t.same(again, f.value, 'decode(encode(value)) round-trips');
      if (f.value.op === 'DATA' && !isDecodeError(again) && again.op === 'DATA') {
        t.equal(again.data.length, f.value.data.length, 'payload length kept');
      }
    });
  }
});

t.test('Map order of options is the order on the wire', async (t) => {
  const p = decode(fixtures[1].wire);
  t.ok(!isDecodeError(p) && (p.op === 'RRQ'));
  if (isDecodeError(p) || p.op !== 'RRQ') return;
  t.same([...p.options.keys()], ['blksize', 'tsize', 'windowsize']);
});

t.test('mixed-case mode and option names are lower-cased; values are not', async (t) => {
  const cases: { name: string; wire: Buffer; value: Packet; canonical: Buffer }[] = [
    {
      name: 'RRQ',
      wire: hex`
        00 01                             # RRQ
        46 49 4c 45 00                    # "FILE" (filename keeps its case)
        4f 63 54 65 54 00                 # "OcTeT"
        42 4c 4b 53 69 7a 65 00           # "BLKSize"
        31 34 36 38 00                    # "1468"
        54 53 49 5a 45 00                 # "TSIZE"
        30 00                             # "0"
      `,
      value: { op: 'RRQ', filename: 'FILE', mode: 'octet', options: opts(['blksize', '1468'], ['tsize', '0']) },
      canonical: hex`
        00 01 46 49 4c 45 00              # RRQ "FILE"
        6f 63 74 65 74 00                 # "octet"
        62 6c 6b 73 69 7a 65 00 31 34 36 38 00  # "blksize" "1468"
        74 73 69 7a 65 00 30 00           # "tsize" "0"
      `,
    },
    {
      name: 'WRQ',
      wire: hex`
        00 02                             # WRQ
        75 70 2f 41 00                    # "up/A"
        4e 45 54 41 53 43 49 49 00        # "NETASCII"
        57 69 6e 64 6f 77 53 69 7a 65 00  # "WindowSize"
        41 62 00                          # "Ab" (value case kept)
      `,
      value: { op: 'WRQ', filename: 'up/A', mode: 'netascii', options: opts(['windowsize', 'Ab']) },
      canonical: hex`
        00 02 75 70 2f 41 00              # WRQ "up/A"
        6e 65 74 61 73 63 69 69 00        # "netascii"
        77 69 6e 64 6f 77 73 69 7a 65 00 41 62 00  # "windowsize" "Ab"
      `,
    },
    {
      name: 'OACK',
      wire: hex`
        00 06                             # OACK
        54 53 69 7a 65 00 39 00           # "TSize" "9"
      `,
      value: { op: 'OACK', options: opts(['tsize', '9']) },
      canonical: hex`00 06 74 73 69 7a 65 00 39 00`,
    },
  ];
  for (const c of cases) {
    t.same(decode(c.wire), c.value, `${c.name}: decoded lower-cased`);
    t.same(encode(c.value), c.canonical, `${c.name}: re-encodes lower-cased`);
  }
});

t.test('a repeated option keeps the first value (case-insensitively)', async (t) => {
  const wire = hex`
    00 01 66 00 6f 63 74 65 74 00         # RRQ "f" "octet"
    62 6c 6b 73 69 7a 65 00 35 31 32 00   # "blksize" "512"
    42 4c 4b 53 49 5a 45 00 31 30 32 34 00  # "BLKSIZE" "1024" (repeat)
  `;
  t.same(decode(wire), { op: 'RRQ', filename: 'f', mode: 'octet', options: opts(['blksize', '512']) });
});

t.test('ACK with padding: extra bytes ignored', async (t) => {
  t.same(decode(hex`00 04 00 07 00 00 00 00`), { op: 'ACK', block: 7 });
});

t.test('ERROR special cases', async (t) => {
  t.same(decode(hex`
    00 05 00 02                           # ERROR code 2
    61 62 63                              # "abc", no terminator
  `), { op: 'ERROR', code: 2, message: 'abc' }, 'an ERROR without terminator decodes, message to the end');
  t.same(decode(hex`00 05 00 00`), { op: 'ERROR', code: 0, message: '' }, 'ERROR of exactly 4 bytes: empty message');
  t.same(decode(hex`
    00 05 00 04                           # ERROR code 4
    78 00                                 # "x" NUL
    79 7a 00                              # trailing "yz" NUL: only the first string counts
  `), { op: 'ERROR', code: 4, message: 'x' });
  t.same(decode(hex`00 05 ff ff 00`), { op: 'ERROR', code: 0xffff, message: '' }, 'any 16-bit code decodes');
});

t.test('DATA of exactly the largest size decodes', async (t) => {
  const buf = Buffer.alloc(MAX_PACKET, 0x5a);
  buf.writeUInt16BE(3, 0);
  buf.writeUInt16BE(9, 2);
  const p = decode(buf);
  t.equal(MAX_PACKET, 4 + 65464, 'MAX_PACKET is the RFC 2348 maximum blksize plus the header');
  t.ok(!isDecodeError(p) && p.op === 'DATA' && p.block === 9 && p.data.length === 65464, 'DATA of 65464 bytes of payload');
});

interface Bad { name: string; wire: Buffer; kind: DecodeErrorKind }

function oversized(op: number): Buffer {
  const b = Buffer.alloc(MAX_PACKET + 1, 0x41);
  b.writeUInt16BE(op, 0);
  b[b.length - 1] = 0;
  return b;
}

const bad: Bad[] = [
  { name: 'empty (0 bytes)', wire: hex``, kind: 'truncated' },
  { name: '1 byte', wire: hex`00`, kind: 'truncated' },
  { name: '1 byte 0x01', wire: hex`01`, kind: 'truncated' },
  { name: 'ACK of 3 bytes', wire: hex`00 04 00`, kind: 'truncated' },
  { name: 'ACK of 2 bytes', wire: hex`00 04`, kind: 'truncated' },
  { name: 'ERROR of 3 bytes', wire: hex`00 05 00`, kind: 'truncated' },
  { name: 'DATA of 3 bytes', wire: hex`00 03 00`, kind: 'truncated' },
  { name: 'DATA of 2 bytes', wire: hex`00 03`, kind: 'truncated' },
  { name: 'RRQ with nothing after the opcode', wire: hex`00 01`, kind: 'truncated' },
  { name: 'RRQ of 3 bytes (one empty string)', wire: hex`00 01 00`, kind: 'truncated' },
  { name: 'RRQ with a filename but no mode', wire: hex`00 01 61 00`, kind: 'truncated' },
  { name: 'WRQ with a filename but no mode', wire: hex`00 02 61 62 00`, kind: 'truncated' },
  { name: 'RRQ filename unterminated', wire: hex`00 01 61 62 63`, kind: 'unterminated' },
  { name: 'RRQ of 3 bytes, unterminated', wire: hex`00 01 61`, kind: 'unterminated' },
  {
    name: 'RRQ mode unterminated',
    wire: hex`00 01 61 00 6f 63 74 65 74      # "a" "octet" without NUL`,
    kind: 'unterminated',
  },
  {
    name: 'RRQ option value unterminated',
    wire: hex`00 01 61 00 6f 63 74 65 74 00 74 73 69 7a 65 00 30  # ... "tsize" "0" without NUL`,
    kind: 'unterminated',
  },
  {
    name: 'OACK value unterminated',
    wire: hex`00 06 62 6c 6b 73 69 7a 65 00 35 31 32  # "blksize" "512" without NUL`,
    kind: 'unterminated',
  },
  {
    name: 'RRQ with an odd option count (name without value)',
    wire: hex`00 01 61 00 6f 63 74 65 74 00 62 6c 6b 73 69 7a 65 00  # ... "blksize" NUL, no value`,
    kind: 'bad-option',
  },
  {
    name: 'WRQ with an odd option count',
    wire: hex`00 02 61 00 6f 63 74 65 74 00 74 73 69 7a 65 00 31 00 78 00  # "tsize" "1" "x"`,
    kind: 'bad-option',
  },
  {
    name: 'OACK with an odd option count',
    wire: hex`00 06 74 73 69 7a 65 00         # "tsize" alone`,
    kind: 'bad-option',
  },
  {
    name: 'RRQ with an empty option name',
    wire: hex`00 01 61 00 6f 63 74 65 74 00 00 35 31 32 00  # "" "512"`,
    kind: 'bad-option',
  },
  { name: 'RRQ with an empty filename', wire: hex`00 01 00 6f 63 74 65 74 00`, kind: 'empty-filename' },
  { name: 'WRQ with an empty filename', wire: hex`00 02 00 6f 63 74 65 74 00`, kind: 'empty-filename' },
  { name: 'opcode 0', wire: hex`00 00 00 01`, kind: 'bad-opcode' },
  { name: 'opcode 7', wire: hex`00 07 00 01`, kind: 'bad-opcode' },
  { name: 'opcode 0xffff', wire: hex`ff ff 00 01`, kind: 'bad-opcode' },
  { name: 'opcode 0x0100 (RRQ byte-swapped)', wire: hex`01 00 61 00 6f 63 74 65 74 00`, kind: 'bad-opcode' },
  { name: 'opcode 7 of 2 bytes', wire: hex`00 07`, kind: 'bad-opcode' },
  // There is no separate kind for "too long"; the codec reports it as 'truncated'.
  { name: 'DATA over 65468 bytes', wire: oversized(Opcode.DATA), kind: 'oversized' },
  { name: 'RRQ over 65468 bytes', wire: oversized(Opcode.RRQ), kind: 'oversized' },
  { name: 'ERROR over 65468 bytes', wire: oversized(Opcode.ERROR), kind: 'oversized' },
];

t.test('malformed packets: a DECODE_ERROR of the right kind, never a throw', async (t) => {
  for (const b of bad) {
    let p: ReturnType<typeof decode> | undefined;
    t.doesNotThrow(() => { p = decode(b.wire); }, `${b.name}: does not throw`);
    t.ok(p && isDecodeError(p), `${b.name}: is a DECODE_ERROR`);
    const e = p as DecodeError;
    t.equal(e.op, 'DECODE_ERROR', `${b.name}: op`);
    t.equal(e.kind, b.kind, `${b.name}: kind ${b.kind}`);
    t.type(e.message, 'string');
    t.ok(e.message.length > 0, `${b.name}: has a message`);
  }
  t.match((decode(oversized(Opcode.DATA)) as DecodeError).message, /65469/, 'the oversize message names the size');
  t.match((decode(hex`00 07 00 01`) as DecodeError).message, /7/, 'the opcode message names the opcode');
});

t.test('isDecodeError', async (t) => {
  t.equal(isDecodeError(decode(hex`00 04 00 01`)), false);
  t.equal(isDecodeError(decode(hex`00`)), true);
});

t.test('encode masks block and code to 16 bits', async (t) => {
  t.same(encode({ op: 'DATA', block: 65536, data: Buffer.from('z') }), hex`00 03 00 00 7a`, 'DATA block 65536 → 0');
  t.same(encode({ op: 'DATA', block: 65537, data: Buffer.alloc(0) }), hex`00 03 00 01`, 'DATA block 65537 → 1');
  t.same(encode({ op: 'ACK', block: 0x1ffff }), hex`00 04 ff ff`);
});

t.test('ackPacket and errorPacket', async (t) => {
  t.same(ackPacket(0), hex`00 04 00 00`);
  t.same(ackPacket(513), hex`00 04 02 01`);
  t.same(errorPacket(3, 'Disk full'), hex`
    00 05 00 03                           # ERROR code 3
    44 69 73 6b 20 66 75 6c 6c 00         # "Disk full" NUL
  `);
});

t.test('dataHeader', async (t) => {
  t.same(dataHeader(1), hex`00 03 00 01`);
  t.same(dataHeader(0), hex`00 03 00 00`);
  t.same(dataHeader(0x1234), hex`00 03 12 34`);
  t.same(dataHeader(65535), hex`00 03 ff ff`);
  const into = Buffer.from([9, 9, 9, 9, 9, 9]);
  const out = dataHeader(0x0a0b, into);
  t.equal(out, into, 'writes into the given buffer and returns it');
  t.same(into, Buffer.from([0, 3, 0x0a, 0x0b, 9, 9]), 'only the first 4 bytes are written');
  const packet = Buffer.concat([dataHeader(77), Buffer.from('hi')]);
  t.same(decode(packet), { op: 'DATA', block: 77, data: Buffer.from('hi') }, 'header + payload decodes as DATA');
});
