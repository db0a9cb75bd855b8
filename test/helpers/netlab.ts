// A network-namespace lab for end-to-end tests (docs test-lab.md): namespaces named
// bl<pid><tag>-<name>, one or more bridges inside a "lan" namespace, veths whose two ends
// both live inside the lab, taps for VMs. Every process started through the lab is
// tracked by PID and killed in destroy(), which also deletes every namespace it made; a
// lab still standing when the process exits or is signalled is torn down synchronously.
// Needs root: a test checks first with needs.ts (`asRoot`), which skips it outside CI.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

let serial = 0;
/** Labs not yet destroyed: torn down synchronously if the process exits or is signalled first. */
const live = new Set<NetLab>();
let hooked = false;

/** On exit, or a signal from a runner that times the file out: kill and delete, then go as usual. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => { for (const lab of live) lab.destroySync(); });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const lab of live) lab.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

export interface LabProcess {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** A started child as a LabProcess: its output kept (the last 4-8 MiB), stopped by its PID. */
export function watchProcess(child: ChildProcess, cmd: string): LabProcess {
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => { out += b.toString(); if (out.length > 8 << 20) out = out.slice(-(4 << 20)); });
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); if (err.length > 8 << 20) err = err.slice(-(4 << 20)); });
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { gone = true; resolve({ code, signal }); });
  });
  const pid = child.pid;
  const proc: LabProcess = {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async (graceMs = 3000) => {
      if (gone) return;
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { if (!gone) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return proc;
}

export class NetLab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<LabProcess>();
  private readonly lanNs: string;

  constructor(tag = 'lab') {
    serial += 1;
    // Interface and namespace names are short: keep the prefix small and unique per run.
    this.prefix = `bl${process.pid}${tag}${serial}`;
    hookExit();
    live.add(this);
    this.lanNs = this.addNamespace('lan');
  }

  /** The full namespace name of a lab member. */
  ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** The namespace that holds the bridges and taps. */
  get lan(): string {
    return this.lanNs;
  }

  addNamespace(name: string): string {
    const full = this.ns(name);
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A bridge in the lan namespace (no address: it is only a switch). */
  bridge(name = 'br0'): void {
    sh('ip', ['-n', this.lanNs, 'link', 'add', name, 'type', 'bridge']);
    // No STP delay: the bridge forwards at once.
    sh('ip', ['-n', this.lanNs, 'link', 'set', name, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    sh('ip', ['-n', this.lanNs, 'link', 'set', name, 'up']);
  }

  /**
   * A veth from bridge `br` (lan namespace) to namespace `member` (created if new), named
   * `ifname` there, with `cidr` (e.g. 192.0.2.1/24) if given. Returns the namespace name.
   */
  attach(member: string, opts: { ifname?: string; bridge?: string; cidr?: string; mac?: string } = {}): string {
    const ifname = opts.ifname ?? 'eth0';
    const br = opts.bridge ?? 'br0';
    const full = this.namespaces.includes(this.ns(member)) ? this.ns(member) : this.addNamespace(member);
    const port = `v${(this.namespaces.indexOf(full) * 10 + portSerial()) % 100000}`;
    sh('ip', ['-n', this.lanNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', full]);
    sh('ip', ['-n', this.lanNs, 'link', 'set', port, 'master', br, 'up']);
    if (opts.mac) sh('ip', ['-n', full, 'link', 'set', ifname, 'address', opts.mac]);
    if (opts.cidr) sh('ip', ['-n', full, 'addr', 'add', opts.cidr, 'dev', ifname]);
    sh('ip', ['-n', full, 'link', 'set', ifname, 'up']);
    return full;
  }

  /** A tap device on bridge `br` in the lan namespace, for a VM started in that namespace. */
  tap(name: string, br = 'br0'): void {
    sh('ip', ['-n', this.lanNs, 'tuntap', 'add', name, 'mode', 'tap']);
    sh('ip', ['-n', this.lanNs, 'link', 'set', name, 'master', br, 'up']);
  }

  /** Runs a command in a namespace and returns its stdout; throws with stderr on failure. */
  exec(member: string, cmd: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', this.resolve(member), cmd, ...args], input);
  }

  /** Starts a long-running process in a namespace; tracked and killed by PID in destroy(). */
  spawn(member: string, cmd: string, args: string[], opts: SpawnOptions = {}): LabProcess {
    const proc = watchProcess(spawn('ip', ['netns', 'exec', this.resolve(member), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts }), cmd);
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** Stops every tracked process (by PID) and deletes every namespace of the lab. */
  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(1000)));
    this.destroySync();
  }

  /** The same without waiting: SIGKILL by PID, then the namespaces (for exit handlers). */
  destroySync(): void {
    for (const p of this.procs) {
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    this.procs.clear();
    for (const ns of this.namespaces.reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    this.namespaces.length = 0;
    live.delete(this);
  }

  private resolve(member: string): string {
    return member.startsWith(this.prefix) ? member : this.ns(member);
  }
}

let ports = 0;
function portSerial(): number {
  ports += 1;
  return ports;
}

export function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}
