// Multicast facts both kinds of multicast TFTP (RFC 2090 in tftp/, PXE MTFTP in mtftp/),
// the config and the DHCP responder (option 43's MTFTP adverts) share. Pure.
import { isIPv4 } from 'node:net';

/** An IPv4 address in 224.0.0.0/4. */
export function isMulticast(ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const first = Number(ip.split('.')[0]);
  return first >= 224 && first <= 239;
}

/** Why a group address is unusable, or null. 224.0.0.0/24 is for routing protocols (RFC 5771). */
export function groupProblem(ip: string): string | null {
  if (!isMulticast(ip)) return 'must be an IPv4 multicast address (224.0.0.0-239.255.255.255), like 239.255.1.1';
  if (ip.startsWith('224.0.0.')) return 'must not be in 224.0.0.0/24, which routers use for themselves; use 239.x.x.x (administratively scoped)';
  return null;
}

/** The name a client's request is matched against: no leading slashes, forward slashes only. */
export function mtftpName(name: string): string {
  return name.replace(/\\/g, '/').replace(/^\/+/, '');
}

/** A group and client port as one key, "239.255.1.1:3001": what a listener's socket receives. */
export function channelKey(f: { group: string | null; clientPort: number }): string {
  return `${f.group}:${f.clientPort}`;
}

/**
 * The group:port keys that more than one file names, with those files in order. Such a
 * channel is shared: PXE MTFTP DATA carry no file name, so nothing of these files is ever
 * sent to it (unicast rounds instead, docs/decisions/0008-mtftp-shared-group.md). iPXE's
 * mtftp:// uses 239.255.1.1:3001 for every file, so a kernel and an initrd always share.
 */
export function sharedChannels(
  files: { file: string; group: string | null; clientPort: number }[],
): Map<string, string[]> {
  const byChannel = new Map<string, string[]>();
  for (const f of files) {
    const key = channelKey(f);
    byChannel.set(key, [...(byChannel.get(key) ?? []), f.file]);
  }
  return new Map([...byChannel].filter(([, names]) => names.length > 1));
}
