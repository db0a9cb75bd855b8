// What the PXE MTFTP service does with an RRQ for a file on a shared channel (a group and
// client port that more than one mtftp.files entry names; docs/decisions/0008-mtftp-shared-group.md).
// Nothing of such a file goes to the group: a listener there keeps every DATA it hears as
// its own file's (PXE MTFTP DATA carry no file name), so each requester gets a round of
// its own, lock-step, every block unicast from the server port. Pure: the server passes
// the rounds it runs and applies the decision.

/** A running round as the decision sees it: its master's socket, machine and file. */
export interface RoundView {
  /** clientKey(address, port) of the master. */
  key: string;
  address: string;
  file: string;
  /** A round of a shared channel (true) or a multicast round (false). */
  unicast: boolean;
}

export interface UnicastRequest { address: string; port: number; file: string }

/** tftp.maxTransfers and tftp.maxPerClient: unicast rounds cost what unicast transfers cost. */
export interface UnicastLimits { maxRounds: number; maxPerClient: number }

export type UnicastDecision =
  | { kind: 'open'; replace: string[] }
  | { kind: 'duplicate' }
  | { kind: 'busy'; reason: string };

export function clientKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/**
 * - The same socket asking for the same file again: its RRQ was retransmitted (or DATA 1
 *   lost); the running round's timer answers it, a second round would send every block twice.
 * - The same socket asking for another file has left its round: a TFTP transfer is one
 *   file per client port (RFC 1350 section 4), multicast rounds included.
 * - The same machine asking for the same file from a new port has restarted the fetch:
 *   iPXE re-opens from a new socket when blocks stop coming (tftp.c tftp_reopen), and
 *   the old round would send to a closed port until its retries run out.
 * - Otherwise a new round, unless the unicast rounds left reach tftp.maxTransfers, or the
 *   machine's reach tftp.maxPerClient: then the RRQ is ignored, not refused, because an
 *   ERROR ends iPXE's fetch and the boot, while silence makes it ask again and in the end
 *   fall back to plain TFTP, which has limits of its own.
 */
export function decideUnicast(running: RoundView[], req: UnicastRequest, limits: UnicastLimits): UnicastDecision {
  const key = clientKey(req.address, req.port);
  const replace: string[] = [];
  for (const r of running) {
    if (r.key === key && r.file === req.file) return { kind: 'duplicate' };
    if (r.key === key || (r.unicast && r.address === req.address && r.file === req.file)) replace.push(r.key);
  }
  const left = running.filter((r) => r.unicast && !replace.includes(r.key));
  if (left.length >= limits.maxRounds) {
    return { kind: 'busy', reason: `${left.length} unicast rounds are running (tftp.maxTransfers is ${limits.maxRounds})` };
  }
  const mine = left.filter((r) => r.address === req.address).length;
  if (mine >= limits.maxPerClient) {
    return { kind: 'busy', reason: `${req.address} already has ${mine} unicast rounds (tftp.maxPerClient is ${limits.maxPerClient})` };
  }
  return { kind: 'open', replace };
}
