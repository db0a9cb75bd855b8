// The TFTP acceptance rules (services/tftp/accept.ts), without a socket: the limits, the
// modes, writes off, netascii's size limit, create-only, and the options of what is taken.
import t from 'tap';
import { acceptRead, acceptWrite, admit, isRefused, MAX_NETASCII_FILE, netasciiPlan, type AdmitConfig } from '../../services/tftp/accept.js';
import type { NegotiationPolicy } from '../../services/tftp/negotiate.js';
import { ErrorCode, type Request } from '../../services/tftp/packet.js';

const policy: NegotiationPolicy = {
  options: { blksize: true, tsize: true, timeout: true, windowsize: true },
  maxBlockSize: 1468, maxWindowSize: 64, maxWindowBytes: 4 << 20, timeout: 5, maxUploadSize: 1000,
};
const cfg: AdmitConfig = { maxTransfers: 10, maxPerClient: 2, write: { enabled: true } };
const rrq = (mode = 'octet', options: [string, string][] = []): Request => ({ op: 'RRQ', filename: 'pxelinux.0', mode, options: new Map(options) });
const wrq = (mode = 'octet', options: [string, string][] = []): Request => ({ op: 'WRQ', filename: 'uploads/x', mode, options: new Map(options) });
const idle = { active: 0, fromClient: 0 };

t.test('admit: the limits first, then the mode, then whether writes are on', async (t) => {
  t.equal(admit(rrq(), idle, cfg), null, 'an octet read on an idle server');
  t.equal(admit(wrq('netascii'), idle, cfg), null, 'a netascii write with writes on');
  t.match(admit(rrq(), { active: 10, fromClient: 0 }, cfg), { code: ErrorCode.NotDefined, message: 'server busy, try again later', reason: /maxTransfers=10/ });
  t.match(admit(rrq(), { active: 3, fromClient: 2 }, cfg), { code: ErrorCode.NotDefined, message: 'too many transfers from your address', reason: /maxPerClient=2/ });
  t.match(admit(rrq('mail'), idle, cfg), { code: ErrorCode.IllegalOperation, message: 'mail mode is not supported' });
  t.match(admit(rrq('binary'), idle, cfg), { code: ErrorCode.IllegalOperation, message: 'unknown transfer mode "binary"' });
  t.match(admit(wrq(), idle, { ...cfg, write: { enabled: false } }), { code: ErrorCode.AccessViolation, reason: 'tftp.write.enabled is false' });
  t.equal(admit(rrq(), idle, { ...cfg, write: { enabled: false } }), null, 'reads do not depend on writes');
  t.match(admit(wrq('mail'), { active: 10, fromClient: 2 }, { ...cfg, write: { enabled: false } }), { message: 'server busy, try again later' },
    'several reasons: the limit is said first');
});

t.test('netasciiPlan: only files on disk in netascii mode are read into memory, up to the limit', async (t) => {
  t.equal(netasciiPlan(rrq(), { kind: 'file', size: 10 }), 'as-is');
  t.equal(netasciiPlan(rrq('netascii'), { kind: 'memory', size: MAX_NETASCII_FILE + 1 }), 'as-is', 'generated content is in memory already');
  t.equal(netasciiPlan(rrq('netascii'), { kind: 'file', size: MAX_NETASCII_FILE }), 'read-into-memory');
  const over = netasciiPlan(rrq('netascii'), { kind: 'file', size: MAX_NETASCII_FILE + 1 });
  t.ok(isRefused(over), 'one byte over: refused');
  t.match(over, { code: ErrorCode.NotDefined, message: 'file too large for netascii, use octet' });
});

t.test('acceptRead: the options for the size as sent; a bad option refuses', async (t) => {
  const neg = acceptRead(rrq('octet', [['tsize', '0'], ['blksize', '9000']]), 1234, policy);
  t.notOk(isRefused(neg));
  t.match(neg, { blockSize: 1468, tsize: 1234 }, 'blksize capped by the policy, tsize answers the size');
  t.match(acceptRead(rrq('octet', [['blksize', '7']]), 1, policy), { refused: true, code: ErrorCode.OptionRefused });
});

t.test('acceptWrite: create-only refuses an existing file; overwrite takes it; upload size over the limit', async (t) => {
  t.match(acceptWrite(wrq(), { name: 'uploads/x', exists: true }, { policy: 'create-only' }, policy),
    { refused: true, code: ErrorCode.FileExists, reason: 'uploads/x exists (tftp.write.policy create-only)' });
  t.notOk(isRefused(acceptWrite(wrq(), { name: 'uploads/x', exists: true }, { policy: 'overwrite' }, policy)));
  t.notOk(isRefused(acceptWrite(wrq(), { name: 'uploads/x', exists: false }, { policy: 'create-only' }, policy)));
  t.match(acceptWrite(wrq('octet', [['tsize', '1001']]), { name: 'uploads/x', exists: false }, { policy: 'overwrite' }, policy),
    { refused: true, code: ErrorCode.DiskFull });
});
