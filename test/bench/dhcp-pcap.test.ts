// The DHCP benchmark's capture analysis (dhcp-pcap.ts) on a hand-built pcap: requests
// paired with replies by xid and message type, late and unmatched replies, the cut-off
// at perfdhcp's exit, percentiles. No network, no root.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseCapture, percentile, stats } from './dhcp-pcap.js';

const CLIENT = '198.18.0.2';
const SERVER = '198.18.0.1';

/** One Ethernet/IPv4/UDP/BOOTP frame with option 53 = `type` (or no options when null). */
function frame(from: string, to: string, op: 1 | 2, xid: number, type: number | null): Buffer {
  const bootp = Buffer.alloc(240 + (type === null ? 1 : 4));
  bootp[0] = op;
  bootp[1] = 1;
  bootp[2] = 6;
  bootp.writeUInt32BE(xid, 4);
  bootp.writeUInt32BE(0x63825363, 236);
  if (type === null) bootp[240] = 255;
  else bootp.set([53, 1, type, 255], 240);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(67, 0);
  udp.writeUInt16BE(67, 2);
  udp.writeUInt16BE(8 + bootp.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + bootp.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(from.split('.').map(Number), 12);
  ip.set(to.split('.').map(Number), 16);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, bootp]);
}

/** A nanosecond pcap of [ms since 1000 s, frame] records. */
function pcap(records: [number, Buffer][]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b23c4d, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  for (const [ms, f] of records) {
    const rec = Buffer.alloc(16);
    const ns = Math.round(ms * 1e6);
    rec.writeUInt32LE(1000 + Math.floor(ns / 1e9), 0);
    rec.writeUInt32LE(ns % 1e9, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  return Buffer.concat(parts);
}

const dir = mkdtempSync(join(tmpdir(), 'dhcp-pcap-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('pairs DISCOVER/OFFER and REQUEST/ACK of one xid, by message type', async (t) => {
  const file = join(dir, 'dora.pcap');
  writeFileSync(file, pcap([
    [0, frame(CLIENT, '255.255.255.255', 1, 7, 1)], // DISCOVER
    [0.5, frame(CLIENT, '255.255.255.255', 1, 8, 1)], // DISCOVER of another exchange
    [2, frame(SERVER, CLIENT, 2, 7, 2)], // OFFER after 2 ms
    [3, frame(CLIENT, '255.255.255.255', 1, 7, 3)], // REQUEST, same xid
    [3.25, frame(SERVER, CLIENT, 2, 7, 5)], // ACK after 0.25 ms
    [3.5, frame(SERVER, CLIENT, 2, 7, 5)], // a duplicate ACK: unmatched
    [1600, frame(SERVER, CLIENT, 2, 8, 2)], // OFFER for xid 8 after 1599.5 ms: late
    [1700, frame(CLIENT, '255.255.255.255', 1, 9, 1)], // never answered
  ]));
  const r = analyseCapture(file, CLIENT, 1000);
  t.equal(r.requests, 4);
  t.equal(r.replies, 4);
  t.equal(r.unmatched, 1);
  t.equal(r.late, 1);
  t.equal(r.unanswered, 1);
  t.equal(r.byType.DO.n, 1);
  t.equal(r.byType.RA.n, 1);
  t.ok(Math.abs(r.byType.DO.maxMs! - 2) < 1e-6);
  t.ok(Math.abs(r.byType.RA.maxMs! - 0.25) < 1e-6);
  t.equal(r.all.n, 2);
  t.ok(Math.abs(r.all.avgMs! - 1.125) < 1e-6);
});

t.test('without option 53 in the snap, the second request of an xid is the REQUEST', async (t) => {
  const file = join(dir, 'snap.pcap');
  writeFileSync(file, pcap([
    [0, frame(CLIENT, SERVER, 1, 1, null)],
    [1, frame(SERVER, CLIENT, 2, 1, null)],
    [2, frame(CLIENT, SERVER, 1, 1, null)],
    [5, frame(SERVER, CLIENT, 2, 1, null)],
  ]));
  const r = analyseCapture(file, CLIENT);
  t.equal(r.byType.DO.n, 1);
  t.equal(r.byType.RA.n, 1);
  t.ok(Math.abs(r.byType.RA.maxMs! - 3) < 1e-6);
});

t.test('packets after the end time are left out', async (t) => {
  const file = join(dir, 'end.pcap');
  writeFileSync(file, pcap([
    [0, frame(CLIENT, SERVER, 1, 1, 1)],
    [1, frame(SERVER, CLIENT, 2, 1, 2)],
    [2, frame(CLIENT, SERVER, 1, 2, 1)],
    [900, frame(SERVER, CLIENT, 2, 2, 2)],
  ]));
  const endMs = 1000 * 1000 + 500; // the pcap's clock starts at 1000 s
  const r = analyseCapture(file, CLIENT, 1000, endMs);
  t.equal(r.all.n, 1);
  t.equal(r.unanswered, 1);
});

t.test('nearest-rank percentile', async (t) => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(v, 0.99), 99);
  t.equal(percentile(v, 0.5), 50);
  t.equal(percentile([5], 0.99), 5);
  t.equal(percentile([], 0.99), null);
  const s = stats([3, 1, 2]);
  t.same(s, { n: 3, avgMs: 2, p50Ms: 2, p99Ms: 3, maxMs: 3 });
});
