// The DHCP decisions (services/dhcp/respond.ts) with plain values: hand-built requests
// (test/helpers/dhcp-bytes.ts), a host map parsed from YAML text, an in-memory lease store
// and an explicit clock. Proxy mode, full mode (RFC 2131), PXE choices, relays.
import t from 'tap';
import { dhcpSpec, parseConfig } from '../../services/core/config.js';
import { mtftpAdverts } from '../../services/dhcp/server.js';
import { defaults } from '../../services/core/schema.js';
import { LeaseStore } from '../../services/dhcp/leases.js';
import { MessageType, Opt, decode, isDecodeError, messageType, optIp, optText, optUInt32, type DhcpPacket } from '../../services/dhcp/packet.js';
import { respond, type Decision, type RespondContext, type ResolvedDhcpConfig } from '../../services/dhcp/respond.js';
import { IPXE, PXE_BIOS, PXE_UEFI, dhcp, hostView, tlv, type RawRequest } from '../helpers/dhcp-bytes.js';
import { classify } from '../../services/dhcp/pxe.js';
import type { TapTest } from '../helpers/util.js';

const SERVER = '192.0.2.1';
const LINK = { name: 'eth0', address: SERVER, netmask: '255.255.255.0' };
const HOSTS = `
defaults: { action: menu }
images:
  linux: { kernel: vmlinuz, initrd: initrd.gz }
  pxelinux: { files: { bios: pxelinux.0, uefi64: syslinux.efi } }
hosts:
  02:00:00:00:00:05: { hostname: pc05, ip: 192.0.2.42 }
  02:00:00:00:00:06: { hostname: pc06, image: pxelinux }
  02:00:00:00:00:07: { image: linux }
`;

function config(over: Partial<ResolvedDhcpConfig> = {}): ResolvedDhcpConfig {
  const base = defaults(dhcpSpec);
  return { ...base, interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.150' }, dns: ['192.0.2.53'], leaseTime: 3600, ...over };
}

function context(
  over: Partial<ResolvedDhcpConfig> = {},
  hostsYaml = HOSTS,
): RespondContext & { clock: { now: number } } {
  const hosts = hostView(hostsYaml);
  const reserved = new Map([...hosts.data.hosts.values()].filter((h) => h.ip).map((h) => [h.ip!, h.mac]));
  const clock = { now: 1_800_000_000_000 };
  return {
    config: config(over),
    hosts,
    reservedBy: (ip: string) => reserved.get(ip),
    leases: LeaseStore.memory(),
    clock,
    get now() {
      return clock.now;
    },
  };
}

function ask(ctx: RespondContext, buf: Buffer, port = 67, source = { address: '0.0.0.0', port: 68 }): Decision {
  const packet = decode(buf);
  if (isDecodeError(packet)) throw new Error(packet.error);
  const mac = [...packet.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return respond({ packet, mac, kind: classify(packet), link: LINK, bootServer: port === 4011, source }, ctx);
}

function reply(t: TapTest, d: Decision, type: MessageType): DhcpPacket {
  if (d.kind !== 'reply') {
    t.fail(`expected ${MessageType[type]}, got ${d.kind}: ${'reason' in d ? d.reason : d.what}`);
    throw new Error('no reply');
  }
  t.equal(d.type, type, `a ${MessageType[type]}`);
  t.equal(messageType(d.packet), type);
  return d.packet;
}

const mac = (n: number) => `02:00:00:00:01:${n.toString(16).padStart(2, '0')}`;
const req = (r: RawRequest = {}): RawRequest => ({ mac: '52:54:00:12:34:56', ...r });
const ip4 = (s: string) => s.split('.').map(Number);

/** DISCOVER asking for `ip` (option 50), then REQUEST of what was offered: the client's ACK. */
function bind(t: TapTest, ctx: RespondContext, r: RawRequest, ip: string): DhcpPacket {
  const offer = reply(t, ask(ctx, dhcp(1, [tlv(50, ip4(ip))], r)), MessageType.Offer);
  t.equal(offer.yiaddr, ip, `offered ${ip}`);
  return reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(offer.yiaddr))], r)), MessageType.Ack);
}

t.test('proxy: a BIOS PXE ROM gets the iPXE binary, yiaddr 0, option 43 discovery control 8', async (t) => {
  const d = ask(context(), dhcp(1, PXE_BIOS, req()));
  const p = reply(t, d, MessageType.Offer);
  t.equal(p.yiaddr, '0.0.0.0');
  t.equal(p.siaddr, SERVER);
  t.equal(p.file, 'undionly.kpxe');
  t.equal(optText(p, Opt.BootfileName), 'undionly.kpxe');
  t.equal(optText(p, Opt.TftpServerName), SERVER);
  t.equal(optIp(p, Opt.ServerId), SERVER);
  t.equal(optText(p, Opt.VendorClass), 'PXEClient');
  t.same([...p.options.get(Opt.VendorSpecific)!], [6, 1, 8, 255]);
  t.same(p.options.get(Opt.ClientUuid), decode(dhcp(1, PXE_BIOS)) && (decode(dhcp(1, PXE_BIOS)) as DhcpPacket).options.get(Opt.ClientUuid), 'option 97 echoed');
  t.notOk(p.options.has(Opt.LeaseTime), 'no lease: the site server gives the address');
  t.same(d.kind === 'reply' && d.to, { address: '255.255.255.255', port: 68 });
});

t.test('proxy: UEFI firmware gets its binary and no option 43 (EDK2 then asks port 4011)', async (t) => {
  const p = reply(t, ask(context(), dhcp(1, PXE_UEFI, req())), MessageType.Offer);
  t.equal(p.file, 'snponly.efi');
  t.notOk(p.options.has(Opt.VendorSpecific));
  // The 4011 request: unicast back to where it came from, with the file.
  const src = { address: '192.0.2.123', port: 68 };
  const d = ask(context(), dhcp(3, PXE_UEFI, req({ ciaddr: '192.0.2.123' })), 4011, src);
  const ack = reply(t, d, MessageType.Ack);
  t.same(d.kind === 'reply' && d.to, src);
  t.equal(ack.file, 'snponly.efi');
  t.equal(ack.yiaddr, '0.0.0.0');
  t.equal(optText(ack, Opt.VendorClass), 'PXEClient');
});

t.test('proxy: iPXE gets its per-machine script URL, never the binary again', async (t) => {
  const p = reply(t, ask(context(), dhcp(1, [...PXE_BIOS, ...IPXE], req())), MessageType.Offer);
  t.equal(p.file, `tftp://${SERVER}/bootlab/52-54-00-12-34-56.ipxe`);
  const u = reply(t, ask(context(), dhcp(1, [...PXE_UEFI, ...IPXE], req())), MessageType.Offer);
  t.equal(u.file, `tftp://${SERVER}/bootlab/52-54-00-12-34-56.ipxe`);
});

t.test('proxy: never answers non-PXE clients, REQUESTs on 67, or machines the map says not to boot', async (t) => {
  const ctx = context();
  const plain = ask(ctx, dhcp(1, [tlv(12, 'laptop')], req()));
  t.equal(plain.kind, 'ignore');
  t.match(plain.kind === 'ignore' && plain.reason, /not a PXE client/);
  t.equal(ask(ctx, dhcp(3, PXE_BIOS, req())).kind, 'ignore');
  const none = context({}, 'defaults: { action: none }\n');
  t.equal(ask(none, dhcp(1, PXE_BIOS, req())).kind, 'ignore');
  t.equal(ctx.leases.all().length, 0, 'no lease, ever');
});

t.test('a raw per-architecture image goes to every client as is (pxelinux)', async (t) => {
  const ctx = context();
  const m = '02:00:00:00:00:06';
  t.equal(reply(t, ask(ctx, dhcp(1, PXE_BIOS, { mac: m })), MessageType.Offer).file, 'pxelinux.0');
  t.equal(reply(t, ask(ctx, dhcp(1, PXE_UEFI, { mac: m })), MessageType.Offer).file, 'syslinux.efi');
  t.equal(reply(t, ask(ctx, dhcp(1, [...PXE_BIOS, ...IPXE], { mac: m })), MessageType.Offer).file, 'pxelinux.0');
  const arm = dhcp(1, [tlv(60, 'PXEClient:Arch:00011'), tlv(93, [0, 11])], { mac: m });
  t.equal(ask(ctx, arm).kind, 'ignore', 'no arm64 file in the image');
});

t.test('option 97 of a wrong length is refused; absent is fine', async (t) => {
  const bad = [tlv(60, 'PXEClient:Arch:00000'), tlv(93, [0, 0]), tlv(97, [0, 1, 2])];
  const d = ask(context(), dhcp(1, bad, req()));
  t.match(d.kind === 'ignore' && d.reason, /97.*3 bytes/);
  const none = [tlv(60, 'PXEClient:Arch:00000'), tlv(93, [0, 0])];
  const p = reply(t, ask(context(), dhcp(1, none, req())), MessageType.Offer);
  t.notOk(p.options.has(Opt.ClientUuid));
});

t.test('UEFI HTTP boot: the URL when configured, silence when not', async (t) => {
  const http = [tlv(60, 'HTTPClient:Arch:00016:UNDI:003016'), tlv(93, [0, 16])];
  t.equal(ask(context(), dhcp(1, http, req())).kind, 'ignore');
  const p = reply(t, ask(context({ httpBootUrl: 'http://192.0.2.1:8080/ipxe.efi' }), dhcp(1, http, req())), MessageType.Offer);
  t.equal(p.file, 'http://192.0.2.1:8080/ipxe.efi');
  t.equal(optText(p, Opt.VendorClass), 'HTTPClient');
});

t.test('full: DISCOVER, OFFER, REQUEST, ACK with lease, T1, T2, mask, DNS; no router unless there is one', async (t) => {
  const ctx = context({ mode: 'full' });
  const offer = reply(t, ask(ctx, dhcp(1, [], req())), MessageType.Offer);
  t.equal(offer.yiaddr, '192.0.2.100');
  t.equal(optUInt32(offer, Opt.LeaseTime), 3600);
  t.equal(optUInt32(offer, Opt.RenewalTime), 1800);
  t.equal(optUInt32(offer, Opt.RebindingTime), 3150);
  t.equal(optIp(offer, Opt.SubnetMask), '255.255.255.0');
  t.notOk(offer.options.has(Opt.Router), 'no option 3: bootlab does not route, and this interface has no gateway');
  t.equal(optIp(offer, Opt.DomainServer), '192.0.2.53');
  t.equal(offer.file, '', 'no boot file for a non-PXE client');
  const d = ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(offer.yiaddr))], req()));
  const ack = reply(t, d, MessageType.Ack);
  t.equal(ack.yiaddr, '192.0.2.100');
  t.ok(d.kind === 'reply' && d.persisted, 'the ACK waits for the journal');
  const lease = ctx.leases.byMacAddress('52:54:00:12:34:56');
  t.equal(lease?.state, 'bound');
  t.equal(lease?.expires, ctx.now + 3600_000);
  // A second client gets the next address.
  t.equal(reply(t, ask(ctx, dhcp(1, [], { mac: mac(2) })), MessageType.Offer).yiaddr, '192.0.2.101');
  // The first one asking again keeps its address.
  t.equal(reply(t, ask(ctx, dhcp(1, [], req())), MessageType.Offer).yiaddr, '192.0.2.100');
});

t.test('full: a REQUEST naming another server is ignored and frees our offer', async (t) => {
  const ctx = context({ mode: 'full' });
  reply(t, ask(ctx, dhcp(1, [], req())), MessageType.Offer);
  const d = ask(ctx, dhcp(3, [tlv(54, [192, 0, 2, 77]), tlv(50, [192, 0, 2, 100])], req()));
  t.equal(d.kind, 'ignore');
  t.match(d.kind === 'ignore' && d.reason, /another server \(192\.0\.2\.77\)/);
  t.equal(ctx.leases.holder('192.0.2.100', ctx.now), undefined, 'the offered address is free again');
});

t.test('full: NAK for an address not ours, not on the network, or in use', async (t) => {
  const ctx = context({ mode: 'full' });
  const other = ask(ctx, dhcp(3, [tlv(50, [203, 0, 113, 9])], req()));
  const n = reply(t, other, MessageType.Nak);
  t.match(optText(n, Opt.Message), /not on this network/);
  t.same(other.kind === 'reply' && other.to, { address: '255.255.255.255', port: 68 });
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 200])], req())), MessageType.Nak), Opt.Message), /not in the pool/);
  // Bound to one client, asked for by another.
  bind(t, ctx, { mac: mac(1) }, '192.0.2.120');
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 120])], { mac: mac(2) })), MessageType.Nak), Opt.Message), /in use/);
  // INIT-REBOOT of a free pool address by a client never seen: NAK, so it DISCOVERs at once.
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 121])], { mac: mac(3) })), MessageType.Nak), Opt.Message), /not offered to this client/);
  // The client that holds a lease gets it again in INIT-REBOOT (its lease file after a reboot).
  t.equal(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 120])], { mac: mac(1) })), MessageType.Ack).yiaddr, '192.0.2.120');
});

t.test('full: reservations from the host map', async (t) => {
  const ctx = context({ mode: 'full', pool: { start: '192.0.2.40', end: '192.0.2.43' } });
  const r = reply(t, ask(ctx, dhcp(1, [], { mac: '02:00:00:00:00:05' })), MessageType.Offer);
  t.equal(r.yiaddr, '192.0.2.42');
  t.equal(optText(r, Opt.HostName), 'pc05');
  // Nobody else is offered the reserved address, nor may request it.
  const got = [40, 41, 43].map(
    (_, i) => reply(t, ask(ctx, dhcp(1, [], { mac: mac(10 + i) })), MessageType.Offer).yiaddr,
  );
  t.same(got, ['192.0.2.40', '192.0.2.41', '192.0.2.43']);
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 42])], { mac: mac(20) })), MessageType.Nak), Opt.Message), /reserved for another/);
  // The reserved host asking for a different address is told its own.
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 40])], { mac: '02:00:00:00:00:05' })), MessageType.Nak), Opt.Message), /192\.0\.2\.42/);
});

t.test('full: an exhausted pool gives no offer, while reserved hosts are still served', async (t) => {
  const ctx = context({ mode: 'full', pool: { start: '192.0.2.100', end: '192.0.2.101' } });
  for (const n of [1, 2]) {
    const o = reply(t, ask(ctx, dhcp(1, [], { mac: mac(n) })), MessageType.Offer);
    reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(o.yiaddr))], { mac: mac(n) })), MessageType.Ack);
  }
  const d = ask(ctx, dhcp(1, [], { mac: mac(3) }));
  t.match(d.kind === 'ignore' && d.reason, /exhausted/);
  t.equal(reply(t, ask(ctx, dhcp(1, [], { mac: '02:00:00:00:00:05' })), MessageType.Offer).yiaddr, '192.0.2.42');
  // An expired lease makes room.
  ctx.clock.now += 3601_000;
  t.equal(reply(t, ask(ctx, dhcp(1, [], { mac: mac(3) })), MessageType.Offer).yiaddr, '192.0.2.100');
});

t.test('full: RELEASE frees the address; DECLINE quarantines it', async (t) => {
  const ctx = context({ mode: 'full', pool: { start: '192.0.2.100', end: '192.0.2.101' } });
  bind(t, ctx, { mac: mac(1) }, '192.0.2.100');
  bind(t, ctx, { mac: mac(2) }, '192.0.2.101');
  t.equal(ask(ctx, dhcp(1, [], { mac: mac(3) })).kind, 'ignore', 'full');
  const rel = ask(ctx, dhcp(7, [tlv(54, ip4(SERVER))], { mac: mac(1), ciaddr: '192.0.2.100' }));
  t.equal(rel.kind, 'noted');
  t.equal(reply(t, ask(ctx, dhcp(1, [], { mac: mac(3) })), MessageType.Offer).yiaddr, '192.0.2.100');
  // A release of an address the client does not hold changes nothing.
  t.equal(ask(ctx, dhcp(7, [], { mac: mac(9), ciaddr: '192.0.2.101' })).kind, 'ignore');
  // mac(2) says 192.0.2.101 is in use by someone else on the wire.
  t.equal(ask(ctx, dhcp(4, [tlv(50, [192, 0, 2, 101]), tlv(54, ip4(SERVER))], { mac: mac(2) })).kind, 'noted');
  t.ok(ctx.leases.quarantined('192.0.2.101', ctx.now));
  t.match(optText(reply(t, ask(ctx, dhcp(3, [tlv(50, [192, 0, 2, 101])], { mac: mac(4) })), MessageType.Nak), Opt.Message), /in use/);
  ctx.clock.now += 601_000;
  t.notOk(ctx.leases.quarantined('192.0.2.101', ctx.now), 'back after dhcp.declineQuarantine');
});

t.test('full: INFORM gets options only, unicast to ciaddr; RENEW is unicast too', async (t) => {
  const ctx = context({ mode: 'full' });
  const d = ask(ctx, dhcp(8, [], req({ ciaddr: '192.0.2.200' })));
  const p = reply(t, d, MessageType.Ack);
  t.equal(p.yiaddr, '0.0.0.0');
  t.notOk(p.options.has(Opt.LeaseTime));
  t.equal(optIp(p, Opt.SubnetMask), '255.255.255.0');
  t.same(d.kind === 'reply' && d.to, { address: '192.0.2.200', port: 68 });
  bind(t, ctx, req(), '192.0.2.110');
  const renew = ask(ctx, dhcp(3, [], req({ ciaddr: '192.0.2.110', flags: 0 })));
  t.equal(reply(t, renew, MessageType.Ack).yiaddr, '192.0.2.110');
  t.same(renew.kind === 'reply' && renew.to, { address: '192.0.2.110', port: 68 });
});

t.test('full: relayed requests use the pool containing giaddr, go back to the relay, echo option 82', async (t) => {
  const ctx = context({ mode: 'full', relayPools: [{ start: '198.51.100.100', end: '198.51.100.150', netmask: '255.255.255.0', router: null }] });
  const agent = tlv(82, [1, 3, 0x61, 0x62, 0x63]);
  const d = ask(ctx, dhcp(1, [agent], req({ giaddr: '198.51.100.1' })));
  const p = reply(t, d, MessageType.Offer);
  t.equal(p.yiaddr, '198.51.100.100');
  t.equal(p.giaddr, '198.51.100.1');
  t.equal(optIp(p, Opt.Router), '198.51.100.1', 'router defaults to the relay');
  t.same([...p.options.get(Opt.RelayAgentInfo)!], [1, 3, 0x61, 0x62, 0x63]);
  t.same(d.kind === 'reply' && d.to, { address: '198.51.100.1', port: 67 });
  // A relay on the interface's own network (perfdhcp acts as one) draws from the link's pool.
  const local = ask(ctx, dhcp(1, [], req({ mac: mac(40), giaddr: '192.0.2.9' })));
  t.equal(reply(t, local, MessageType.Offer).yiaddr, '192.0.2.100');
  t.same(local.kind === 'reply' && local.to, { address: '192.0.2.9', port: 67 });
  const unknown = ask(ctx, dhcp(1, [], req({ giaddr: '203.0.113.1' })));
  t.match(unknown.kind === 'ignore' && unknown.reason, /no dhcp.relayPools/);
});

t.test('full: PXE clients get an address and their boot file in the same reply', async (t) => {
  const ctx = context({ mode: 'full' });
  const p = reply(t, ask(ctx, dhcp(1, PXE_BIOS, req())), MessageType.Offer);
  t.equal(p.yiaddr, '192.0.2.100');
  t.equal(p.file, 'undionly.kpxe');
  t.same([...p.options.get(Opt.VendorSpecific)!], [6, 1, 8, 255]);
  const u = reply(t, ask(ctx, dhcp(1, PXE_UEFI, { mac: mac(5) })), MessageType.Offer);
  t.equal(u.file, 'snponly.efi');
  t.notOk(u.options.has(Opt.VendorSpecific));
  // defaults none: the address still, but no boot file.
  const none = context({ mode: 'full' }, 'defaults: { action: none }\n');
  const q = reply(t, ask(none, dhcp(1, PXE_BIOS, req())), MessageType.Offer);
  t.equal(q.yiaddr, '192.0.2.100');
  t.equal(q.file, '');
});

t.test('mtftp on: a BIOS PXE ROM whose boot file is multicast gets option 43 sub-options 1-5; UEFI and iPXE never do', async (t) => {
  const app = parseConfig('mtftp:\n  enabled: true\n  serverPort: 1759\n  openTimeout: 3\n  reopenDelay: 7\n  files:\n    - { file: undionly.kpxe, group: 239.255.1.1, clientPort: 3001 }\nmulticast: { interface: eth0 }\ntftp: { root: /nonexistent-bootlab }\n', '/etc/bootlab/appliance.yaml');
  const ctx = context({ mtftp: mtftpAdverts(app) });
  for (const mode of ['proxy', 'full'] as const) {
    ctx.config.mode = mode;
    const p = reply(t, ask(ctx, dhcp(1, PXE_BIOS, req())), MessageType.Offer);
    t.same([...p.options.get(Opt.VendorSpecific)!], [
      1, 4, 239, 255, 1, 1, // PXE_MTFTP_IP
      2, 2, 0x0b, 0xb9, // PXE_MTFTP_CPORT 3001
      3, 2, 0x06, 0xdf, // PXE_MTFTP_SPORT 1759
      4, 1, 3, // PXE_MTFTP_TMOUT
      5, 1, 7, // PXE_MTFTP_DELAY
      6, 1, 8, // PXE_DISCOVERY_CONTROL
      255,
    ], `${mode}: byte for byte, sub-options in PXE 2.1 order before discovery control`);
    const u = reply(t, ask(ctx, dhcp(1, PXE_UEFI, req())), MessageType.Offer);
    t.notOk(u.options.has(Opt.VendorSpecific), `${mode}: UEFI gets no option 43 (EDK2 drops offers with MTFTP sub-options)`);
    const i = reply(t, ask(ctx, dhcp(1, [...PXE_BIOS, ...IPXE], req())), MessageType.Offer);
    t.same([...i.options.get(Opt.VendorSpecific)!], [6, 1, 8, 255], `${mode}: iPXE fetches its script by TFTP: no MTFTP sub-options`);
  }
  ctx.config.mode = 'proxy';
  const other = context({ mtftp: mtftpAdverts(app), bootFiles: { ...defaults(dhcpSpec).bootFiles, bios: 'pxelinux.0' } });
  const p = reply(t, ask(other, dhcp(1, PXE_BIOS, req())), MessageType.Offer);
  t.same([...p.options.get(Opt.VendorSpecific)!], [6, 1, 8, 255], 'a boot file mtftp does not send: no MTFTP sub-options');
  t.same(mtftpAdverts(parseConfig('', '/etc/bootlab/appliance.yaml')).size, 0, 'mtftp off: nothing to advertise');
  // Decision 0008: files on a shared group are never multicast, so they are not advertised.
  const shared = parseConfig('mtftp:\n  enabled: true\n  files:\n    - { file: undionly.kpxe, group: 239.255.1.1, clientPort: 3001 }\n    - { file: vmlinuz, group: 239.255.1.1, clientPort: 3001 }\n    - { file: pxelinux.0, group: 239.255.1.2, clientPort: 3001 }\nmulticast: { interface: eth0 }\ntftp: { root: /nonexistent-bootlab }\n', '/etc/bootlab/appliance.yaml');
  t.same([...mtftpAdverts(shared).keys()], ['pxelinux.0'], 'only the file with a group of its own is advertised');
  const sharedCtx = context({ mtftp: mtftpAdverts(shared) });
  t.same(
    [...reply(t, ask(sharedCtx, dhcp(1, PXE_BIOS, req())), MessageType.Offer).options.get(Opt.VendorSpecific)!],
    [6, 1, 8, 255],
    'a BIOS ROM whose boot file is on a shared group: no MTFTP sub-options, it loads it by TFTP at once',
  );
});
