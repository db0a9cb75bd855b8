// The multicast benchmark's lab (test/bench/mtftp.ts): one bridge, a server namespace and
// up to N client namespaces on it (test/helpers/netlab.ts NetLab: both ends of every veth
// inside the lab, every namespace deleted at exit, also on failure or Ctrl-C), a route to
// 224.0.0.0/4 in each, an nftables counter of the DATA the server sends, a one-packet
// capture of its first DATA, and the servers it compares with their command lines.
//
// Rules (../shared/docs/test-lab.md): addresses from 198.18.0.0/15 only, traffic only
// inside the namespaces made here, processes started through lab.ts Proc and stopped by
// their own PID (process group).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataCounter, udpStats, type UdpStats } from '../helpers/mtftp-lab.js';
import { NetLab } from '../helpers/netlab.js';
import { HarnessError, NetnsPair, Proc, run, sleep } from './lab.js';
import { REPO, bootlabVersion, type fetchPeers } from './peers.js';

export const SERVER_IP = '198.18.0.1';
export const PREFIX_LEN = 15;
export const clientIp = (i: number) => `198.18.1.${i + 1}`;

/** PXE MTFTP: the server port, the group and the client port (iPXE's defaults, and the issue's). */
export const MTFTP = { serverPort: 1759, group: '239.255.1.1', clientPort: 3001 };
/** RFC 2090: groups and port the servers hand out. */
export const RFC2090 = { first: '239.255.2.1', last: '239.255.2.254', port: 1758 };
/** The file every method serves (the name is in bootlab's mtftp.files and atftpd's --mtftp file). */
export const IMAGE = 'image.bin';
/**
 * A small file each fresh server sends once, by the method about to be measured, before
 * the measured run (bootlab's JIT is cold in a fresh process; an appliance runs for days).
 * PXE MTFTP sends it on a group of its own.
 */
export const WARM = { file: 'warm.bin', group: '239.255.1.2', clientPort: 3002 };
/** A 1-byte file for readiness probes. */
export const PROBE = 'probe.bin';

// ---------------------------------------------------------------------------------------
// Namespaces

export class McastLab {
  private readonly lab: NetLab;
  readonly server: string;
  readonly clients: string[] = [];
  private sent!: DataCounter;

  constructor(clients: number) {
    if (clients > 254) throw new HarnessError('at most 254 clients (198.18.1.1-254)');
    this.lab = new NetLab('mc');
    try {
      // The bridge snoops IGMP (the kernel's default): multicast reaches the ports whose
      // namespaces joined the group, as on a managed switch, not every client namespace.
      this.lab.bridge('br0');
      this.server = this.lab.attach('srv', { cidr: `${SERVER_IP}/${PREFIX_LEN}` });
      this.route(this.server);
      for (let i = 0; i < clients; i++) {
        const ns = this.lab.attach(`c${i + 1}`, { cidr: `${clientIp(i)}/${PREFIX_LEN}` });
        this.route(ns);
        this.clients.push(ns);
      }
      this.sent = DataCounter.install(this.lab, this.server);
    } catch (e) {
      this.lab.destroySync();
      throw new HarnessError(`cannot build the namespace lab: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  /** Multicast leaves and is joined by eth0 (the namespaces have no default route). */
  private route(ns: string): void {
    this.lab.exec(ns, 'ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
  }

  /** `cmd` inside a namespace (ip netns exec execs: the PID is the command's). */
  static exec(ns: string, cmd: string, args: string[]): [string, string[]] {
    return NetnsPair.exec(ns, [cmd, ...args]);
  }

  // -------------------------------------------------------------------------------------
  // What the server sends: the interop tests' DATA counter (nftables, server namespace).

  resetCounters(): void {
    this.sent.reset();
  }

  counters(): SentCounters {
    const c = this.sent.read();
    return {
      dataMc: { packets: c.mcastPackets, payload: c.mcastPayload },
      dataUc: { packets: c.unicastPackets, payload: c.unicastPayload },
      all: { packets: c.allPackets },
    };
  }

  // -------------------------------------------------------------------------------------
  // The server's first DATA on the wire: tcpdump -c 1 in the server namespace, packet
  // timestamps in epoch seconds (the kernel's clock, as performance.timeOrigin's).

  async firstDataCapture(): Promise<Proc> {
    const [c, a] = McastLab.exec(this.server, 'tcpdump', ['-i', 'eth0', '-Q', 'out', '-n', '-tt', '-l', '-c', '1', '--immediate-mode', 'udp and udp[8:2] = 3']);
    const p = new Proc('tcpdump', c, a);
    const deadline = Date.now() + 10_000;
    while (!/listening on/.test(p.stderr)) {
      if (!p.running) throw new HarnessError(`tcpdump: ${p.describe()}`);
      if (Date.now() > deadline) { await p.stop(); throw new HarnessError('tcpdump did not start listening within 10 s'); }
      await sleep(20);
    }
    return p;
  }

  /** Epoch milliseconds of the captured packet, or null (none came); stops tcpdump. */
  static async firstDataMs(p: Proc): Promise<number | null> {
    if (p.running) await p.stop(1000);
    const m = /^(\d+)\.(\d+) /m.exec(p.stdout);
    return m ? Number(m[1]) * 1000 + Number(`0.${m[2]}`) * 1000 : null;
  }

  /** UDP counters of a namespace (RcvbufErrors, InErrors, SndbufErrors). */
  udpStats(ns: string): UdpStats {
    return udpStats(this.lab, ns);
  }

  /** The first `n` clients' UDP counters, summed. */
  clientUdpStats(n: number): UdpStats {
    const sum: UdpStats = { rcvbufErrors: 0, inErrors: 0, sndbufErrors: 0 };
    for (const ns of this.clients.slice(0, n)) {
      const u = this.udpStats(ns);
      sum.rcvbufErrors += u.rcvbufErrors;
      sum.inErrors += u.inErrors;
      sum.sndbufErrors += u.sndbufErrors;
    }
    return sum;
  }

  /** A unicast TFTP fetch of the probe file from the first client: true once it worked. */
  async probe(): Promise<boolean> {
    const [c, a] = McastLab.exec(this.clients[0], 'atftp', ['-g', '-r', PROBE, '-l', '/dev/null', SERVER_IP, '69']);
    const r = await run('probe', c, a, 5000);
    return r.exit?.code === 0;
  }

  destroy(): void {
    this.lab.destroySync();
  }
}

/**
 * Packets the kernel dropped because a CPU's input backlog was full (/proc/net/softnet_stat,
 * second column, all CPUs). Machine-wide: a veth delivers into that backlog, so a burst to
 * many namespaces can overflow it.
 */
export function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n')
    .reduce((sum, l) => sum + parseInt(l.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

export interface SentCounters {
  /** DATA sent to a multicast group: packets and TFTP payload bytes. */
  dataMc: { packets: number; payload: number };
  /** DATA sent to a unicast address. */
  dataUc: { packets: number; payload: number };
  /** Every IP packet the server namespace sent. */
  all: { packets: number };
}

// ---------------------------------------------------------------------------------------
// Servers

export type Method = 'pxe' | 'rfc2090' | 'unicast';
export type McastServerName = 'bootlab' | 'atftpd' | 'tftpd-hpa';
export const ALL_SERVERS: McastServerName[] = ['bootlab', 'atftpd', 'tftpd-hpa'];

export interface Launch { cmd: string; args: string[]; ready?: RegExp }

export interface McastServerDef {
  name: McastServerName;
  version: string;
  methods: Method[];
  /**
   * Whether the server's work shows in its own /proc/PID/stat. tftpd-hpa forks a process
   * per transfer and does not collect their times (they never reach its cutime).
   */
  cpuAccounted: boolean;
  /** Writes the server's config into `work` and says how to start it, serving `root`. */
  prepare(work: string, root: string): Launch;
}

export const BOOTLAB_CLI = join(REPO, 'dist/services/cli.js');

/** bootlab's config for the benchmark (JSON is YAML): the keys the issue names, nothing else. */
export function bootlabConfig(work: string, root: string): object {
  return {
    log: { level: 'info', pretty: 'never' },
    stateDir: join(work, 'state'),
    hosts: join(work, 'hosts.yaml'),
    tftp: {
      enabled: true, address: '0.0.0.0', port: 69, root, maxPerClient: 100, maxTransfers: 500,
      multicast: { enabled: true, addresses: `${RFC2090.first}-${RFC2090.last}`, ports: `${RFC2090.port}-${RFC2090.port}`, window: 8 },
    },
    dhcp: { mode: 'off' },
    multicast: { interface: 'eth0', ttl: 1 },
    mtftp: {
      enabled: true, serverPort: MTFTP.serverPort, openTimeout: 2, reopenDelay: 2,
      files: [{ file: IMAGE, group: MTFTP.group, clientPort: MTFTP.clientPort }, WARM],
    },
  };
}

export function serverDefs(peers: ReturnType<typeof fetchPeers>): McastServerDef[] {
  return [
    {
      name: 'bootlab',
      version: bootlabVersion(),
      methods: ['pxe', 'rfc2090', 'unicast'],
      cpuAccounted: true,
      prepare: (work, root) => {
        mkdirSync(join(work, 'state'), { recursive: true });
        writeFileSync(join(work, 'hosts.yaml'), JSON.stringify({ defaults: { action: 'menu' }, images: {}, hosts: {} }));
        const file = join(work, 'appliance.yaml');
        writeFileSync(file, `${JSON.stringify(bootlabConfig(work, root), null, 2)}\n`);
        return { cmd: process.execPath, args: [BOOTLAB_CLI, 'serve', '--config', file], ready: /"msg":"bootlab running"/ };
      },
    },
    {
      name: 'atftpd',
      version: peers.atftpd.version,
      methods: ['pxe', 'rfc2090', 'unicast'],
      cpuAccounted: true,
      prepare: (work, root) => {
        // atftpd's --mtftp file: "filename group client_port" per line.
        const conf = join(work, 'mtftp.conf');
        writeFileSync(conf, `${IMAGE} ${MTFTP.group} ${MTFTP.clientPort}\n${WARM.file} ${WARM.group} ${WARM.clientPort}\n`);
        const [a, b] = [RFC2090.first, RFC2090.last.split('.')[3]];
        return {
          cmd: peers.atftpd.bin,
          args: [
            '--daemon', '--no-fork', '--port', '69', '--bind-address', SERVER_IP, '--maxthread', '100', '--logfile', '/dev/null',
            '--mtftp', conf, '--mtftp-port', String(MTFTP.serverPort),
            '--mcast-addr', `${a}-${b}`, '--mcast-port', String(RFC2090.port), '--mcast-ttl', '1',
            // atftpd reads the root as "nobody": the folder and files are world-readable.
            root,
          ],
        };
      },
    },
    {
      name: 'tftpd-hpa',
      version: peers['tftpd-hpa'].version,
      methods: ['unicast'],
      cpuAccounted: false,
      // -L: foreground; -s: chroot to the root; no -B (no block size cap).
      prepare: (_work, root) => ({ cmd: peers['tftpd-hpa'].bin, args: ['-L', '-s', root, '-a', `${SERVER_IP}:69`] }),
    },
  ];
}
