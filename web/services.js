// The services' health: state, restarts, last error, bound ports, and a restart button.
// The rows come from the `snapshot` and `services` events; a restart's answer updates its
// row at once, before the next event confirms it.
import { api, describeError } from './api.js';
import { h, fill, fmtAgo, fmtTime, isoTime } from './dom.js';

const GOOD = new Set(['running']);
const BAD = new Set(['failed', 'backoff']);

function stateText(s, now) {
  if (s.state === 'backoff' && s.nextRestartAt) {
    return `backoff (restart in ${Math.max(0, Math.round((s.nextRestartAt - now) / 1000))} s)`;
  }
  return s.state;
}

function serviceRow(s, now, onChanged, report) {
  const cls = GOOD.has(s.state) ? 'ok' : BAD.has(s.state) ? 'bad' : 'idle';
  const restart = async (ev) => {
    const button = ev.currentTarget;
    button.disabled = true;
    try {
      onChanged(await api('POST', `/api/services/${encodeURIComponent(s.name)}/restart`));
    } catch (e) {
      report(`${s.name}: ${describeError(e)}`);
    } finally {
      button.disabled = false;
    }
  };
  const bound = s.bound.map((b) => `${b.protocol} ${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}`);
  return h('tr', { class: `service service-${cls}`, 'data-name': s.name, 'data-state': s.state },
    h('th', { scope: 'row', text: s.name }),
    h('td', {}, h('span', { class: `badge badge-svc-${cls}`, text: stateText(s, now) })),
    h('td', {}, h('time', { datetime: isoTime(s.since), title: fmtTime(s.since), text: fmtAgo(s.since, now) })),
    h('td', { class: 'num', text: String(s.restarts) }),
    h('td', { class: s.lastError ? 'error-text' : 'muted', text: s.lastError || '–' }),
    h('td', { class: 'bound', text: bound.length ? bound.join(', ') : '–' }),
    h('td', { class: 'actions' },
      h('button', { type: 'button', 'data-action': 'restart', disabled: !s.enabled, onclick: restart, text: 'Restart' })));
}

/**
 * services: ServiceRow[]; onChanged(row) merges a restart's answer; report(text) shows
 * an error where the teacher will see it.
 */
export function renderServices(tbody, services, onChanged, report, now = Date.now()) {
  fill(tbody, services.map((s) => serviceRow(s, now, onChanged, report)));
}
