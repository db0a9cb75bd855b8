// Hand-built DHCP packets (test/helpers/dhcp-clients.ts bootRequest: byte-exact, RFC 2131
// layout documented there, not the service's codec) sent to bootlab from a client
// namespace with a plain UDP socket (0.0.0.0:68 -> 255.255.255.255:67, SO_BROADCAST),
// and real udhcpc, each case in namespaces of its own:
// - full mode: a REQUEST naming another server (option 54 = 192.0.2.77) is not answered
//   and is logged as "dhcp ignored"; an INIT-REBOOT REQUEST (no option 54, option 50
//   outside the subnet) gets a DHCPNAK, broadcast (RFC 2131 4.3.2).
// - proxy mode never hands out an address: plain udhcpc gets nothing; a PXE DISCOVER gets
//   a proxy OFFER: yiaddr 0.0.0.0, option 60 "PXEClient", option 54, the BIOS boot file.
// Needs root (ip netns) and busybox; without them it skips outside CI and fails under CI, saying
// why (helpers/needs.ts).
import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import {
  DHCP, Udhcpc, bootRequest, ipBytes, macOf, newLab, optIp, optStr, parseBootp, probe,
  sameMac, sameXid, startBootlab, type Bootp, type ProbeReply,
} from '../../helpers/dhcp-clients.js';
import type { NetLab } from '../../helpers/netlab.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox'));

const SRV = '192.0.2.1';
const POOL = { start: '192.0.2.100', end: '192.0.2.150' };

function labWith(lab: NetLab, clients: Record<string, string>): void {
  lab.bridge('br0');
  lab.attach('srv', { ifname: 'eth0', bridge: 'br0', cidr: `${SRV}/24` });
  for (const [name, mac] of Object.entries(clients)) lab.attach(name, { ifname: 'eth0', bridge: 'br0', mac });
}

/** Replies to transaction `xid` among what the probe received (BOOTREPLY, op 2). */
function repliesTo(replies: ProbeReply[], xid: number): Bootp[] {
  const out: Bootp[] = [];
  for (const r of replies) {
    let p: Bootp;
    try { p = parseBootp(r.data); } catch { continue; }
    if (p.op === 2 && p.xid === xid) out.push(p);
  }
  return out;
}

const xidHex = (x: number) => `0x${x.toString(16).padStart(8, '0')}`;
/** Option 55, parameter request list: mask, router, DNS, domain, lease, server id, T1, T2. */
const PRL: [number, Buffer] = [55, Buffer.from([1, 3, 6, 15, 51, 54, 58, 59])];

t.test('full mode: a REQUEST naming another server is ignored; an INIT-REBOOT REQUEST off the subnet gets a NAK', async (tt) => {
  const env = newLab(tt, 'rq');
  if (!env) return;
  const { lab, dir } = env;
  const mac = '02:00:00:00:05:01';
  labWith(lab, { p: mac });
  tt.equal(macOf(lab, 'p', 'eth0'), mac, 'the probe namespace\'s eth0 has the MAC the packets carry');
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 120, dns: ['192.0.2.53'] },
  });

  // SELECTING-state REQUEST (RFC 2131 4.3.2) for another server's offer: op 1, htype 1,
  // hlen 6, the xid, flags 0x8000 (broadcast: any reply would surely reach us), ciaddr 0,
  // chaddr = our MAC, options 53 = 3 (REQUEST), 54 = 192.0.2.77, 50 = a pool address, 55.
  const xidOther = randomInt(1, 0xffffffff);
  const other = bootRequest({
    xid: xidOther, mac, broadcast: true,
    options: [[53, Buffer.from([DHCP.REQUEST])], [54, ipBytes('192.0.2.77')], [50, ipBytes(POOL.start)], PRL],
  });
  tt.equal(other.length, 300, 'the hand-built REQUEST is 300 bytes (BOOTP minimum)');
  tt.same([other[0], other[1], other[2], other.readUInt32BE(4), other.readUInt32BE(236)], [1, 1, 6, xidOther, 0x63825363], 'op, htype, hlen, xid and magic cookie in place');
  const r1 = await probe(lab, 'p', [other], { listenMs: 2000 });
  tt.equal(r1.sent, 1, 'the probe broadcast the REQUEST');
  const ans1 = repliesTo(r1.replies, xidOther);
  tt.equal(ans1.length, 0, 'no reply within 2 s to a REQUEST naming server 192.0.2.77', { replies: ans1.map((p) => ({ type: p.type, yiaddr: p.yiaddr })) });
  const ignored = await srv.waitLog((l) => l.msg === 'dhcp ignored' && sameMac(l.mac, mac) && sameXid(l.xid, xidOther), 30_000);
  tt.ok(ignored, `the server logged "dhcp ignored" for xid ${xidHex(xidOther)}`, { server: srv.tail() });
  tt.equal(srv.replies(mac).filter((l) => sameXid(l.xid, xidOther)).length, 0, 'and no "dhcp reply" for it');

  // INIT-REBOOT REQUEST (RFC 2131 4.3.2): no option 54, ciaddr 0, option 50 = an address
  // on no subnet of ours. Flags 0: "when giaddr is zero, the server broadcasts any
  // DHCPNAK" regardless of the broadcast bit.
  const xidReboot = randomInt(1, 0xffffffff);
  const reboot = bootRequest({
    xid: xidReboot, mac, broadcast: false,
    options: [[53, Buffer.from([DHCP.REQUEST])], [50, ipBytes('203.0.113.9')], PRL],
  });
  const r2 = await probe(lab, 'p', [reboot], { listenMs: 20_000, stopAfter: 1, lingerMs: 1000 });
  const ans2 = repliesTo(r2.replies, xidReboot);
  tt.equal(ans2.length, 1, 'exactly one reply to the INIT-REBOOT REQUEST for 203.0.113.9', { replies: r2.replies.map((r) => ({ from: r.from, len: r.data.length })), server: srv.tail() });
  const nak = ans2[0];
  if (nak) {
    tt.equal(nak.type, DHCP.NAK, 'it is a DHCPNAK (option 53 = 6)');
    tt.equal(nak.yiaddr, '0.0.0.0', 'yiaddr 0.0.0.0');
    tt.equal(optIp(nak.options.get(54)), SRV, 'option 54 = the server\'s address');
    tt.ok(sameMac(nak.chaddr, mac), 'chaddr echoed');
    tt.notOk(nak.options.has(51), 'no lease time in a NAK');
  }
  const logged = await srv.waitLog((l) => l.msg === 'dhcp reply' && l.type === 'NAK' && sameMac(l.mac, mac) && sameXid(l.xid, xidReboot), 30_000);
  tt.ok(logged, 'the server logged the NAK', { server: srv.tail() });
});

t.test('proxy mode: no address for a plain client; a PXE DISCOVER gets a proxy OFFER with yiaddr 0', async (tt) => {
  const env = newLab(tt, 'px');
  if (!env) return;
  const { lab, dir } = env;
  const plainMac = '02:00:00:00:06:01';
  const pxeMac = '02:00:00:00:06:02';
  labWith(lab, { plain: plainMac, pxe: pxeMac });
  const biosFile = 'bios-test.kpxe';
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'proxy', interfaces: ['eth0'], bootFiles: { bios: biosFile } },
  });

  const u = await new Udhcpc(lab, 'plain', dir).once({ tries: 3 });
  tt.equal(u.lease, undefined, 'udhcpc gets no lease from a proxy-mode server', { output: u.output, server: srv.tail() });
  tt.equal(u.code, 1, 'udhcpc gave up (exit 1, "no lease")');
  tt.match(u.output, /broadcasting discover/, 'udhcpc did send DISCOVERs');
  tt.equal(srv.replies(plainMac).length, 0, 'the server logged no reply to the plain client');

  // A BIOS PXE ROM's DISCOVER: 53 = 1, 55, 57 (max message size 1260), 93 = 0 (x86 BIOS),
  // 94 = UNDI 2.1 (type 1, 2, 1), 97 = type 0 + a 16-byte UUID, 60 = the PXE class id.
  const xid = randomInt(1, 0xffffffff);
  const uuid = Buffer.concat([Buffer.from([0]), randomBytes(16)]);
  const discover = bootRequest({
    xid,
    mac: pxeMac,
    broadcast: true,
    options: [
      [53, Buffer.from([DHCP.DISCOVER])],
      [
        55,
        Buffer.from([
          1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 43, 54, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135,
        ]),
      ],
      [57, Buffer.from([0x04, 0xec])],
      [93, Buffer.from([0, 0])],
      [94, Buffer.from([1, 2, 1])],
      [97, uuid],
      [60, Buffer.from('PXEClient:Arch:00000:UNDI:002001', 'latin1')],
    ],
  });
  const r = await probe(lab, 'pxe', [discover], { listenMs: 20_000, stopAfter: 1 });
  const offers = repliesTo(r.replies, xid);
  tt.ok(offers.length >= 1, 'the PXE DISCOVER got a reply', { server: srv.tail() });
  const o = offers[0];
  if (!o) return;
  tt.equal(o.type, DHCP.OFFER, 'a DHCPOFFER (option 53 = 2)');
  tt.equal(o.yiaddr, '0.0.0.0', 'yiaddr 0.0.0.0: a proxy offer hands out no address');
  tt.equal(optStr(o.options.get(60)), 'PXEClient', 'option 60 "PXEClient"');
  tt.equal(optIp(o.options.get(54)), SRV, 'option 54 = the server\'s address');
  tt.ok(sameMac(o.chaddr, pxeMac), 'chaddr echoed');
  tt.ok(o.file === biosFile || optStr(o.options.get(67)) === biosFile, `the boot file is dhcp.bootFiles.bios (${biosFile})`, { file: o.file, opt67: optStr(o.options.get(67)) });
  tt.notOk(o.options.has(51) || o.options.has(1) || o.options.has(3), 'no lease time, mask or router in a proxy offer');
  // pxe-notes.md "DHCP replies that PXE firmware accepts":
  tt.ok(o.file === biosFile && optStr(o.options.get(67)) === biosFile, 'the file field and option 67 both name it (pxe-notes 1)', { file: o.file, opt67: optStr(o.options.get(67)) });
  tt.equal(o.siaddr, SRV, 'siaddr (next server) = the server (pxe-notes 1)');
  tt.ok(o.length >= 300, `padded to >= 300 bytes (${o.length}) (pxe-notes 2)`);
  tt.same(o.options.get(97), uuid, 'option 97 echoed (pxe-notes 4)');
  for (const p of offers) tt.equal(p.yiaddr, '0.0.0.0', 'every reply to it has yiaddr 0.0.0.0');
  const logged = srv.replies(pxeMac, 'OFFER').find((l) => sameXid(l.xid, xid));
  tt.ok(logged && [undefined, null, '0.0.0.0', ''].includes(logged.yiaddr as string | null | undefined) && logged.bootFile === biosFile,
    'the server logged the OFFER without an address, with the boot file', { logged, server: srv.tail() });
});
