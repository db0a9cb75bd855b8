// The DHCP codec adapter (services/dhcp/packet.ts) against hand-built, byte-exact messages.
// Each node-dhcp defect the adapter handles has a test that first shows the defect in
// node-dhcp's own parser/formatter (so the test fails if our reasoning about it is wrong)
// and then shows the adapter's answer.
import t from 'tap';
import { createRequire } from 'node:module';
import {
  BOOTP_MIN_LENGTH,
  Opt,
  decode,
  encode,
  isDecodeError,
  macOf,
  messageType,
  optIp,
  optText,
  optUInt16,
  optUInt32,
  value,
  type DhcpPacket,
} from '../../services/dhcp/packet.js';
import { classify } from '../../services/dhcp/pxe.js';
import { IPXE, PXE_BIOS, dhcp, message, tlv } from '../helpers/dhcp-bytes.js';
import { prng } from '../helpers/prng.js';

const require = createRequire(import.meta.url);
const nodeDhcp = require('dhcp/lib/protocol.js') as { parse(b: Buffer): { options: Record<number, unknown> }; format(d: unknown): { _data: Buffer; _w: number } };

function ok(x: ReturnType<typeof decode>): DhcpPacket {
  if (isDecodeError(x)) throw new Error(`decode failed: ${x.error}`);
  return x;
}

/** Runs fn with console.error captured; returns what it printed. */
function quietly<T>(fn: () => T): { result: T | Error; printed: string[] } {
  const printed: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => { printed.push(a.join(' ')); };
  try {
    return { result: fn(), printed };
  } catch (e) {
    return { result: e as Error, printed };
  } finally {
    console.error = orig;
  }
}

t.test('header fields and a plain DISCOVER', async (t) => {
  const buf = dhcp(1, [tlv(50, [192, 0, 2, 77]), tlv(12, 'pc01')], { xid: 0xdeadbeef, mac: '02:aa:bb:cc:dd:ee', giaddr: '198.51.100.1', flags: 0x8000 });
  const p = ok(decode(buf));
  t.equal(p.op, 1);
  t.equal(p.xid, 0xdeadbeef);
  t.equal(p.flags, 0x8000);
  t.equal(p.giaddr, '198.51.100.1');
  t.equal(p.ciaddr, '0.0.0.0');
  t.equal(macOf(p), '02:aa:bb:cc:dd:ee');
  t.equal(messageType(p), 1);
  t.equal(optIp(p, Opt.RequestedIp), '192.0.2.77');
  t.equal(optText(p, Opt.HostName), 'pc01');
});

t.test('defect: a pad option (0) swallows the next byte in node-dhcp; the adapter skips one byte only', async (t) => {
  // Pad, then message type 53 = DISCOVER, then End.
  const buf = message({ optionArea: Buffer.from([0, 53, 1, 1, 255]) });
  const theirs = quietly(() => nodeDhcp.parse(buf));
  const theirOpts = theirs.result instanceof Error ? {} : theirs.result.options;
  t.not(theirOpts[53], 1, 'node-dhcp misreads the option after a pad');
  const p = ok(decode(buf));
  t.equal(messageType(p), 1);
  // Several pads in a row, as some ROMs align options.
  const q = ok(decode(message({ optionArea: Buffer.from([0, 0, 0, 53, 1, 3, 0, 50, 4, 192, 0, 2, 9, 255]) })));
  t.equal(messageType(q), 3);
  t.equal(optIp(q, Opt.RequestedIp), '192.0.2.9');
});

t.test('defect: unknown options are printed and dropped by node-dhcp; the adapter keeps PXE options raw, silently', async (t) => {
  const opts = [...PXE_BIOS, ...IPXE, tlv(43, [6, 1, 8, 255]), tlv(82, [1, 4, 0x65, 0x74, 0x68, 0x30])];
  const buf = dhcp(1, opts);
  const theirs = quietly(() => nodeDhcp.parse(buf));
  t.ok(theirs.printed.some((l) => /Option (93|94|97|77|175|82) not known/.test(l)), 'node-dhcp prints unknown options');
  const mine = quietly(() => decode(buf));
  t.same(mine.printed, [], 'the adapter prints nothing');
  const p = ok(mine.result as ReturnType<typeof decode>);
  t.same([...p.options.get(Opt.ClientArch)!], [0, 0]);
  t.same([...p.options.get(Opt.ClientNdi)!], [1, 2, 1]);
  t.equal(p.options.get(Opt.ClientUuid)!.length, 17);
  t.equal(p.options.get(Opt.UserClass)!.toString(), 'iPXE');
  t.same([...p.options.get(Opt.Ipxe)!], [0xb1, 0x05, 0x01, 0x10, 0xec, 0x10, 0x00]);
  t.same([...p.options.get(Opt.VendorSpecific)!], [6, 1, 8, 255]);
  t.same([...p.options.get(Opt.RelayAgentInfo)!], [1, 4, 0x65, 0x74, 0x68, 0x30]);
  const kind = classify(p);
  t.equal(kind.ipxe, true);
  t.equal(kind.arch, 'bios');
});

t.test('defect: option lengths are not checked by node-dhcp; the adapter refuses a truncated option without throwing', async (t) => {
  // Option 60 claims 40 bytes but the packet ends after 5.
  const buf = message({ optionArea: Buffer.from([53, 1, 1, 60, 40, 80, 88, 69, 67, 108]) });
  const theirs = quietly(() => nodeDhcp.parse(buf));
  const theirVendor = theirs.result instanceof Error ? null : (theirs.result.options[60] as string);
  t.ok(theirs.result instanceof Error || (theirVendor !== null && theirVendor.length !== 40), 'node-dhcp throws or reads a short value');
  const r = decode(buf);
  t.ok(isDecodeError(r));
  t.match((r as { error: string }).error, /option 60 .* claims 40 bytes, only 5 left/);
  // A length byte missing at the very end.
  const r2 = decode(message({ optionArea: Buffer.from([53, 1, 1, 61]) }));
  t.match((r2 as { error: string }).error, /option 61 .* no length byte/);
  // Shorter than a header.
  t.match((decode(Buffer.alloc(100)) as { error: string }).error, /too short/);
  t.match((decode(Buffer.alloc(239)) as { error: string }).error, /too short/);
  // No magic cookie: plain BOOTP, not answered.
  const noCookie = message({});
  noCookie.writeUInt32BE(0, 236);
  t.match((decode(noCookie) as { error: string }).error, /magic cookie/);
});

t.test('defect: node-dhcp does not pad replies; the adapter pads to the 300-byte BOOTP minimum', async (t) => {
  const reply: DhcpPacket = {
    op: 2, htype: 1, hlen: 6, hops: 0, xid: 7, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '192.0.2.100', siaddr: '192.0.2.1', giaddr: '0.0.0.0',
    chaddr: Buffer.from('525400123456' + '00'.repeat(10), 'hex'), sname: '', file: 'undionly.kpxe',
    options: new Map([[Opt.MessageType, value.u8(2)], [Opt.ServerId, value.ip('192.0.2.1')]]),
  };
  const theirs = nodeDhcp.format({ ...reply, chaddr: '52-54-00-12-34-56', options: { 53: 2, 54: '192.0.2.1' } });
  t.ok(theirs._w < BOOTP_MIN_LENGTH, `node-dhcp writes ${theirs._w} bytes`);
  const buf = encode(reply);
  t.equal(buf.length, BOOTP_MIN_LENGTH);
  t.equal(buf[240], 53, 'option 53 first');
  const end = buf.indexOf(255, 240 + 3 + 6);
  t.ok(buf.subarray(end + 1).every((b) => b === 0), 'zero padding after End');
  t.equal(buf.toString('latin1', 108, 108 + 13), 'undionly.kpxe');
  t.equal(buf[108 + 13], 0, 'file NUL-terminated');
});

t.test('defect: option overload (52) is ignored by node-dhcp; the adapter reads options from file and sname', async (t) => {
  const file = Buffer.alloc(128);
  Buffer.concat([tlv(60, 'PXEClient:Arch:00000'), Buffer.from([255])]).copy(file);
  const sname = Buffer.alloc(64);
  Buffer.concat([tlv(12, 'fromsname'), Buffer.from([255])]).copy(sname);
  const buf = message({ file, sname, optionArea: Buffer.concat([tlv(53, [1]), tlv(52, [3]), Buffer.from([255])]) });
  const theirs = quietly(() => nodeDhcp.parse(buf));
  t.notOk(!(theirs.result instanceof Error) && theirs.result.options[60], 'node-dhcp misses the overloaded option');
  const p = ok(decode(buf));
  t.equal(optText(p, Opt.VendorClass), 'PXEClient:Arch:00000');
  t.equal(optText(p, Opt.HostName), 'fromsname');
  t.equal(p.file, '', 'file held options, not a name');
  t.equal(p.sname, '');
  t.notOk(p.options.has(Opt.Overload));
});

t.test('RFC 3396: an option split over several instances is concatenated', async (t) => {
  const a = Buffer.alloc(255, 0x41);
  const b = Buffer.from('tail');
  const p = ok(
    decode(message({ optionArea: Buffer.concat([tlv(53, [1]), tlv(43, a), tlv(43, b), Buffer.from([255])]) })),
  );
  t.equal(p.options.get(43)!.length, 259);
  // And the encoder splits a long value the same way.
  const reply = { ...p, op: 2, options: new Map([[Opt.MessageType, value.u8(2)], [43, Buffer.concat([a, b])]]) };
  const again = ok(decode(encode(reply)));
  t.same(again.options.get(43), Buffer.concat([a, b]));
});

t.test('round trip: decode(encode(x)) keeps every field and option', async (t) => {
  const p = ok(decode(dhcp(3, [...PXE_BIOS, tlv(50, [192, 0, 2, 100]), tlv(54, [192, 0, 2, 1]), tlv(51, [0, 0, 14, 16])], { ciaddr: '192.0.2.100', giaddr: '198.51.100.1', xid: 99 })));
  const q = ok(decode(encode(p)));
  for (const k of ['op', 'htype', 'hlen', 'xid', 'flags', 'ciaddr', 'giaddr', 'sname', 'file'] as const) t.equal(q[k], p[k], k);
  t.same(q.chaddr, p.chaddr);
  t.same([...q.options.keys()].sort(), [...p.options.keys()].sort());
  for (const [k, v] of p.options) t.same(q.options.get(k), v, `option ${k}`);
  t.equal(optUInt32(q, Opt.LeaseTime), 3600);
  t.equal(optUInt16(q, Opt.ClientArch), 0);
});

t.test('no End option: the area simply ends (tolerated, as dnsmasq does)', async (t) => {
  const p = ok(decode(message({ optionArea: Buffer.from([53, 1, 1, 12, 2, 0x68, 0x69]) })));
  t.equal(messageType(p), 1);
  t.equal(optText(p, Opt.HostName), 'hi');
});

t.test('non-Ethernet hardware has no MAC (and is not answered)', async (t) => {
  const p = ok(decode(message({ htype: 32, hlen: 0 })));
  t.equal(macOf(p), null);
  t.match((decode(message({ hlen: 17 })) as { error: string }).error, /hlen/);
});

t.test('10 000 random and mutated inputs: decode never throws', async (t) => {
  const rand = prng(0x0dcb2026);
  const int = (n: number) => Math.floor(rand() * n);
  const seeds = [
    dhcp(1, [...PXE_BIOS, ...IPXE]),
    dhcp(3, [tlv(50, [1, 2, 3, 4])]),
    message({ optionArea: Buffer.from([0, 0, 255]) }),
  ];
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    let buf: Buffer;
    if (i % 3 === 0) {
      buf = Buffer.alloc(int(600));
      for (let j = 0; j < buf.length; j++) buf[j] = int(256);
      if (buf.length > 240) buf.writeUInt32BE(0x63825363, 236);
    } else {
      buf = Buffer.from(seeds[int(seeds.length)]);
      for (let k = int(6); k >= 0; k--) buf[240 + int(buf.length - 240)] = int(256);
      if (i % 5 === 0) buf = buf.subarray(0, int(buf.length));
    }
    let r: ReturnType<typeof decode>;
    try {
      r = decode(buf);
    } catch (e) {
      t.fail(`decode threw on input ${i}: ${(e as Error).message}`);
      return;
    }
    if (isDecodeError(r)) refused += 1;
    else {
      decoded += 1;
      encode(r); // and whatever decodes re-encodes
    }
  }
  t.ok(decoded > 1000 && refused > 1000, `decoded ${decoded}, refused ${refused}`);
});
