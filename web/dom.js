// Small DOM and formatting helpers. Every piece of data reaches the page as a text node or
// an attribute value through h(), never through innerHTML, so a hostname or a TFTP file
// name sent by a machine on the network cannot inject markup into the teacher's page.

/**
 * Builds an element. props: attributes (data-*, aria-*, id, type ...), `class`, `text`,
 * and on<event> functions; children: nodes, strings (become text nodes), arrays, or
 * null/false/undefined (skipped, so conditional children read naturally).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    // Properties rather than attributes where the live value matters (<progress>, <option>).
    else if (key === 'value' || key === 'max' || key === 'selected' || key === 'disabled') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces a container's children (an empty list clears it). */
export function fill(el, children) {
  el.replaceChildren();
  append(el, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB": binary units, as boot files and disk images are sized. */
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

/** Bytes per second → "12.3 MiB/s"; a machine waiting shows a dash, not "0 B/s". */
export function fmtRate(n) {
  if (!n) return '–';
  return `${fmtBytes(Math.round(n))}/s`;
}

/** How long ago, coarse on purpose: a teacher wants "5 s ago", not a timestamp. */
export function fmtAgo(at, now = Date.now()) {
  if (!at) return '–';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hrs = Math.floor(m / 60);
  return hrs < 24 ? `${hrs} h ago` : `${Math.floor(hrs / 24)} d ago`;
}

export function fmtTime(at) {
  if (!at) return '–';
  return new Date(at).toLocaleTimeString();
}

/** ISO form for <time datetime>, so assistive tech and tests get an exact value. */
export function isoTime(at) {
  return at ? new Date(at).toISOString() : null;
}

/**
 * "aa-BB.cc..." → "aa:bb:cc:dd:ee:ff" when it holds exactly 12 hex digits, else null.
 * Only used to match the form's MAC against rows already listed; the API is the judge of
 * what is valid and its error is shown as is.
 */
export function normalizeMac(text) {
  const hex = String(text).toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12 || !/^[0-9a-f:\-. ]+$/i.test(String(text).trim())) return null;
  return hex.match(/../g).join(':');
}

/** A <progress> with its number beside it; no value = indeterminate (size unknown). */
export function progressBar(percent, label, testid) {
  const known = typeof percent === 'number' && Number.isFinite(percent);
  const value = known ? Math.max(0, Math.min(100, percent)) : null;
  return h('span', { class: 'bar' },
    h('progress', {
      max: 100,
      value: known ? value : undefined,
      'aria-label': label,
      'data-testid': testid,
      'data-value': known ? value.toFixed(1) : null,
    }),
    h('span', { class: 'pct', text: known ? `${Math.floor(value)} %` : '…' }),
  );
}
