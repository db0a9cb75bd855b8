// The supervisor: start, stop, restart; a crash is contained to its service and restarted
// with a growing pause; a reload restarts only the services whose config changed. Fake
// services here (the real ones are crashed in test/lab/interop/supervision.test.ts).
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { appSpec, type AppConfig } from '../../../services/core/config.js';
import { EventBus } from '../../../services/core/events.js';
import type { HostMap } from '../../../services/core/hostmap.js';
import { silentLogger, type Logger } from '../../../services/core/log.js';
import { defaults } from '../../../services/core/schema.js';
import type { Service, ServiceContext, ServiceStatus } from '../../../services/core/service.js';
import { Supervisor, type ServiceDefinition, type ServiceName } from '../../../services/runtime/supervisor.js';
import { sleep, waitFor } from '../../helpers/dhcp-clients.js';

interface Fake extends Service { generation: number; closed: boolean; ctx: ServiceContext }

/** A service whose start fails while `failStarts` > 0, and which records its instances. */
function fake(
  name: ServiceName,
  state: { failStarts: number; instances: Fake[] },
  enabled = (_c: AppConfig) => true,
): ServiceDefinition {
  return {
    name,
    enabled,
    slice: (c) => (name === 'tftp' ? c.tftp : name === 'dhcp' ? c.dhcp : c.mtftp),
    async start(ctx) {
      if (state.failStarts > 0) {
        state.failStarts--;
        throw new Error(`${name}: cannot bind (test)`);
      }
      const port = 1000 + state.instances.length;
      const inst: Fake = {
        name,
        generation: state.instances.length + 1,
        closed: false,
        ctx,
        status: (): ServiceStatus => ({
          state: 'running',
          since: 0,
          bound: [{ protocol: 'udp', address: '127.0.0.1', port }],
          lastError: null,
          stats: { n: 1 },
        }),
        async close() {
          inst.closed = true;
        },
      };
      state.instances.push(inst);
      return inst;
    },
  };
}

function setup(backoff = { initialMs: 40, maxMs: 160, forgiveAfterMs: 60_000 }, log: Logger = silentLogger()) {
  const config = defaults(appSpec);
  const a = { failStarts: 0, instances: [] as Fake[] };
  const b = { failStarts: 0, instances: [] as Fake[] };
  const sup = new Supervisor(config, log, new EventBus(), {} as HostMap, [fake('tftp', a), fake('dhcp', b)], backoff);
  return { sup, a, b, config };
}

t.test('start, stop and restart by name; rows say state, restarts and bound ports', async (t) => {
  const { sup, a } = setup();
  await sup.startAll();
  t.same(sup.list().map((r) => [r.name, r.state, r.restarts]), [['tftp', 'running', 0], ['dhcp', 'running', 0]]);
  t.same(sup.row('tftp').bound, [{ protocol: 'udp', address: '127.0.0.1', port: 1000 }]);
  await sup.stop('tftp');
  t.equal(sup.row('tftp').state, 'stopped');
  t.equal(a.instances[0].closed, true, 'stop closed the instance');
  t.equal(sup.instance('tftp'), null);
  await sup.start('tftp');
  t.equal(a.instances.length, 2, 'start made a new instance');
  const r = await sup.restart('tftp');
  t.equal(r.state, 'running');
  t.equal(r.restarts, 1);
  t.equal(a.instances[1].closed, true);
  t.equal(a.instances.length, 3);
  await sup.close();
  t.equal(a.instances[2].closed, true, 'close stops every service');
});

t.test('a crash is contained: only that service is closed and restarted, after a pause that grows', async (t) => {
  // The pauses are read from the supervisor's own log (delayMs), not timed: the machine may be loaded.
  const lines: { service?: string; delayMs?: number }[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
  const pauses = () => lines.filter((l) => l.service === 'tftp' && l.delayMs !== undefined).map((l) => l.delayMs);
  const { sup, a, b } = setup(undefined, pino({ level: 'info' }, sink));
  await sup.startAll();
  const dhcpBefore = sup.instance('dhcp');
  const t0 = Date.now();
  a.instances[0].ctx.fail!(new Error('socket broke'));
  await waitFor(() => sup.row('tftp').state === 'backoff', 20_000);
  const row = sup.row('tftp');
  t.equal(row.lastError, 'socket broke', 'the error is kept for the API');
  t.ok(row.nextRestartAt! >= t0 + 40, 'a restart is scheduled after the first pause');
  t.equal(a.instances[0].closed, true, 'what was left of it was closed');
  t.equal(sup.instance('dhcp'), dhcpBefore, 'dhcp was not touched');
  t.equal(sup.row('dhcp').state, 'running');
  await waitFor(() => sup.row('tftp').state === 'running', 20_000);
  t.equal(sup.row('tftp').restarts, 1);
  t.equal(a.instances.length, 2);

  // It crashes again, then keeps failing to start: each pause twice the last, up to the maximum.
  a.failStarts = 3;
  a.instances[1].ctx.fail!(new Error('again'));
  await waitFor(() => sup.row('tftp').state === 'running' && a.instances.length === 3, 20_000);
  t.same(pauses(), [40, 80, 160, 160, 160], 'the first crash\'s pause, then four pauses, each twice the last up to the maximum');
  t.equal(sup.row('tftp').restarts, 5, 'every attempt counts as a restart');
  t.equal(sup.row('tftp').lastError, null, 'a good start clears the error');
  t.equal(b.instances.length, 1, 'dhcp still has its first instance');

  // A late report from a closed instance is ignored.
  a.instances[0].ctx.fail!(new Error('stale'));
  await sleep(60);
  t.equal(sup.row('tftp').state, 'running');
  await sup.close();
});

t.test('stop during the pause cancels the restart; start brings it back at once', async (t) => {
  const { sup, a } = setup({ initialMs: 200, maxMs: 200, forgiveAfterMs: 60_000 });
  await sup.startAll();
  a.instances[0].ctx.fail!(new Error('x'));
  await waitFor(() => sup.row('tftp').state === 'backoff', 20_000);
  await sup.stop('tftp');
  await sleep(300);
  t.equal(sup.row('tftp').state, 'stopped', 'not restarted behind the user\'s back');
  t.equal(a.instances.length, 1);
  await sup.start('tftp');
  t.equal(sup.row('tftp').state, 'running');
  await sup.close();
});

t.test('a start failure at boot is thrown; after boot it backs off', async (t) => {
  const { sup, a } = setup();
  a.failStarts = 1;
  await t.rejects(sup.startAll(), /tftp: cannot bind \(test\)/);
  a.failStarts = 1;
  const cfg = defaults(appSpec);
  cfg.tftp.port = 7069;
  const restarted = await sup.reload(cfg);
  t.same(restarted, ['tftp'], 'tftp\'s config changed');
  t.equal(sup.row('tftp').state, 'backoff', 'the failed start backs off instead of throwing');
  await waitFor(() => sup.row('tftp').state === 'running', 20_000);
  t.equal(a.instances.length, 1);
  await sup.close();
});

t.test('reload restarts only what changed, and starts or stops what was enabled or disabled', async (t) => {
  const config = defaults(appSpec);
  const a = { failStarts: 0, instances: [] as Fake[] };
  const b = { failStarts: 0, instances: [] as Fake[] };
  const m = { failStarts: 0, instances: [] as Fake[] };
  const sup = new Supervisor(config, silentLogger(), new EventBus(), {} as HostMap,
    [fake('tftp', a), fake('dhcp', b), fake('mtftp', m, (c) => c.mtftp.enabled)], { initialMs: 40, maxMs: 40, forgiveAfterMs: 1000 });
  await sup.startAll();
  t.equal(sup.row('mtftp').state, 'disabled');
  const same = await sup.reload(structuredClone(config));
  t.same(same, [], 'nothing changed, nothing restarted');
  const next = structuredClone(config);
  next.dhcp.leaseTime = 7200;
  next.mtftp.enabled = true;
  t.same(await sup.reload(next), ['dhcp', 'mtftp']);
  t.equal(a.instances.length, 1, 'tftp untouched');
  t.equal(b.instances.length, 2, 'dhcp restarted');
  t.equal(m.instances.length, 1, 'mtftp started');
  t.same(b.instances[1].ctx.config.dhcp.leaseTime, 7200, 'the new instance has the new config');
  const off = structuredClone(next);
  off.mtftp.enabled = false;
  t.same(await sup.reload(off), []);
  t.equal(sup.row('mtftp').state, 'disabled');
  t.equal(m.instances[0].closed, true);
  // A service stopped by hand stays stopped through a reload that changes it.
  await sup.stop('tftp');
  const moved = structuredClone(off);
  moved.tftp.port = 6969;
  t.same(await sup.reload(moved), []);
  t.equal(sup.row('tftp').state, 'stopped');
  await sup.close();
});
