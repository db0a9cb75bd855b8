// /api/events over a real socket, watching a real TFTP download: curl fetches the
// machine's generated iPXE script (its name tells bootlab the MAC behind 127.0.0.1), then
// a 6 MiB kernel, from the fixture's TFTP service on loopback. The stream must show the
// transfer growing to 100 %, coalesce a burst of progress into one update (checked by
// content: no time or spacing is asserted, the machine may be loaded), and must let go of
// its listeners when the dashboard leaves.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminFixture, AUTH, type AdminFixture } from '../../helpers/admin.js';
import { waitFor } from '../../helpers/util.js';

const MAC = '52:54:00:00:00:07';
const SCRIPT = 'bootlab/52-54-00-00-00-07.ipxe';
const KERNEL = 'debian/linux';
const SIZE = 6 << 20;
const INTERVAL = 200;
const HOSTS = `images:
  debian:
    kernel: ${KERNEL}
    cmdline: quiet
hosts:
  ${MAC}: { hostname: pc07, image: debian }
`;

interface Message { at: number; event: string; data: any } // eslint-disable-line @typescript-eslint/no-explicit-any
interface Row { mac: string; stage: string; file: string | null; percent: number | null; hostname: string | null }

/** The machine's row in a `clients` message, if the message has it. */
const rowIn = (m: Message): Row | undefined => (m.event === 'clients' ? (m.data.clients as Row[]).find((c) => c.mac === MAC) : undefined);

interface Stream {
  res: IncomingMessage;
  messages: Message[];
  comments: string[];
  /** Resolves with the first message (from the start) that `pred` accepts. */
  until(pred: (m: Message) => boolean, ms?: number): Promise<Message>;
  close(): void;
}

/** GET /api/events with node:http, parsing the event stream as it arrives. */
function openEvents(f: AdminFixture, headers: Record<string, string> = AUTH): Promise<Stream> {
  const { port } = f.app.server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/events', headers }, (res) => {
      const messages: Message[] = [];
      const comments: string[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (block.startsWith(':')) { comments.push(block); continue; }
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
          messages.push({ at: Date.now(), event, data: JSON.parse(data) });
        }
      });
      const until = async (pred: (m: Message) => boolean, ms = 10_000) => {
        const found = await waitFor(() => messages.find(pred), ms, 10);
        if (!found) throw new Error(`no such event within ${ms} ms; got ${messages.map((m) => m.event).join(', ')}`);
        return found;
      };
      resolve({ res, messages, comments, until, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

function curl(port: number, file: string, out: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // 100-byte blocks: 62 915 of them (no block-number rollover), about 2 s of lock-step
    // transfer on loopback (512-byte blocks take 0.4 s: too quick to watch it grow).
    const child = spawn('curl', ['-s', '--tftp-blksize', '100', `tftp://127.0.0.1:${port}/${file}`, '-o', out], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

t.test('a real TFTP download watched through /api/events until 100 %, throttled', async (t) => {
  const kernel = randomBytes(SIZE);
  const f = await adminFixture(t, { hosts: HOSTS, tftp: ['progressIntervalMs: 50'], files: { [KERNEL]: kernel }, admin: [`sseIntervalMs: ${INTERVAL}`] });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const tftpPort = f.runtime.supervisor.row('tftp').bound[0].port;

  const s = await openEvents(f);
  t.equal(s.res.statusCode, 200);
  t.equal(s.res.headers['content-type'], 'text/event-stream');
  t.equal(s.res.headers['cache-control'], 'no-cache');
  t.equal(s.res.headers['x-accel-buffering'], 'no');
  const snapshot = await s.until(() => true);
  t.equal(snapshot.event, 'snapshot', 'the snapshot comes first');
  t.same(snapshot.data.clients, []);
  t.same(snapshot.data.transfers, []);
  // The dashboard's stage labels come from the server's one list (progress/stages.ts).
  t.same(snapshot.data.stages.map((s: { stage: string; step: number | null }) => [s.stage, s.step]), [
    ['dhcp', 1], ['offered', 2], ['bound', 3], ['seen', null], ['bootloader', 4], ['script', 5], ['kernel', 6],
    ['initrd', 7], ['booted', 8], ['failed', null],
  ]);
  t.equal(snapshot.data.stages[0].label, 'asking (DHCP)');
  t.same(snapshot.data.services.map((x: { name: string; state: string }) => `${x.name}:${x.state}`), ['tftp:running', 'http:disabled', 'dhcp:disabled', 'mtftp:disabled']);

  t.equal(await curl(tftpPort, SCRIPT, join(f.dir, 'script.ipxe')), 0, 'curl fetched the script');
  t.match(readFileSync(join(f.dir, 'script.ipxe'), 'utf8'), `kernel /${KERNEL} quiet`);
  const seen = await s.until((m) => rowIn(m)?.stage === 'script' && rowIn(m)?.percent === 100);
  t.match(rowIn(seen), { ip: '127.0.0.1', hostname: 'pc07', image: 'debian', file: SCRIPT, percent: 100 });

  const started = Date.now();
  t.equal(await curl(tftpPort, KERNEL, join(f.dir, 'linux')), 0, 'curl fetched the kernel');
  const seconds = (Date.now() - started) / 1000;
  t.ok(readFileSync(join(f.dir, 'linux')).equals(kernel), `the kernel arrived whole (${seconds.toFixed(2)} s)`);

  // The client row reaches 100 % of the kernel, and the transfer leaves the active list.
  const done = await s.until((m) => rowIn(m)?.file === KERNEL && rowIn(m)?.percent === 100);
  t.match(rowIn(done), { stage: 'kernel', bytes: SIZE, total: SIZE, percent: 100 });
  const emptied = await s.until((m) => m.event === 'transfers' && m.at >= done.at && m.data.transfers.length === 0);
  t.ok(emptied, 'the finished transfer left the list');

  // While it ran, the stream showed the transfer with its bytes growing.
  const kernelRows = s.messages
    .filter((m) => m.event === 'transfers')
    .flatMap((m) =>
      m.data.transfers
        .filter((x: { file: string }) => x.file === KERNEL)
        .map((x: { bytes: number; percent: number; mac: string; size: number }) => ({ ...x, at: m.at })),
    );
  t.ok(kernelRows.length >= 2, `the transfer was seen ${kernelRows.length} times while it ran`);
  t.match(kernelRows[0], { protocol: 'tftp', direction: 'read', ip: '127.0.0.1', mac: MAC, size: SIZE });
  const bytes = kernelRows.map((x) => x.bytes);
  t.ok(bytes.every((b, i) => i === 0 || b >= bytes[i - 1]), `bytes never go back: ${bytes.join(' ')}`);
  t.ok(new Set(bytes).size >= 2 && bytes.at(-1)! > bytes[0], 'and they grow');
  const percents = s.messages.map(rowIn).filter((r) => r?.file === KERNEL).map((r) => r!.percent!);
  t.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]), `the row's percent never goes back: ${percents.join(' ')}`);
  t.equal(percents.at(-1), 100);

  // Coalesced: 50 progress reports emitted in one go (no timer can fire between them) reach
  // the stream as their last state only; the ones in between are never sent.
  // (No client address: a transfer of nobody's row, so the machine rows below stay as they are.)
  const burst = { id: 900, direction: 'read', file: 'burst.bin' } as const;
  f.runtime.events.emit({ kind: 'tftp.start', ...burst, port: 2900, size: 100_000, blockSize: 512, windowSize: 1 });
  for (let i = 1; i <= 50; i++) f.runtime.events.emit({ kind: 'tftp.progress', ...burst, bytes: i * 2000, size: 100_000, rate: 1e6 });
  const burstRows = (m: Message) => (m.event === 'transfers' ? (m.data.transfers as { file: string; bytes: number }[]).filter((x) => x.file === 'burst.bin') : []);
  await s.until((m) => burstRows(m).length > 0);
  t.same([...new Set(s.messages.flatMap(burstRows).map((x) => x.bytes))], [100_000], 'the burst reached the stream as its last state only');

  // Activity in words, the host map's and the services' changes.
  t.ok(s.messages.some((m) => m.event === 'activity' && m.data.items.some((i: { text: string }) => i.text === `pc07: loading the kernel (${KERNEL})`)), 'activity says what the machine does');
  await f.runtime.hosts.setHost(MAC, { hostname: 'pc07b' });
  await s.until((m) => m.event === 'hosts');
  t.same((await s.until((m) => m.event === 'hosts')).data, {});
  await s.until((m) => rowIn(m)?.hostname === 'pc07b');
  await f.send('POST', '/api/services/tftp/stop');
  const svc = await s.until((m) => m.event === 'services' && m.data.services.some((x: { name: string; state: string }) => x.name === 'tftp' && x.state === 'stopped'));
  t.ok(svc, 'the services event tells the TFTP service stopped');
  const removed = await f.send('DELETE', '/api/clients?which=all');
  t.same(removed.json(), { removed: 1 });
  const gone = await s.until((m) => m.event === 'clients' && m.data.removed.includes(MAC));
  t.same(gone.data, { clients: [], removed: [MAC] });

  // The dashboard leaves: every listener it needed goes with it.
  const tracker = f.runtime.tracker;
  t.equal(tracker.listenerCount('client'), 1);
  s.close();
  for (let i = 0; i < 100 && tracker.listenerCount('client') > 0; i++) await sleep(10);
  t.same(['client', 'removed', 'transfers', 'activity'].map((k) => tracker.listenerCount(k)), [0, 0, 0, 0]);
  t.equal(f.runtime.supervisor.listenerCount('change'), 0);
  t.equal(f.runtime.hosts.listenerCount('change'), 1, 'only the tracker\'s own');
});

t.test('the stream needs the token when reads are protected; closing the app ends open streams', async (t) => {
  const f = await adminFixture(t, { admin: ['protectReads: always'] });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = f.app.server.address() as { port: number };
  const refused = await fetch(`http://127.0.0.1:${port}/api/events`);
  t.equal(refused.status, 401);
  t.same(await refused.json(), { error: 'unauthorized', message: 'a valid bearer token is required (Authorization: Bearer <token>)' });

  const a = await openEvents(f);
  const b = await openEvents(f);
  t.equal((await a.until(() => true)).event, 'snapshot');
  t.equal((await b.until(() => true)).event, 'snapshot');
  const ended = Promise.all([a, b].map((s) => new Promise<void>((resolve) => s.res.on('close', () => resolve()))));
  await f.app.close();
  await ended;
  t.pass('app.close() ended both streams instead of waiting for them');
});
