// RFC 2090 through the TFTP server on loopback, no namespaces: who gets a group and who is
// served by unicast. (The real multicast exchange runs in test/lab/interop/mtftp.test.ts.)
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tftpSpec } from '../../../services/core/config.js';
import { EventBus } from '../../../services/core/events.js';
import { silentLogger } from '../../../services/core/log.js';
import { interfaceInfo } from '../../../services/core/net.js';
import { defaults } from '../../../services/core/schema.js';
import { TftpServer } from '../../../services/tftp/server.js';
import { decode, encode, errorPacket, isDecodeError, type Packet } from '../../../services/tftp/packet.js';

function ask(
  sock: Socket,
  to: { address: string; port: number },
  options: [string, string][],
): Promise<{ packet: Packet; port: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer in 3 s')), 3000);
    sock.once('message', (msg, rinfo) => {
      clearTimeout(timer);
      const packet = decode(msg);
      if (isDecodeError(packet)) return reject(new Error(packet.message));
      resolve({ packet, port: rinfo.port });
    });
    sock.send(encode({ op: 'RRQ', filename: 'f.bin', mode: 'octet', options: new Map(options) }), to.port, to.address);
  });
}

t.test('a client on IPv4 joins a group; one on IPv6 is served by unicast; multicast off: plain TFTP', async (t) => {
  const root = t.testdir({});
  writeFileSync(join(root, 'f.bin'), Buffer.alloc(3000, 7));
  const lo = interfaceInfo('lo');
  if (typeof lo === 'string') throw new Error(lo);
  const cfg = { ...defaults(tftpSpec), address: '::', port: 0, root, workers: 0 as const, multicast: { ...defaults(tftpSpec).multicast, enabled: true } };
  const events = new EventBus();
  const receivers: string[] = [];
  events.on('mtftp.receiver', (e) => receivers.push(`${e.ip} master=${e.master}`));
  const server = new TftpServer(cfg, silentLogger(), events, { iface: lo, ttl: 1 });
  await server.listen();
  t.teardown(() => server.close());
  const port = server.status().bound[0].port;
  const opts: [string, string][] = [['multicast', ''], ['blksize', '1024']];

  const v4 = createSocket('udp4');
  await new Promise<void>((r) => v4.bind(0, '127.0.0.1', r));
  t.teardown(() => v4.close());
  const a = await ask(v4, { address: '127.0.0.1', port }, opts);
  t.same(a.packet, { op: 'OACK', options: new Map([['multicast', '239.255.2.1,1758,1'], ['blksize', '1024']]) }, 'IPv4: OACK with the group and mc=1');
  t.not(a.port, port, 'from the group\'s own socket, not the listening port');
  t.same(receivers, ['127.0.0.1 master=true']);
  t.equal(server.multicastStats?.groups, 1);
  v4.send(errorPacket(0, 'bye'), a.port, '127.0.0.1');

  const v6 = createSocket({ type: 'udp6', ipv6Only: true });
  await new Promise<void>((r) => v6.bind(0, '::1', r));
  t.teardown(() => v6.close());
  const b = await ask(v6, { address: '::1', port }, opts);
  t.same(b.packet, { op: 'OACK', options: new Map([['blksize', '1024']]) }, 'IPv6: the multicast option is left out (RFC 2347); plain TFTP follows');
  t.same(receivers, ['127.0.0.1 master=true'], 'no group member for IPv6');
  v6.send(errorPacket(0, 'bye'), b.port, '::1');

  const plain = new TftpServer(
    { ...cfg, multicast: { ...cfg.multicast, enabled: false } },
    silentLogger(),
    events,
    null,
  );
  await plain.listen();
  t.teardown(() => plain.close());
  const c = await ask(v4, { address: '127.0.0.1', port: plain.status().bound[0].port }, opts);
  t.same(c.packet, { op: 'OACK', options: new Map([['blksize', '1024']]) }, 'tftp.multicast off: the option is ignored');
  v4.send(errorPacket(0, 'bye'), c.port, '127.0.0.1');
});
