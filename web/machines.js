// The room at a glance: one row per machine (from /api/clients and the `clients` events)
// and one per active TFTP/MTFTP transfer. Rows are rebuilt from state on every flush; at
// most a few dozen rows, four times a second, this costs less than keeping them in sync.
// A row's id is its `key`: the MAC, or ip:<address> for a device bootlab knows only by
// its address (it did no DHCP with bootlab: a static address, a switch saving its config).
import { h, fill, fmtAgo, fmtBytes, fmtRate, fmtTime, isoTime, progressBar } from './dom.js';

// The stages with the words a teacher reads and their step on the boot path: the server's
// one list (services/progress/stages.ts), which the live stream's snapshot carries.
let stageLabels = new Map(); // stage → { label, step (null: not on the boot path) }
let pathLength = 0;
const LOCAL_LABEL = 'booted from local disk';

/** The snapshot's `stages`: [{ stage, label, step }] in boot order. */
export function setStages(stages = []) {
  stageLabels = new Map(stages.map((s) => [s.stage, s]));
  pathLength = stages.filter((s) => s.step !== null).length;
}

const FIRMWARE = { bios: 'BIOS', uefi: 'UEFI', ipxe: 'iPXE', http: 'UEFI HTTP', other: 'other' };

/** What a row is called: its hostname, its MAC, or (known only by its address) its IP. */
const nameOf = (c) => c.hostname || c.mac || c.ip || c.key;

/** Machines in a stable, useful order: failed first (they need a person), then by name; devices by address last. */
function ordered(clients) {
  const rank = (c) => (c.stage === 'failed' ? 0 : !c.mac ? 3 : c.stage === 'booted' ? 2 : 1);
  return [...clients.values()].sort((a, b) => rank(a) - rank(b) || nameOf(a).localeCompare(nameOf(b)));
}

function stageCell(c) {
  if (c.stage === 'failed') {
    return h('td', { class: 'stage' },
      h('span', { class: 'badge badge-failed', 'data-testid': 'client-stage', text: 'failed' }),
      c.reason ? h('span', { class: 'reason', text: c.reason }) : null);
  }
  const step = stageLabels.get(c.stage)?.step ?? null;
  const local = c.stage === 'booted' && c.bootedFrom === 'local';
  return h('td', { class: 'stage' },
    h('span', {
      class: `badge badge-${c.stage}${local ? ' badge-local' : ''}`,
      'data-testid': 'client-stage',
      title: local ? 'it chose its local disk (the local-disk step of its boot script)'
        : c.stage === 'seen' ? 'known by its address only: it did no DHCP with bootlab'
          : step !== null ? `step ${step} of ${pathLength}` : null,
      text: local ? LOCAL_LABEL : stageLabels.get(c.stage)?.label || c.stage,
    }));
}

function progressCell(c) {
  if (c.stage === 'booted' && c.bootedFrom === 'local') return h('td', { class: 'progress muted', text: 'local disk' });
  if (c.stage === 'booted') return h('td', { class: 'progress' }, progressBar(100, `${nameOf(c)}: booted`, 'client-progress'));
  if (!c.file) return h('td', { class: 'progress muted', text: '–' });
  return h('td', { class: 'progress' },
    progressBar(c.percent, `${nameOf(c)}: ${c.file}`, 'client-progress'),
    h('span', { class: 'file', title: c.file, text: c.file }),
    h('span', { class: 'bytes', text: `${fmtBytes(c.bytes)} of ${c.total === null ? '?' : fmtBytes(c.total)}` }));
}

function clientRow(c, now) {
  const firmware = c.firmware ? FIRMWARE[c.firmware] || c.firmware : '–';
  return h('tr', { class: `client stage-${c.stage}${c.mac ? '' : ' by-address'}`, 'data-key': c.key || c.mac, 'data-mac': c.mac, 'data-stage': c.stage },
    h('th', { scope: 'row' },
      h('span', { class: 'name', text: nameOf(c) }),
      c.hostname ? h('span', { class: 'mac', text: c.mac }) : null,
      c.mac ? null : h('span', { class: 'mac', text: 'no MAC known (no DHCP with bootlab)' })),
    h('td', { text: c.ip || '–' }),
    h('td', { text: c.arch === null ? firmware : `${firmware} (arch ${c.arch})` }),
    h('td', { text: c.image || '–' }),
    stageCell(c),
    progressCell(c),
    h('td', { class: 'num', text: c.stage === 'booted' || c.stage === 'failed' ? '–' : fmtRate(c.rate) }),
    h('td', {}, h('time', { datetime: isoTime(c.lastSeen), title: fmtTime(c.lastSeen), text: fmtAgo(c.lastSeen, now) })));
}

/**
 * Counts by outcome for the section heading: "12 machines: 9 booted (2 from the local
 * disk), 1 failed, 2 booting; 1 device known by its address". A machine that chose its
 * local disk has booted; a device known only by its address is counted apart (nothing
 * says whether it boots at all: a switch saving its config does not).
 */
export function summary(clients) {
  let total = 0;
  let booted = 0;
  let local = 0;
  let failed = 0;
  let byAddress = 0;
  for (const c of clients.values()) {
    if (!c.mac) { byAddress += 1; continue; }
    total += 1;
    if (c.stage === 'booted') {
      booted += 1;
      if (c.bootedFrom === 'local') local += 1;
    } else if (c.stage === 'failed') failed += 1;
  }
  const parts = [];
  if (total > 0) {
    const busy = total - booted - failed;
    const fromDisk = local > 0 ? ` (${local} from the local disk)` : '';
    parts.push(`${total} machine${total === 1 ? '' : 's'}: ${booted} booted${fromDisk}, ${failed} failed, ${busy} booting`);
  }
  if (byAddress > 0) parts.push(`${byAddress} device${byAddress === 1 ? '' : 's'} known by ${byAddress === 1 ? 'its address' : 'their addresses'}`);
  return parts.join('; ');
}

export function renderClients(tbody, clients, now = Date.now()) {
  fill(tbody, ordered(clients).map((c) => clientRow(c, now)));
}

const PROTOCOL = { tftp: 'TFTP', http: 'HTTP', 'pxe-mtftp': 'PXE MTFTP', rfc2090: 'TFTP multicast' };

/** state: active, done, failed, or ended (left the list; its outcome not known). */
function transferRow(t, state, now, reason = null) {
  const who = t.mac ? `${t.ip || '?'} (${t.mac})` : t.ip || '?';
  const receivers = t.receivers ? ` to ${t.receivers}` : '';
  return h('tr', { class: `transfer transfer-${state}`, 'data-id': t.id, 'data-file': t.file, 'data-state': state },
    h('th', { scope: 'row', class: 'file', title: t.file, text: t.file }),
    h('td', { text: who }),
    h('td', { text: `${PROTOCOL[t.protocol] || t.protocol}${t.direction === 'write' ? ' upload' : ''}${receivers}` }),
    h('td', { class: 'progress' },
      progressBar(t.percent, `${t.file} to ${who}`, 'transfer-progress'),
      h('span', { class: 'bytes', text: `${fmtBytes(t.bytes)} of ${t.size === null ? '?' : fmtBytes(t.size)}` })),
    h('td', { class: 'num', title: reason || '', text: state === 'active' ? fmtRate(t.rate) : state === 'failed' ? `failed${reason ? `: ${reason}` : ''}` : state }),
    h('td', {}, h('time', { datetime: isoTime(t.startedAt), text: fmtAgo(t.startedAt, now) })));
}

/**
 * active: the API's current list; ended: transfers that left it lately (kept a short
 * while so a fast download is seen at all), as { row, endedAt, outcome }.
 */
export function renderTransfers(tbody, active, ended, now = Date.now()) {
  const rows = active.map((t) => transferRow(t, 'active', now));
  for (const { row, outcome } of ended.values()) {
    rows.push(transferRow(row, outcome ? (outcome.ok ? 'done' : 'failed') : 'ended', now, outcome?.reason ?? null));
  }
  fill(tbody, rows);
}
