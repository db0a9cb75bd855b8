// The lease journal (services/dhcp/leases.ts): leases, releases and declines survive a
// restart; a line torn by a crash is skipped; compaction keeps exactly the live state and
// goes through a temporary file and rename; the ACK's promise resolves only once its line
// is in the file.
import t from 'tap';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LeaseStore } from '../../services/dhcp/leases.js';
import { ipToInt, intToIp } from '../../services/core/net.js';

const HOUR = 3600_000;

t.test('bound leases, releases and declines are restored after a restart', async (t) => {
  const dir = t.testdir();
  const now = Date.now();
  const a = LeaseStore.open(dir);
  await a.bind('02:00:00:00:00:01', '192.0.2.100', now + HOUR, 'pc01');
  const pending = a.bind('02:00:00:00:00:02', '192.0.2.101', now + HOUR, null);
  const file = join(dir, 'dhcp-leases.jsonl');
  t.notMatch(readFileSync(file, 'utf8'), /192\.0\.2\.101/, 'not written before the event loop turns');
  await pending;
  t.match(readFileSync(file, 'utf8'), /192\.0\.2\.101/, 'written once the promise resolves');
  a.release('02:00:00:00:00:02', '192.0.2.101');
  t.notOk(a.decline('192.0.2.102', '02:00:00:00:00:03', now + HOUR), 'a DECLINE of an address this MAC was not given is refused');
  t.notOk(a.quarantined('192.0.2.102', now));
  await a.bind('02:00:00:00:00:03', '192.0.2.102', now + HOUR, null);
  t.ok(a.decline('192.0.2.102', '02:00:00:00:00:03', now + HOUR), 'its holder\'s is taken');
  a.close();
  const b = LeaseStore.open(dir);
  t.teardown(() => b.close());
  const l1 = b.byMacAddress('02:00:00:00:00:01');
  t.same({ ip: l1?.ip, state: l1?.state, host: l1?.hostname, exp: l1?.expires }, { ip: '192.0.2.100', state: 'bound', host: 'pc01', exp: now + HOUR });
  t.equal(b.byMacAddress('02:00:00:00:00:02')?.state, 'released');
  t.equal(b.holder('192.0.2.101', now), undefined);
  t.ok(b.quarantined('192.0.2.102', now));
  t.equal(b.holder('192.0.2.100', now)?.mac, '02:00:00:00:00:01');
});

t.test('a torn last line (crash mid-write) is skipped, the rest kept', async (t) => {
  const dir = t.testdir();
  const exp = Date.now() + HOUR;
  writeFileSync(join(dir, 'dhcp-leases.jsonl'), `${JSON.stringify({ t: 'bind', mac: '02:00:00:00:00:01', ip: '192.0.2.100', exp, host: null })}\n{"t":"bind","mac":"02:00:00:0`);
  const s = LeaseStore.open(dir);
  t.teardown(() => s.close());
  t.equal(s.holder('192.0.2.100', Date.now())?.mac, '02:00:00:00:00:01');
  t.equal(s.all().length, 1);
});

t.test('expired leases are dropped when the journal is compacted at start', async (t) => {
  const dir = t.testdir();
  const now = Date.now();
  const lines = [
    { t: 'bind', mac: '02:00:00:00:00:01', ip: '192.0.2.100', exp: now - 1000, host: null },
    { t: 'bind', mac: '02:00:00:00:00:02', ip: '192.0.2.101', exp: now + HOUR, host: null },
    { t: 'bind', mac: '02:00:00:00:00:02', ip: '192.0.2.101', exp: now + 2 * HOUR, host: null },
  ];
  writeFileSync(join(dir, 'dhcp-leases.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const s = LeaseStore.open(dir);
  s.close();
  const text = readFileSync(join(dir, 'dhcp-leases.jsonl'), 'utf8').trim().split('\n');
  t.equal(text.length, 1, 'one live lease, one line');
  t.equal((JSON.parse(text[0]) as { exp: number }).exp, now + 2 * HOUR);
  t.notOk(existsSync(join(dir, 'dhcp-leases.jsonl.tmp')), 'no temporary file left');
});

t.test('60 000 clients: every one gets an address, none twice (the cursor allocator)', async (t) => {
  const s = LeaseStore.memory();
  const range = { start: ipToInt('198.18.1.0'), end: ipToInt('198.19.255.254') };
  const seen = new Set<string>();
  const now = Date.now();
  const started = process.hrtime.bigint();
  for (let i = 0; i < 60_000; i++) {
    const mac = `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const ip = s.allocate('link', range, mac, now, () => false);
    if (ip === null || seen.has(ip)) { t.fail(`client ${i} got ${ip}`); return; }
    seen.add(ip);
    void s.bind(mac, ip, now + HOUR, null);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(seen.size, 60_000);
  t.comment(`60 000 allocations in ${ms.toFixed(0)} ms (speed is measured by npm run bench:dhcp, not asserted here)`);
  t.equal(intToIp(range.start), '198.18.1.0');
});
