// Downloads and an upload with real clients through an impairing relay on loopback
// (test/helpers/relay.ts): 5% drop, duplication, reordering, and all three at once. Files
// must arrive byte-exact, and the server must not flood: the DATA payload it sent
// (tftp.done dataBytes, cross-checked with the relay's own count) stays within 1.5x the
// file. Nothing here measures time; client timeouts only stop a hung run.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootEvent, EventOf } from '../../../services/core/events.js';
import { atftp, blockCount, curl, describe, randomFile, sha256File, type ClientResult } from '../../helpers/clients.js';
import { startRelay, type Direction, type RelayOptions } from '../../helpers/relay.js';
import { startTestServer, type TestServer } from '../../helpers/tftp.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp', 'curl'));

const MiB = 1024 * 1024;
/** Hang guard for one client run, not a measurement. */
const CLIENT_TIMEOUT_MS = 600_000;
const SEED = Number(process.env.BOOTLAB_RELAY_SEED ?? 20240601);

const root = mkdtempSync(join(tmpdir(), 'bootlab-relay-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'uploads'));
const files = {
  f1m: { size: 1 * MiB, sha: randomFile(root, 'f1m.bin', 1 * MiB) },
  f2m: { size: 2 * MiB, sha: randomFile(root, 'f2m.bin', 2 * MiB) },
};
const local = mkdtempSync(join(tmpdir(), 'bootlab-relay-out-'));
t.teardown(() => rmSync(local, { recursive: true, force: true }));
const putSource = join(local, 'put-src.bin');
const putSha = randomFile(local, 'put-src.bin', 1 * MiB);

type Impairment = Pick<RelayOptions, 'drop' | 'duplicate' | 'reorder'>;

/**
 * The bound on DATA sent is 1.5x the file for every case but one: windowed atftp with 5%
 * of each impairment at once. atftp discards every block after a gap (a loss or a
 * reordering), so each such event costs the rest of the window again (go-back-N); with
 * 15% of the packets disturbed in each direction only 0.85^8 = 27% of 8-block windows
 * pass clean. Measured 1.84x with bootlab's gap recovery and 1.87x with pure timer
 * recovery (docs/benchmarks.md), so that case is bounded at 2x, and the same mix at 2%
 * each is held to 1.5x.
 */
const impairments: { name: string; impair: Impairment; windowedBound?: number }[] = [
  { name: '5% drop both ways', impair: { drop: 0.05 } },
  { name: '5% duplicate both ways', impair: { duplicate: 0.05 } },
  { name: '5% reorder both ways', impair: { reorder: 0.05 } },
  { name: '2% drop + 2% duplicate + 2% reorder', impair: { drop: 0.02, duplicate: 0.02, reorder: 0.02 } },
  { name: '5% drop + 5% duplicate + 5% reorder', impair: { drop: 0.05, duplicate: 0.05, reorder: 0.05 }, windowedBound: 2 },
];

interface Reader {
  name: string;
  file: keyof typeof files;
  blksize: number;
  get(port: number, remote: string, out: string): Promise<ClientResult>;
}

const readers: Reader[] = [
  {
    // atftp re-ACKs only after 5 s of silence (its timer restarts on every repeat it
    // ignores): each lost extra ACK costs 5 s, so the lock-step file is the smaller one.
    name: 'atftp lock-step',
    file: 'f1m',
    blksize: 512,
    get: (port, remote, out) => atftp('get', { port, remote, local: out, timeoutMs: CLIENT_TIMEOUT_MS }),
  },
  {
    // PXE-like: blksize 1428 (iPXE asks for <= 1432), a window of 8.
    name: 'atftp windowsize 8 blksize 1428',
    file: 'f2m',
    blksize: 1428,
    get: (port, remote, out) => atftp('get', { port, remote, local: out, options: { blksize: 1428, windowsize: 8 }, timeoutMs: CLIENT_TIMEOUT_MS }),
  },
  {
    // curl always asks for tsize, blksize 512 and timeout.
    name: 'curl',
    file: 'f1m',
    blksize: 512,
    get: (port, remote, out) => curl('get', { port, remote, local: out, timeoutMs: CLIENT_TIMEOUT_MS }),
  },
];

function isBlock(msg: Buffer, opcode: number, block: number): boolean {
  return msg.length >= 4 && msg[0] === 0 && msg[1] === opcode && msg.readUInt16BE(2) === (block & 0xffff);
}

/**
 * The final ACK of a read (client to server) and of a write (server to client) is sent once
 * and never repeated: losing it is a different case (tested on its own below), so the random
 * impairment spares it.
 */
function spareFinalAck(dir: Direction, lastBlock: number) {
  return (msg: Buffer, d: Direction) => (d === dir && isBlock(msg, 4, lastBlock) ? ('pass' as const) : undefined);
}

type Ending = EventOf<'tftp.done'> | EventOf<'tftp.failed'>;

/** Waits for the transfer of `file` to end on the server (done or failed). */
async function ending(seen: BootEvent[], file: string, direction: 'read' | 'write', timeoutMs = 60_000): Promise<Ending | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const e = seen.find((x): x is Ending => (x.kind === 'tftp.done' || x.kind === 'tftp.failed') && x.file === file && x.direction === direction);
    if (e || Date.now() > end) return e;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 200));

function summary(srv: TestServer): string {
  return JSON.stringify(srv.seen.filter((e) => e.kind !== 'tftp.progress'));
}

for (const { name, impair, windowedBound } of impairments) {
  for (const reader of readers) {
    const bound = windowedBound !== undefined && reader.name.includes('windowsize') ? windowedBound : 1.5;
    t.test(`${name}: ${reader.name} gets ${files[reader.file].size / MiB} MiB byte-exact, DATA sent <= ${bound}x`, async (tt) => {
      const { size, sha } = files[reader.file];
      const remote = `${reader.file}.bin`;
      const srv = await startTestServer(tt, { root });
      const relay = await startRelay({
        target: { address: srv.address, port: srv.port },
        ...impair,
        seed: SEED,
        decide: spareFinalAck('toServer', blockCount(size, reader.blksize)),
      });
      tt.teardown(() => relay.close());
      const out = join(local, `${reader.file}-${reader.name.replace(/\W+/g, '-')}-${impairments.findIndex((i) => i.name === name)}.bin`);

      const r = await reader.get(relay.port, remote, out);
      tt.ok(r.ok, `the client succeeded: ${describe(r)}`);
      tt.equal(await sha256File(out).catch(() => 'no file'), sha, 'the file arrived byte-exact');

      const end = await ending(srv.seen, remote, 'read');
      await settle();
      tt.equal(end?.kind, 'tftp.done', `the server reports the transfer done: ${summary(srv)}`);
      if (end?.kind !== 'tftp.done') return;
      tt.equal(end.bytes, size, 'tftp.done bytes is the file size');
      tt.ok(end.dataBytes <= bound * size, `DATA payload sent ${end.dataBytes} <= ${bound} x ${size} (${(end.dataBytes / size).toFixed(2)}x, ${end.dataPackets} DATA packets, ${end.acksReceived} ACKs, ${end.retransmits} retransmits)`);
      // The relay saw every datagram the server sent: its count must agree with the event.
      tt.equal(relay.stats.toClient.dataBytes, end.dataBytes, 'the relay counted the same DATA payload as tftp.done');
      tt.equal(relay.stats.toClient.received.DATA, end.dataPackets, 'the relay counted the same DATA packets as tftp.done');
      tt.equal(relay.stats.serverPorts, 1, 'one transfer, one server TID');
      // The impairment really happened (so a pass means something).
      const s = relay.stats;
      if (impair.drop) tt.ok(s.toClient.dropped > 0 && s.toServer.dropped > 0, `packets were dropped both ways (${s.toClient.dropped} / ${s.toServer.dropped})`);
      if (impair.duplicate) tt.ok(s.toClient.duplicated > 0 && s.toServer.duplicated > 0, `packets were duplicated both ways (${s.toClient.duplicated} / ${s.toServer.duplicated})`);
      if (impair.reorder) tt.ok(s.toClient.reordered > 0 && s.toServer.reordered > 0, `packets were reordered both ways (${s.toClient.reordered} / ${s.toServer.reordered})`);
    });
  }
}

t.test('5% drop both ways: atftp --put of 1 MiB arrives byte-exact', async (tt) => {
  const srv = await startTestServer(tt, { root, tftp: { write: { enabled: true, dirs: ['uploads'] } } });
  const remote = 'uploads/put-loss.bin';
  const relay = await startRelay({
    target: { address: srv.address, port: srv.port },
    drop: 0.05,
    seed: SEED,
    decide: spareFinalAck('toClient', blockCount(MiB, 512)),
  });
  tt.teardown(() => relay.close());

  const r = await atftp('put', { port: relay.port, remote, local: putSource, timeoutMs: CLIENT_TIMEOUT_MS });
  tt.ok(r.ok, `the client succeeded: ${describe(r)}`);
  const end = await ending(srv.seen, remote, 'write');
  tt.equal(end?.kind, 'tftp.done', `the server reports the upload done: ${summary(srv)}`);
  tt.equal(await sha256File(join(root, remote)).catch(() => 'no file'), putSha, 'the uploaded file is byte-exact');
  if (end?.kind === 'tftp.done') tt.equal(end.bytes, MiB, 'tftp.done bytes is the file size');
  tt.ok(relay.stats.toServer.dropped > 0 && relay.stats.toClient.dropped > 0, 'packets were dropped both ways');
  tt.equal(relay.stats.toServer.dataBytes >= MiB, true, 'the relay saw at least the whole file go to the server');
});

t.test('the final ACK of a read is lost every time: the client has the file, the server stops retransmitting', async (tt) => {
  const srv = await startTestServer(tt, { root, tftp: { timeout: 1, maxRetries: 2 } });
  const size = files.f1m.size;
  const last = blockCount(size, 512);
  let lastCopies = 0;
  const relay = await startRelay({
    target: { address: srv.address, port: srv.port },
    seed: SEED,
    decide: (msg, dir) => (dir === 'toServer' && isBlock(msg, 4, last) ? 'drop' : undefined),
    trace: (e) => {
      if (e.dir === 'toClient' && e.op === 'DATA' && e.block === (last & 0xffff)) lastCopies++;
    },
  });
  tt.teardown(() => relay.close());
  const out = join(local, 'final-ack.bin');
  // No options: curl would ask for timeout 6, and the server's timeout 1 is what is under test.
  const r = await curl('get', { port: relay.port, remote: 'f1m.bin', local: out, noOptions: true, timeoutMs: CLIENT_TIMEOUT_MS });
  tt.ok(r.ok, `the client succeeded: ${describe(r)}`);
  tt.equal(await sha256File(out).catch(() => 'no file'), files.f1m.sha, 'the file arrived byte-exact');
  const end = await ending(srv.seen, 'f1m.bin', 'read');
  tt.ok(end, `the server ended the transfer: ${summary(srv)}`);
  await settle();
  const atEnd = lastCopies;
  await new Promise((res) => setTimeout(res, 1500));
  tt.ok(relay.stats.toServer.dropped >= 1, 'the final ACK was dropped');
  // How long the server keeps trying is its policy; that it stops, and stays bounded, is not.
  tt.ok(atEnd >= 2 && atEnd <= 16, `the last block went out a bounded number of times (${atEnd}, at most 16)`);
  tt.equal(lastCopies, atEnd, 'nothing more was sent after the transfer ended');
  tt.equal(srv.service.status().stats.active, 0, 'no transfer is left active');
});
