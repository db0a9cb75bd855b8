// Leases survive a restart (full mode): bootlab gives a client an address from a pool of
// two, is stopped (SIGTERM) and started again on the same state folder. A second client
// then gets the other address, never the first client's; a third gets nothing (the pool
// is exhausted by the restored lease); and the first client, asking for its address
// again (udhcpc -r), is given it back.
// Needs root (ip netns) and busybox; without them it skips outside CI and fails under CI, saying
// why (helpers/needs.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Udhcpc, newLab, startBootlab } from '../../helpers/dhcp-clients.js';
import { needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(asRoot('network namespaces (ip netns)'), tools('ip', 'busybox'));

const SRV = '192.0.2.1';
const POOL = { start: '192.0.2.100', end: '192.0.2.101' };

t.test('leases are restored from the journal after a restart', async (t) => {
  const env = newLab(t, 'rs');
  if (!env) return;
  const { lab, dir } = env;
  lab.bridge();
  lab.attach('srv', { cidr: `${SRV}/24` });
  lab.attach('a', { mac: '02:00:00:00:09:01' });
  lab.attach('b', { mac: '02:00:00:00:09:02' });
  lab.attach('c', { mac: '02:00:00:00:09:03' });
  const dhcp = { mode: 'full', interfaces: ['eth0'], pool: POOL, leaseTime: 600 };

  const first = await startBootlab(lab, 'srv', dir, { dhcp });
  const a = await new Udhcpc(lab, 'a', dir).once();
  t.ok(a.lease?.ip, 'client a got a lease', { output: a.output, server: first.tail() });
  const aIp = a.lease!.ip;
  await first.stop();
  const journal = readFileSync(join(first.dir, 'state', 'dhcp-leases.jsonl'), 'utf8');
  t.match(journal, new RegExp(`"mac":"02:00:00:00:09:01","ip":"${aIp.replace(/\./g, '\\.')}"`), 'the journal holds a\'s lease');

  const second = await startBootlab(lab, 'srv', dir, { dhcp, home: first.dir });
  const b = await new Udhcpc(lab, 'b', dir).once();
  t.ok(b.lease?.ip, 'client b got a lease', { output: b.output, server: second.tail() });
  t.not(b.lease?.ip, aIp, `b got ${b.lease?.ip}, not a's ${aIp}: a's lease was restored`);
  const c = await new Udhcpc(lab, 'c', dir).once({ tries: 3 });
  t.equal(c.lease, undefined, 'c gets nothing: both addresses are held');
  t.ok(second.logs().some((l) => l.msg === 'dhcp ignored' && typeof l.reason === 'string' && /exhausted/.test(l.reason)), 'the server says the pool is exhausted');
  const again = await new Udhcpc(lab, 'a', dir).once({ extra: ['-r', aIp] });
  t.equal(again.lease?.ip, aIp, 'a asking again gets its own address back');
  await second.stop();
});
