// Full-mode decisions under abuse (issue 15 item C, decision 0009), with plain values:
// hand-built requests (test/helpers/dhcp-bytes.ts), an in-memory lease store, an explicit
// clock. Forged DECLINE, RELEASE and REQUEST from MACs that were given nothing change no
// state; a pool full of offers makes room for a new client; option 3 is given only when
// there is a router; and a deterministic fuzz run through decode() and respond() leaves
// the state within the pool and a fresh client its DORA.
import t from 'tap';
import { dhcpSpec } from '../../services/core/config.js';
import { defaults } from '../../services/core/schema.js';
import { LeaseStore } from '../../services/dhcp/leases.js';
import { MessageType, Opt, decode, isDecodeError, macOf, messageType, optIp, optText, type DhcpPacket } from '../../services/dhcp/packet.js';
import { classify } from '../../services/dhcp/pxe.js';
import { respond, type Decision, type Link, type RespondContext, type ResolvedDhcpConfig } from '../../services/dhcp/respond.js';
import { dhcp, hostView, tlv, type RawRequest } from '../helpers/dhcp-bytes.js';
import { FuzzGen } from '../helpers/dhcp-fuzzgen.js';
import type { TapTest } from '../helpers/util.js';

const SERVER = '192.0.2.1';
const LINK: Link = { name: 'eth0', address: SERVER, netmask: '255.255.255.0' };
const ip4 = (s: string) => s.split('.').map(Number);
const mac = (n: number) => `02:00:00:00:02:${n.toString(16).padStart(2, '0')}`;

function context(over: Partial<ResolvedDhcpConfig> = {}): RespondContext {
  const config: ResolvedDhcpConfig = { ...defaults(dhcpSpec), mode: 'full', interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.103' }, dns: [], ...over };
  return { config, hosts: hostView('defaults: { action: menu }\n'), reservedBy: () => undefined, leases: LeaseStore.memory(), now: 1_800_000_000_000 };
}

function ask(ctx: RespondContext, buf: Buffer, link: Link = LINK): Decision {
  const packet = decode(buf);
  if (isDecodeError(packet)) throw new Error(packet.error);
  return respond({ packet, mac: macOf(packet)!, kind: classify(packet), link, bootServer: false, source: { address: '0.0.0.0', port: 68 } }, ctx);
}

function reply(t: TapTest, d: Decision, type: MessageType): DhcpPacket {
  if (d.kind !== 'reply') throw new Error(`expected ${MessageType[type]}, got ${d.kind}: ${'reason' in d ? d.reason : d.what}`);
  t.equal(messageType(d.packet), type, `a ${MessageType[type]}`);
  return d.packet;
}

function dora(t: TapTest, ctx: RespondContext, r: RawRequest): string {
  const offer = reply(t, ask(ctx, dhcp(1, [], r)), MessageType.Offer);
  reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(offer.yiaddr))], r)), MessageType.Ack);
  return offer.yiaddr;
}

t.test('DECLINE is taken only from the client the address was given to (RFC 2131 4.3.3)', async (t) => {
  const ctx = context();
  const ip = dora(t, ctx, { mac: mac(1) });
  const forged = ask(ctx, dhcp(4, [tlv(50, ip4(ip)), tlv(54, ip4(SERVER))], { mac: mac(2) }));
  t.equal(forged.kind, 'ignore', 'a DECLINE of a bound address from another MAC is ignored');
  t.match(forged.kind === 'ignore' && forged.reason, /was not given/);
  t.notOk(ctx.leases.quarantined(ip, ctx.now), 'and quarantines nothing');
  t.equal(ctx.leases.holder(ip, ctx.now)?.mac, mac(1), 'the lease stays with its client');
  for (let i = 0; i < 500; i++) ask(ctx, dhcp(4, [tlv(50, [198, 51, (i >> 8) & 255, i & 255])], { mac: mac(3) }));
  t.equal(ctx.leases.sizes().quarantined, 0, '500 DECLINEs of addresses nobody was given quarantine nothing');
  const free = ask(ctx, dhcp(4, [tlv(50, ip4('192.0.2.103'))], { mac: mac(3) }));
  t.equal(free.kind, 'ignore', 'nor does a DECLINE of a free pool address');
  t.equal(reply(t, ask(ctx, dhcp(1, [tlv(50, ip4('192.0.2.103'))], { mac: mac(4) })), MessageType.Offer).yiaddr, '192.0.2.103', 'which is still offered');
  t.equal(ask(ctx, dhcp(4, [tlv(50, ip4(ip)), tlv(54, ip4(SERVER))], { mac: mac(1) })).kind, 'noted', 'the holder\'s own DECLINE is taken');
  t.ok(ctx.leases.quarantined(ip, ctx.now));
});

t.test('RELEASE from a MAC that does not hold the address changes nothing', async (t) => {
  const ctx = context();
  const ip = dora(t, ctx, { mac: mac(1) });
  t.equal(ask(ctx, dhcp(7, [tlv(54, ip4(SERVER))], { mac: mac(2), ciaddr: ip })).kind, 'ignore');
  t.equal(ctx.leases.holder(ip, ctx.now)?.state, 'bound', 'still bound to its client');
});

t.test('a REQUEST for an address never offered to that client gets a NAK and leaves no lease', async (t) => {
  const ctx = context();
  const selecting = ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4('192.0.2.101'))], { mac: mac(1) }));
  t.match(optText(reply(t, selecting, MessageType.Nak), Opt.Message), /not offered to this client/);
  const renewing = ask(ctx, dhcp(3, [], { mac: mac(2), ciaddr: '192.0.2.102', flags: 0 }));
  reply(t, renewing, MessageType.Nak);
  t.same(renewing.kind === 'reply' && renewing.to, { address: '255.255.255.255', port: 68 }, 'NAKs are broadcast');
  t.equal(ctx.leases.sizes().records, 0, 'no lease record was made');
  // A client whose lease expired long ago may still have its address back.
  const ip = dora(t, ctx, { mac: mac(3) });
  const later = { ...ctx, now: ctx.now + 30 * 24 * 3600_000 };
  t.equal(reply(t, ask(later, dhcp(3, [tlv(50, ip4(ip))], { mac: mac(3) })), MessageType.Ack).yiaddr, ip, 'INIT-REBOOT of its old address');
});

t.test('a pool full of offers: a new client takes the oldest one; bound leases are never taken', async (t) => {
  const ctx = context();
  const offered: string[] = [];
  for (let i = 1; i <= 4; i++) {
    offered.push(reply(t, ask(ctx, dhcp(1, [], { mac: mac(i) })), MessageType.Offer).yiaddr);
    ctx.now += 1000;
  }
  const fresh = reply(t, ask(ctx, dhcp(1, [], { mac: mac(9) })), MessageType.Offer);
  t.equal(fresh.yiaddr, offered[0], 'the fifth client gets the address offered first');
  t.equal(ctx.leases.reclaimed, 1, 'counted');
  reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(offered[0]))], { mac: mac(1) })), MessageType.Nak);
  reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(fresh.yiaddr))], { mac: mac(9) })), MessageType.Ack);
  for (let i = 2; i <= 4; i++)
    reply(t, ask(ctx, dhcp(3, [tlv(54, ip4(SERVER)), tlv(50, ip4(offered[i - 1]))], { mac: mac(i) })), MessageType.Ack);
  const none = ask(ctx, dhcp(1, [], { mac: mac(10) }));
  t.match(none.kind === 'ignore' && none.reason, /exhausted/, 'with every address bound, nothing is taken back');
  t.equal(ctx.leases.sizes().records, 4);
});

t.test('option 3: dhcp.router, else the interface\'s gateway, else none; behind a relay, that relay', async (t) => {
  const none = reply(t, ask(context(), dhcp(1, [], { mac: mac(1) })), MessageType.Offer);
  t.notOk(none.options.has(Opt.Router), 'no router: bootlab does not route');
  const gw = reply(t, ask(context(), dhcp(1, [], { mac: mac(1) }), { ...LINK, gateway: '192.0.2.254' }), MessageType.Offer);
  t.equal(optIp(gw, Opt.Router), '192.0.2.254', 'the interface\'s default gateway');
  const cfg = reply(t, ask(context({ router: '192.0.2.250' }), dhcp(1, [], { mac: mac(1) }), { ...LINK, gateway: '192.0.2.254' }), MessageType.Offer);
  t.equal(optIp(cfg, Opt.Router), '192.0.2.250', 'dhcp.router wins');
  const ctx = context({ relayPools: [{ start: '198.51.100.100', end: '198.51.100.150', netmask: '255.255.255.0', router: null }] });
  for (const g of ['198.51.100.1', '198.51.100.2']) {
    const p = reply(t, ask(ctx, dhcp(1, [], { mac: mac(2), giaddr: g })), MessageType.Offer);
    t.equal(optIp(p, Opt.Router), g, `relayed through ${g}: router ${g}`);
  }
});

t.test('200 000 fuzzed packets through decode and respond: state within the pool, then a fresh DORA', async (t) => {
  const ctx = context({ pool: { start: '192.0.2.100', end: '192.0.2.115' } });
  const gen = new FuzzGen({ seed: 7, server: SERVER, self: '192.0.2.9', pool: { start: '192.0.2.100', end: '192.0.2.115' }, net: '192.0.2' });
  let malformed = 0;
  let replies = 0;
  for (let i = 0; i < 200_000; i++) {
    const packet = decode(gen.next());
    ctx.now += 1;
    if (isDecodeError(packet)) { malformed++; continue; }
    const m = macOf(packet);
    if (!m) continue;
    if (respond({ packet, mac: m, kind: classify(packet), link: LINK, bootServer: false, source: { address: '192.0.2.9', port: 68 } }, ctx).kind === 'reply') replies++;
  }
  t.ok(malformed > 0 && replies > 0, `some were malformed (${malformed}), some answered (${replies})`, { kinds: gen.counts });
  const sizes = ctx.leases.sizes();
  t.ok(sizes.records <= 16, `lease records within the pool of 16 (${sizes.records})`);
  t.ok(sizes.quarantined <= 16, `quarantined addresses within the pool (${sizes.quarantined})`);
  const bound = ctx.leases.all().filter((l) => l.state === 'bound' && l.expires > ctx.now).length;
  t.equal(bound, 0, 'no forged message got an address bound');
  t.ok(dora(t, ctx, { mac: mac(99) }).startsWith('192.0.2.1'), 'a fresh client completes DORA');
});
