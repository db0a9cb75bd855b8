// RFC 7440 windowsize with atftp 0.8.0 as the client: byte-exact downloads and the exact
// number of ACKs the server receives.
//
// What atftp does (read from its --trace against bootlab, blksize 512, 10500 bytes = 21
// blocks): it ACKs the OACK (ACK 0), then the last block of every full window, then the
// final short block even when it ends a partial window: W=3 -> ACK 0 3 6 9 12 15 18 21,
// W=4 -> ACK 0 4 8 12 16 20 21, W=32 -> ACK 0 21. So for B blocks and no loss the server
// receives ceil(B / W) + 1 ACKs; with W=1 that is B + 1, the RFC 1350 lock-step.
import t from 'tap';
import { join } from 'node:path';
import {
  atftp, blockCount, describe, killLeftovers, liveClients, nextDone, randomFile, sha256File,
  startTarget, waitForEvent, type Target,
} from '../../helpers/clients.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp'));

const MiB = 1024 * 1024;
const root = t.testdir({});
// 1 MiB: 2049 blocks of 512 (the last one empty) and 735 of 1428 (the last one short), so
// most windows end partial. 10500 bytes: the 21-block case traced above.
const FILES = { 'win-1M.bin': MiB, 'win-10500.bin': 10500 } as const;
const sha = Object.fromEntries(Object.entries(FILES).map(([name, size]) => [name, randomFile(root, name, size)]));

const WINDOWS = [1, 2, 4, 8, 16, 32];
const CASES: Array<{ file: keyof typeof FILES; blksize: number; window: number }> = [];
for (const window of WINDOWS) {
  CASES.push({ file: 'win-1M.bin', blksize: 512, window }, { file: 'win-1M.bin', blksize: 1428, window });
}
for (const window of [3, 4, 32]) CASES.push({ file: 'win-10500.bin', blksize: 512, window });

let srv: Target;
t.teardown(() => {
  killLeftovers();
});
t.before(async () => {
  srv = await startTarget(t, { root });
});

const used = new Set<number>();

for (const c of CASES) {
  const size = FILES[c.file];
  const blocks = blockCount(size, c.blksize);
  const expectedAcks = Math.ceil(blocks / c.window) + 1;
  t.test(`windowsize ${c.window}, blksize ${c.blksize}, ${size} bytes: ${blocks} blocks, ${expectedAcks} ACKs`, async (tt) => {
    tt.setTimeout(180_000);
    // The ACK count is exact only for a run without retransmissions; on a loaded 2-core
    // machine a stalled client can make the server resend. Up to 3 runs to get a clean one.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const local = join(tt.testdir(), `out-${attempt}.bin`);
      const r = await atftp('get', {
        port: srv.port, remote: c.file, local, trace: true, timeoutMs: 120_000, maxOutput: 64 * 1024 * 1024,
        options: { blksize: c.blksize, windowsize: c.window, tsize: 0 },
      });
      tt.ok(r.ok, `atftp succeeds (attempt ${attempt})`, { run: describe(r) });
      tt.equal(await sha256File(local), sha[c.file], 'byte-exact');
      const oack = /received OACK <([^>]*)>/.exec(r.stderr)?.[1] ?? '';
      tt.match(oack, new RegExp(`windowsize: ${c.window},`), `OACK grants windowsize ${c.window}`, { oack });
      tt.match(oack, new RegExp(`blksize: ${c.blksize},`), `OACK grants blksize ${c.blksize}`, { oack });
      const clientAcks = r.stderr.match(/^sent ACK <block: \d+>$/gm)?.length ?? 0;
      if (!srv.seen) {
        tt.equal(clientAcks, expectedAcks, 'atftp sent ceil(B/W) + 1 ACKs');
        return;
      }
      const start = await waitForEvent(srv.seen, 'tftp.start', (e) => e.file === c.file && !used.has(e.id));
      const done = await nextDone(srv.seen, c.file, used);
      if (start) used.add(start.id);
      tt.equal(start?.windowSize, c.window, 'tftp.start windowSize');
      tt.equal(start?.blockSize, c.blksize, 'tftp.start blockSize');
      if (!done) {
        tt.fail('no tftp.done');
        return;
      }
      // Loopback loses nothing: every ACK atftp sent reached the server, retransmits or not.
      tt.equal(done.acksReceived, clientAcks, 'server received every ACK atftp traced');
      if (done.retransmits === 0) {
        tt.equal(done.acksReceived, expectedAcks, `ceil(${blocks}/${c.window}) + 1 = ${expectedAcks} ACKs received`);
        tt.equal(done.dataPackets, blocks, 'one DATA per block');
        tt.equal(done.dataBytes, size, 'DATA payload = file size');
        return;
      }
      tt.comment(`attempt ${attempt}: ${done.retransmits} retransmits, ${done.acksReceived} ACKs; running again for a clean count`);
    }
    tt.fail('three runs in a row had retransmissions on loopback');
  });
}

t.test('no client process outlives its test', async (tt) => {
  tt.same(liveClients(), [], 'every spawned client has exited');
});
