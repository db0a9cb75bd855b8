// Random packet loss on a real (virtual) link: a server and a client namespace on a bridge
// in a third, all made by a NetLab (helpers/netlab.ts, docs test-lab.md), nftables dropping 10% and then 1%
// of the UDP packets each way, bootlab in the server namespace (test/helpers/run-server.ts)
// and real clients in the client namespace. Files must arrive byte-exact and the server
// must send at most 1.5x the file in DATA payload (tftp.done dataBytes, cross-checked with
// an nftables counter of the DATA packets leaving the server namespace).
//
// Loss is applied on the input hook of each namespace (server->client dropped in the
// client namespace, client->server in the server namespace): a drop on the OUTPUT hook
// makes the sender's sendto() fail with EPERM, which clients treat as a fatal error, not
// as loss (curl exits 55).
//
// Needs root for `ip netns` and nft: without, it skips outside CI and fails under CI (needs.ts).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootEvent, EventOf } from '../../../services/core/events.js';
import { describe, killLeftovers, randomFile, run, sha256File } from '../../helpers/clients.js';
import { NetLab, sh } from '../../helpers/netlab.js';
import { HELPERS } from '../../helpers/paths.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';
import { sleep, waitFor } from '../../helpers/util.js';

const MiB = 1024 * 1024;
const CLIENT_TIMEOUT_MS = 600_000;
const SRV_IP = '198.18.0.1';
const CLI_IP = '198.18.0.2';
const RUN_SERVER = join(HELPERS, 'run-server.js');
/** IPv4 (20) + UDP (8) + TFTP DATA header (4): what an nft byte count adds to each payload. */
const DATA_OVERHEAD = 32;

function nft(ns: string, script: string): void {
  sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], script);
}

/**
 * Random drop of `perMille` of the UDP packets coming in on eth0. `finalAck`: the block
 * number of the transfer's last ACK, which passes untouched (and so does ACK 0, below). A client sends that ACK
 * once and never repeats it, so losing it leaves the server retransmitting the last
 * block until it gives up, though the client has the file: a different case from loss,
 * and the relay tests spare it the same way.
 */
function lossRules(ns: string, perMille: number, countData: boolean, finalAck: number | null = null): void {
  // @th,64,32: the first 4 bytes of the UDP payload, opcode 4 (ACK) and the block.
  const spare = finalAck === null ? '' : `iifname "eth0" meta l4proto udp @th,64,32 ${0x40000 + (finalAck & 0xffff)} counter accept\n    `
    // ACK 0 (of the OACK) passes too: when it is lost the server repeats its OACK (RFC 2347),
    // and atftp 0.8.0 aborts on that repeat ("unexpected OACK") instead of ACKing it again:
    // a client quirk, not loss recovery. Seen once in CI (1 % loss, 1 in ~100 runs).
    + `iifname "eth0" meta l4proto udp @th,64,32 ${0x40000} counter accept\n    `;
  const count = countData
    ? `chain out {
    type filter hook output priority 0; policy accept;
    oifname "eth0" meta l4proto udp @th,64,16 3 counter
  }`
    : '';
  nft(ns, `flush ruleset
table inet loss {
  chain in {
    type filter hook input priority 0; policy accept;
    ${spare}iifname "eth0" meta l4proto udp numgen random mod 1000 < ${perMille} counter drop
  }
  ${count}
}
`);
}

interface Counter { packets: number; bytes: number }

/** The counters of table inet loss in `ns`: the drop rule's, the spared final ACK's, and (server) the DATA count. */
function counters(ns: string): { dropped: Counter; spared: Counter | null; data: Counter | null } {
  type Expr = { counter?: Counter; drop?: unknown; accept?: unknown };
  const j = JSON.parse(sh('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'loss'])) as { nftables: { rule?: { chain: string; expr: Expr[] } }[] };
  const find = (chain: string, verdict?: 'drop' | 'accept') => {
    const rule = j.nftables.find(
      (x) => x.rule?.chain === chain && (!verdict || x.rule.expr.some((e) => verdict in e)),
    )?.rule;
    const c = rule?.expr.find((e) => e.counter)?.counter;
    return c ? { packets: c.packets, bytes: c.bytes } : null;
  };
  return { dropped: find('in', 'drop') ?? { packets: 0, bytes: 0 }, spared: find('in', 'accept'), data: find('out') };
}

interface NsServer { port: number; seen: BootEvent[]; stop(): Promise<void> }

/** Starts bootlab (run-server.js) in the server namespace; resolves once it printed its port. */
function startServer(lab: NetLab, ns: string, root: string): Promise<NsServer> {
  const config = JSON.stringify({ root, address: SRV_IP, tftp: {} });
  // stdin a pipe: run-server stops when it closes (the lab stops it by PID before that).
  const proc = lab.spawn(ns, process.execPath, [RUN_SERVER, config], { stdio: ['pipe', 'pipe', 'pipe'] });
  const seen: BootEvent[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { listening?: { port: number }; event?: BootEvent; error?: string };
        buf = buf.slice(nl + 1);
        if (msg.event) seen.push(msg.event);
        if (msg.listening) resolve({ port: msg.listening.port, seen, stop: () => proc.stop() });
        if (msg.error) reject(new Error(`run-server: ${msg.error}`));
      }
    });
    void proc.exited.then(() => reject(new Error(`run-server exited before listening: ${proc.stderr()}`)));
  });
}

type Ending = EventOf<'tftp.done'> | EventOf<'tftp.failed'>;

/** The transfer's end event, once the server has sent it (undefined after a minute). */
function ending(seen: BootEvent[], file: string): Promise<Ending | undefined> {
  return waitFor(() => seen.find((x): x is Ending => (x.kind === 'tftp.done' || x.kind === 'tftp.failed') && x.file === file), 60_000);
}

if (needsFile(asRoot('netns-loss ("ip netns", nftables)'), tools('atftp', 'curl', 'ip', 'nft'))) {
  // A runner that times the file out sends a signal: the clients go by PID too (the lab
  // stops its own processes and deletes its namespaces).
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => { killLeftovers(); });
  const lab = new NetLab('nl');
  t.teardown(() => lab.destroy());
  lab.bridge('br0');
  const NS_SRV = lab.attach('srv', { cidr: `${SRV_IP}/24` });
  const NS_CLI = lab.attach('cli', { cidr: `${CLI_IP}/24` });

  const root = mkdtempSync(join(tmpdir(), 'bootlab-netns-'));
  const out = mkdtempSync(join(tmpdir(), 'bootlab-netns-out-'));
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });
  const files = {
    'f256k.bin': { size: MiB / 4, sha: randomFile(root, 'f256k.bin', MiB / 4) },
    'f1m.bin': { size: MiB, sha: randomFile(root, 'f1m.bin', MiB) },
    'f2m.bin': { size: 2 * MiB, sha: randomFile(root, 'f2m.bin', 2 * MiB) },
  };

  type Get = (port: number, remote: string, local: string) => string[];
  const atftpGet = (options: Record<string, number>): Get => (port, remote, local) => [
    'atftp', '--get', '-r', remote, '-l', local,
    ...Object.entries(options).flatMap(([k, v]) => ['--option', `${k} ${v}`]),
    SRV_IP, String(port),
  ];
  const curlGet: Get = (port, remote, local) => ['curl', '-sS', '--max-time', String(CLIENT_TIMEOUT_MS / 1000), '-o', local, `tftp://${SRV_IP}:${port}/${remote}`];

  const cases: { perMille: number; client: string; file: keyof typeof files; blksize: number; get: Get }[] = [
    // atftp re-ACKs only after 5 s of silence, so at 10% (a lost ACK and its repeat about
    // every 100 blocks) the lock-step file is small.
    { perMille: 100, client: 'atftp lock-step', file: 'f256k.bin', blksize: 512, get: atftpGet({}) },
    { perMille: 100, client: 'curl', file: 'f1m.bin', blksize: 512, get: curlGet },
    { perMille: 10, client: 'atftp lock-step', file: 'f1m.bin', blksize: 512, get: atftpGet({}) },
    { perMille: 10, client: 'curl', file: 'f1m.bin', blksize: 512, get: curlGet },
    { perMille: 10, client: 'atftp windowsize 8 blksize 1428', file: 'f2m.bin', blksize: 1428, get: atftpGet({ blksize: 1428, windowsize: 8 }) },
  ];

  let n = 0;
  for (const c of cases) {
    t.test(`${c.perMille / 10}% loss each way: ${c.client} gets ${files[c.file].size / 1024} KiB byte-exact, DATA sent <= 1.5x`, async (tt) => {
      lossRules(NS_CLI, c.perMille, false);
      // Client-to-server packets are dropped in the server namespace: spare the final ACK there.
      lossRules(NS_SRV, c.perMille, true, Math.floor(files[c.file].size / c.blksize) + 1);
      const srv = await startServer(lab, NS_SRV, root);
      tt.teardown(() => srv.stop());
      const { size, sha } = files[c.file];
      const local = join(out, `${++n}-${c.file}`);

      const argv = c.get(srv.port, c.file, local);
      const r = await run('ip', ['netns', 'exec', NS_CLI, ...argv], { timeoutMs: CLIENT_TIMEOUT_MS }, argv[0]);
      tt.ok(r.code === 0 && !r.timedOut, `the client succeeded: ${describe(r)}`);
      tt.equal(await sha256File(local).catch(() => 'no file'), sha, 'the file arrived byte-exact');

      const end = await ending(srv.seen, c.file);
      await sleep(200); // the last counters settle
      const cli = counters(NS_CLI);
      const srvc = counters(NS_SRV);
      // A windowed read sends few ACKs: at 1% none may be lost, so only DATA loss is required.
      const both = !c.client.includes('windowsize');
      tt.ok(cli.dropped.packets > 0 && (!both || srvc.dropped.packets > 0), `nftables dropped packets (to client ${cli.dropped.packets}, to server ${srvc.dropped.packets})`);
      tt.ok((srvc.spared?.packets ?? 0) >= 1, `the final ACK reached the server through the spare rule (${srvc.spared?.packets ?? 0} packets)`);
      tt.equal(end?.kind, 'tftp.done', `the server reports the transfer done: ${JSON.stringify(srv.seen)}`);
      if (end?.kind !== 'tftp.done') return;
      tt.equal(end.bytes, size, 'tftp.done bytes is the file size');
      tt.ok(end.dataBytes <= 1.5 * size, `DATA payload sent ${end.dataBytes} <= 1.5 x ${size} (${(end.dataBytes / size).toFixed(2)}x, ${end.dataPackets} DATA packets, ${end.retransmits} retransmits)`);
      const data = srvc.data!;
      tt.equal(data.packets, end.dataPackets, 'nftables counted as many DATA packets leaving the server as tftp.done reports');
      tt.equal(data.bytes - DATA_OVERHEAD * data.packets, end.dataBytes, 'nftables counted the same DATA payload as tftp.done');
    });
  }
}
