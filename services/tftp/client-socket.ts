// The UDP side of the TFTP client (client.ts): one local port, incoming datagrams in a
// queue read with a timeout, and ICMP port-unreachable reported as an event.
//
// Linux reports ICMP errors (ECONNREFUSED) only on a connected UDP socket, and a socket
// connected to the server's request port would drop the answer, which comes from a new
// port (the server's TID, RFC 1350). So the requests go out of an unconnected socket,
// and once the TID is known a second socket bound to the same local port (SO_REUSEADDR)
// is connected to it: the kernel hands that socket the TID's packets and their ICMP
// errors (the most specific match wins), the first keeps receiving everything else, so
// strays from other ports can still be answered with ERROR 5.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

export type Incoming =
  | { kind: 'packet'; buf: Buffer; address: string; port: number }
  | { kind: 'timeout' }
  | { kind: 'unreachable' }
  | { kind: 'aborted' };

function bind(sock: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

export class ClientSocket {
  private readonly queue: Incoming[] = [];
  private waiter: ((x: Incoming) => void) | null = null;
  private connected: dgram.Socket | null = null;
  private closed = false;

  private constructor(private readonly main: dgram.Socket, readonly target: string) {
    this.listen(main);
  }

  static async open(target: string): Promise<ClientSocket> {
    const type = isIPv6(target) ? 'udp6' : 'udp4';
    const main = dgram.createSocket({ type, reuseAddr: true });
    await bind(main, 0);
    return new ClientSocket(main, target);
  }

  get localPort(): number {
    return this.main.address().port;
  }

  private listen(sock: dgram.Socket): void {
    sock.on('message', (buf, rinfo) => this.push({ kind: 'packet', buf, address: rinfo.address, port: rinfo.port }));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') this.push({ kind: 'unreachable' });
    });
  }

  private push(x: Incoming): void {
    if (this.closed) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w(x);
    } else if (this.queue.length < 1024) {
      this.queue.push(x);
    }
  }

  /**
   * Connects a second socket on the same local port to the server's TID (see the top).
   * A new request after an ERROR gets a new TID: the socket of the old one is closed.
   */
  async lock(port: number): Promise<void> {
    this.connected?.close();
    this.connected = null;
    const type = isIPv6(this.target) ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type, reuseAddr: true });
    try {
      await bind(sock, this.localPort);
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.connect(port, this.target, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      this.listen(sock);
      this.connected = sock;
    } catch {
      // No ICMP reports then; the transfer itself works the same.
      sock.close();
    }
  }

  /** Sends to the target at `port` (through the connected socket when it is the TID). */
  send(buf: Buffer, port: number): void {
    if (this.closed) return;
    const c = this.connected;
    const onSent = (e: Error | null) => {
      if ((e as NodeJS.ErrnoException | null)?.code === 'ECONNREFUSED') this.push({ kind: 'unreachable' });
    };
    if (c && c.remoteAddress().port === port) c.send(buf, onSent);
    else this.main.send(buf, port, this.target, onSent);
  }

  /** The next datagram or event, or a timeout after `ms`. */
  next(ms: number, signal?: AbortSignal): Promise<Incoming> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (signal?.aborted) return Promise.resolve({ kind: 'aborted' });
    return new Promise((resolve) => {
      const done = (x: Incoming) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = null;
        resolve(x);
      };
      const onAbort = () => done({ kind: 'aborted' });
      const timer = setTimeout(() => done({ kind: 'timeout' }), Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = done;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.main.close();
    this.connected?.close();
  }
}
