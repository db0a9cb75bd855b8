// The DHCP service on real UDP sockets, on loopback (no namespace needed): it binds per
// interface, answers the PXE boot-server port unicast to the asker, emits an event for
// every message received and sent, survives garbage, and keeps serving after it.
// The broadcast paths (ports 67/68) are proven with real clients in namespaces
// (test/lab/interop/dhcp-*.test.ts); here the replies that come back to the sender are used.
import t from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseConfig } from '../../../services/core/config.js';
import { EventBus, type BootEvent, type EventOf } from '../../../services/core/events.js';
import { HostMap } from '../../../services/core/hostmap.js';
import { silentLogger } from '../../../services/core/log.js';
import { Opt, decode, isDecodeError, messageType, optText } from '../../../services/dhcp/packet.js';
import { start } from '../../../services/dhcp/server.js';
import { PXE_UEFI, dhcp, tlv } from '../../helpers/dhcp-bytes.js';
import { needs, asRoot } from '../../helpers/needs.js';
import { serviceContext } from '../../helpers/context.js';

t.test('the PXE boot server port answers unicast, events and counters follow every packet', async (t) => {
  if (!needs(t, asRoot('binding to an interface (SO_BINDTOIFINDEX, CAP_NET_RAW)'))) return;
  const dir = t.testdir();
  writeFileSync(join(dir, 'hosts.yaml'), 'defaults: { action: menu }\nhosts:\n  52:54:00:12:34:56: { hostname: pc01 }\n');
  const config = parseConfig('stateDir: state\nhosts: hosts.yaml\ndhcp:\n  mode: proxy\n  interfaces: [lo]\n', join(dir, 'appliance.yaml'));
  const hosts = await HostMap.open(config.hosts, silentLogger());
  const events = new EventBus();
  const seen: BootEvent[] = [];
  events.onAny((e) => seen.push(e));
  // Ephemeral ports: the real 67/4011 may be taken on a developer's machine.
  const server = await start(await serviceContext(config, { events, hosts }), { dhcp: 0, pxe: 0 });
  t.teardown(async () => { await server.close(); hosts.close(); });
  const status = server.status();
  t.equal(status.state, 'running');
  t.same(status.bound.map((b) => b.address), ['0.0.0.0%lo', '127.0.0.1%lo', '0.0.0.0%lo'], 'broadcasts, unicasts, PXE boot server');
  const pxePort = status.bound[2].port;

  const client = dgram.createSocket('udp4');
  t.teardown(() => client.close());
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const ask = async (buf: Buffer, port: number) => {
    client.send(buf, port, '127.0.0.1');
    const timer = new Promise<null>((r) => setTimeout(() => r(null), 1500));
    const got = once(client, 'message').then(([m]) => m as Buffer);
    return Promise.race([got, timer]);
  };

  // Garbage first: dropped, counted, not answered.
  t.equal(await ask(Buffer.from('not a DHCP message'), pxePort), null);
  t.equal(await ask(dhcp(3, [tlv(60, 'PXEClient'), Buffer.from([61, 40, 1])]), pxePort), null, 'truncated option');
  // Then EDK2's boot-server request: ACK with the UEFI boot file, back to the asker's port.
  const reply = await ask(dhcp(3, PXE_UEFI, { ciaddr: '127.0.0.1', xid: 0xabc }), pxePort);
  t.ok(reply, 'an answer from the boot server port');
  const p = decode(reply!);
  if (isDecodeError(p)) throw new Error(p.error);
  t.equal(messageType(p), 5);
  t.equal(p.xid, 0xabc);
  t.equal(p.file, 'snponly.efi');
  t.equal(optText(p, Opt.VendorClass), 'PXEClient');
  const s = server.stats;
  t.equal(s.malformed, 2);
  t.equal(s.acks, 1);
  t.equal(s.errors, 0);
  const dhcpEvents = seen.filter((e) => e.kind.startsWith('dhcp.'));
  t.same(dhcpEvents.map((e) => e.kind), ['dhcp.request', 'dhcp.ack']);
  const ack = dhcpEvents[1] as EventOf<'dhcp.ack'>;
  t.match(ack, { mac: '52:54:00:12:34:56', xid: 0xabc, iface: 'lo', arch: 7, firmware: 'uefi', bootFile: 'snponly.efi', mode: 'proxy' });
  t.equal(ack.vendorClass, 'PXEClient:Arch:00007:UNDI:003016');

  // A laptop's DISCOVER (no PXE vendor class, not in the host map) is counted by type but
  // makes no event: the progress model does not follow it, and it costs the hot path nothing.
  t.equal(await ask(dhcp(1, [], { mac: '02:00:00:00:00:99', xid: 0xdef }), status.bound[0].port), null, 'proxy mode does not answer it');
  t.equal(server.stats.discovers, 1, 'counted as a DISCOVER received');
  t.equal(server.stats.requests, 1);
  t.same(seen.filter((e) => e.kind.startsWith('dhcp.')).length, 2, 'no event for it');
  // The same from a machine of the host map is followed (its booted OS, say).
  await ask(dhcp(1, [], { mac: '52:54:00:12:34:56', xid: 0xdee }), status.bound[0].port);
  t.equal(server.stats.discovers, 2);
  t.same(seen.filter((e) => e.kind.startsWith('dhcp.')).map((e) => e.kind), ['dhcp.request', 'dhcp.ack', 'dhcp.discover']);
});

t.test('a hand edit of the host map changes the next answer within a second, without a restart', async (t) => {
  if (!needs(t, asRoot('binding to an interface (SO_BINDTOIFINDEX, CAP_NET_RAW)'))) return;
  const dir = t.testdir();
  const hostsFile = join(dir, 'hosts.yaml');
  writeFileSync(hostsFile, 'defaults: { action: menu }\n');
  const config = parseConfig('stateDir: state\nhosts: hosts.yaml\ndhcp:\n  mode: proxy\n  interfaces: [lo]\n', join(dir, 'appliance.yaml'));
  const hosts = await HostMap.open(config.hosts, silentLogger());
  hosts.watch();
  const server = await start(await serviceContext(config, { hosts }), { dhcp: 0, pxe: 0 });
  t.teardown(async () => { await server.close(); hosts.close(); });
  const pxePort = server.status().bound[2].port;
  const client = dgram.createSocket('udp4');
  t.teardown(() => client.close());
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const fileFor = async () => {
    client.send(dhcp(3, PXE_UEFI, { ciaddr: '127.0.0.1' }), pxePort, '127.0.0.1');
    const [m] = await once(client, 'message');
    const p = decode(m as Buffer);
    return isDecodeError(p) ? null : p.file;
  };
  t.equal(await fileFor(), 'snponly.efi', 'before: the default iPXE for UEFI');
  writeFileSync(hostsFile, 'defaults: { action: menu }\nimages:\n  grub: { files: { uefi64: grub/grubx64.efi } }\nhosts:\n  52-54-00-12-34-56: { image: grub }\n');
  // Polled until the edit shows (the limit only stops a hung test: no time is asserted).
  const edited = Date.now();
  let file: string | null = null;
  while (Date.now() - edited < 30_000) {
    file = await fileFor();
    if (file === 'grub/grubx64.efi') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(file, 'grub/grubx64.efi', 'after: the image the edit gave this machine');
});

t.test('a named interface that does not exist stops the start with one clear line', async (t) => {
  const dir = t.testdir({ 'hosts.yaml': '' });
  const config = parseConfig('stateDir: state\nhosts: hosts.yaml\ndhcp:\n  interfaces: [nosuch0]\n', join(dir, 'appliance.yaml'));
  const hosts = await HostMap.open(config.hosts, silentLogger());
  t.teardown(() => hosts.close());
  await t.rejects(start(await serviceContext(config, { hosts }), { dhcp: 0, pxe: 0 }), /dhcp\.interfaces: interface "nosuch0" does not exist or is down \(this machine has: /);
});
