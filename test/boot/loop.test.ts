// The chain-loop guard (services/boot/loop.ts) with a real bus and a clock of our own: a
// machine's script fetched again and again with no DHCP in between is a loop (issue 15 A1).
import t from 'tap';
import { ipxeProvider, stoppedScript } from '../../services/boot/ipxe.js';
import { ChainLoopGuard, loopGuardFor } from '../../services/boot/loop.js';
import { EventBus, type BootEvent } from '../../services/core/events.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import { SITE } from './loader-fixtures.js';

const A = '52:54:00:00:00:01';
const B = '52:54:00:00:00:02';

function setup(opts: { limit?: number; windowMs?: number; maxMachines?: number } = {}) {
  const events = new EventBus();
  let now = 1_000_000;
  const seen: BootEvent[] = [];
  events.onAny((e) => seen.push(e));
  const guard = new ChainLoopGuard(events, { ...opts, now: () => now });
  return { events, guard, seen, advance: (ms: number) => { now += ms; } };
}

const dhcp = (events: EventBus, kind: 'dhcp.discover' | 'dhcp.request', mac: string) =>
  events.emit({ kind, mac, xid: 1, iface: 'lab0', arch: 0, vendorClass: 'PXEClient', firmware: 'ipxe', mode: 'proxy' });

t.test('the fifth fetch with no DHCP in between is a loop: the reason, and client.stopped once', async (t) => {
  const { guard, seen } = setup();
  for (let i = 1; i <= 4; i++) t.equal(guard.served(A, '192.0.2.50', 'loopy'), null, `fetch ${i}: goes on`);
  const reason = guard.served(A, '192.0.2.50', 'loopy');
  t.match(reason, /came back to its own script 5 times without a new DHCP request \(image loopy leads back to bootlab\/52-54-00-00-00-01\.ipxe\)/);
  t.match(guard.served(A, '192.0.2.50', 'loopy'), /came back/, 'and every fetch after it');
  const stopped = seen.filter((e) => e.kind === 'client.stopped');
  t.equal(stopped.length, 1, 'one event for the loop, not one per fetch');
  t.match(stopped[0], { kind: 'client.stopped', mac: A, cause: 'chain-loop', ip: '192.0.2.50', reason });
  t.equal(guard.served(B, '192.0.2.51', null), null, 'another machine counts on its own');
});

t.test('a DHCP discover or request from the machine starts the count over (a boot, not a loop)', async (t) => {
  const { events, guard } = setup();
  for (let boot = 0; boot < 5; boot++) {
    for (let i = 0; i < 4; i++) t.equal(guard.served(A, null, 'x'), null);
    dhcp(events, boot % 2 ? 'dhcp.discover' : 'dhcp.request', A);
  }
  dhcp(events, 'dhcp.discover', B);
  for (let i = 0; i < 4; i++) guard.served(A, null, 'x');
  t.not(guard.served(A, null, 'x'), null, 'another machine\'s DHCP does not reset this one');
  dhcp(events, 'dhcp.discover', A);
  t.equal(guard.served(A, null, 'x'), null, 'a stopped machine that boots again goes on');
});

t.test('fetches further apart than the window never make a loop (DHCP through another server)', async (t) => {
  const { guard, advance, seen } = setup({ windowMs: 60_000 });
  for (let i = 0; i < 20; i++) {
    t.equal(guard.served(A, null, 'x'), null);
    advance(15_001);
  }
  t.equal(seen.length, 0);
});

t.test('the machines counted stay bounded', async (t) => {
  const { guard } = setup({ maxMachines: 100 });
  for (let i = 0; i < 5000; i++) guard.served(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, null, null);
  t.equal(guard.size, 100);
});

t.test('through the iPXE provider: the stopped script instead of the machine\'s script, then back to the firmware', async (t) => {
  const { guard, seen } = setup({ limit: 3 });
  const hosts = hostView(`images:\n  loopy: { chain: "http://192.0.2.1/bootlab/{{machyp}}.ipxe" }\nhosts:\n  ${A}: { hostname: pc01, image: loopy }\n`);
  const p = ipxeProvider(hosts, SITE, guard);
  const name = 'bootlab/52-54-00-00-00-01.ipxe';
  t.match(p(name, { address: '192.0.2.50' }), /^chain http:\/\/192\.0\.2\.1\/bootlab\/52-54-00-00-00-01\.ipxe$/m);
  t.match(p(name, { address: '192.0.2.50' }), /^chain /m);
  const stop = p(name, { address: '192.0.2.50' })!;
  const reason = (seen.find((e) => e.kind === 'client.stopped') as { reason: string }).reason;
  t.equal(stop, stoppedScript(A, hosts.lookup(A), reason));
  t.equal(stop, [
    '#!ipxe', '# bootlab: 52:54:00:00:00:01 (pc01)',
    `echo bootlab: ${reason}`,
    'sleep 10 ||', 'exit', '',
  ].join('\n'));
  t.equal(p('bootlab/boot.ipxe', { address: '192.0.2.50' })?.startsWith('#!ipxe'), true, 'the dispatcher is not counted');
});

t.test('the stopped script never carries iPXE expansions from the reason', async (t) => {
  t.equal(stoppedScript(A, undefined, 'a ${x} b {c}').split('\n')[2], 'echo bootlab: a x b c');
});

t.test('one guard per bus, shared by the TFTP and HTTP services\' providers', async (t) => {
  const bus = new EventBus();
  t.equal(loopGuardFor(bus), loopGuardFor(bus));
  t.not(loopGuardFor(bus), loopGuardFor(new EventBus()));
});
