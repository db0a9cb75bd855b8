// The DHCP service's limits (services/dhcp/limits.ts) and what it reads from /proc
// (procnet.ts), with an explicit clock and fixture files; then the service itself on real
// UDP sockets on loopback: the INFORM limit per sender, counted, and the three sockets.
import t from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../services/core/config.js';
import { HostMap } from '../../../services/core/hostmap.js';
import { silentLogger } from '../../../services/core/log.js';
import { BACKLOG_STREAK, BacklogGauge, RateLimiter } from '../../../services/dhcp/limits.js';
import { interfaceGateway, udpDrops } from '../../../services/dhcp/procnet.js';
import { start } from '../../../services/dhcp/server.js';
import { dhcp } from '../../helpers/dhcp-bytes.js';
import { needs, asRoot } from '../../helpers/needs.js';
import { waitFor } from '../../helpers/util.js';
import { serviceContext } from '../../helpers/context.js';

t.test('RateLimiter: a burst, then the rate; at most maxKeys senders remembered', async (t) => {
  const r = new RateLimiter(1, 3, 2);
  const at = 1_000_000;
  t.same([1, 2, 3, 4].map(() => r.take('a', at)), [true, true, true, false], 'a burst of 3');
  t.equal(r.take('a', at + 500), false, 'half a token after 0.5 s: still no');
  t.equal(r.take('a', at + 1000), true, 'one token per second');
  t.equal(r.take('b', at), true, 'another sender has its own bucket');
  t.equal(r.take('c', at), true);
  t.equal(r.size, 2, 'the sender heard from longest ago was forgotten');
  t.equal(r.take('a', at + 1000), true, 'a forgotten sender starts with a full burst');
});

t.test('BacklogGauge: behind after BACKLOG_STREAK datagrams read without the loop waiting, until it waits', async (t) => {
  // The loop's idle time is ours to move: how long a real wait takes on a loaded machine is not the point.
  let idle = 100;
  const g = new BacklogGauge(BACKLOG_STREAK, () => idle);
  idle += 5; // a wait before the first datagram
  const seen: boolean[] = [];
  for (let i = 0; i <= BACKLOG_STREAK + 1; i++) seen.push(g.behind()); // back to back: the idle time does not move
  t.equal(seen.indexOf(true), BACKLOG_STREAK + 1, `the first ${BACKLOG_STREAK + 1} are not behind, the next one is`);
  t.equal(g.behind(), true, 'still behind');
  idle += 0.01;
  t.equal(g.behind(), true, 'a hundredth of a millisecond idle is no wait');
  idle += 5; // the loop waits for something
  t.equal(g.behind(), false, 'after a wait, no longer');
  t.equal(g.behind(), false, 'and the streak starts over');
});

t.test('BacklogGauge: by default it reads the real event loop', async (t) => {
  const g = new BacklogGauge(2);
  const seen = [g.behind(), g.behind(), g.behind(), g.behind()]; // one turn of the loop: no idle time between
  t.equal(seen.at(-1), true, 'back to back in one turn: behind after the limit', { seen });
});

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\tFE6433C6\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t00000000\tFE0200C0\t0003\t0\t0\t200\t00000000\t0\t0\t0
eth1\t00000000\tFD0200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth1\t00000000\t017100CB\t0003\t0\t0\t50\t00000000\t0\t0\t0
eth2\t00000000\tFE0200C0\t0001\t0\t0\t0\t00000000\t0\t0\t0
`;

t.test('interfaceGateway: the default route through that interface, on its subnet, lowest metric', async (t) => {
  const dir = t.testdir({ route: ROUTE });
  const file = join(dir, 'route');
  t.equal(interfaceGateway('eth0', '192.0.2.1', '255.255.255.0', file), null, 'eth0 has no default route (the Wi-Fi holds it)');
  t.equal(interfaceGateway('wlan0', '198.51.100.1', '255.255.255.0', file), '198.51.100.254', 'the Wi-Fi\'s gateway, read in host byte order');
  t.equal(interfaceGateway('eth1', '192.0.2.1', '255.255.255.0', file), '192.0.2.253', 'lowest metric on the subnet (203.0.113.1 is off it)');
  t.equal(interfaceGateway('eth2', '192.0.2.1', '255.255.255.0', file), null, 'a route without the gateway flag');
  t.equal(interfaceGateway('eth0', '192.0.2.1', '255.255.255.0', join(dir, 'missing')), null, 'no file: none');
});

t.test('udpDrops: the drops column of this process\'s own sockets on the given ports', async (t) => {
  const sock = dgram.createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  t.teardown(() => sock.close());
  const port = sock.address().port;
  const inodes = readdirSync('/proc/self/fd').map((fd) => { try { return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]; } catch { return undefined; } }).filter(Boolean);
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const line = (p: string, inode: string, drops: number) => `   1: 0100007F:${p} 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ${inode} 2 0000000000000000 ${drops}`;
  const dir = t.testdir({
    udp: ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
      line(hex, inodes[0]!, 7), line(hex, '999999999', 100), line('0045', inodes[0]!, 50), ''].join('\n'),
  });
  t.equal(udpDrops([port], join(dir, 'udp')), 7, 'only the line of one of our sockets on that port');
  t.equal(udpDrops([port], join(dir, 'nope')), null);
  t.equal(udpDrops([port]), 0, 'the real /proc/net/udp: nothing dropped on a fresh socket');
});

t.test('the service: three sockets per interface; INFORMs beyond a sender\'s rate are counted, not answered', async (t) => {
  if (!needs(t, asRoot('binding to an interface (SO_BINDTOIFINDEX, CAP_NET_RAW)'))) return;
  const dir = t.testdir();
  writeFileSync(join(dir, 'hosts.yaml'), 'defaults: { action: menu }\n');
  const config = parseConfig('stateDir: state\nhosts: hosts.yaml\ndhcp:\n  mode: full\n  interfaces: [lo]\n  pool: { start: 127.0.0.100, end: 127.0.0.110 }\n', join(dir, 'appliance.yaml'));
  const hosts = await HostMap.open(config.hosts, silentLogger());
  const server = await start(await serviceContext(config, { hosts }), { dhcp: 0, pxe: 0 });
  t.teardown(async () => { await server.close(); hosts.close(); });
  const bound = server.status().bound;
  t.same(bound.map((b) => b.address), ['0.0.0.0%lo', '127.0.0.1%lo', '0.0.0.0%lo'], 'broadcast, unicast and PXE boot server sockets');
  t.equal(bound[0].port, bound[1].port, 'the unicast socket shares the broadcast socket\'s port');
  const client = dgram.createSocket('udp4');
  t.teardown(() => client.close());
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  // 40 INFORMs to the server's own address (the unicast socket takes them), as fast as they go.
  for (let i = 0; i < 40; i++) client.send(dhcp(8, [], { mac: '02:00:00:00:03:01', xid: i, ciaddr: '127.0.0.1' }), bound[1].port, '127.0.0.1');
  const all = await waitFor(() => server.stats.informs >= 40, 5000, 25);
  t.ok(all, `all 40 arrived (${server.stats.informs})`);
  const s = server.stats;
  t.ok(s.informsLimited > 0, `some were over the rate and not answered (${s.informsLimited})`);
  t.equal(s.acks + s.informsLimited, 40, 'every other one was answered');
  t.equal(s.rateLimitSources, 1, 'one sender remembered');
  // Relayed INFORMs all come from the relay's address: each client behind it (giaddr and
  // MAC) has a bucket of its own, so three from each of two MACs are all answered.
  const acks = s.acks;
  for (const m of ['02:00:00:00:03:02', '02:00:00:00:03:03']) {
    for (let i = 0; i < 3; i++) client.send(dhcp(8, [], { mac: m, xid: 100 + i, ciaddr: '127.0.0.50', giaddr: '127.0.0.2' }), bound[1].port, '127.0.0.1');
  }
  t.ok(await waitFor(() => server.stats.informs >= 46, 5000, 25), 'the relayed INFORMs arrived');
  t.equal(server.stats.acks - acks, 6, 'all six answered (to the relay)');
  t.equal(server.stats.rateLimitSources, 3, 'two more senders: the relay\'s clients, by MAC');
});
