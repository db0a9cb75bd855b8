// Real DHCP clients against bootlab's full-mode DHCP server, each case in network
// namespaces of its own (test/helpers/netlab.ts): a server namespace with eth0 =
// 192.0.2.1/24 on a bridge, client namespaces on the same bridge.
// - busybox udhcpc and ISC dhclient get a pool address with the configured options
//   (mask, router, DNS, domain, lease time, T1 = half, T2 = 7/8, server id); with no
//   dhcp.router, the router is the server interface's default gateway, or there is none
//   (bootlab does not route);
// - renewing (udhcpc SIGUSR1; dhclient run again on its lease file: INIT-REBOOT) keeps
//   the address;
// - a release (udhcpc SIGUSR2, dhclient -r) is logged and gives the address back: with a
//   one-address pool a second MAC gets no lease before the release and that address after;
// - a reservation in hosts.yaml gets exactly its address and host name (option 12).
// Needs root (ip netns) and busybox + isc-dhcp-client; without them it skips outside CI and fails
// under CI, saying why (helpers/needs.ts).
import t from 'tap';
import {
  Dhclient, Udhcpc, inRange, newLab, sameMac, startBootlab, waitFor,
  type Bootlab, type TapTest,
} from '../../helpers/dhcp-clients.js';
import type { NetLab } from '../../helpers/netlab.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'dhclient'));

const SRV = '192.0.2.1';
const POOL = { start: '192.0.2.100', end: '192.0.2.150' };
const LEASE = 120;

/** A bridge, the server namespace (eth0 192.0.2.1/24) and one client namespace per MAC. */
function labWith(lab: NetLab, clients: Record<string, string>): void {
  lab.bridge('br0');
  lab.attach('srv', { ifname: 'eth0', bridge: 'br0', cidr: `${SRV}/24` });
  for (const [name, mac] of Object.entries(clients)) lab.attach(name, { ifname: 'eth0', bridge: 'br0', mac });
}

function releaseLogged(srv: Bootlab, mac: string): Promise<unknown> {
  return srv.waitLog((l) => sameMac(l.mac, mac) && /release/i.test(JSON.stringify(l)), 30_000);
}

t.test('udhcpc: a pool lease with the configured options; SIGUSR1 renews the same address', async (tt: TapTest) => {
  const env = newLab(tt, 'du');
  if (!env) return;
  const { lab, dir } = env;
  const mac = '02:00:00:00:01:01';
  labWith(lab, { c1: mac });
  // netmask and router left out: the mask is eth0's (255.255.255.0); eth0 has no default
  // route, so no router is given (bootlab does not route).
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: LEASE, dns: ['192.0.2.53'], domain: 'lab.example' },
  });

  const u = new Udhcpc(lab, 'c1', dir);
  u.start({ once: false });
  const bound = await u.waitEvent('bound', 0, 20_000);
  tt.ok(bound, 'udhcpc got a lease', { output: u.output(), server: srv.tail() });
  if (!bound) return;
  const e = bound.e;
  tt.ok(inRange(e.ip, POOL.start, POOL.end), `the address ${e.ip} is in the pool ${POOL.start}-${POOL.end}`);
  tt.equal(e.subnet, '255.255.255.0', 'subnet mask (option 1) = eth0\'s netmask by default');
  tt.equal(e.router, '', 'no router (option 3): never bootlab\'s own address');
  tt.equal(e.dns, '192.0.2.53', 'DNS server (option 6) as configured');
  tt.equal(e.domain, 'lab.example', 'domain (option 15) as configured');
  tt.equal(e.lease, String(LEASE), `lease time (option 51) = leaseTime ${LEASE}`);
  tt.equal(e.serverid, SRV, 'server id (option 54) = the server\'s address');
  const offer = srv.replies(mac, 'OFFER')[0];
  const ack = srv.replies(mac, 'ACK')[0];
  tt.ok(offer && offer.yiaddr === e.ip && offer.iface === 'eth0', 'the server logged an OFFER of that address on eth0', { offer, server: srv.tail() });
  tt.ok(ack && ack.yiaddr === e.ip && ack.iface === 'eth0', 'the server logged an ACK of that address on eth0', { ack });

  const acks = srv.replies(mac, 'ACK').length;
  u.signal('SIGUSR1');
  const renewed = await u.waitEvent('renew', bound.i + 1, 10_000);
  tt.ok(renewed, 'SIGUSR1: udhcpc renewed', { output: u.output(), server: srv.tail() });
  tt.equal(renewed?.e.ip, e.ip, 'the renewal kept the same address');
  tt.equal(renewed?.e.lease, String(LEASE), 'the renewal ACK carries the lease time again');
  const ack2 = await waitFor(() => srv.replies(mac, 'ACK').length > acks, 30_000);
  tt.ok(ack2, 'the server logged an ACK for the renewal', { server: srv.tail() });
  await u.proc?.stop();
});

t.test('no dhcp.router: the router is the default gateway of the server\'s interface', async (tt) => {
  const env = newLab(tt, 'gw');
  if (!env) return;
  const { lab, dir } = env;
  labWith(lab, { c1: '02:00:00:00:01:11' });
  lab.exec('srv', 'ip', ['route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'eth0']);
  const srv = await startBootlab(lab, 'srv', dir, { dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: LEASE, dns: ['192.0.2.53'] } });
  const u = await new Udhcpc(lab, 'c1', dir).once();
  tt.ok(inRange(u.lease?.ip, POOL.start, POOL.end), 'udhcpc got a lease', { output: u.output, server: srv.tail() });
  tt.equal(u.lease?.router, '192.0.2.254', 'router (option 3) = eth0\'s default gateway');
  tt.ok(srv.logs().some((l) => l.msg === 'dhcp listening' && JSON.stringify(l.router) === '["eth0: 192.0.2.254"]'), 'the start line says which router is given');
});

t.test('dhclient: DORA, the lease file\'s options (T1 60, T2 105); INIT-REBOOT keeps the address', async (tt) => {
  const env = newLab(tt, 'dd');
  if (!env) return;
  const { lab, dir } = env;
  const mac = '02:00:00:00:02:01';
  labWith(lab, { c1: mac });
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: {
      mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: LEASE,
      router: '192.0.2.254', netmask: '255.255.255.0', dns: ['192.0.2.53', '192.0.2.54'], domain: 'lab.example',
    },
  });

  const d = new Dhclient(lab, 'c1', dir);
  const first = await d.bind();
  tt.ok(first.bound, 'dhclient bound', { output: first.output, server: srv.tail() });
  await first.proc.stop();
  const lease = d.leases().at(-1);
  tt.ok(lease, 'dhclient wrote a lease', { leases: d.leases() });
  if (!first.bound || !lease) return;
  const o = lease.options;
  tt.equal(lease.fixedAddress, first.bound, 'fixed-address is the bound address');
  tt.ok(inRange(lease.fixedAddress, POOL.start, POOL.end), `fixed-address ${lease.fixedAddress} is in the pool`);
  tt.equal(o['subnet-mask'], '255.255.255.0', 'option subnet-mask');
  tt.equal(o.routers, '192.0.2.254', 'option routers = the configured router');
  tt.equal(o['domain-name-servers'], '192.0.2.53,192.0.2.54', 'option domain-name-servers, both, in order');
  tt.equal(o['domain-name'], 'lab.example', 'option domain-name');
  tt.equal(o['dhcp-lease-time'], String(LEASE), 'option dhcp-lease-time = leaseTime');
  tt.equal(o['dhcp-renewal-time'], String(LEASE / 2), 'option dhcp-renewal-time (T1) = half the lease');
  tt.equal(o['dhcp-rebinding-time'], String((LEASE * 7) / 8), 'option dhcp-rebinding-time (T2) = 7/8 of the lease');
  tt.equal(o['dhcp-server-identifier'], SRV, 'option dhcp-server-identifier = the server\'s address');
  tt.equal(o['dhcp-message-type'], '5', 'the lease came from a DHCPACK');

  // Run again on the same lease file: INIT-REBOOT, a REQUEST for the old address.
  const acks = srv.replies(mac, 'ACK').length;
  const second = await d.bind();
  tt.equal(second.bound, first.bound, 'dhclient run again on its lease file is bound to the same address', { output: second.output, server: srv.tail() });
  await second.proc.stop();
  tt.equal(d.leases().at(-1)?.fixedAddress, first.bound, 'the newest lease in the file has the same fixed-address');
  tt.ok(srv.replies(mac, 'ACK').length > acks, 'the server logged an ACK for the reboot REQUEST', { server: srv.tail() });
  tt.notOk(srv.replies(mac, 'NAK').length, 'and no NAK');
});

t.test('udhcpc SIGUSR2 releases: a one-address pool goes to a second MAC after the release, not before', async (tt) => {
  const env = newLab(tt, 'ur');
  if (!env) return;
  const { lab, dir } = env;
  const macA = '02:00:00:00:03:01';
  const macB = '02:00:00:00:03:02';
  labWith(lab, { a: macA, b: macB });
  const only = '192.0.2.100';
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: { start: only, end: only }, leaseTime: LEASE, dns: ['192.0.2.53'] },
  });

  const a = new Udhcpc(lab, 'a', dir);
  a.start({ once: false });
  const bound = await a.waitEvent('bound', 0, 20_000);
  tt.equal(bound?.e.ip, only, 'client A got the pool\'s only address', { output: a.output(), server: srv.tail() });
  if (!bound) return;

  const before = await new Udhcpc(lab, 'b', dir).once({ tries: 3 });
  tt.equal(before.lease, undefined, 'before the release, client B gets no lease (the pool is exhausted)', { output: before.output });
  tt.equal(before.code, 1, 'udhcpc B gave up (exit 1)');
  tt.equal(srv.replies(macB, 'ACK').length, 0, 'the server ACKed nothing to B', { server: srv.tail() });

  a.signal('SIGUSR2');
  const deconfig = await a.waitEvent('deconfig', bound.i + 1, 5000);
  tt.ok(deconfig, 'SIGUSR2: udhcpc A released and deconfigured', { output: a.output() });
  // Its stderr comes through a pipe, after the script's event file may already show deconfig.
  await waitFor(() => /sending release/.test(a.output()), 30_000);
  tt.match(a.output(), /sending release/, 'udhcpc A says it sent the RELEASE');
  tt.ok(await releaseLogged(srv, macA), 'the server logged the RELEASE from A', { server: srv.tail() });
  await a.proc?.stop();

  const after = await new Udhcpc(lab, 'b', dir).once({ tries: 5 });
  tt.equal(after.lease?.ip, only, 'after the release, client B gets the released address', { output: after.output, server: srv.tail() });
  tt.equal(after.code, 0, 'udhcpc B exited 0');
  tt.ok(srv.replies(macB, 'ACK').some((l) => l.yiaddr === only), 'the server logged the ACK of it to B');
});

t.test('dhclient -r releases: a one-address pool goes to a second MAC after the release, not before', async (tt) => {
  const env = newLab(tt, 'dr');
  if (!env) return;
  const { lab, dir } = env;
  const macA = '02:00:00:00:04:01';
  const macB = '02:00:00:00:04:02';
  labWith(lab, { a: macA, b: macB });
  const only = '192.0.2.100';
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: { start: only, end: only }, leaseTime: LEASE, dns: ['192.0.2.53'] },
  });

  const a = new Dhclient(lab, 'a', dir);
  const got = await a.bind();
  tt.equal(got.bound, only, 'dhclient A got the pool\'s only address', { output: got.output, server: srv.tail() });
  await got.proc.stop();
  if (!got.bound) return;

  const before = await new Udhcpc(lab, 'b', dir).once({ tries: 3 });
  tt.equal(before.lease, undefined, 'before the release, client B gets no lease (the pool is exhausted)', { output: before.output });

  const rel = await a.release();
  tt.equal(rel.code, 0, 'dhclient -r exited 0', { output: rel.output });
  tt.match(rel.output, new RegExp(`DHCPRELEASE of ${only.replace(/\./g, '\\.')} on eth0 to ${SRV.replace(/\./g, '\\.')}`), 'dhclient sent a DHCPRELEASE to the server');
  tt.ok(await releaseLogged(srv, macA), 'the server logged the RELEASE from A', { server: srv.tail() });

  const after = await new Udhcpc(lab, 'b', dir).once({ tries: 5 });
  tt.equal(after.lease?.ip, only, 'after the release, client B gets the released address', { output: after.output, server: srv.tail() });
});

t.test('reservations: each reserved MAC gets exactly its address and host name; others get the pool', async (tt) => {
  const env = newLab(tt, 'rs');
  if (!env) return;
  const { lab, dir } = env;
  const res5 = { mac: '02:00:00:00:00:05', ip: '192.0.2.42', hostname: 'pc05' };
  const res6 = { mac: '02:00:00:00:00:06', ip: '192.0.2.43', hostname: 'pc06' };
  const other = '02:00:00:00:00:07';
  labWith(lab, { r5: res5.mac, r6: res6.mac, o7: other });
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: LEASE, dns: ['192.0.2.53'] },
    hosts: {
      [res5.mac]: { hostname: res5.hostname, ip: res5.ip },
      [res6.mac]: { hostname: res6.hostname, ip: res6.ip },
    },
  });

  const u = await new Udhcpc(lab, 'r5', dir).once();
  tt.equal(u.lease?.ip, res5.ip, `udhcpc with ${res5.mac} gets its reserved ${res5.ip}`, { output: u.output, server: srv.tail() });
  tt.equal(u.lease?.hostname, res5.hostname, `and host name (option 12) ${res5.hostname}`);
  tt.equal(u.lease?.subnet, '255.255.255.0', 'with the subnet mask');
  tt.equal(u.lease?.serverid, SRV, 'from this server');

  const d = new Dhclient(lab, 'r6', dir);
  const b = await d.bind();
  await b.proc.stop();
  const l = d.leases().at(-1);
  tt.equal(b.bound, res6.ip, `dhclient with ${res6.mac} is bound to its reserved ${res6.ip}`, { output: b.output, server: srv.tail() });
  tt.equal(l?.fixedAddress, res6.ip, 'the lease file\'s fixed-address is the reserved address');
  tt.equal(l?.options['host-name'], res6.hostname, `and option host-name is ${res6.hostname}`);

  const o = await new Udhcpc(lab, 'o7', dir).once();
  tt.ok(inRange(o.lease?.ip, POOL.start, POOL.end), `an unreserved MAC gets a pool address (${o.lease?.ip})`, { output: o.output });
  tt.notOk(o.lease?.hostname === res5.hostname || o.lease?.hostname === res6.hostname, 'and not a reserved host name');
});
