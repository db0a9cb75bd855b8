// The sentences of a machine's boot history and of the dashboard's activity feed: one per
// event kind, for a teacher to read (the event's fields stay beside it for scripts).
import type { BootEvent, DhcpMessage } from '../core/events.js';

export const byteSize = (n: number): string =>
  (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`);

export function eventText(e: BootEvent): string {
  switch (e.kind) {
    case 'tftp.start': return `TFTP: ${e.direction === 'read' ? 'sending' : 'receiving'} ${e.file}${e.size !== null ? ` (${byteSize(e.size)})` : ''}, block size ${e.blockSize}`;
    case 'tftp.progress': return `TFTP: ${e.file}, ${byteSize(e.bytes)}${e.size !== null ? ` of ${byteSize(e.size)}` : ''}`;
    case 'tftp.done': return `TFTP: ${e.file} ${e.direction === 'read' ? 'sent' : 'received'}, ${byteSize(e.bytes)} in ${e.seconds.toFixed(2)} s${e.retransmits > 0 ? `, ${e.retransmits} retransmits` : ''}`;
    case 'tftp.failed':
      // EDK2 reads the size with a tsize-only request, then aborts it on purpose (pxe-notes.md).
      return e.clientAbort
        ? `TFTP: the client ended ${e.file} after ${byteSize(e.bytes)} (${e.reason}); UEFI firmware does this to learn the size`
        : `TFTP: ${e.file} failed after ${byteSize(e.bytes)}: ${e.reason}`;
    case 'tftp.refused': return `TFTP: ${e.file} refused: ${e.reason}`;
    case 'mtftp.round': return e.phase === 'start'
      ? `multicast: round ${e.round} of ${e.file} on ${e.group} started (${byteSize(e.size)}), led by ${e.master}`
      : `multicast: round ${e.round} of ${e.file} on ${e.group} ${e.ok === false ? `failed: ${e.reason}` : 'ended'}`;
    case 'mtftp.receiver': return `multicast: ${e.master ? 'leads' : 'listens to'} ${e.group} for ${e.file} (round ${e.round})`;
    case 'mtftp.progress': return `multicast: ${e.file}, block ${e.acked} of ${e.blocks}`;
    case 'mtftp.client-done': return `multicast: has all of ${e.file} (${e.via === 'master-ack' ? 'its last ACK as master' : 'its final ACK'})`;
    case 'http.start': return `HTTP: sending ${e.file} (${byteSize(e.size)}${e.range ? `, bytes ${e.range[0]}-${e.range[1]}` : ''})`;
    case 'http.progress': return `HTTP: ${e.file}, ${byteSize(e.bytes)} of ${byteSize(e.size)}`;
    case 'http.done': return `HTTP: ${e.file} sent, ${byteSize(e.bytes)} in ${e.seconds.toFixed(2)} s`;
    case 'http.failed': return e.clientAbort
      ? `HTTP: the client closed ${e.file} after ${byteSize(e.bytes)} (${e.reason})`
      : `HTTP: ${e.file} failed after ${byteSize(e.bytes)}: ${e.reason}`;
    case 'http.refused': return `HTTP: ${e.file} refused (${e.code}): ${e.reason}`;
    case 'client.stopped': return `stopped by bootlab: ${e.reason}`;
    case 'client.booted': return bootedText(e.target === 'local', e.message, e.via);
    default: return dhcpText(e);
  }
}

/** A machine's booted report in words: from the local disk (its script's LOCAL step), or with its message. */
export function bootedText(local: boolean, message: string | undefined, via: 'http' | 'api'): string {
  if (local) return 'booted from the local disk (its boot script\'s local-disk step)';
  if (message) return `booted: ${message}`;
  return via === 'http' ? 'booted (reported by its boot script or OS)' : 'booted (reported to the admin API)';
}

function dhcpText(e: DhcpMessage): string {
  const file = e.bootFile ? `, boot file ${e.bootFile}` : '';
  switch (e.kind) {
    case 'dhcp.discover': return `DHCP discover (${e.firmware}${e.arch !== null ? `, arch ${e.arch}` : ''})`;
    case 'dhcp.offer': return `DHCP offer${e.ip ? ` of ${e.ip}` : ' (proxy: boot information only)'}${file}`;
    case 'dhcp.request': return `DHCP request${e.ip ? ` for ${e.ip}` : ''}`;
    case 'dhcp.ack': return `DHCP ack${e.ip ? ` of ${e.ip}` : ''}${file}`;
    case 'dhcp.nak': return `DHCP nak${e.reason ? `: ${e.reason}` : ''}`;
    case 'dhcp.decline': return `DHCP decline: ${e.ip ?? 'the address'} is in use by another machine`;
    case 'dhcp.release': return `DHCP release of ${e.ip ?? 'its address'}`;
    default: return `DHCP ${e.kind.slice('dhcp.'.length)}`;
  }
}
