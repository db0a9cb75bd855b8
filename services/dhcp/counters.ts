// The DHCP service's counters that /metrics publishes (admin/metrics.ts): their keys in
// DhcpServer.stats and their labels, once. DhcpStats has a number for every key listed
// here, so a counter added to a list and not counted is a compile error.

/** DHCP messages by type, received (by message type number) and sent. */
export const PACKET_COUNTERS = [
  { key: 'discovers', type: 'discover', direction: 'received', message: 1 },
  { key: 'requests', type: 'request', direction: 'received', message: 3 },
  { key: 'declines', type: 'decline', direction: 'received', message: 4 },
  { key: 'releases', type: 'release', direction: 'received', message: 7 },
  { key: 'informs', type: 'inform', direction: 'received', message: 8 },
  { key: 'offers', type: 'offer', direction: 'sent' },
  { key: 'acks', type: 'ack', direction: 'sent' },
  { key: 'naks', type: 'nak', direction: 'sent' },
] as const;

/** What the service shed under load or abuse (limits.ts), by stats key and reason label. */
export const DROP_COUNTERS = [
  { key: 'informsLimited', reason: 'inform_rate_limit' },
  { key: 'unicastDropped', reason: 'unicast_backlog' },
  { key: 'kernelDropped', reason: 'receive_buffer' },
  { key: 'discoversShed', reason: 'backlog' },
] as const;

type Packet = (typeof PACKET_COUNTERS)[number];
export type ReceivedCounter = Extract<Packet, { direction: 'received' }>['key'];
export type DhcpCounterKey = Packet['key'] | (typeof DROP_COUNTERS)[number]['key'];

/** The counter of a received message type (DHCPDISCOVER 1 → discovers); none for the others. */
export const RECEIVED_COUNTER: ReadonlyMap<number, ReceivedCounter> = new Map(
  PACKET_COUNTERS.flatMap((c) => (c.direction === 'received' ? [[c.message, c.key] as const] : [])),
);
