// The dashboard's entry point: state, the live event stream, the token dialog, and the
// wiring between them. Rendering lives in machines.js, hosts.js and services.js.
import { api, authHeaders, describeError, getToken, onTokenNeeded, setToken } from './api.js';
import { $, h, fill, fmtTime } from './dom.js';
import { initFlash, loadFlash } from './flash.js';
import { initHosts, load as loadHosts } from './hosts.js';
import { renderClients, renderTransfers, setStages, summary } from './machines.js';
import { renderServices } from './services.js';
import { connectEvents } from './sse.js';

const ACTIVITY_MAX = 200;
// A transfer that left the active list stays visible this long, so a boot file that took
// a quarter of a second still shows up, and the bar's last value can be read.
const ENDED_KEEP_MS = 30_000;

const state = {
  clients: new Map(), // key (the MAC, or ip:<address>) → ClientRow
  transfers: [],
  ended: new Map(), // id → { row, endedAt }
  services: [],
  activity: [], // newest first
};

// ---- rendering, batched: many events in one frame cost one render --------------------
const dirty = new Set();
let frame = 0;

function schedule(...parts) {
  for (const p of parts) dirty.add(p);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  const now = Date.now();
  if (dirty.has('clients')) {
    renderClients($('#clients-body'), state.clients, now);
    $('#clients-empty').hidden = state.clients.size > 0;
    $('#machines-summary').textContent = summary(state.clients);
  }
  if (dirty.has('transfers')) {
    renderTransfers($('#transfers-body'), state.transfers, state.ended, now);
    $('#transfers-empty').hidden = state.transfers.length + state.ended.size > 0;
  }
  if (dirty.has('services')) renderServices($('#services-body'), state.services, mergeService, notice, now);
  if (dirty.has('activity')) {
    fill($('#activity-list'), state.activity.map(activityItem));
    $('#activity-empty').hidden = state.activity.length > 0;
  }
  dirty.clear();
}

function activityItem(a) {
  const who = a.mac || a.ip;
  return h('li', { class: `activity activity-${a.level}` },
    h('time', { datetime: new Date(a.at).toISOString(), text: fmtTime(a.at) }),
    who ? h('span', { class: 'who', text: who }) : null,
    h('span', { class: 'text', text: a.text }));
}

/** A message from the page itself (a failed button press) in the activity list. */
function notice(text, level = 'error') {
  addActivity([{ at: Date.now(), level, mac: null, ip: null, text }]);
}

function addActivity(items) {
  // Items arrive oldest first; the list shows the newest on top.
  for (const item of items) state.activity.unshift(item);
  state.activity.length = Math.min(state.activity.length, ACTIVITY_MAX);
  schedule('activity');
}

function mergeService(row) {
  state.services = state.services.map((s) => (s.name === row.name ? row : s));
  schedule('services');
}

/** `ended`: the API's outcome of each transfer that left the list ({ id, ok, reason, bytes, size }). */
function setTransfers(list, ended = [], now = Date.now()) {
  const still = new Set(list.map((t) => t.id));
  for (const t of state.transfers) {
    if (!still.has(t.id)) state.ended.set(t.id, { row: t, endedAt: now, outcome: null });
  }
  for (const e of ended) {
    const before = state.ended.get(e.id)?.row || state.transfers.find((t) => t.id === e.id);
    if (!before) continue;
    const percent = e.ok ? 100 : before.percent;
    const row = { ...before, bytes: e.bytes, size: e.size ?? before.size, percent };
    state.ended.set(e.id, { row, endedAt: now, outcome: e });
  }
  for (const id of still) state.ended.delete(id);
  state.transfers = list;
  schedule('transfers');
}

// A row's id: `removed` lists these (a server before keys had only MACs).
const keyOf = (c) => c.key || c.mac;
const byKey = (clients) => new Map(clients.map((c) => [keyOf(c), c]));

// ---- the live stream -----------------------------------------------------------------
const handlers = {
  snapshot(d) {
    setStages(d.stages);
    state.clients = byKey(d.clients);
    state.ended.clear();
    state.transfers = [];
    setTransfers(d.transfers);
    state.services = d.services;
    schedule('clients', 'services');
  },
  clients(d) {
    for (const c of d.clients || []) state.clients.set(keyOf(c), c);
    for (const key of d.removed || []) state.clients.delete(key);
    schedule('clients');
  },
  transfers(d) {
    setTransfers(d.transfers || [], d.ended || []);
  },
  services(d) {
    state.services = d.services || [];
    schedule('services');
  },
  hosts() {
    refreshHosts();
  },
  activity(d) {
    addActivity(d.items || []);
  },
};

const CONN_TEXT = {
  connecting: 'connecting…',
  live: 'live',
  unauthorized: 'token needed',
  closed: 'disconnected',
};

function showConnection(st, detail) {
  const el = $('#conn');
  el.dataset.state = st;
  el.textContent = st === 'retrying'
    ? `reconnecting in ${Math.round(detail.inMs / 1000) || 1} s (${detail.reason})`
    : st === 'unauthorized' && !getToken() ? 'token needed: press “Set token”' : CONN_TEXT[st] || st;
}

// One host-list fetch at a time: a pasted class list fires several `hosts` events.
let hostRefresh = null;
function refreshHosts() {
  if (hostRefresh) return hostRefresh;
  hostRefresh = loadHosts()
    .catch((e) => notice(`Could not load the host list: ${describeError(e)}`))
    .finally(() => { hostRefresh = null; });
  return hostRefresh;
}

// ---- the token -----------------------------------------------------------------------
// Several 401s at once (the stream and a form) share one dialog.
let pendingAsk = null;

/** Shows the token dialog; resolves true when a token was entered, false if dismissed. */
function askToken(reason) {
  if (pendingAsk) return pendingAsk;
  const dialog = $('#token-dialog');
  $('#token-reason').textContent = reason || '';
  $('#token-input').value = '';
  pendingAsk = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      pendingAsk = null;
      const token = $('#token-input').value.trim();
      const ok = dialog.returnValue === 'ok' && token !== '';
      if (ok) setToken(token);
      updateTokenButton();
      resolve(ok);
    }, { once: true });
  });
  dialog.returnValue = '';
  dialog.showModal();
  return pendingAsk;
}

function updateTokenButton() {
  $('#token-button').textContent = getToken() ? 'Change token' : 'Set token';
  $('#token-state').textContent = getToken() ? 'token set' : 'no token';
}

// ---- start ---------------------------------------------------------------------------
let stream = null;

async function start() {
  onTokenNeeded(askToken);
  initHosts();
  initFlash();
  updateTokenButton();
  $('#token-button').addEventListener('click', async () => {
    if (await askToken('The admin token is in the appliance\'s config (admin.token) or state folder.')) {
      stream.restart();
      refreshHosts();
      void loadFlash();
    }
  });
  $('#clear-finished').addEventListener('click', clearFinished);
  // "x s ago" and backoff countdowns move even when no event arrives.
  setInterval(() => schedule('clients', 'services', 'transfers'), 1000);
  setInterval(() => {
    const cutoff = Date.now() - ENDED_KEEP_MS;
    for (const [id, e] of state.ended) if (e.endedAt < cutoff) state.ended.delete(id);
  }, 5000);

  let protectReads = false;
  try {
    protectReads = (await api('GET', '/api/auth')).protectReads === true;
  } catch {
    // An older server without /api/auth: a 401 later will ask.
  }
  if (protectReads && !getToken()) {
    showConnection('unauthorized');
    await askToken('This bootlab needs the admin token to show anything.');
  }
  stream = connectEvents({
    url: '/api/events',
    headers: authHeaders,
    onEvent: (name, data) => Object.hasOwn(handlers, name) && handlers[name](data),
    onState: showConnection,
    onUnauthorized: () => askToken(getToken() ? 'The token was refused; enter the current one.' : 'This bootlab needs the admin token to show anything.'),
  });
  refreshHosts();
  void loadFlash();
}

async function clearFinished(ev) {
  const button = ev.currentTarget;
  button.disabled = true;
  try {
    const { removed } = await api('DELETE', '/api/clients?which=finished');
    // Re-read the list rather than wait for the event, so the table is right at once.
    const { clients } = await api('GET', '/api/clients');
    state.clients = byKey(clients);
    schedule('clients');
    notice(`Cleared ${removed} finished machine${removed === 1 ? '' : 's'}.`, 'info');
  } catch (e) {
    notice(`Clear finished: ${describeError(e)}`);
  } finally {
    button.disabled = false;
  }
}

start();
