// The host map from the browser: register or edit one machine (PUT /api/hosts/:mac),
// paste a classroom list (POST /api/hosts as text/csv), delete, and boot once.
// The API validates everything; its error (message + field) is shown next to the form
// as it came, so the page never second-guesses the server's rules.
import { api, describeError, hostPath } from './api.js';
import { $, h, fill, normalizeMac } from './dom.js';

let hosts = [];
let defaults = { action: 'menu', image: null };
let images = [];
let bootOnceEnds = 'booted';
// The row being edited: PUT replaces a host, so what the form does not show (labels,
// bootOnce) is carried over from it rather than silently dropped.
let editing = null;

const DEFAULT_WORDS = { menu: 'the boot menu', local: 'boot from disk', image: 'the default image', none: 'no answer' };

function imageByName(name) {
  return images.find((i) => i.name === name) || null;
}

function missingFiles(image) {
  return image ? image.files.filter((f) => !f.exists) : [];
}

/** Options for an image <select>: "(default)" first, images with missing files flagged. */
function imageOptions(selected, withDefault) {
  const opts = [];
  if (withDefault) {
    const what = defaults.action === 'image' && defaults.image ? defaults.image : DEFAULT_WORDS[defaults.action] || defaults.action;
    opts.push(h('option', { value: '', selected: !selected, text: `(none: unlisted default, ${what})` }));
  }
  for (const img of images) {
    const label = img.ok ? `${img.name} (${img.kind})` : `${img.name} (${img.kind}) ⚠ missing files`;
    opts.push(h('option', { value: img.name, selected: img.name === selected, text: label, 'data-ok': String(img.ok) }));
  }
  // A host may name an image this list no longer has; keep it visible instead of losing it.
  if (selected && !imageByName(selected)) opts.push(h('option', { value: selected, selected: true, text: `${selected} ⚠ not defined` }));
  return opts;
}

/** The warning under an image select: which files are missing under tftpboot. */
function showImageWarning(select, out) {
  const img = imageByName(select.value);
  const missing = missingFiles(img);
  if (select.value && !img) out.textContent = `⚠ "${select.value}" is not defined in hosts.yaml.`;
  else if (missing.length) out.textContent = `⚠ ${img.name}: missing under tftpboot: ${missing.map((f) => `${f.path} (${f.role})`).join(', ')}`;
  else out.textContent = '';
  out.hidden = out.textContent === '';
}

function setFormError(e) {
  const out = $('#host-form-error');
  for (const el of $('#host-form').querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!e) {
    out.textContent = '';
    out.hidden = true;
    return;
  }
  out.textContent = describeError(e);
  out.hidden = false;
  // Point at the input the API named, so a screen reader user lands on it too.
  const input = e.field ? $(`#host-form [name="${CSS.escape(e.field)}"]`) : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

function fillForm(host) {
  editing = host;
  const form = $('#host-form');
  form.elements.mac.value = host ? host.mac : '';
  form.elements.hostname.value = host && host.hostname ? host.hostname : '';
  form.elements.ip.value = host && host.ip ? host.ip : '';
  fill(form.elements.image, imageOptions(host ? host.image : '', true));
  showImageWarning(form.elements.image, $('#image-warning'));
  $('#host-form-title').textContent = host ? `Edit ${host.hostname || host.mac}` : 'Register a machine';
  setFormError(null);
}

async function submitHost(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const mac = form.elements.mac.value.trim();
  const body = {};
  for (const name of ['hostname', 'image', 'ip']) {
    const v = form.elements[name].value.trim();
    if (v) body[name] = v;
  }
  if (editing && normalizeMac(mac) === editing.mac) {
    if (editing.bootOnce) body.bootOnce = true;
    if (editing.labels && Object.keys(editing.labels).length) body.labels = editing.labels;
  }
  const status = $('#host-form-status');
  try {
    const row = await api('PUT', hostPath(mac || '-'), { json: body });
    status.textContent = `Saved ${row.hostname || row.mac} → ${row.image || 'default'}.`;
    fillForm(null);
    await load();
  } catch (e) {
    status.textContent = '';
    setFormError(e);
  }
}

async function submitBulk(ev) {
  ev.preventDefault();
  const text = $('#bulk-csv').value;
  const out = $('#bulk-result');
  const err = $('#bulk-error');
  err.hidden = true;
  out.textContent = '';
  try {
    const res = await api('POST', '/api/hosts', { text, contentType: 'text/csv' });
    out.textContent = `${res.created} registered, ${res.updated} updated.`;
    $('#bulk-csv').value = '';
    await load();
  } catch (e) {
    err.textContent = describeError(e);
    err.hidden = false;
  }
}

async function removeHost(host) {
  if (!confirm(`Forget ${host.hostname || host.mac}? It will boot like an unlisted machine.`)) return;
  try {
    await api('DELETE', hostPath(host.mac));
    if (editing && editing.mac === host.mac) fillForm(null);
    await load();
  } catch (e) {
    setFormError(e);
  }
}

/** Boot once: a small dialog to pick the image for the next boot only. */
function bootOnce(host) {
  const dialog = $('#bootonce-dialog');
  const select = $('#bootonce-image');
  $('#bootonce-title').textContent = `Boot ${host.hostname || host.mac} once`;
  fill(select, imageOptions(host.image || (images[0] && images[0].name) || '', false));
  showImageWarning(select, $('#bootonce-warning'));
  // What happens after: the server's boot.bootOnceEnds and the host map's defaults.
  const after = defaults.action === 'image' ? `the image ${defaults.image}` : DEFAULT_WORDS[defaults.action] || defaults.action;
  const when = bootOnceEnds === 'kernel' ? 'once its kernel has been sent' : 'once it reports that it booted';
  $('#bootonce-after').textContent = `It boots this image on its next network boot; ${when}, it goes back to the default for unlisted machines (${after}).`;
  $('#bootonce-error').hidden = true;
  dialog.dataset.mac = host.mac;
  dialog.showModal();
}

async function confirmBootOnce(ev) {
  ev.preventDefault();
  const dialog = $('#bootonce-dialog');
  try {
    await api('POST', hostPath(dialog.dataset.mac, '/boot-once'), { json: { image: $('#bootonce-image').value } });
    dialog.close();
    await load();
  } catch (e) {
    const err = $('#bootonce-error');
    err.textContent = describeError(e);
    err.hidden = false;
  }
}

function hostRow(host) {
  const img = imageByName(host.image);
  const warn = host.image && (!img || !img.ok);
  const labels = Object.entries(host.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return h('tr', { class: 'host', 'data-mac': host.mac },
    h('th', { scope: 'row', class: 'mac', text: host.mac }),
    h('td', { text: host.hostname || '–' }),
    h('td', { class: warn ? 'warn' : null, title: warn ? 'missing files or not defined' : null },
      host.image || h('span', { class: 'muted', text: 'default' }), warn ? ' ⚠' : null),
    h('td', { text: host.ip || '–' }),
    h('td', {}, host.bootOnce ? h('span', { class: 'badge badge-once', text: bootOnceEnds === 'kernel' ? 'next boot only (until its kernel is sent)' : 'next boot only (until it reports booted)' }) : null, labels ? h('span', { class: 'labels', text: labels }) : null),
    h('td', { class: 'actions' },
      h('button', { type: 'button', 'data-action': 'edit', onclick: () => { fillForm(host); $('#host-mac').focus(); }, text: 'Edit' }),
      h('button', { type: 'button', 'data-action': 'boot-once', disabled: images.length === 0, onclick: () => bootOnce(host), text: 'Boot once…' }),
      h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: () => removeHost(host), text: 'Delete' })));
}

function render() {
  fill($('#hosts-body'), hosts.map(hostRow));
  $('#hosts-empty').hidden = hosts.length > 0;
  const what = defaults.action === 'image' ? `the image ${defaults.image}` : DEFAULT_WORDS[defaults.action] || defaults.action;
  $('#hosts-default').textContent = `Machines not listed get ${what}.`;
  const select = $('#host-image');
  const keep = select.value;
  fill(select, imageOptions(keep, true));
  showImageWarning(select, $('#image-warning'));
}

/** Fetches hosts and images again (after a write, or a `hosts` event: hand edits too). */
export async function load() {
  const [h1, i1] = await Promise.all([api('GET', '/api/hosts'), api('GET', '/api/images')]);
  hosts = h1.hosts;
  defaults = h1.defaults;
  bootOnceEnds = h1.bootOnceEnds || 'booted';
  images = i1.images;
  const problem = $('#hosts-problem');
  problem.textContent = h1.lastError && h1.lastError.length ? `hosts.yaml has an error, the last good map is in use: ${h1.lastError.join('; ')}` : '';
  problem.hidden = problem.textContent === '';
  render();
}

export function initHosts() {
  $('#host-form').addEventListener('submit', submitHost);
  $('#host-form').addEventListener('reset', (ev) => { ev.preventDefault(); fillForm(null); });
  $('#host-image').addEventListener('change', (ev) => showImageWarning(ev.target, $('#image-warning')));
  $('#bulk-form').addEventListener('submit', submitBulk);
  $('#bootonce-form').addEventListener('submit', confirmBootOnce);
  $('#bootonce-cancel').addEventListener('click', () => $('#bootonce-dialog').close());
  $('#bootonce-image').addEventListener('change', (ev) => showImageWarning(ev.target, $('#bootonce-warning')));
}
