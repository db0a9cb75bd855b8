// A client behind a DHCP relay: a router namespace with a lab side (eth0 192.0.2.254/24,
// on the server's bridge brLab) and a remote side (eth1 198.51.100.1/24, bridge brRemote)
// runs dnsmasq as a relay (--dhcp-relay=198.51.100.1,192.0.2.1: requests arriving on the
// 198.51.100.1 interface go to 192.0.2.1 with giaddr 198.51.100.1). The server namespace
// routes 198.51.100.0/24 via the router. A udhcpc client on the remote bridge gets an
// address from dhcp.relayPools (chosen by giaddr), with router = the relay's address by
// default; a client on the lab bridge still gets the local pool. A capture on brLab checks
// the replies go unicast to the relay, port 67 (RFC 2131 4.1; pxe-notes 9).
// Needs root (ip netns), busybox, dnsmasq and tcpdump; without them it skips outside CI and fails
// under CI, saying why (helpers/needs.ts).
import t from 'tap';
import { Capture, DHCP, Udhcpc, inRange, macOf, newLab, sameMac, startBootlab, startRelay, type Frame } from '../../helpers/dhcp-clients.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'dnsmasq', 'tcpdump'));

const SRV = '192.0.2.1';
const RELAY = '198.51.100.1';
const POOL = { start: '192.0.2.100', end: '192.0.2.150' };
/** One line per captured frame, for diagnostics. */
function summary(frames: Frame[]): string[] {
  return frames.map((f) => `${f.srcMac} > ${f.dstMac} ${f.udp ? `${f.udp.src}:${f.udp.sport} > ${f.udp.dst}:${f.udp.dport}` : ''} op ${f.bootp?.op} type ${f.bootp?.type} chaddr ${f.bootp?.chaddr} giaddr ${f.bootp?.giaddr}`);
}
const RELAY_POOL = { start: '198.51.100.100', end: '198.51.100.150', netmask: '255.255.255.0' };

t.test('a client behind a dnsmasq relay gets an address from relayPools, router = the relay', async (tt) => {
  const env = newLab(tt, 'rl');
  if (!env) return;
  const { lab, dir } = env;
  const farMac = '02:00:00:00:08:01';
  const nearMac = '02:00:00:00:08:02';
  lab.bridge('brLab');
  lab.bridge('brRemote');
  lab.attach('srv', { ifname: 'eth0', bridge: 'brLab', cidr: `${SRV}/24` });
  lab.exec('srv', 'ip', ['route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'eth0']);
  lab.attach('rtr', { ifname: 'eth0', bridge: 'brLab', cidr: '192.0.2.254/24' });
  lab.attach('rtr', { ifname: 'eth1', bridge: 'brRemote', cidr: `${RELAY}/24` });
  lab.attach('far', { ifname: 'eth0', bridge: 'brRemote', mac: farMac });
  lab.attach('near', { ifname: 'eth0', bridge: 'brLab', mac: nearMac });
  const rtrLabMac = macOf(lab, 'rtr', 'eth0');
  const srvMac = macOf(lab, 'srv', 'eth0');

  const labCap = await Capture.start(lab, lab.lan, 'brLab', dir, 'udp port 67 or udp port 68');
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 120, dns: ['192.0.2.53'], relayPools: [RELAY_POOL] },
  });
  const relay = await startRelay(lab, 'rtr', RELAY, SRV);

  const far = await new Udhcpc(lab, 'far', dir).once();
  const near = await new Udhcpc(lab, 'near', dir).once();
  const frames = await labCap.stop();
  const relayLog = `${relay.stderr()}${relay.stdout()}`;

  const l = far.lease;
  tt.ok(l, 'the client behind the relay got a lease', { output: far.output, relay: relayLog.slice(-3000), server: srv.tail() });
  tt.ok(inRange(l?.ip, RELAY_POOL.start, RELAY_POOL.end), `its address ${l?.ip} is from the relay pool ${RELAY_POOL.start}-${RELAY_POOL.end}`);
  tt.equal(l?.subnet, RELAY_POOL.netmask, 'subnet mask = the relay pool\'s netmask');
  tt.equal(l?.router, RELAY, 'router = the relay\'s address (giaddr) by default');
  tt.equal(l?.serverid, SRV, 'server id = bootlab\'s address');
  tt.equal(l?.lease, '120', 'lease time = leaseTime');
  const acks = srv.replies(farMac, 'ACK');
  tt.ok(acks.some((a) => a.yiaddr === l?.ip && a.iface === 'eth0'), 'the server logged the ACK of that address on eth0', { server: srv.tail() });

  tt.ok(inRange(near.lease?.ip, POOL.start, POOL.end), `a client on the lab bridge still gets the local pool (${near.lease?.ip})`, { output: near.output });
  tt.equal(near.lease?.router, '', 'and no router: bootlab does not route, and its eth0 has no default gateway');

  // On the lab bridge: relayed requests from the router carry giaddr 198.51.100.1, and the
  // server answers the relay unicast on port 67, never by broadcast.
  const relayed = frames.filter((f) => f.srcMac === rtrLabMac && f.bootp?.op === 1 && sameMac(f.bootp.chaddr, farMac));
  tt.ok(
    relayed.length >= 2 && relayed.every((f) => f.bootp?.giaddr === RELAY && f.udp?.dst === SRV && f.udp.dport === 67),
    `the relay forwarded DISCOVER and REQUEST to ${SRV}:67 with giaddr ${RELAY} (${relayed.length} seen)`,
    {
      relayed: relayed.map((f) => ({
        type: f.bootp?.type,
        giaddr: f.bootp?.giaddr,
        to: `${f.udp?.dst}:${f.udp?.dport}`,
      })),
      captured: summary(frames),
      rtrLabMac,
    },
  );
  const answers = frames.filter((f) => f.srcMac === srvMac && f.bootp?.op === 2 && sameMac(f.bootp.chaddr, farMac));
  tt.ok(answers.some((f) => f.bootp?.type === DHCP.OFFER) && answers.some((f) => f.bootp?.type === DHCP.ACK), 'the server\'s OFFER and ACK for the far client crossed the lab bridge');
  tt.ok(
    answers.length > 0 && answers.every((f) => f.udp?.dst === RELAY && f.udp.dport === 67 && f.dstMac === rtrLabMac),
    `each went unicast to the relay ${RELAY}:67 (pxe-notes 9)`,
    {
      answers: answers.map((f) => ({
        type: f.bootp?.type,
        to: `${f.udp?.dst}:${f.udp?.dport}`,
        dstMac: f.dstMac,
        giaddr: f.bootp?.giaddr,
      })),
    },
  );
  tt.ok(answers.every((f) => f.bootp?.giaddr === RELAY), 'with giaddr kept');
});
