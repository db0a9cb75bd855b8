// A UDP relay on loopback that sits between a TFTP client and a server and impairs the
// traffic: drops, duplicates and reorders a share of the packets in each direction, with a
// seeded PRNG so a run can be repeated. Only ever sends to loopback addresses.
//
// TFTP answers from a new port (the server's transfer ID) per transfer. The relay listens
// on one port for requests; each client (addr:port) gets its own upstream socket, and each
// server port seen on that upstream socket gets its own client-facing relay socket, so the
// client sees a stable TID that differs from the request port, as with a real server.
import dgram from 'node:dgram';
import { prng } from './prng.js';

export { prng };

export type Direction = 'toServer' | 'toClient';
export type PerDirection = { toServer: number; toClient: number };
type Share = number | Partial<PerDirection>;

export interface RelayOptions {
  target: { address: string; port: number };
  /** Share (0..1) of packets dropped, per direction, or one number for both. */
  drop?: Share;
  /** Share of packets sent twice. */
  duplicate?: Share;
  /** Share of packets held back and sent after the next packet in the same direction. */
  reorder?: Share;
  /** A held packet goes out after this many ms if no other packet follows it (default 30). */
  holdMs?: number;
  seed?: number;
  /**
   * Overrides the dice for chosen packets: 'pass' spares a packet from every impairment,
   * 'drop' always drops it, undefined leaves it to chance. E.g. spare the final ACK, which
   * a client sends once and never repeats.
   */
  decide?: (msg: Buffer, dir: Direction) => 'pass' | 'drop' | undefined;
  /** Called for every packet with what the relay did with it (for debugging a failing test). */
  trace?: (e: TraceEntry) => void;
  /** Address the relay listens on; must be loopback (default 127.0.0.1). */
  address?: string;
}

export interface TraceEntry {
  at: number;
  dir: Direction;
  op: OpName;
  /** Block number of a DATA or ACK, else -1. */
  block: number;
  action: 'pass' | 'drop' | 'duplicate' | 'hold' | 'release';
}

export const OPCODE_NAMES = ['?', 'RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'] as const;
export type OpName = (typeof OPCODE_NAMES)[number];

export interface DirectionStats {
  /** Packets received from the sender, by opcode (before any impairment). */
  received: Record<OpName, number>;
  /** Datagrams actually passed on (duplicates count twice, drops not at all). */
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** DATA payload bytes received from the sender (opcode 3, minus the 4-byte header). */
  dataBytes: number;
}

export interface RelayStats {
  toServer: DirectionStats;
  toClient: DirectionStats;
  /** Client sessions (distinct client addr:port that sent to the request port). */
  sessions: number;
  /** Server TIDs seen (one per transfer, normally). */
  serverPorts: number;
  /** Datagrams from unexpected sources on a client-facing socket, ignored. */
  strays: number;
}

export interface Relay {
  address: string;
  port: number;
  stats: RelayStats;
  close(): Promise<void>;
}

function share(s: Share | undefined): PerDirection {
  if (s === undefined) return { toServer: 0, toClient: 0 };
  if (typeof s === 'number') return { toServer: s, toClient: s };
  return { toServer: s.toServer ?? 0, toClient: s.toClient ?? 0 };
}

function emptyStats(): DirectionStats {
  const received = Object.fromEntries(OPCODE_NAMES.map((n) => [n, 0])) as Record<OpName, number>;
  return { received, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, dataBytes: 0 };
}

function opName(buf: Buffer): OpName {
  if (buf.length < 2 || buf[0] !== 0 || buf[1] < 1 || buf[1] > 6) return '?';
  return OPCODE_NAMES[buf[1]];
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** One impaired one-way path: decides per packet, holds at most one packet back. */
class Path {
  private held: { send: () => void; timer: NodeJS.Timeout; note: (a: TraceEntry['action']) => void } | null = null;

  constructor(
    private readonly dir: Direction,
    private readonly relay: {
      stats: RelayStats; drop: PerDirection; duplicate: PerDirection; reorder: PerDirection; holdMs: number;
      trace?: (e: TraceEntry) => void;
      decide?: (msg: Buffer, dir: Direction) => 'pass' | 'drop' | undefined;
    },
    private readonly random: () => number,
  ) {}

  pass(msg: Buffer, send: (m: Buffer) => void): void {
    const st = this.relay.stats[this.dir];
    const op = opName(msg);
    st.received[op]++;
    if (op === 'DATA' && msg.length >= 4) st.dataBytes += msg.length - 4;
    // Draw all three numbers for every packet, so one choice does not shift the others.
    const rDrop = this.random();
    const rDup = this.random();
    const rHold = this.random();
    const trace = this.relay.trace;
    const note = trace
      ? (action: TraceEntry['action']) => trace({ at: Date.now(), dir: this.dir, op, block: (op === 'DATA' || op === 'ACK') && msg.length >= 4 ? msg.readUInt16BE(2) : -1, action })
      : () => undefined;
    const forced = this.relay.decide?.(msg, this.dir);
    if (forced === 'pass') {
      note('pass');
      st.forwarded++;
      send(msg);
      return;
    }
    if (forced === 'drop' || rDrop < this.relay.drop[this.dir]) {
      st.dropped++;
      note('drop');
      return;
    }
    const copies = rDup < this.relay.duplicate[this.dir] ? 2 : 1;
    if (copies === 2) st.duplicated++;
    note(copies === 2 ? 'duplicate' : 'pass');
    const out = () => {
      for (let i = 0; i < copies; i++) {
        st.forwarded++;
        send(msg);
      }
    };
    const before = this.held;
    if (before) {
      // This packet overtakes the held one.
      this.held = null;
      clearTimeout(before.timer);
      out();
      before.note('release');
      before.send();
      return;
    }
    if (rHold < this.relay.reorder[this.dir]) {
      st.reordered++;
      const timer = setTimeout(() => {
        if (this.held?.timer === timer) {
          this.held = null;
          note('release');
          out();
        }
      }, this.relay.holdMs);
      note('hold');
      this.held = { send: out, timer, note };
      return;
    }
    out();
  }

  close(): void {
    if (this.held) clearTimeout(this.held.timer);
    this.held = null;
  }
}

interface Session {
  client: { address: string; port: number };
  upstream: dgram.Socket;
  /** Server TID → the relay socket the client talks to for it. */
  facing: Map<number, dgram.Socket>;
  toServer: Path;
  toClient: Path;
}

function bind(address: string): Promise<dgram.Socket> {
  const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      // A client that went away makes sends fail with ECONNREFUSED on some kernels: ignore.
      sock.on('error', () => undefined);
      resolve(sock);
    });
  });
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const address = opts.address ?? '127.0.0.1';
  if (!isLoopback(address) || !isLoopback(opts.target.address)) {
    throw new Error(`relay: only loopback addresses are allowed (listen ${address}, target ${opts.target.address})`);
  }
  const stats: RelayStats = { toServer: emptyStats(), toClient: emptyStats(), sessions: 0, serverPorts: 0, strays: 0 };
  const cfg = {
    stats,
    drop: share(opts.drop),
    duplicate: share(opts.duplicate),
    reorder: share(opts.reorder),
    holdMs: opts.holdMs ?? 30,
    trace: opts.trace,
    decide: opts.decide,
  };
  const seed = opts.seed ?? 1;
  const sessions = new Map<string, Session>();
  const pending = new Map<string, Promise<Session>>();
  const sockets = new Set<dgram.Socket>();
  const binding = new Set<Promise<dgram.Socket>>();
  let closed = false;
  /** Binds a relay socket and tracks it, so close() waits for binds still under way. */
  const open = (): Promise<dgram.Socket> => {
    const p = bind(address).then((s) => {
      sockets.add(s);
      binding.delete(p);
      return s;
    });
    binding.add(p);
    return p;
  };

  const main = await open();

  async function openSession(client: { address: string; port: number }): Promise<Session> {
    const n = ++stats.sessions;
    const upstream = await open();
    const session: Session = {
      client,
      upstream,
      facing: new Map(),
      toServer: new Path('toServer', cfg, prng(seed * 7919 + n * 2)),
      toClient: new Path('toClient', cfg, prng(seed * 7919 + n * 2 + 1)),
    };
    // Replies from any server port: relay them from the client-facing socket for that port.
    const facingFor = new Map<number, Promise<dgram.Socket>>();
    upstream.on('message', (msg, rinfo) => {
      if (closed || rinfo.address !== opts.target.address) return;
      let sock = facingFor.get(rinfo.port);
      if (!sock) {
        sock = open().then((s) => {
          stats.serverPorts++;
          session.facing.set(rinfo.port, s);
          s.on('message', (back, from) => {
            if (closed) return;
            if (from.address !== client.address || from.port !== client.port) {
              stats.strays++;
              return;
            }
            session.toServer.pass(back, (m) => upstream.send(m, rinfo.port, opts.target.address));
          });
          return s;
        });
        facingFor.set(rinfo.port, sock);
      }
      void sock.then((s) => {
        if (!closed) session.toClient.pass(msg, (m) => s.send(m, client.port, client.address));
      });
    });
    sessions.set(`${client.address}:${client.port}`, session);
    return session;
  }

  main.on('message', (msg, rinfo) => {
    if (closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let s = pending.get(key);
    if (!s) {
      s = openSession({ address: rinfo.address, port: rinfo.port });
      pending.set(key, s);
    }
    void s.then((session) => {
      if (!closed) session.toServer.pass(msg, (m) => session.upstream.send(m, opts.target.port, opts.target.address));
    });
  });

  return {
    address,
    port: main.address().port,
    stats,
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...pending.values(), ...binding]);
      for (const s of sessions.values()) {
        s.toServer.close();
        s.toClient.close();
      }
      await Promise.all([...sockets].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
