// Refusals and option negotiation as real clients see them: a missing file (error 1),
// out-of-range options (error 8, the limits of atftp's test suite), tsize in the OACK,
// mode "mail" (error 4) and writes on a read-only server (error 2). atftp prints the
// server's message but never the code, so the code is read from bootlab's tftp.refused
// event and, for what no packaged client can send, from a raw request on the wire.
import t from 'tap';
import { join } from 'node:path';
import {
  atftp, CURL_EXIT_FOR_TFTP_ERROR, curl, describe, killLeftovers, liveClients, randomFile, rawRequest,
  sha256File, startTarget, tftpHpa, tftpHpaErrorCode, waitForEvent, type TapTest, type Target,
} from '../../helpers/clients.js';
import { encode, ErrorCode, type Options } from '../../../services/tftp/packet.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp', 'tftp', 'curl'));

const root = t.testdir({ uploads: {} });
const SIZES = [0, 511, 2048, 51111, 1024 * 1024];
const sha = new Map(SIZES.map((size) => [size, randomFile(root, `f-${size}.bin`, size)]));

let srv: Target;
t.teardown(() => {
  killLeftovers();
});
t.before(async () => {
  // Writes stay at their default: disabled.
  srv = await startTarget(t, { root });
});

async function refusedCode(tt: TapTest, file: string, expected: number): Promise<void> {
  if (!srv.seen) return;
  const e = await waitForEvent(srv.seen, 'tftp.refused', (r) => r.file === file, 3000);
  tt.equal(e?.code, expected, `tftp.refused code ${expected} for ${file}`, { event: e });
}

t.test('a missing file is error 1 (File not found) for every client', async (tt) => {
  const local = join(tt.testdir(), 'out.bin');
  const a = await atftp('get', { port: srv.port, remote: 'missing-atftp.bin', local });
  tt.equal(a.code, 255, 'atftp exits 255', { run: describe(a) });
  tt.match(a.stderr, /tftp: error received from server <[^>]+>/, 'atftp prints the server error');
  await refusedCode(tt, 'missing-atftp.bin', ErrorCode.FileNotFound);

  const h = await tftpHpa('get', { port: srv.port, remote: 'missing-hpa.bin', local });
  tt.notOk(h.ok, 'tftp-hpa reports the failure', { run: describe(h) });
  tt.equal(tftpHpaErrorCode(h), ErrorCode.FileNotFound, 'tftp-hpa prints "Error code 1"');
  await refusedCode(tt, 'missing-hpa.bin', ErrorCode.FileNotFound);

  const c = await curl('get', { port: srv.port, remote: 'missing-curl.bin', local });
  tt.equal(c.code, CURL_EXIT_FOR_TFTP_ERROR[ErrorCode.FileNotFound], 'curl exits 68 (CURLE_TFTP_NOTFOUND)', { run: describe(c) });
  await refusedCode(tt, 'missing-curl.bin', ErrorCode.FileNotFound);
});

// atftp's suite: blksize < 8 or > 65464 and timeout 0 or > 255 fail to negotiate.
const REFUSED_OPTIONS: Array<[string, string]> = [['blksize', '7'], ['blksize', '65465'], ['timeout', '0'], ['timeout', '256']];

for (const [name, value] of REFUSED_OPTIONS) {
  t.test(`option ${name} ${value} is refused with error 8`, async (tt) => {
    const file = 'f-2048.bin';
    const before = srv.seen?.length ?? 0;
    const r = await atftp('get', { port: srv.port, remote: file, local: join(tt.testdir(), 'out.bin'), options: { [name]: value }, trace: true });
    tt.equal(r.code, 255, 'atftp exits 255', { run: describe(r) });
    tt.match(r.stderr, new RegExp(`sent RRQ <file: ${file}, mode: octet <${name}: ${value}>>`), 'atftp sent the option as given');
    tt.match(r.stderr, /tftp: error received from server <[^>]+>/, 'atftp got an ERROR, not DATA or an OACK');
    tt.notMatch(r.stderr, /received OACK|DATA/, 'no OACK, no DATA');
    if (srv.seen) {
      const e = await waitForEvent(srv.seen, 'tftp.refused', (x) => x.file === file && (srv.seen ?? []).indexOf(x) >= before, 3000);
      tt.equal(e?.code, ErrorCode.OptionRefused, 'tftp.refused code 8', { event: e });
    }
    // The same request on the wire: the ERROR code itself.
    const raw = await rawRequest(srv.port, encode({ op: 'RRQ', filename: file, mode: 'octet', options: new Map([[name, value]]) }));
    tt.match(raw.packet, { op: 'ERROR', code: ErrorCode.OptionRefused }, 'ERROR 8 on the wire');
  });
}

t.test('the limits themselves are granted', async (tt) => {
  for (const options of [
    new Map([['blksize', '8']]), new Map([['blksize', '65464']]), new Map([['timeout', '1']]), new Map([['timeout', '255']]),
  ] as Options[]) {
    const raw = await rawRequest(srv.port, encode({ op: 'RRQ', filename: 'f-2048.bin', mode: 'octet', options }), {
      then: () => encode({ op: 'ERROR', code: 0, message: 'enough' }),
    });
    tt.same(raw.packet, { op: 'OACK', options }, `OACK ${[...options].join(' ')}`);
  }
});

t.test("tsize: atftp's trace shows the OACK's tsize equal to the file size", async (tt) => {
  for (const size of SIZES) {
    const local = join(tt.testdir(), `out-${size}.bin`);
    const r = await atftp('get', { port: srv.port, remote: `f-${size}.bin`, local, options: { tsize: 0 }, trace: true });
    tt.ok(r.ok, `atftp gets ${size} bytes`, { run: describe(r) });
    tt.equal(/received OACK <tsize: (\d+),/.exec(r.stderr)?.[1], String(size), `OACK tsize ${size}`);
    tt.equal(await sha256File(local), sha.get(size), 'byte-exact');
  }
});

t.test('tsize probe on the wire: only the options asked for, then an abort (EDK2 GetInfo)', async (tt) => {
  for (const size of SIZES) {
    const file = `f-${size}.bin`;
    const before = srv.seen?.length ?? 0;
    const raw = await rawRequest(srv.port, encode({ op: 'RRQ', filename: file, mode: 'octet', options: new Map([['tsize', '0']]) }), {
      then: () => encode({ op: 'ERROR', code: 8, message: 'tsize probe done' }),
    });
    tt.same(raw.packet, { op: 'OACK', options: new Map([['tsize', String(size)]]) }, `OACK carries only tsize=${size}`);
    tt.not(raw.from.port, srv.port, 'the OACK comes from a new transfer port');
    if (srv.seen) {
      const seen = srv.seen;
      const failed = await waitForEvent(seen, 'tftp.failed', (e) => e.file === file && seen.indexOf(e) >= before, 3000);
      tt.equal(failed?.clientAbort, true, 'the client abort is recorded as such, not as a server failure', { event: failed });
    }
  }
});

t.test('mode "mail" and unknown modes are error 4', async (tt) => {
  for (const mode of ['mail', 'MAIL', 'binary']) {
    const file = 'f-511.bin';
    const before = srv.seen?.length ?? 0;
    const raw = await rawRequest(srv.port, encode({ op: 'RRQ', filename: file, mode, options: new Map() }));
    tt.match(raw.packet, { op: 'ERROR', code: ErrorCode.IllegalOperation }, `mode ${mode}: ERROR 4`);
    if (srv.seen) {
      const seen = srv.seen;
      const e = await waitForEvent(seen, 'tftp.refused', (x) => x.file === file && seen.indexOf(x) >= before, 3000);
      tt.equal(e?.code, ErrorCode.IllegalOperation, `tftp.refused code 4 for mode ${mode}`);
    }
  }
});

t.test('writes are refused with error 2 when disabled (the default)', async (tt) => {
  const local = join(root, 'f-511.bin');
  const a = await atftp('put', { port: srv.port, remote: 'uploads/nope-atftp.bin', local });
  tt.equal(a.code, 255, 'atftp --put exits 255', { run: describe(a) });
  await refusedCode(tt, 'uploads/nope-atftp.bin', ErrorCode.AccessViolation);
  const c = await curl('put', { port: srv.port, remote: 'uploads/nope-curl.bin', local });
  tt.equal(c.code, CURL_EXIT_FOR_TFTP_ERROR[ErrorCode.AccessViolation], 'curl -T exits 69 (CURLE_TFTP_PERM)', { run: describe(c) });
  const h = await tftpHpa('put', { port: srv.port, remote: 'uploads/nope-hpa.bin', local });
  tt.equal(tftpHpaErrorCode(h), ErrorCode.AccessViolation, 'tftp-hpa prints "Error code 2"', { run: describe(h) });
});

t.test('no client process outlives its test', async (tt) => {
  tt.same(liveClients(), [], 'every spawned client has exited');
});
