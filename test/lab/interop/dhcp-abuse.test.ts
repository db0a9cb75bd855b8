// DHCP under abuse (issue 15 item C, 1 and 3), bootlab in full mode in a namespace lab
// (server 192.0.2.1/24 on a bridge; a flooder namespace; a real client, busybox udhcpc):
// - one host sends 300 DHCPINFORMs a second naming machines that are not there (ciaddr
//   192.0.2.200-249: the unicast replies wait for ARP answers that never come);
// - a hundred addresses do the same, each within the per-sender INFORM rate, so the
//   unicast replies pile up and only the bound on waiting replies protects the rest;
// - requests arrive faster than bootlab reads them (the process is stopped for a moment
//   while a flood runs): the kernel sheds what does not fit the receive buffer, and bootlab,
//   reading the backlog, drops DISCOVERs until it has caught up.
// Each time the real client's DORA must complete while the flood is still running (the
// flood's count goes on growing after the lease: order, never a duration), and the drops
// must be counted in /metrics (bootlab_dhcp_dropped_total, read through the admin API).
// Needs root (ip netns), busybox and curl; without them it skips outside CI and fails under CI,
// saying why (helpers/needs.ts).
import t from 'tap';
import {
  DHCP, Udhcpc, bootRequest, inRange, ipBytes, newLab, startBootlab, waitFor,
  type Bootlab, type TapTest,
} from '../../helpers/dhcp-clients.js';
import { Flood, adminGet, metric } from '../../helpers/dhcp-flood.js';
import type { NetLab } from '../../helpers/netlab.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'curl'));

const SRV = '192.0.2.1';
const POOL = { start: '192.0.2.100', end: '192.0.2.150' };
const ADMIN_PORT = 8080;
/** Addresses on the lab subnet that no namespace holds. */
const ABSENT = Array.from({ length: 50 }, (_, i) => `192.0.2.${200 + i}`);
const CLIENT_MAC = '02:00:00:00:0a:01';

async function labWithServer(
  tt: TapTest,
  tag: string,
  flooder: string | null,
): Promise<{ lab: NetLab; dir: string; srv: Bootlab } | null> {
  const env = newLab(tt, tag);
  if (!env) return null;
  const { lab, dir } = env;
  lab.bridge('br0');
  lab.attach('srv', { cidr: `${SRV}/24` });
  lab.attach('f', { mac: '02:00:00:00:0a:09', ...(flooder ? { cidr: `${flooder}/24` } : {}) });
  lab.attach('c', { mac: CLIENT_MAC });
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 600, dns: ['192.0.2.53'] },
    admin: { enabled: true, address: '127.0.0.1', port: ADMIN_PORT, token: 'abuse-test-token-0123456789' },
    logLevel: 'info',
  });
  return { lab, dir, srv };
}

const dropped = (lab: NetLab, reason: string) => metric(adminGet(lab, 'srv', ADMIN_PORT, '/metrics'), `bootlab_dhcp_dropped_total{reason="${reason}"}`);

/** An INFORM (RFC 2131 4.4.3: ciaddr set, no option 50/54) from the flooder. */
const inform = (mac: string) =>
  bootRequest({
    xid: 1,
    mac,
    options: [
      [53, Buffer.from([DHCP.INFORM])],
      [55, Buffer.from([1, 3, 6])],
    ],
  });

/** udhcpc's DORA while `flood` runs; asserts the lease came and the flood went on after it. */
async function doraDuringFlood(tt: TapTest, lab: NetLab, dir: string, srv: Bootlab, flood: Flood): Promise<void> {
  const u = new Udhcpc(lab, 'c', dir);
  const r = await u.once({ tries: 20, timeoutSec: 1 });
  const sentAtLease = flood.sent();
  tt.ok(inRange(r.lease?.ip, POOL.start, POOL.end), `the real client got a lease (${r.lease?.ip}) during the flood`, { output: r.output, server: srv.tail(10) });
  tt.ok(await flood.sentMoreThan(sentAtLease + 20), `the flood was still running after the lease (${sentAtLease} sent at the lease, ${flood.sent()} later)`);
}

t.test('one host sending 300 INFORMs a second for absent machines does not stall anybody\'s DORA', async (tt) => {
  const env = await labWithServer(tt, 'ai', '192.0.2.9');
  if (!env) return;
  const { lab, dir, srv } = env;
  const flood = await Flood.start(lab, 'f', { template: inform('02:00:00:00:0a:09'), to: SRV, rate: 300, ciaddrs: ABSENT, sources: ['192.0.2.9'] });
  tt.ok(await flood.sentMoreThan(600), 'the flood had sent 600 INFORMs before the client started');
  await doraDuringFlood(tt, lab, dir, srv, flood);
  const limited = dropped(lab, 'inform_rate_limit');
  tt.ok(limited !== undefined && limited > 0, `INFORMs over the sender's rate were counted as dropped (${limited})`);
  const answered = metric(adminGet(lab, 'srv', ADMIN_PORT, '/metrics'), 'bootlab_dhcp_packets_total{type="ack",direction="sent"}');
  tt.ok(answered !== undefined && answered >= 1, `and some INFORMs were answered all the same (ACKs sent: ${answered})`);
  await flood.stop();
});

t.test('INFORMs from 100 addresses, each within its rate, for absent machines: unicast replies are bounded and counted', async (tt) => {
  const sources = Array.from({ length: 100 }, (_, i) => `192.0.2.${10 + i}`);
  const env = await labWithServer(tt, 'am', sources[0]);
  if (!env) return;
  const { lab, dir, srv } = env;
  for (const a of sources.slice(1)) lab.exec('f', 'ip', ['addr', 'add', `${a}/24`, 'dev', 'eth0']);
  const flood = await Flood.start(lab, 'f', { template: inform('02:00:00:00:0a:09'), to: SRV, rate: 600, ciaddrs: ABSENT, sources, varyMac: true });
  // The server's unicast socket is clogged once it drops replies: only then the client starts.
  const clogged = await waitFor(() => (dropped(lab, 'unicast_backlog') ?? 0) > 0, 60_000);
  tt.ok(clogged, 'unicast replies were dropped (counted) while they waited for ARP', { server: srv.tail(10) });
  await doraDuringFlood(tt, lab, dir, srv, flood);
  await flood.stop();
});

t.test('requests beyond what bootlab reads: the kernel sheds them, bootlab sheds DISCOVERs while it catches up, both counted', async (tt) => {
  const env = await labWithServer(tt, 'ak', null);
  if (!env) return;
  const { lab, dir, srv } = env;
  // REQUESTs for an address on no subnet of the server's: each gets a NAK and changes no state.
  const request = bootRequest({ xid: 1, mac: '02:00:00:00:0a:09', broadcast: true, options: [[53, Buffer.from([DHCP.REQUEST])], [50, ipBytes('203.0.113.9')]] });
  // DISCOVERs relayed from a network with no pool: read and ignored, no state, no reply.
  const discover = bootRequest({ xid: 1, mac: '02:00:00:00:0a:08', giaddr: '203.0.113.1', options: [[53, Buffer.from([DHCP.DISCOVER])]] });
  const naks = await Flood.start(lab, 'f', { template: request, to: '255.255.255.255', rate: 500, varyMac: true });
  const discovers = await Flood.start(lab, 'f', { template: discover, to: '255.255.255.255', rate: 1000, varyMac: true });
  const sentNaks = () => metric(adminGet(lab, 'srv', ADMIN_PORT, '/metrics'), 'bootlab_dhcp_packets_total{type="nak",direction="sent"}') ?? 0;
  tt.ok(await waitFor(() => sentNaks() > 0, 20_000), 'the server answers the flood');
  // Stopped, bootlab reads nothing: its receive buffer fills and the kernel drops the rest.
  process.kill(srv.proc.pid, 'SIGSTOP');
  const kernelDrops = () => lab.exec('srv', 'cat', ['/proc/net/udp']).split('\n')
    .filter((l) => / 00000000:0043 /.test(l)).reduce((n, l) => n + Number(l.trim().split(/\s+/)[12] ?? 0), 0);
  const shed = await waitFor(() => kernelDrops() > 0, 30_000);
  process.kill(srv.proc.pid, 'SIGCONT');
  tt.ok(shed, `the kernel dropped requests while bootlab was stopped (${kernelDrops()})`);
  const before = sentNaks();
  tt.ok(await waitFor(() => sentNaks() > before + 100, 30_000), 'once it went on, the flood was answered again');
  await doraDuringFlood(tt, lab, dir, srv, discovers);
  tt.ok(naks.running, 'with the REQUEST flood still running too');
  const counted = dropped(lab, 'receive_buffer');
  tt.ok(counted !== undefined && counted > 0, `bootlab counts the kernel's drops on its sockets (${counted})`);
  const backlog = dropped(lab, 'backlog');
  tt.ok(backlog !== undefined && backlog > 0, `and the DISCOVERs it dropped while it read the backlog left by the stop (${backlog})`);
  await Promise.all([naks.stop(), discovers.stop()]);
});
