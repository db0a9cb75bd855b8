// Option negotiation (RFC 2347/2348/2349/7440), a pure decision: table-driven.
import t from 'tap';
import {
  DEFAULT_BLKSIZE, isNegotiationError, MAX_BLKSIZE, MIN_BLKSIZE, negotiate,
  type Negotiated, type NegotiationError, type NegotiationPolicy,
} from '../../services/tftp/negotiate.js';
import { decode, isDecodeError } from '../../services/tftp/packet.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

const basePolicy: NegotiationPolicy = {
  options: { blksize: true, tsize: true, timeout: true, windowsize: true },
  maxBlockSize: 65464,
  maxWindowSize: 64,
  maxWindowBytes: 4 * 1024 * 1024,
  timeout: 5,
  maxUploadSize: 1_000_000,
};

function policy(over: DeepPartial<NegotiationPolicy> = {}): NegotiationPolicy {
  return { ...basePolicy, ...over, options: { ...basePolicy.options, ...over.options } } as NegotiationPolicy;
}

const opts = (...pairs: [string, string][]) => new Map(pairs);
const oackOf = (r: Negotiated) => (r.oack ? [...r.oack] : null);

function ok(t: { fail(message: string): unknown }, r: Negotiated | NegotiationError, what: string): Negotiated {
  if (isNegotiationError(r)) {
    t.fail(`${what}: unexpected error ${r.code} ${r.message}`);
    return { blockSize: NaN, windowSize: NaN, timeout: NaN, tsize: null, oack: null, multicast: false };
  }
  return r;
}

t.test('constants', async (t) => {
  t.equal(MIN_BLKSIZE, 8);
  t.equal(MAX_BLKSIZE, 65464);
  t.equal(DEFAULT_BLKSIZE, 512);
});

interface Accept {
  name: string;
  dir: 'read' | 'write';
  options: [string, string][];
  policy?: DeepPartial<NegotiationPolicy>;
  size?: number | null;
  want: {
    blockSize: number;
    windowSize: number;
    timeout: number;
    tsize: number | null;
    oack: [string, string][] | null;
  };
}

const accepted: Accept[] = [
  {
    name: 'no options: no OACK, RFC 1350 defaults',
    dir: 'read', options: [], size: 1000,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'no options on a write',
    dir: 'write', options: [],
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'only unknown options: ignored, no OACK',
    dir: 'read', options: [['multicast', ''], ['foo', 'bar']], size: 10,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'option names that are also names of object properties are unknown options too',
    dir: 'read', options: [['__proto__', '1'], ['constructor', '2'], ['toString', '3'], ['hasOwnProperty', '4']], size: 10,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'RRQ blksize + tsize: OACK in the client order, tsize answers the size',
    dir: 'read', options: [['blksize', '1432'], ['tsize', '0']], size: 12345,
    want: { blockSize: 1432, windowSize: 1, timeout: 5, tsize: 12345, oack: [['blksize', '1432'], ['tsize', '12345']] },
  },
  {
    name: 'same options, other order: OACK mirrors it',
    dir: 'read', options: [['tsize', '0'], ['blksize', '1432']], size: 12345,
    want: { blockSize: 1432, windowSize: 1, timeout: 5, tsize: 12345, oack: [['tsize', '12345'], ['blksize', '1432']] },
  },
  {
    name: 'unknown options among known ones are left out, order kept',
    dir: 'read', options: [['windowsize', '4'], ['multicast', ''], ['timeout', '3'], ['x-foo', '1'], ['blksize', '1024']], size: 1,
    want: { blockSize: 1024, windowSize: 4, timeout: 3, tsize: null, oack: [['windowsize', '4'], ['timeout', '3'], ['blksize', '1024']] },
  },
  {
    name: 'tsize on RRQ with unknown size: left out of the OACK',
    dir: 'read', options: [['tsize', '0']], size: null,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'tsize on RRQ of an empty file: 0',
    dir: 'read', options: [['tsize', '0']], size: 0,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: 0, oack: [['tsize', '0']] },
  },
  {
    name: 'tsize on WRQ is echoed',
    dir: 'write', options: [['tsize', '4096']], size: null,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: 4096, oack: [['tsize', '4096']] },
  },
  {
    name: 'tsize on WRQ equal to maxUploadSize is accepted',
    dir: 'write', options: [['tsize', '1000000']], size: null,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: 1000000, oack: [['tsize', '1000000']] },
  },
  {
    name: 'tsize on WRQ ignores the size argument',
    dir: 'write', options: [['tsize', '7']], size: 99999,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: 7, oack: [['tsize', '7']] },
  },
  {
    name: 'blksize at the lower bound 8',
    dir: 'read', options: [['blksize', '8']], size: 1,
    want: { blockSize: 8, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '8']] },
  },
  {
    name: 'blksize at the upper bound 65464',
    dir: 'read', options: [['blksize', '65464']], size: 1,
    want: { blockSize: 65464, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '65464']] },
  },
  {
    name: 'blksize capped by maxBlockSize',
    dir: 'read', options: [['blksize', '65464']], size: 1, policy: { maxBlockSize: 1468 },
    want: { blockSize: 1468, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '1468']] },
  },
  {
    name: 'blksize under maxBlockSize is not raised',
    dir: 'write', options: [['blksize', '1024']], policy: { maxBlockSize: 1468 },
    want: { blockSize: 1024, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '1024']] },
  },
  {
    name: 'timeout 1 and its value replaces the policy timeout',
    dir: 'read', options: [['timeout', '1']], size: 1,
    want: { blockSize: 512, windowSize: 1, timeout: 1, tsize: null, oack: [['timeout', '1']] },
  },
  {
    name: 'timeout 255',
    dir: 'read', options: [['timeout', '255']], size: 1,
    want: { blockSize: 512, windowSize: 1, timeout: 255, tsize: null, oack: [['timeout', '255']] },
  },
  {
    name: 'windowsize 1',
    dir: 'read', options: [['windowsize', '1']], size: 1,
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: [['windowsize', '1']] },
  },
  {
    name: 'windowsize capped by maxWindowSize',
    dir: 'read', options: [['windowsize', '65535']], size: 1,
    want: { blockSize: 512, windowSize: 64, timeout: 5, tsize: null, oack: [['windowsize', '64']] },
  },
  {
    name: 'windowsize capped by maxWindowBytes / blksize (windowsize first)',
    dir: 'read', options: [['windowsize', '64'], ['blksize', '65464']], size: 1, policy: { maxWindowBytes: 1048576 },
    // floor(1048576 / 65464) = 16
    want: { blockSize: 65464, windowSize: 16, timeout: 5, tsize: null, oack: [['windowsize', '16'], ['blksize', '65464']] },
  },
  {
    name: 'windowsize capped by maxWindowBytes / blksize (blksize first)',
    dir: 'read', options: [['blksize', '65464'], ['windowsize', '64']], size: 1, policy: { maxWindowBytes: 1048576 },
    want: { blockSize: 65464, windowSize: 16, timeout: 5, tsize: null, oack: [['blksize', '65464'], ['windowsize', '16']] },
  },
  {
    name: 'the byte cap uses the capped blksize, not the requested one',
    dir: 'read', options: [['windowsize', '64'], ['blksize', '65464']], size: 1, policy: { maxBlockSize: 1024, maxWindowBytes: 16384 },
    want: { blockSize: 1024, windowSize: 16, timeout: 5, tsize: null, oack: [['windowsize', '16'], ['blksize', '1024']] },
  },
  {
    name: 'the byte cap with the default blksize (no blksize option)',
    dir: 'read', options: [['windowsize', '64']], size: 1, policy: { maxWindowBytes: 4096 },
    want: { blockSize: 512, windowSize: 8, timeout: 5, tsize: null, oack: [['windowsize', '8']] },
  },
  {
    name: 'the byte cap never goes below 1',
    dir: 'read', options: [['blksize', '65464'], ['windowsize', '8']], size: 1, policy: { maxWindowBytes: 512 },
    want: { blockSize: 65464, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '65464'], ['windowsize', '1']] },
  },
  {
    name: 'a window smaller than every cap is kept',
    dir: 'write', options: [['windowsize', '4']],
    want: { blockSize: 512, windowSize: 4, timeout: 5, tsize: null, oack: [['windowsize', '4']] },
  },
  {
    name: 'leading zeros are accepted and normalised in the OACK',
    dir: 'read', options: [['blksize', '01024']], size: 1,
    want: { blockSize: 1024, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '1024']] },
  },
  // policy.options switches an option off: it is ignored as if unknown (even when invalid).
  {
    name: 'blksize switched off',
    dir: 'read', options: [['blksize', '1432'], ['tsize', '0']], size: 50, policy: { options: { blksize: false } },
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: 50, oack: [['tsize', '50']] },
  },
  {
    name: 'blksize switched off: an invalid value is not refused',
    dir: 'read', options: [['blksize', 'abc']], size: 50, policy: { options: { blksize: false } },
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'tsize switched off (read)',
    dir: 'read', options: [['tsize', '0'], ['blksize', '1024']], size: 50, policy: { options: { tsize: false } },
    want: { blockSize: 1024, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '1024']] },
  },
  {
    name: 'tsize switched off (write): not even the upload limit is checked',
    dir: 'write', options: [['tsize', '99999999']], policy: { options: { tsize: false } },
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
  {
    name: 'timeout switched off: the policy timeout stays',
    dir: 'read', options: [['timeout', '2']], size: 50, policy: { options: { timeout: false }, timeout: 7 },
    want: { blockSize: 512, windowSize: 1, timeout: 7, tsize: null, oack: null },
  },
  {
    name: 'windowsize switched off',
    dir: 'read', options: [['windowsize', '16'], ['blksize', '1024']], size: 50, policy: { options: { windowsize: false } },
    want: { blockSize: 1024, windowSize: 1, timeout: 5, tsize: null, oack: [['blksize', '1024']] },
  },
  {
    name: 'every option switched off: no OACK',
    dir: 'read', options: [['blksize', '1024'], ['tsize', '0'], ['timeout', '1'], ['windowsize', '8']], size: 50,
    policy: { options: { blksize: false, tsize: false, timeout: false, windowsize: false } },
    want: { blockSize: 512, windowSize: 1, timeout: 5, tsize: null, oack: null },
  },
];

t.test('accepted requests', async (t) => {
  for (const c of accepted) {
    const r = ok(t, negotiate(c.dir, opts(...c.options), policy(c.policy), c.size ?? null), c.name);
    t.same(
      { blockSize: r.blockSize, windowSize: r.windowSize, timeout: r.timeout, tsize: r.tsize, oack: oackOf(r) },
      c.want,
      c.name,
    );
    if (c.want.oack === null) t.equal(r.oack, null, `${c.name}: oack is null, not an empty Map`);
  }
});

interface Refuse { name: string; dir: 'read' | 'write'; options: [string, string][]; policy?: DeepPartial<NegotiationPolicy>; code: number }

const refused: Refuse[] = [
  { name: 'blksize 7', dir: 'read', options: [['blksize', '7']], code: 8 },
  { name: 'blksize 0', dir: 'read', options: [['blksize', '0']], code: 8 },
  { name: 'blksize 65465', dir: 'read', options: [['blksize', '65465']], code: 8 },
  { name: 'blksize 99999999999 (too many digits)', dir: 'read', options: [['blksize', '99999999999']], code: 8 },
  { name: 'blksize "abc"', dir: 'read', options: [['blksize', 'abc']], code: 8 },
  { name: 'blksize ""', dir: 'read', options: [['blksize', '']], code: 8 },
  { name: 'blksize "-1"', dir: 'read', options: [['blksize', '-1']], code: 8 },
  { name: 'blksize "1e3"', dir: 'read', options: [['blksize', '1e3']], code: 8 },
  { name: 'blksize " 512"', dir: 'read', options: [['blksize', ' 512']], code: 8 },
  { name: 'blksize "512.5"', dir: 'read', options: [['blksize', '512.5']], code: 8 },
  { name: 'blksize "0x200"', dir: 'read', options: [['blksize', '0x200']], code: 8 },
  { name: 'blksize 7 on a write', dir: 'write', options: [['blksize', '7']], code: 8 },
  { name: 'blksize invalid after valid options', dir: 'read', options: [['tsize', '0'], ['windowsize', '4'], ['blksize', '65465']], code: 8 },
  { name: 'timeout 0', dir: 'read', options: [['timeout', '0']], code: 8 },
  { name: 'timeout 256', dir: 'read', options: [['timeout', '256']], code: 8 },
  { name: 'timeout "x"', dir: 'read', options: [['timeout', 'x']], code: 8 },
  { name: 'timeout ""', dir: 'write', options: [['timeout', '']], code: 8 },
  { name: 'windowsize 0', dir: 'read', options: [['windowsize', '0']], code: 8 },
  { name: 'windowsize 65536', dir: 'read', options: [['windowsize', '65536']], code: 8 },
  { name: 'windowsize "many"', dir: 'write', options: [['windowsize', 'many']], code: 8 },
  { name: 'tsize "abc" on a read', dir: 'read', options: [['tsize', 'abc']], code: 8 },
  { name: 'tsize "-5" on a write', dir: 'write', options: [['tsize', '-5']], code: 8 },
  { name: 'tsize over maxUploadSize on a write: disk full', dir: 'write', options: [['tsize', '1000001']], code: 3 },
  { name: 'tsize over a small maxUploadSize', dir: 'write', options: [['blksize', '1024'], ['tsize', '11']], policy: { maxUploadSize: 10 }, code: 3 },
];

t.test('refused requests', async (t) => {
  for (const c of refused) {
    const r = negotiate(c.dir, opts(...c.options), policy(c.policy), 100);
    t.ok(isNegotiationError(r), `${c.name}: refused`);
    if (!isNegotiationError(r)) continue;
    t.equal(r.code, c.code, `${c.name}: code ${c.code}`);
    t.type(r.message, 'string');
    t.ok(r.message.length > 0, `${c.name}: has a message`);
  }
});

t.test('tsize on a read is not limited by maxUploadSize', async (t) => {
  const r = ok(t, negotiate('read', opts(['tsize', '0']), policy({ maxUploadSize: 10 }), 5_000_000), 'read');
  t.equal(r.tsize, 5_000_000);
});

t.test('isNegotiationError', async (t) => {
  t.equal(isNegotiationError({ code: 8, message: 'x' }), true);
  t.equal(isNegotiationError(ok(t, negotiate('read', opts(), policy(), 0), 'none')), false);
});

t.test('from the wire: mixed-case option names reach negotiate lower-cased', async (t) => {
  // RRQ "f" "octet" "BLKSIZE" "1024" "TSize" "0"
  const wire = Buffer.from('0001' + Buffer.from('f\0octet\0BLKSIZE\x001024\0TSize\x000\0', 'latin1').toString('hex'), 'hex');
  const req = decode(wire);
  t.ok(!isDecodeError(req) && req.op === 'RRQ');
  if (isDecodeError(req) || req.op !== 'RRQ') return;
  const r = ok(t, negotiate('read', req.options, policy(), 777), 'wire');
  t.same(oackOf(r), [['blksize', '1024'], ['tsize', '777']]);
});

t.test('the result does not alias the request Map', async (t) => {
  const requested = opts(['blksize', '1024']);
  const r = ok(t, negotiate('read', requested, policy(), 1), 'alias');
  t.not(r.oack, requested);
  t.same([...requested], [['blksize', '1024']], 'request untouched');
});

t.test('RFC 2090 multicast: taken for reads only when the server multicasts; a window gives way to the master\'s ACKs', async (t) => {
  const asked = opts(['multicast', ''], ['blksize', '1468'], ['windowsize', '8'], ['tsize', '0']);
  const on = ok(t, negotiate('read', asked, policy({ multicast: true }), 5000), 'multicast on');
  t.equal(on.multicast, true);
  t.same(oackOf(on), [['multicast', ''], ['blksize', '1468'], ['tsize', '5000']], 'multicast kept in the client\'s order (the group fills its value in), windowsize left out');
  t.equal(on.windowSize, 1);
  const off = ok(t, negotiate('read', asked, policy(), 5000), 'multicast off');
  t.equal(off.multicast, false);
  t.same(oackOf(off), [['blksize', '1468'], ['windowsize', '8'], ['tsize', '5000']], 'off: the option is ignored (RFC 2347) and the read is plain unicast');
  const w = ok(t, negotiate('write', opts(['multicast', '']), policy({ multicast: true }), null), 'write');
  t.equal(w.multicast, false, 'writes never multicast');
  t.equal(w.oack, null);
});
