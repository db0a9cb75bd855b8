// DHCP under fuzzing (issue 15 item C.2): bootlab in full mode on a pool of 16 takes a
// large number of fuzzed packets with a fixed seed (test/helpers/dhcp-fuzzgen.ts: random
// bytes, flipped bytes, and well-formed but hostile DISCOVER/REQUEST/DECLINE/RELEASE/INFORM
// from random MACs) from a namespace on the lab bridge, paced so that bootlab reads every
// one (dhcp-fuzz-main.ts). Then:
//   - the same process is still running and handled every packet without an exception;
//   - its state is bounded by the pool, whatever came: lease records, quarantined
//     addresses, INFORM rate-limit entries (the DHCP service's stats, through the admin API);
//   - a fresh real client (busybox udhcpc) completes DORA right after the run;
//   - the JavaScript heap after a full garbage collection is back near where it was
//     before the run (a test preload collects on SIGUSR2; resident memory is only reported:
//     V8 keeps the pages it grew into).
// FUZZ_COUNT=<n> changes the count (default 200 000; the issue saw the failure at 10^6, and
// 10^6 takes about 10 minutes here). Needs root (ip netns), busybox and curl.
import t from 'tap';
import { Udhcpc, inRange, newLab, startBootlab } from '../../helpers/dhcp-clients.js';
import { gcProbe, rssKiB, serviceStats } from '../../helpers/dhcp-flood.js';
import { fuzz } from '../../helpers/dhcp-fuzz.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox', 'curl'));

const SRV = '192.0.2.1';
const FUZZER = '192.0.2.9';
const POOL = { start: '192.0.2.100', end: '192.0.2.115' };
const POOL_SIZE = 16;
const ADMIN_PORT = 8080;
const COUNT = Number(process.env.FUZZ_COUNT ?? 200_000);
const MiB = 1024 * 1024;

t.test(`after ${COUNT} fuzzed packets in full mode a fresh client still gets a lease, and state stays bounded`, async (tt) => {
  const env = newLab(tt, 'fz');
  if (!env) return;
  const { lab, dir } = env;
  lab.bridge('br0');
  lab.attach('srv', { cidr: `${SRV}/24` });
  lab.attach('f', { cidr: `${FUZZER}/24`, mac: '02:00:00:00:0f:09' });
  lab.attach('w', { mac: '02:00:00:00:0f:01' });
  lab.attach('c', { mac: '02:00:00:00:0f:02' });
  const gc = gcProbe(dir);
  const srv = await startBootlab(lab, 'srv', dir, {
    dhcp: { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 3600, dns: ['192.0.2.53'] },
    admin: { enabled: true, address: '127.0.0.1', port: ADMIN_PORT, token: 'fuzz-test-token-0123456789' },
    logLevel: 'info',
    env: gc.env,
  });
  const pid = srv.proc.pid;
  // A first client warms the process up, so the memory measured before is a running server's.
  const warm = await new Udhcpc(lab, 'w', dir).once({ tries: 5 });
  tt.ok(inRange(warm.lease?.ip, POOL.start, POOL.end), 'a client gets a lease before the fuzzing', { output: warm.output, server: srv.tail() });
  const before = serviceStats(lab, 'srv', ADMIN_PORT);
  const mem0 = await gc.collect(pid);
  const rss0 = rssKiB(pid);

  const r = await fuzz(lab, 'f', { seed: 15, count: COUNT, self: FUZZER, server: SRV, pool: POOL, net: '192.0.2' }, 60 * 60_000);
  tt.equal(r.sent, COUNT, `the fuzzer sent ${COUNT} packets`, { kinds: r.byKind });
  const rss1 = rssKiB(pid);
  const after = serviceStats(lab, 'srv', ADMIN_PORT);
  tt.ok(srv.proc.child.exitCode === null, 'the same bootlab process is still running');
  tt.ok(after.received - before.received >= COUNT + r.markers, `it received every packet (${after.received - before.received})`, { before, after });
  tt.equal(after.errors, 0, 'no packet made the DHCP service throw', { after });
  tt.ok(after.leaseRecords <= POOL_SIZE, `lease records stay within the pool (${after.leaseRecords} ≤ ${POOL_SIZE})`, { after });
  tt.ok(after.quarantined <= POOL_SIZE, `quarantined addresses stay within the pool (${after.quarantined} ≤ ${POOL_SIZE})`, { after });
  tt.ok(after.rateLimitSources <= 1024, `INFORM rate-limit entries stay bounded (${after.rateLimitSources})`, { after });
  tt.equal(after.leases, before.leases, `no forged message got an address bound (${after.leases} bound, as before)`);

  const fresh = await new Udhcpc(lab, 'c', dir).once({ tries: 5 });
  tt.ok(inRange(fresh.lease?.ip, POOL.start, POOL.end), `a fresh client completes DORA right after the fuzzing (${fresh.lease?.ip})`, { output: fresh.output, server: srv.tail() });
  tt.equal(srv.proc.pid, pid, 'still the same process');
  const mem1 = await gc.collect(pid);
  const grown = (mem1.heapUsed - mem0.heapUsed) / MiB;
  tt.comment(`heap after a full GC: ${(mem0.heapUsed / MiB).toFixed(1)} MiB before, ${(mem1.heapUsed / MiB).toFixed(1)} MiB after; `
    + `resident: ${(rss0 / 1024).toFixed(0)} MiB before, ${(rss1 / 1024).toFixed(0)} MiB at the end of the run; ${r.markers} batches, ${r.markerRetries} markers sent again`);
  tt.ok(grown < 8, `the heap after a full GC is back near its start (${grown.toFixed(1)} MiB more)`);
  await srv.stop();
});
