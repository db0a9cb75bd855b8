// /metrics: Prometheus counters and gauges fed by the event bus and the supervisor.
// A registry per app (not prom-client's global one), so tests can build many apps.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BootEvent, EventBus } from '../core/events.js';
import { DROP_COUNTERS, PACKET_COUNTERS } from '../dhcp/counters.js';
import type { Supervisor } from './supervisor.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  private readonly tftpTransfers: Counter<'direction' | 'result'>;
  private readonly tftpBytes: Counter<'direction'>;
  private readonly tftpRetransmits: Counter;
  private readonly tftpRefused: Counter;
  private readonly mtftpRounds: Counter<'protocol' | 'result'>;
  private readonly mtftpBytes: Counter<'protocol'>;
  private readonly httpDownloads: Counter<'result'>;
  private readonly httpBytes: Counter;
  private readonly httpRefused: Counter<'code'>;
  private readonly booted: Counter<'via'>;
  private readonly httpActive = new Set<number>();
  private readonly tftpActive = new Set<number>();
  private readonly mtftpActive = new Set<string>();

  constructor(events: EventBus, supervisor: Supervisor, withProcessMetrics = true) {
    const registers = [this.registry];
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'bootlab_' });
    // Read from the DHCP service's own counters when scraped: an event per packet would cost
    // the DHCP path more than all its other work (services/dhcp/server.ts).
    new Counter({
      name: 'bootlab_dhcp_packets_total', help: 'DHCP messages by type: received (discover, request, ...) and sent (offer, ack, nak), since the DHCP service started', labelNames: ['type', 'direction'], registers,
      collect() {
        this.reset();
        const stats = supervisor.list().find((s) => s.name === 'dhcp')?.stats ?? {};
        for (const { key, type, direction } of PACKET_COUNTERS) this.inc({ type, direction }, stats[key] ?? 0);
      },
    });
    new Counter({
      name: 'bootlab_dhcp_dropped_total',
      help: 'DHCP packets shed, by reason: inform_rate_limit (INFORMs over one sender\'s rate, not answered), unicast_backlog (unicast replies dropped while too many waited for their destination), receive_buffer (requests the kernel dropped: the receive buffer was full), backlog (DISCOVERs dropped while the service read from a backlog)',
      labelNames: ['reason'], registers,
      collect() {
        this.reset();
        const stats = supervisor.list().find((s) => s.name === 'dhcp')?.stats ?? {};
        for (const { key, reason } of DROP_COUNTERS) this.inc({ reason }, stats[key] ?? 0);
      },
    });
    this.tftpTransfers = new Counter({ name: 'bootlab_tftp_transfers_total', help: 'TFTP transfers ended, by result (completed, failed)', labelNames: ['direction', 'result'], registers });
    this.tftpBytes = new Counter({ name: 'bootlab_tftp_bytes_total', help: 'File bytes moved by TFTP transfers that ended (read: sent, write: received)', labelNames: ['direction'], registers });
    this.tftpRetransmits = new Counter({ name: 'bootlab_tftp_retransmits_total', help: 'TFTP DATA packets sent again', registers });
    this.tftpRefused = new Counter({ name: 'bootlab_tftp_refused_total', help: 'TFTP requests answered with an ERROR (not found, access, busy)', registers });
    this.mtftpRounds = new Counter({ name: 'bootlab_mtftp_rounds_total', help: 'Multicast rounds ended, by protocol (pxe, rfc2090) and result', labelNames: ['protocol', 'result'], registers });
    this.mtftpBytes = new Counter({ name: 'bootlab_mtftp_bytes_total', help: 'DATA payload bytes sent to multicast groups, retransmissions included', labelNames: ['protocol'], registers });
    this.httpDownloads = new Counter({ name: 'bootlab_http_downloads_total', help: 'HTTP boot downloads (GET) ended, by result (completed, failed, aborted by the client)', labelNames: ['result'], registers });
    this.httpBytes = new Counter({ name: 'bootlab_http_bytes_total', help: 'Bytes sent by HTTP boot downloads that ended', registers });
    this.httpRefused = new Counter({ name: 'bootlab_http_refused_total', help: 'HTTP boot requests refused, by status (404, 403, 416 ...)', labelNames: ['code'], registers });
    this.booted = new Counter({ name: 'bootlab_booted_total', help: 'Machines that reported booted, by how (http: their script or OS; api: the admin API)', labelNames: ['via'], registers });
    const httpActive = this.httpActive;
    new Gauge({ name: 'bootlab_http_downloads_active', help: 'HTTP boot downloads running now', registers, collect() { this.set(httpActive.size); } });
    const active = this.tftpActive;
    const groups = this.mtftpActive;
    new Gauge({ name: 'bootlab_tftp_transfers_active', help: 'TFTP transfers running now', registers, collect() { this.set(active.size); } });
    new Gauge({ name: 'bootlab_mtftp_groups_active', help: 'Multicast groups sending now', registers, collect() { this.set(groups.size); } });
    new Gauge({
      name: 'bootlab_service_up', help: 'Whether each service is running (1) or not (0)', labelNames: ['service'], registers,
      collect() { for (const s of supervisor.list()) this.set({ service: s.name }, s.state === 'running' ? 1 : 0); },
    });
    new Gauge({
      name: 'bootlab_service_restarts', help: 'Restarts of each service since bootlab started', labelNames: ['service'], registers,
      collect() { for (const s of supervisor.list()) this.set({ service: s.name }, s.restarts); },
    });
    this.unsubscribe = events.onAny((e) => this.count(e));
  }

  private count(e: BootEvent): void {
    switch (e.kind) {
      case 'tftp.start': this.tftpActive.add(e.id); return;
      case 'tftp.done':
        this.tftpActive.delete(e.id);
        this.tftpTransfers.inc({ direction: e.direction, result: 'completed' });
        this.tftpBytes.inc({ direction: e.direction }, e.bytes);
        this.tftpRetransmits.inc(e.retransmits);
        return;
      case 'tftp.failed':
        this.tftpActive.delete(e.id);
        this.tftpTransfers.inc({ direction: e.direction, result: 'failed' });
        this.tftpBytes.inc({ direction: e.direction }, e.bytes);
        return;
      case 'tftp.refused': this.tftpRefused.inc(); return;
      case 'tftp.progress': return;
      case 'http.start': this.httpActive.add(e.id); return;
      case 'http.done':
        this.httpActive.delete(e.id);
        this.httpDownloads.inc({ result: 'completed' });
        this.httpBytes.inc(e.bytes);
        return;
      case 'http.failed':
        this.httpActive.delete(e.id);
        this.httpDownloads.inc({ result: e.clientAbort ? 'aborted' : 'failed' });
        this.httpBytes.inc(e.bytes);
        return;
      case 'http.refused': this.httpRefused.inc({ code: String(e.code) }); return;
      case 'client.booted': this.booted.inc({ via: e.via }); return;
      case 'mtftp.round': {
        const key = `${e.protocol} ${e.group} ${e.round}`;
        if (e.phase === 'start') { this.mtftpActive.add(key); return; }
        this.mtftpActive.delete(key);
        this.mtftpRounds.inc({ protocol: e.protocol, result: e.ok === false ? 'failed' : 'completed' });
        this.mtftpBytes.inc({ protocol: e.protocol }, e.dataBytes ?? 0);
        return;
      }
      default: return;
    }
  }

  text(): Promise<string> { return this.registry.metrics(); }
  get contentType(): string { return this.registry.contentType; }

  close(): void { this.unsubscribe(); }
}
