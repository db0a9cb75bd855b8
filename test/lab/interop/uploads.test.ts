// Write requests from real clients (atftp --put, tftp-hpa put, curl -T) into a writable
// folder, then the same client reads the file back: both copies byte-exact.
import t from 'tap';
import { join } from 'node:path';
import {
  blockCount, describe, download, killLeftovers, liveClients, nextDone, randomFile, sha256File,
  startTarget, upload, waitForEvent, type ClientName, type TapTest, type Target, type TftpOptions,
} from '../../helpers/clients.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp', 'tftp', 'curl'));

const KiB = 1024;
const MiB = 1024 * KiB;
const root = t.testdir({ uploads: {} });

interface Case { client: ClientName; size: number; options?: TftpOptions; label?: string; trace?: boolean }
const SIZES = [0, 511, 512, 51111, MiB, 10 * MiB];
const CASES: Case[] = [];
for (const client of ['atftp', 'tftp-hpa', 'curl'] as const) {
  for (const size of SIZES) CASES.push({ client, size });
}
// atftp with options on the write: RFC 2348 blksize, RFC 7440 windowsize, RFC 2349 tsize
// ("tsize 0": atftp puts the real size in the WRQ), traced to count the server's ACKs.
for (const [size, blksize, windowsize] of [[MiB, 1428, 1], [MiB, 1428, 8], [51111, 8, 4], [MiB, 65464, 2]]) {
  CASES.push({ client: 'atftp', size, options: { blksize, windowsize, tsize: 0 }, label: `blksize ${blksize} windowsize ${windowsize}`, trace: true });
}
// A write past block 65535: 1 MiB in 8-byte blocks is 131073 DATA packets.
CASES.push({ client: 'atftp', size: MiB, options: { blksize: 8, windowsize: 4 }, label: 'blksize 8 windowsize 4, 131073 blocks' });

let srv: Target;
t.teardown(() => {
  killLeftovers();
});
t.before(async () => {
  srv = await startTarget(t, { root, tftp: { write: { enabled: true, dirs: ['uploads'], policy: 'overwrite' } } });
});

const used = new Set<number>();
let n = 0;

async function roundTrip(tt: TapTest, c: Case): Promise<void> {
  const dir = tt.testdir();
  const sha = randomFile(dir, 'in.bin', c.size);
  const remote = `uploads/${c.client}-${n++}-${c.size}.bin`;
  const traced = c.trace === true;
  const put = await upload(c.client, {
    port: srv.port, remote, local: join(dir, 'in.bin'), options: c.options, trace: traced, timeoutMs: 180_000, maxOutput: 64 * MiB,
  });
  tt.ok(put.ok, `${c.client} put succeeds`, { run: describe(put) });
  const blksize = Number(c.options?.blksize ?? 512);
  const window = Number(c.options?.windowsize ?? 1);
  const blocks = blockCount(c.size, blksize);
  let retransmits = 0;
  if (srv.seen) {
    const start = await waitForEvent(srv.seen, 'tftp.start', (e) => e.file === remote);
    tt.same([start?.direction, start?.blockSize, start?.windowSize], ['write', blksize, window], 'tftp.start: write, block and window size');
    const done = await nextDone(srv.seen, remote, used);
    tt.equal(done?.direction, 'write', 'tftp.done for the write');
    tt.equal(done?.bytes, c.size, 'tftp.done bytes = file size');
    retransmits = done?.retransmits ?? 0;
    if (retransmits === 0) tt.equal(done?.dataPackets, blocks, `${blocks} DATA packets received`);
  }
  if (traced) {
    // The server ACKs the last block of each window and the final block; the OACK stands in
    // for ACK 0. atftp fills in "tsize 0" with the real size on a put. A server that had to
    // retransmit (a stalled client on a busy machine) sends more.
    const acks = put.stderr.match(/^received ACK <block: \d+>$/gm)?.length ?? 0;
    const expected = Math.ceil(blocks / window);
    if (retransmits === 0) tt.equal(acks, expected, `server sent ceil(${blocks}/${window}) = ${expected} ACKs after the OACK`);
    else tt.ok(acks >= expected, `server sent at least ${expected} ACKs (${retransmits} retransmits)`);
    // (atftp ends the list with ", " and two backspaces before the ">")
    tt.match(put.stderr, new RegExp(`received OACK <tsize: ${c.size}, windowsize: ${window}, blksize: ${blksize}, `), 'OACK echoes tsize, windowsize, blksize');
  }
  tt.equal(await sha256File(join(root, remote)).catch((e: Error) => e.message), sha, 'file on the server is byte-exact');
  const get = await download(c.client, {
    port: srv.port, remote, local: join(dir, 'back.bin'), timeoutMs: 120_000,
    // curl 7.88 rejects an OACK tsize of 0 (see downloads.test.ts).
    ...(c.client === 'curl' && c.size === 0 ? { noOptions: true } : {}),
  });
  tt.ok(get.ok, `${c.client} get succeeds`, { run: describe(get) });
  tt.equal(await sha256File(join(dir, 'back.bin')).catch((e: Error) => e.message), sha, 'read back byte-exact');
}

for (const c of CASES) {
  t.test(`${c.client}: put then get ${c.size} bytes${c.label ? `, ${c.label}` : ''}`, async (tt) => {
    tt.setTimeout(300_000);
    await roundTrip(tt, c);
  });
}

t.test('policy overwrite: a second put of the same name replaces the first', async (tt) => {
  const dir = tt.testdir();
  const remote = 'uploads/same-name.bin';
  for (const [i, client] of (['curl', 'atftp', 'tftp-hpa'] as const).entries()) {
    const sha = randomFile(dir, `v${i}.bin`, 3000 + i * 1000);
    const put = await upload(client, { port: srv.port, remote, local: join(dir, `v${i}.bin`) });
    tt.ok(put.ok, `${client} put #${i + 1} succeeds`, { run: describe(put) });
    tt.equal(await sha256File(join(root, remote)), sha, `the server holds version ${i + 1}`);
  }
});

t.test('no client process outlives its test', async (tt) => {
  tt.same(liveClients(), [], 'every spawned client has exited');
});
