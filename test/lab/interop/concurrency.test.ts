// 200 simultaneous 1 MiB downloads by real client processes (atftp's "high server load"
// test runs 200 atftp at once): a mix of curl, atftp and tftp-hpa, every one byte-exact,
// every one a clean tftp.done, and no client process left behind.
import t from 'tap';
import { join } from 'node:path';
import {
  describe, download, isGone, killLeftovers, liveClients, randomFile, sha256File,
  startTarget, type ClientName, type ClientResult, type Target, type TftpOptions,
} from '../../helpers/clients.js';
import { needsFile, tools } from '../../helpers/needs.js';

needsFile(tools('atftp', 'tftp', 'curl'));

const CLIENTS = 200;
const SIZE = 1024 * 1024;
const root = t.testdir({});
const sha = randomFile(root, 'load-1M.bin', SIZE);

// Ten flavours, twenty processes each: the RFC 1350 default and the sizes PXE firmware asks for.
interface Flavour { client: ClientName; blksize?: number; options?: TftpOptions; label: string }
const FLAVOURS: Flavour[] = [
  { client: 'curl', label: 'curl (tsize, blksize 512)' },
  { client: 'curl', blksize: 1428, label: 'curl --tftp-blksize 1428' },
  { client: 'curl', blksize: 8192, label: 'curl --tftp-blksize 8192' },
  { client: 'curl', label: 'curl (tsize, blksize 512) #2' },
  { client: 'atftp', label: 'atftp, no options' },
  { client: 'atftp', options: { blksize: 1428, tsize: 0 }, label: 'atftp blksize 1428' },
  { client: 'atftp', options: { blksize: 1468, windowsize: 4, tsize: 0 }, label: 'atftp blksize 1468 windowsize 4 (EDK2)' },
  { client: 'atftp', options: { blksize: 512, windowsize: 16 }, label: 'atftp windowsize 16' },
  { client: 'tftp-hpa', label: 'tftp-hpa' },
  { client: 'tftp-hpa', label: 'tftp-hpa #2' },
];

let srv: Target;
t.before(async () => {
  // Every client comes from 127.0.0.1: lift the per-address cap (default 16) above 200.
  srv = await startTarget(t, { root, tftp: { maxPerClient: 1000, maxTransfers: 1000 } });
});
t.teardown(() => {
  killLeftovers();
});

t.test(`${CLIENTS} simultaneous 1 MiB downloads`, async (tt) => {
  tt.setTimeout(900_000);
  const out = tt.testdir();
  const before = srv.seen?.length ?? 0;
  const started = Date.now();
  const runs: Array<Promise<ClientResult>> = [];
  for (let i = 0; i < CLIENTS; i++) {
    const f = FLAVOURS[i % FLAVOURS.length];
    runs.push(download(f.client, {
      port: srv.port, remote: 'load-1M.bin', local: join(out, `out-${i}.bin`), timeoutMs: 600_000,
      ...(f.blksize !== undefined ? { blksize: f.blksize } : {}),
      ...(f.options ? { options: f.options } : {}),
    }));
  }
  const results = await Promise.all(runs);
  const seconds = (Date.now() - started) / 1000;
  tt.comment(`${CLIENTS} downloads in ${seconds.toFixed(1)} s; slowest ${Math.max(...results.map((r) => r.ms))} ms`);

  const failed = results.map((r, i) => ({ r, i })).filter(({ r }) => !r.ok);
  tt.equal(failed.length, 0, 'every client reports success', { failures: failed.slice(0, 5).map(({ r, i }) => `#${i} ${describe(r)}`) });
  const wrong: number[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    if ((await sha256File(join(out, `out-${i}.bin`)).catch(() => '')) !== sha) wrong.push(i);
  }
  tt.same(wrong, [], 'every download is byte-exact', { flavours: wrong.slice(0, 10).map((i) => FLAVOURS[i % FLAVOURS.length].label) });

  tt.same(results.filter((r) => r.pid === undefined || !isGone(r.pid)).map((r) => r.pid), [], 'every client PID has exited');
  tt.same(liveClients(), [], 'no client process left behind');

  if (srv.seen) {
    const seen = srv.seen;
    // The last ACKs may still be in flight when the last client exits.
    const deadline = Date.now() + 10_000;
    const count = () => seen.slice(before).filter((e) => e.kind === 'tftp.done').length;
    while (count() < CLIENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const events = seen.slice(before);
    const done = events.filter((e) => e.kind === 'tftp.done');
    tt.equal(done.length, CLIENTS, `${CLIENTS} tftp.done events`);
    tt.ok(done.every((e) => e.bytes === SIZE), 'each tftp.done carries the full size');
    tt.same(events.filter((e) => e.kind === 'tftp.failed' || e.kind === 'tftp.refused'), [], 'no tftp.failed, no tftp.refused');
    // Loopback loses nothing, but a client starved of CPU past the server's RTO gets DATA again.
    const retransmits = done.reduce((n, e) => n + e.retransmits, 0);
    const extra = done.reduce((n, e) => n + e.dataBytes - e.bytes, 0) / (CLIENTS * SIZE);
    tt.comment(`server retransmits under load: ${retransmits} (${(extra * 100).toFixed(1)} % extra DATA bytes)`);
  }
});
