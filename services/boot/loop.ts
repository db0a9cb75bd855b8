// Stops a boot chain that comes back to itself. A machine's script (bootlab/<mac>.ipxe) is
// fetched once per boot: firmware → DHCP → iPXE → DHCP → script. When it is fetched again and
// again with no DHCP from the machine in between, something in the chain leads back to it
// (an image whose script or chain URL is bootlab's own dispatcher, or the machine's own
// script): iPXE follows it about 60 times a second until the machine is switched off (issue
// 15, A1). After `limit` such fetches the machine gets a script that says so and returns to
// its firmware, and the bus carries client.stopped for its row.
import { scriptPath } from '../core/bootnames.js';
import type { EventBus } from '../core/events.js';

export interface LoopGuardOptions {
  /** Fetches of one machine's script, with no DHCP from it in between, that make a loop. Default 5. */
  limit?: number;
  /** Fetches further apart than this never count together (a DHCP bootlab cannot see: another server). Default 60 s. */
  windowMs?: number;
  /** Machines remembered at most: a flood of made-up names cannot grow memory without end. Default 4096. */
  maxMachines?: number;
  now?: () => number;
}

interface Track { times: number[]; stopped: boolean }

export class ChainLoopGuard {
  private readonly machines = new Map<string, Track>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxMachines: number;
  private readonly now: () => number;
  private readonly off: (() => void)[];

  constructor(private readonly events: EventBus, opts: LoopGuardOptions = {}) {
    this.limit = opts.limit ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxMachines = opts.maxMachines ?? 4096;
    this.now = opts.now ?? Date.now;
    // A DHCP conversation is a new boot (or iPXE starting again): the count starts over.
    const reset = (e: { mac: string }) => { this.machines.delete(e.mac); };
    this.off = [events.on('dhcp.discover', reset), events.on('dhcp.request', reset)];
  }

  /**
   * Counts one fetch of `mac`'s script. Returns null when the boot may go on, or the reason
   * (a sentence) when the chain loops; the first time, client.stopped goes on the bus.
   */
  served(mac: string, ip: string | null, image: string | null): string | null {
    const at = this.now();
    let track = this.machines.get(mac);
    if (track) this.machines.delete(mac); // re-inserted below: the map stays in order of last use
    track ??= { times: [], stopped: false };
    track.times = track.times.filter((t) => at - t < this.windowMs);
    if (track.times.length === 0) track.stopped = false;
    track.times.push(at);
    if (track.times.length > this.limit) track.times.shift();
    this.machines.set(mac, track);
    if (this.machines.size > this.maxMachines) this.machines.delete(this.machines.keys().next().value as string);
    if (track.times.length < this.limit) return null;
    const what = image ? `image ${image}` : 'its boot target';
    const reason = `its boot chain came back to its own script ${this.limit} times without a new DHCP request `
      + `(${what} leads back to ${scriptPath(mac)}): stopped, check the image's script or chain URL`;
    if (!track.stopped) {
      track.stopped = true;
      this.events.emit({ kind: 'client.stopped', mac, cause: 'chain-loop', reason, ...(ip ? { ip } : {}) });
    }
    return reason;
  }

  /** Machines being counted (tests: the map stays bounded). */
  get size(): number { return this.machines.size; }

  close(): void {
    for (const off of this.off) off();
    this.machines.clear();
  }
}

/** One guard per bus: the TFTP and HTTP services install the boot files each, and a loop may cross both. */
const guards = new WeakMap<EventBus, ChainLoopGuard>();

export function loopGuardFor(events: EventBus): ChainLoopGuard {
  let guard = guards.get(events);
  if (!guard) guards.set(events, (guard = new ChainLoopGuard(events)));
  return guard;
}
