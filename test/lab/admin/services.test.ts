// Supervision routes, reload and operations endpoints over a real TFTP service on
// loopback: start, stop, restart; readiness follows the services; /metrics counts a real
// download; a reload with a bad config is refused with its lines and changes nothing.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, describe } from '../../helpers/clients.js';
import { adminFixture } from '../../helpers/admin.js';

const tftpPort = (f: Awaited<ReturnType<typeof adminFixture>>) => f.runtime.supervisor.row('tftp').bound[0].port;

t.test('start, stop and restart a real service; readiness follows it', async (t) => {
  const f = await adminFixture(t, { tftp: [], files: { 'hello.txt': 'hello\n' } });
  const list = await f.get('/api/services');
  t.equal(list.statusCode, 200);
  const tftp = list.json().services[0];
  t.match(tftp, { name: 'tftp', enabled: true, state: 'running', restarts: 0, lastError: null, nextRestartAt: null });
  t.same(tftp.bound, [{ protocol: 'udp', address: '127.0.0.1', port: tftpPort(f) }]);
  t.equal(typeof tftp.stats.filesSent, 'number', 'the service\'s own counters');
  t.same((await f.app.inject({ url: '/readyz' })).json(), { ready: true, services: { tftp: 'running', http: 'disabled', dhcp: 'disabled', mtftp: 'disabled' } });

  const stopped = await f.send('POST', '/api/services/tftp/stop');
  t.equal(stopped.statusCode, 200);
  t.match(stopped.json(), { name: 'tftp', state: 'stopped', bound: [] });
  const notReady = await f.app.inject({ url: '/readyz' });
  t.equal(notReady.statusCode, 503);
  t.same(notReady.json(), { ready: false, services: { tftp: 'stopped', http: 'disabled', dhcp: 'disabled', mtftp: 'disabled' } });

  const started = await f.send('POST', '/api/services/tftp/start');
  t.match(started.json(), { name: 'tftp', state: 'running', restarts: 0 });
  const before = tftpPort(f);
  const restarted = await f.send('POST', '/api/services/tftp/restart');
  t.equal(restarted.statusCode, 200);
  t.match(restarted.json(), { state: 'running', restarts: 1 });
  const r = await curl('get', { port: tftpPort(f), remote: 'hello.txt', local: join(f.dir, 'got.txt') });
  t.ok(r.ok, describe(r));
  t.equal(readFileSync(join(f.dir, 'got.txt'), 'utf8'), 'hello\n', 'the restarted service serves');
  t.ok(before > 0);

  const disabled = await f.send('POST', '/api/services/dhcp/start');
  t.equal(disabled.statusCode, 409);
  t.same(disabled.json(), { error: 'conflict', message: 'service dhcp is disabled in the configuration; enable it there and reload' });
  const unauth = await f.app.inject({ method: 'POST', url: '/api/services/tftp/stop' });
  t.equal(unauth.statusCode, 401);
  t.equal(f.runtime.supervisor.row('tftp').state, 'running', 'a refused request changed nothing');
});

t.test('/metrics counts a real download, the transfers and each service', async (t) => {
  const f = await adminFixture(t, { tftp: [], files: { 'a.bin': Buffer.alloc(100_000, 7) } });
  const r = await curl('get', { port: tftpPort(f), remote: 'a.bin', local: join(f.dir, 'a.bin') });
  t.ok(r.ok, describe(r));
  const missing = await curl('get', { port: tftpPort(f), remote: 'nope.bin', local: join(f.dir, 'nope.bin') });
  t.notOk(missing.ok, 'a missing file is refused');
  const m = await f.get('/metrics');
  t.equal(m.statusCode, 200);
  t.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = m.body;
  const value = (line: string) => {
    const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
    return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
  };
  t.equal(value('bootlab_tftp_transfers_total{direction="read",result="completed"}'), 1);
  t.equal(value('bootlab_tftp_bytes_total{direction="read"}'), 100_000);
  t.equal(value('bootlab_tftp_refused_total'), 1);
  t.equal(value('bootlab_tftp_transfers_active'), 0);
  t.equal(value('bootlab_service_up{service="tftp"}'), 1);
  t.equal(value('bootlab_service_up{service="dhcp"}'), 0);
  t.equal(value('bootlab_mtftp_groups_active'), 0);
  t.match(text, /# HELP bootlab_dhcp_packets_total DHCP messages by type/);
});

t.test('reload: a bad config is refused with its lines; a good one restarts what changed', async (t) => {
  const f = await adminFixture(t, { tftp: [] });
  const good = readFileSync(f.configFile, 'utf8');
  const tftpLine = '  port: 0\n'; // tftp's, the first port line (admin's is followed by its token)
  writeFileSync(f.configFile, good.replace(tftpLine, `${tftpLine}  maxBlockSize: 3\n`));
  const bad = await f.send('POST', '/api/config/reload');
  t.equal(bad.statusCode, 422);
  const line = good.split('\n').indexOf(tftpLine.trimEnd()) + 2;
  const expected = `${f.configFile}:${line} tftp.maxBlockSize: must be an integer 8-65464`;
  t.same(bad.json(), { error: 'config_invalid', message: `the new configuration was refused; the running one stays: ${expected}`, lines: [expected] });
  t.equal(f.runtime.config.tftp.maxBlockSize, 65464, 'the running config is unchanged');
  writeFileSync(f.configFile, good.replace(tftpLine, `${tftpLine}  maxBlockSize: 1468\n`).replace('  port: 0\n  token', '  port: 9\n  token'));
  const ok = await f.send('POST', '/api/config/reload');
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { ok: true, restarted: ['tftp'], hostsReloaded: false, needsRestart: ['admin.port'] });
  t.equal(f.runtime.config.tftp.maxBlockSize, 1468);
  t.equal(f.runtime.config.admin.port, 0, 'admin keys keep their running values until a restart');
  writeFileSync(f.hostsFile, 'hosts:\n  aa:bb:cc:dd:ee:ff: { hostname: pc1 }\n');
  const hosts = await f.send('POST', '/api/config/reload');
  t.same(hosts.json(), { ok: true, restarted: [], hostsReloaded: true, needsRestart: ['admin.port'] });
  t.equal(f.runtime.hosts.lookup('aa:bb:cc:dd:ee:ff')?.hostname, 'pc1');
  writeFileSync(f.hostsFile, 'hosts:\n  nonsense: 3\n');
  const badHosts = await f.send('POST', '/api/config/reload');
  t.equal(badHosts.statusCode, 422);
  t.equal(badHosts.json().error, 'config_invalid');
  t.match(badHosts.json().lines[0], /hosts\.yaml:2 /);
  t.equal(f.runtime.hosts.lookup('aa:bb:cc:dd:ee:ff')?.hostname, 'pc1', 'the last good host map stays');
});

t.test('with the admin API off, nothing listens to the services\' events: they skip building them', async (t) => {
  const on = await adminFixture(t);
  t.equal(on.runtime.events.wants('dhcp.discover'), true, 'the progress model and the metrics listen when the API is on');
  const off = await adminFixture(t, { admin: ['enabled: false'] });
  t.equal(off.runtime.events.wants('dhcp.discover'), false, 'admin.enabled false: no listener');
  t.equal(off.runtime.events.wants('tftp.progress'), false);
});
