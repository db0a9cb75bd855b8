// Flashing a device from the dashboard (POST /api/flash): pick a firmware file under
// tftpboot/firmware/ (or upload one), give the device's address, start; the job's state
// (waiting for the boot loader, sending, done, no answer, refused, failed) and progress
// are polled from GET /api/flash every second while one runs.
import { api, describeError } from './api.js';
import { $, h, fill, fmtTime } from './dom.js';

const POLL_MS = 1000;
let timer = 0;

const STATE_TEXT = {
  waiting: 'waiting for the boot loader',
  sending: 'sending',
  done: 'done',
  'no-answer': 'no answer',
  refused: 'refused',
  failed: 'failed',
  cancelled: 'cancelled',
};
const RUNNING = new Set(['waiting', 'sending']);

function jobRow(j) {
  const bar = h('progress', { max: '100', value: String(j.percent), 'aria-label': `${j.file} to ${j.target}` });
  const cancel = RUNNING.has(j.state)
    ? h('button', { type: 'button', 'data-action': 'cancel', onclick: () => cancelJob(j.id), text: 'Cancel' })
    : null;
  return h('tr', { 'data-job': j.id, 'data-state': j.state },
    h('td', { text: j.target }),
    h('td', { text: j.file }),
    h('td', {}, h('span', { class: `badge flash-${j.state}`, text: STATE_TEXT[j.state] || j.state })),
    h('td', {}, bar, h('span', { class: 'num', text: ` ${j.percent} %${j.state === 'waiting' ? `, attempt ${j.attempts}` : ''}` })),
    h('td', { text: fmtTime(j.startedAt) }),
    h('td', { class: 'flash-message', text: j.message || '' }),
    h('td', {}, cancel));
}

async function refreshJobs() {
  try {
    const { jobs } = await api('GET', '/api/flash');
    fill($('#flash-body'), jobs.map(jobRow));
    $('#flash-empty').hidden = jobs.length > 0;
    clearTimeout(timer);
    if (jobs.some((j) => RUNNING.has(j.state))) timer = setTimeout(refreshJobs, POLL_MS);
  } catch (e) {
    showError(e);
  }
}

async function refreshFirmware(select = '') {
  const { files } = await api('GET', '/api/flash/firmware');
  fill($('#flash-file'), files.map((f) => h('option', { value: f.name, selected: f.name === select, text: `${f.name} (${(f.size / 1048576).toFixed(1)} MiB)` })));
  $('#flash-nofirmware').hidden = files.length > 0;
}

function showError(e) {
  const el = $('#flash-error');
  el.textContent = describeError(e);
  el.hidden = false;
}

async function upload() {
  const input = $('#flash-upload');
  const file = input.files && input.files[0];
  if (!file) return;
  $('#flash-error').hidden = true;
  try {
    await api('POST', `/api/flash/firmware?name=${encodeURIComponent(file.name)}&replace=true`, { text: file, contentType: 'application/octet-stream' });
    input.value = '';
    await refreshFirmware(file.name);
  } catch (e) {
    showError(e);
  }
}

async function start(ev) {
  ev.preventDefault();
  $('#flash-error').hidden = true;
  const json = { target: $('#flash-target').value.trim(), file: $('#flash-file').value };
  const wait = Number($('#flash-wait').value);
  if (wait > 0) json.waitSeconds = wait;
  const port = Number($('#flash-port').value);
  if (port > 0 && port !== 69) json.port = port;
  // Sent in the write request's file-name field, as Linksys-style boot loaders read it.
  const password = $('#flash-password').value;
  if (password) json.password = password;
  try {
    await api('POST', '/api/flash', { json });
    await refreshJobs();
  } catch (e) {
    showError(e);
  }
}

async function cancelJob(id) {
  try {
    await api('POST', `/api/flash/${encodeURIComponent(id)}/cancel`);
  } catch (e) {
    showError(e);
  }
  await refreshJobs();
}

export function initFlash() {
  $('#flash-form').addEventListener('submit', start);
  $('#flash-upload').addEventListener('change', upload);
}

/** Loads the firmware list and the jobs (at start and after a token was entered). */
export async function loadFlash() {
  try {
    await refreshFirmware($('#flash-file').value);
  } catch (e) {
    showError(e);
  }
  await refreshJobs();
}
