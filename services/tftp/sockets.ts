// Transfer sockets. Each transfer gets its own UDP socket (a fresh transfer ID), bound
// to the listening address so replies leave from the address the client talked to,
// on an ephemeral port or one from tftp.portRange (for firewalls).
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';

/**
 * dgram resolves the destination of every send through dns.lookup, which for an IP
 * literal still defers the send by a tick. Transfers only ever send to the IP literal
 * a request came from, and a socket's family is fixed, so the answer is immediate and
 * needs no parsing (isIP's regular expression showed in the per-packet profile).
 */
function literalLookup(family: 4 | 6): SocketOptions['lookup'] {
  return (address, _opts, cb) => (cb as (e: Error | null, a: string, f: number) => void)(null, address, family);
}

function bindSocket(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** The listening socket's address, as plain data (it crosses into worker threads). */
export interface ListenInfo { address: string; family: string; port: number }

export async function openTransferSocket(local: ListenInfo, portRange: string | null): Promise<Socket> {
  const type = local.family === 'IPv6' ? 'udp6' : 'udp4';
  const lookup = literalLookup(type === 'udp6' ? 6 : 4);
  const make = () => createSocket({ type, ipv6Only: false, lookup });
  if (!portRange) {
    const socket = make();
    await bindSocket(socket, 0, local.address);
    tune(socket);
    return socket;
  }
  const [low, high] = portRange.split('-').map(Number);
  const span = high - low + 1;
  const first = Math.floor(Math.random() * span);
  // Try every port of the range once, from a random start, until one is free.
  for (let i = 0; i < span; i++) {
    const socket = make();
    try {
      await bindSocket(socket, low + ((first + i) % span), local.address);
      tune(socket);
      return socket;
    } catch {
      socket.close();
    }
  }
  throw new Error(`no free port in tftp.portRange ${portRange}`);
}

function tune(socket: Socket): void {
  // A window of large blocks must fit the socket buffers, or the kernel drops it.
  try { socket.setSendBufferSize(1 << 20); } catch { /* capped by net.core.wmem_max */ }
  try { socket.setRecvBufferSize(1 << 20); } catch { /* capped by net.core.rmem_max */ }
}

export function sendTo(socket: Socket, packet: Buffer | Buffer[], port: number, address: string): void {
  try {
    socket.send(packet, port, address);
  } catch {
    // The socket closed under us (the transfer ended): nothing to send any more.
  }
}

/**
 * Closes a transfer's socket once libuv has handed its queued datagrams to the kernel, and
 * `lingerMs` after that.
 * - A send that meets a full socket buffer waits in libuv's queue, and close() would drop
 *   it: the ERROR that ends a transfer (a timeout, a shutdown) is exactly such a datagram.
 * - Linger: a transfer ended with an ERROR usually has ACKs still in flight. Reaching a
 *   closed port they draw ICMP "port unreachable", and Linux hands that error to the
 *   client's next recv() before the ERROR datagram already in its queue: atftp then prints
 *   "unknown error" instead of the server's message. Open a little longer, the socket
 *   swallows them (the transfer is over; nothing answers).
 */
export function closeWhenSent(socket: Socket, lingerMs = 0, waitMs = 250): Promise<void> {
  const deadline = Date.now() + waitMs;
  return new Promise((resolve) => {
    const close = () => { try { socket.close(() => resolve()); } catch { resolve(); } }; // closed meanwhile
    const attempt = () => {
      let queued = 0;
      try { queued = socket.getSendQueueCount(); } catch { resolve(); return; } // already closed
      if (queued > 0 && Date.now() < deadline) {
        setTimeout(attempt, 2).unref();
        return;
      }
      if (lingerMs > 0) setTimeout(close, lingerMs).unref();
      else close();
    };
    attempt();
  });
}
