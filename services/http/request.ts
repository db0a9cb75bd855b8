// What an HTTP request names, as pure functions: the file path (percent-decoded, the
// query ignored, no normalisation here: ".." reaches the file layer, which refuses it)
// and the booted report route.
import { URL_MAC } from '../core/bootnames.js';

export interface RequestTarget {
  /** The decoded path, with its leading "/". */
  path: string;
  query: URLSearchParams;
}

/**
 * Splits a request-target (origin-form "/a/b?q", or absolute-form "http://host/a/b") into
 * the decoded path and the query. Null when the percent-encoding is broken. `new URL` is
 * not used for the path: it resolves "..", which must reach the file layer as it was sent.
 */
export function parseTarget(raw: string): RequestTarget | null {
  let rest = raw;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(rest);
  if (abs) rest = rest.slice(abs[0].length) || '/';
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const rawPath = q >= 0 ? rest.slice(0, q) : rest;
  const query = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  return { path: path.startsWith('/') ? path : `/${path}`, query };
}

/** The file name for events and the file layer: the path without its leading slashes. */
export function fileName(path: string): string {
  return path.replace(/^\/+/, '');
}

const BOOTED = /^\/+bootlab\/booted\/([^/]+)\/?$/;

/**
 * The booted report route, `/bootlab/booted/<mac>`: null for any other path; the MAC as
 * aa:bb:cc:dd:ee:ff, or 'bad-mac' when the last segment is not one.
 */
export function bootedRoute(path: string): { mac: string } | 'bad-mac' | null {
  const m = BOOTED.exec(path);
  if (!m) return null;
  const mac = URL_MAC.exec(m[1]);
  if (!mac) return 'bad-mac';
  return { mac: mac.slice(1, 7).join(':').toLowerCase() };
}
