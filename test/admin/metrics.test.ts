// /metrics: DHCP messages by type and direction (the service's counters), multicast groups and rounds,
// failed TFTP transfers (the real TFTP path is counted in services.test.ts).
import t from 'tap';
import { Metrics } from '../../services/runtime/metrics.js';
import type { Supervisor } from '../../services/runtime/supervisor.js';
import { EventBus } from '../../services/core/events.js';

const noServices = { list: () => [] } as unknown as Supervisor;

function value(text: string, series: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${series} `));
  return hit === undefined ? undefined : Number(hit.slice(series.length + 1));
}

t.test('DHCP messages by type, received or sent, come from the DHCP service\'s own counters', async (t) => {
  const stats: Record<string, number> = {
    discovers: 2,
    offers: 2,
    requests: 2,
    acks: 1,
    naks: 1,
    declines: 0,
    releases: 0,
    informs: 0,
  };
  const supervisor = { list: () => [{ name: 'dhcp', state: 'running', restarts: 0, stats }] } as unknown as Supervisor;
  const m = new Metrics(new EventBus(), supervisor, false);
  t.teardown(() => m.close());
  let text = await m.text();
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="discover",direction="received"}'), 2);
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="offer",direction="sent"}'), 2);
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="request",direction="received"}'), 2);
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="ack",direction="sent"}'), 1);
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="nak",direction="sent"}'), 1);
  stats.discovers = 5;
  text = await m.text();
  t.equal(value(text, 'bootlab_dhcp_packets_total{type="discover",direction="received"}'), 5, 'read again at each scrape');
});

t.test('multicast groups are active between the round\'s start and end; failed TFTP transfers count', async (t) => {
  const events = new EventBus();
  const m = new Metrics(events, noServices, false);
  t.teardown(() => m.close());
  const round = { kind: 'mtftp.round' as const, protocol: 'pxe' as const, group: '239.255.1.1:3001', file: 'undionly.kpxe', round: 1, master: '192.0.2.30', blocks: 10, size: 5000 };
  events.emit({ ...round, phase: 'start' });
  events.emit({ ...round, group: '239.255.1.2:3001', phase: 'start' });
  t.equal(value(await m.text(), 'bootlab_mtftp_groups_active'), 2);
  events.emit({ ...round, phase: 'end', ok: true, dataBytes: 5000 });
  events.emit({ kind: 'tftp.start', id: 7, ip: '192.0.2.31', direction: 'read', file: 'k', port: 1000, size: 10, blockSize: 512, windowSize: 1 });
  events.emit({ kind: 'tftp.failed', id: 7, ip: '192.0.2.31', direction: 'read', file: 'k', bytes: 512, reason: 'timeout', clientAbort: false });
  const text = await m.text();
  t.equal(value(text, 'bootlab_mtftp_groups_active'), 1);
  t.equal(value(text, 'bootlab_mtftp_rounds_total{protocol="pxe",result="completed"}'), 1);
  t.equal(value(text, 'bootlab_mtftp_bytes_total{protocol="pxe"}'), 5000);
  t.equal(value(text, 'bootlab_tftp_transfers_total{direction="read",result="failed"}'), 1);
  t.equal(value(text, 'bootlab_tftp_transfers_active'), 0);
});

t.test('HTTP boot downloads: active, completed, aborted by the client, refused by status; booted reports by how', async (t) => {
  const events = new EventBus();
  const m = new Metrics(events, noServices, false);
  t.teardown(() => m.close());
  const start = { kind: 'http.start' as const, ip: '192.0.2.31', file: 'vmlinuz', size: 4096, method: 'GET' as const, range: null };
  events.emit({ ...start, id: 1 });
  events.emit({ ...start, id: 2 });
  t.equal(value(await m.text(), 'bootlab_http_downloads_active'), 2);
  events.emit({ kind: 'http.done', id: 1, ip: '192.0.2.31', file: 'vmlinuz', bytes: 4096, seconds: 0.1, throughput: 40960 });
  events.emit({ kind: 'http.failed', id: 2, ip: '192.0.2.31', file: 'vmlinuz', bytes: 100, reason: 'the client closed the connection', clientAbort: true });
  events.emit({ kind: 'http.refused', ip: '192.0.2.31', file: 'nope', code: 404, reason: 'file not found' });
  events.emit({ kind: 'client.booted', mac: '52:54:00:00:00:01', via: 'http' });
  events.emit({ kind: 'client.booted', mac: '52:54:00:00:00:02', via: 'api' });
  const text = await m.text();
  t.equal(value(text, 'bootlab_http_downloads_active'), 0);
  t.equal(value(text, 'bootlab_http_downloads_total{result="completed"}'), 1);
  t.equal(value(text, 'bootlab_http_downloads_total{result="aborted"}'), 1);
  t.equal(value(text, 'bootlab_http_bytes_total'), 4196);
  t.equal(value(text, 'bootlab_http_refused_total{code="404"}'), 1);
  t.equal(value(text, 'bootlab_booted_total{via="http"}'), 1);
  t.equal(value(text, 'bootlab_booted_total{via="api"}'), 1);
});
