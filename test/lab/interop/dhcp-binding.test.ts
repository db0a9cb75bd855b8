// Interface binding, both ways, with real clients and packet captures: the server
// namespace has a lab interface eth0 (192.0.2.1/24, bridge brLab) and a "Wi-Fi" wlan0
// (198.51.100.1/24, bridge brWifi) that holds its default route (via 198.51.100.254), as
// on a laptop; dhcp.interfaces is [eth0]. A udhcpc client on the lab bridge gets a lease,
// one on the Wi-Fi bridge gets nothing, and tcpdump on brWifi (lan namespace), running
// from before bootlab starts until after it stops, sees the Wi-Fi client's DISCOVERs but
// no DHCP packet from the server: the lab client's OFFER/ACK did not leave by the default
// route. A capture on brLab sees those replies, so the method does see server packets.
// Needs root (ip netns), busybox and tcpdump; without them it skips outside CI and fails under CI,
// saying why (helpers/needs.ts).
import t from 'tap';
import { Capture, Udhcpc, inRange, macOf, newLab, sameMac, startBootlab, DHCP } from '../../helpers/dhcp-clients.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'tcpdump'));

const POOL = { start: '192.0.2.100', end: '192.0.2.150' };
const FILTER = 'udp port 67 or udp port 68';

t.test('dhcp.interfaces [eth0]: the lab client gets a lease, the Wi-Fi client nothing, and no DHCP packet leaves through wlan0', async (tt) => {
  const env = newLab(tt, 'bi');
  if (!env) return;
  const { lab, dir } = env;
  const labMac = '02:00:00:00:07:01';
  const wifiMac = '02:00:00:00:07:02';
  lab.bridge('brLab');
  lab.bridge('brWifi');
  lab.attach('srv', { ifname: 'eth0', bridge: 'brLab', cidr: '192.0.2.1/24' });
  lab.attach('srv', { ifname: 'wlan0', bridge: 'brWifi', cidr: '198.51.100.1/24' });
  lab.exec('srv', 'ip', ['route', 'add', 'default', 'via', '198.51.100.254', 'dev', 'wlan0']);
  tt.match(lab.exec('srv', 'ip', ['route', 'show', 'default']), /via 198\.51\.100\.254 dev wlan0/, 'the server namespace\'s default route is via the Wi-Fi');
  lab.attach('lab1', { ifname: 'eth0', bridge: 'brLab', mac: labMac });
  lab.attach('wifi1', { ifname: 'eth0', bridge: 'brWifi', mac: wifiMac });
  const srvEth0 = macOf(lab, 'srv', 'eth0');
  const srvWlan0 = macOf(lab, 'srv', 'wlan0');

  const wifiCap = await Capture.start(lab, lab.lan, 'brWifi', dir, FILTER);
  const labCap = await Capture.start(lab, lab.lan, 'brLab', dir, FILTER);
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 120, dns: ['192.0.2.53'] },
  });

  // The Wi-Fi client starts first and keeps asking (6 DISCOVERs, 1 s apart) while the lab
  // client does its whole DORA.
  const wifiRun = new Udhcpc(lab, 'wifi1', dir).once({ tries: 6 });
  await new Promise((r) => setTimeout(r, 500));
  const labRun = await new Udhcpc(lab, 'lab1', dir).once();
  const wifi = await wifiRun;
  await srv.stop();
  const wifiFrames = await wifiCap.stop();
  const labFrames = await labCap.stop();

  tt.ok(inRange(labRun.lease?.ip, POOL.start, POOL.end), `the lab client got a pool address (${labRun.lease?.ip})`, { output: labRun.output, server: srv.tail() });
  tt.equal(labRun.lease?.serverid, '192.0.2.1', 'from the server\'s lab address');
  tt.equal(wifi.lease, undefined, 'the Wi-Fi client got no lease', { output: wifi.output });
  tt.equal(wifi.code, 1, 'udhcpc on the Wi-Fi gave up (exit 1)');
  tt.equal(srv.replies(wifiMac).length, 0, 'the server logged no reply to the Wi-Fi client', { server: srv.tail() });
  const replies = srv.replies();
  tt.ok(replies.length >= 2 && replies.every((l) => l.iface === 'eth0'), `every "dhcp reply" logged (${replies.length}) was on eth0`, { ifaces: replies.map((l) => l.iface) });

  // Positive controls: each capture saw what it must have seen.
  const labOffer = labFrames.find(
    (f) => f.srcMac === srvEth0 && f.bootp?.op === 2 && f.bootp.type === DHCP.OFFER && sameMac(f.bootp.chaddr, labMac),
  );
  tt.ok(labOffer, `the brLab capture saw the server's OFFER to the lab client (${labFrames.length} DHCP frames)`);
  tt.equal(labOffer?.bootp?.yiaddr, labRun.lease?.ip, 'offering the address the lab client got');
  const wifiDiscovers = wifiFrames.filter(
    (f) => f.srcMac === wifiMac && f.bootp?.op === 1 && f.bootp.type === DHCP.DISCOVER,
  );
  tt.ok(wifiDiscovers.length >= 2, `the brWifi capture saw the Wi-Fi client's DISCOVERs (${wifiDiscovers.length})`);

  // The point: nothing from the server on the Wi-Fi, ever.
  const fromServer = wifiFrames.filter((f) => f.srcMac === srvWlan0 || f.srcMac === srvEth0 || f.udp?.src === '198.51.100.1' || f.udp?.src === '192.0.2.1');
  tt.equal(fromServer.length, 0, 'no DHCP packet from the server on brWifi (by MAC or address)', {
    frames: fromServer.map((f) => ({ src: f.srcMac, dst: f.dstMac, udp: f.udp && `${f.udp.src}:${f.udp.sport} > ${f.udp.dst}:${f.udp.dport}`, type: f.bootp?.type })),
  });
  const bootReplies = wifiFrames.filter((f) => f.bootp?.op === 2 || f.udp?.sport === 67);
  tt.equal(bootReplies.length, 0, 'no BOOTREPLY and nothing from port 67 at all on brWifi', {
    frames: bootReplies.map((f) => ({
      src: f.srcMac,
      type: f.bootp?.type,
      chaddr: f.bootp?.chaddr,
      yiaddr: f.bootp?.yiaddr,
    })),
  });
  tt.notOk(wifiFrames.some((f) => f.bootp && sameMac(f.bootp.chaddr, labMac)), 'in particular, nothing of the lab client\'s DORA');
});
