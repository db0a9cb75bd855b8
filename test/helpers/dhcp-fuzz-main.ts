// The fuzzer's process, run by dhcp-fuzz.ts inside a lab namespace:
//   node dist/test/helpers/dhcp-fuzz-main.js '<FuzzRun as JSON>'
// It broadcasts `count` packets of dhcp-fuzzgen.ts to 255.255.255.255:67 in batches. After
// each batch it sends a marker, a REQUEST for an address on no subnet of the server's
// (always answered with a NAK, and changing no state) relayed through its own address, and
// waits for that NAK on port 67 (sending the marker again after 500 ms without it) before
// the next batch. The server's broadcast socket takes datagrams in order, so the NAK means
// the whole batch was read: the fuzzer never runs ahead of the server. Prints
// {"progress": n} now and then, and {"sent", "markers", "retries", "counts"} at the end.
import dgram from 'node:dgram';
import { message, tlv } from './dhcp-bytes.js';
import { FuzzGen, type FuzzTarget } from './dhcp-fuzzgen.js';

export interface FuzzRun extends FuzzTarget {
  count: number;
  batch?: number;
}

const MARK_MAC = Buffer.from([0x02, 0xfe, 0, 0, 0, 1]);

const spec = JSON.parse(process.argv[2] ?? '{}') as FuzzRun;
const gen = new FuzzGen(spec);
const out = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const back = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let waiting: { xid: number; done: () => void } | null = null;

back.on('message', (m) => {
  if (
    waiting
    && m.length >= 240
    && m[0] === 2
    && m.readUInt32BE(4) === waiting.xid
    && m.subarray(28, 34).equals(MARK_MAC)
  ) {
    const w = waiting;
    waiting = null;
    w.done();
  }
});

function marker(xid: number): Buffer {
  return message({
    xid, mac: '02:fe:00:00:00:01', giaddr: spec.self,
    optionArea: Buffer.concat([tlv(53, [3]), tlv(50, [203, 0, 113, 77]), Buffer.from([255])]),
  });
}

const sendOne = (b: Buffer) => new Promise<void>((res) => out.send(b, 67, '255.255.255.255', () => res()));
let retries = 0;

async function mark(n: number): Promise<void> {
  const xid = (0x4d000000 + n) >>> 0;
  for (let tries = 0; tries <= 120; tries++) {
    if (tries > 0) retries++;
    const got = new Promise<boolean>((res) => {
      waiting = { xid, done: () => res(true) };
      setTimeout(() => res(false), 500);
    });
    await sendOne(marker(xid));
    if (await got) return;
  }
  throw new Error(`no NAK to marker ${n} after 120 tries`);
}

async function main(): Promise<void> {
  const batch = spec.batch ?? 100;
  let sent = 0;
  let markers = 0;
  while (sent < spec.count) {
    const n = Math.min(batch, spec.count - sent);
    for (let i = 0; i < n; i++) out.send(gen.next(), 67, '255.255.255.255');
    sent += n;
    await mark(++markers);
    if (markers % 100 === 0) process.stdout.write(`${JSON.stringify({ progress: sent })}\n`);
  }
  process.stdout.write(`${JSON.stringify({ sent, markers, retries, counts: gen.counts })}\n`);
}

let bound = 0;
const go = () => {
  if (++bound < 2) return;
  out.setBroadcast(true);
  main().then(() => process.exit(0), (e: Error) => {
    process.stdout.write(`${JSON.stringify({ error: e.message })}\n`);
    process.exit(2);
  });
};
out.bind(68, '0.0.0.0', go);
back.bind(67, '0.0.0.0', go);
