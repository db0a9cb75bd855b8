// Supervision of the real services in a real `bootlab serve`, in a namespace lab:
// - an exception thrown in DHCP's code is contained: DHCP restarts (the API shows it),
//   while a TFTP download running at that moment finishes byte-exact;
// - a broken TFTP socket restarts TFTP only; DHCP keeps its instance and answers udhcpc;
// - a bad config is refused by SIGHUP and by POST /api/config/reload (422, with the
//   file:line), the old one keeps running; a good one restarts only what changed;
// - SIGTERM ends a running download with an ERROR to the client, and the lease journal
//   holds the lease given before.
// Faults are injected through POST /api/services/:name/fault, a route that exists only
// with BOOTLAB_FAULT_INJECTION=1 (services/admin/routes/services.ts).
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomFile, sha256File } from '../../helpers/clients.js';
import { newLab, startBootlab, sleep, Udhcpc, type Bootlab } from '../../helpers/dhcp-clients.js';
import type { NetLab } from '../../helpers/netlab.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'curl', 'atftp', 'tc'));

const SRV = '192.0.2.1';
const CLIENT = '192.0.2.20';
const TOKEN = 'supervision-test-token-0123';
const API = `http://${SRV}:8080`;

interface Reply {
  status: number;
  body: Record<string, unknown> & {
    services?: {
      name: string;
      state: string;
      restarts: number;
      lastError: string | null;
      stats: Record<string, number>;
    }[];
  };
}

/** curl in the client's namespace, to the admin API inside the lab. */
async function api(lab: NetLab, method: string, path: string, body?: unknown): Promise<Reply> {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `authorization: Bearer ${TOKEN}`, `${API}${path}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const p = lab.spawn('c', 'curl', args);
  await p.exited;
  const out = p.stdout();
  const nl = out.lastIndexOf('\n');
  const text = out.slice(0, nl);
  return { status: Number(out.slice(nl + 1)), body: text ? JSON.parse(text) as Reply['body'] : {} };
}

async function service(lab: NetLab, name: string) {
  return (await api(lab, 'GET', '/api/services')).body.services!.find((s) => s.name === name)!;
}

/** atftp in the client's namespace; resolves with its exit code and stderr. */
async function atftpGet(lab: NetLab, remote: string, local: string) {
  const p = lab.spawn('c', 'atftp', ['--get', '-r', remote, '-l', local, SRV]);
  const { code } = await p.exited;
  return { code, stderr: p.stderr() };
}

function config(dir: string, body: string): void {
  writeFileSync(join(dir, 'appliance.yaml'), body);
}

t.test('crashes are contained and restarted; reload refuses a bad config; SIGTERM ends transfers with an ERROR', async (t) => {
  const env = newLab(t, 'sv');
  if (!env) return;
  const { lab, dir } = env;
  lab.bridge();
  lab.attach('srv', { cidr: `${SRV}/24` });
  lab.attach('c', { cidr: `${CLIENT}/24` });
  lab.attach('u', { mac: '02:00:00:00:0a:01' });
  const dhcp = { mode: 'full', interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.110' }, leaseTime: 600 };
  let bootlab: Bootlab | null = null;
  t.teardown(() => bootlab?.stop());
  const home = join(dir, 'home');
  const root = join(home, 'tftpboot');
  // startBootlab writes the folders; the file to serve is made right after, before any request.
  bootlab = await startBootlab(lab, 'srv', dir, {
    home, dhcp, tftp: { enabled: true, address: '0.0.0.0', port: 69 },
    admin: { enabled: true, address: SRV, port: 8080, token: TOKEN },
    env: { BOOTLAB_FAULT_INJECTION: '1' },
  });
  const bigSha = randomFile(root, 'big.bin', 6 * 1024 * 1024);
  // 12 Mbit/s from the server: the 6 MiB download takes about 4 s, long enough to crash things under it.
  lab.exec('srv', 'tc', ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', '12mbit', 'burst', '32kb', 'latency', '50ms']);

  const first = await new Udhcpc(lab, 'u', dir).once();
  t.ok(first.lease?.ip, 'udhcpc got a lease', { server: bootlab.tail() });
  t.same((await service(lab, 'dhcp')).state, 'running');

  // 1. An exception in DHCP's code while TFTP is sending.
  const download = atftpGet(lab, 'big.bin', join(dir, 'got-1.bin'));
  await sleep(500);
  const injected = await api(lab, 'POST', '/api/services/dhcp/fault', { kind: 'throw' });
  t.equal(injected.status, 202, JSON.stringify(injected.body));
  const crashed = await bootlab.waitLog((l) => l.msg === 'service dhcp crashed; restarting it after a pause', 5000);
  t.ok(crashed, 'the crash is logged', { server: bootlab.tail() });
  t.match(JSON.stringify(crashed), /injected fault in dhcp/, 'with the exception');
  let row = await service(lab, 'dhcp');
  for (let i = 0; i < 40 && !(row.state === 'running' && row.restarts === 1); i++) { await sleep(100); row = await service(lab, 'dhcp'); }
  t.equal(row.state, 'running', 'dhcp is running again');
  t.equal(row.restarts, 1);
  t.equal(row.lastError, null);
  const got = await download;
  t.equal(got.code, 0, `the TFTP download running during the crash finished (${got.stderr})`);
  t.equal(await sha256File(join(dir, 'got-1.bin')), bigSha, 'byte-exact');
  t.equal((await service(lab, 'tftp')).restarts, 0, 'tftp was not restarted');
  const again = await new Udhcpc(lab, 'u', dir).once({ extra: ['-r', first.lease!.ip] });
  t.equal(again.lease?.ip, first.lease!.ip, 'the restarted DHCP serves, with its leases');
  t.equal(bootlab.proc.pid !== undefined && (await Promise.race([bootlab.proc.exited.then(() => 'exited'), sleep(10).then(() => 'alive')])), 'alive', 'the process lives on');

  // 2. TFTP's socket breaks: TFTP alone restarts.
  t.equal((await api(lab, 'POST', '/api/services/tftp/fault', { kind: 'socket-error' })).status, 202);
  row = await service(lab, 'tftp');
  for (let i = 0; i < 40 && !(row.state === 'running' && row.restarts === 1); i++) { await sleep(100); row = await service(lab, 'tftp'); }
  t.equal(row.state, 'running', 'tftp is running again');
  t.equal(row.restarts, 1);
  t.equal((await service(lab, 'dhcp')).restarts, 1, 'dhcp was not restarted again');
  const after = await atftpGet(lab, 'big.bin', join(dir, 'got-2.bin'));
  t.equal(after.code, 0, after.stderr);
  t.equal(await sha256File(join(dir, 'got-2.bin')), bigSha, 'the restarted TFTP serves');

  // 3. Reload: a bad config is refused (SIGHUP and API), a good one restarts what changed.
  const cfgFile = join(home, 'appliance.yaml');
  const good = readFileSync(cfgFile, 'utf8');
  const parsed = JSON.parse(good) as { tftp: Record<string, unknown> };
  config(home, good.replace('"port": 69', '"port": 99999'));
  process.kill(bootlab.proc.pid!, 'SIGHUP');
  const refused = await bootlab.waitLog((l) => l.msg === 'SIGHUP: the new configuration was refused; the running one stays', 5000);
  t.ok(refused, 'SIGHUP with a bad config is refused');
  t.match(JSON.stringify(refused), /appliance\.yaml:\d+ tftp\.port: must be an integer 0-65535/, 'naming the file, line and key');
  const bad = await api(lab, 'POST', '/api/config/reload');
  t.equal(bad.status, 422);
  t.equal(bad.body.error, 'config_invalid');
  t.match(String((bad.body.lines as string[])[0]), /appliance\.yaml:\d+ tftp\.port: must be an integer 0-65535$/);
  t.equal((await service(lab, 'tftp')).state, 'running', 'the old config keeps running');
  parsed.tftp.maxBlockSize = 1468;
  config(home, JSON.stringify({ ...JSON.parse(good), tftp: parsed.tftp }, null, 2));
  const ok = await api(lab, 'POST', '/api/config/reload');
  t.equal(ok.status, 200, JSON.stringify(ok.body));
  t.same(ok.body, { ok: true, restarted: ['tftp'], hostsReloaded: false, needsRestart: [] }, 'only tftp, whose section changed');
  t.equal((await service(lab, 'dhcp')).restarts, 1, 'dhcp untouched by the reload');

  // 4. SIGTERM during a download: the client gets an ERROR; the leases are on disk. The
  // link is unshaped first (a full queue may drop the ERROR, which no one resends: RFC
  // 1350), and the client is frozen mid-transfer (SIGSTOP) so the transfer is surely open.
  lab.exec('srv', 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
  const client = lab.spawn('c', 'atftp', ['--get', '-r', 'big.bin', '-l', join(dir, 'got-3.bin'), SRV]);
  for (let i = 0; i < 100 && ((await service(lab, 'tftp')).stats.active ?? 0) < 1; i++) await sleep(20);
  process.kill(client.pid!, 'SIGSTOP');
  await sleep(300);
  t.equal((await service(lab, 'tftp')).stats.active, 1, 'the download is open when bootlab is stopped');
  process.kill(bootlab.proc.pid!, 'SIGTERM');
  await sleep(20);
  process.kill(client.pid!, 'SIGCONT');
  const { code } = await bootlab.proc.exited;
  t.equal(code, 0, 'exit 0 on SIGTERM');
  const cut = { code: (await client.exited).code, stderr: client.stderr() };

  t.not(cut.code, 0, 'the download did not complete');
  t.match(cut.stderr, /server shutting down/, 'atftp shows the server\'s ERROR message');
  const journal = readFileSync(join(home, 'state', 'dhcp-leases.jsonl'), 'utf8');
  t.match(journal, new RegExp(`"ip":"${first.lease!.ip.replace(/\./g, '\\.')}"`), 'the lease is in the journal');
  bootlab = null;
});
