// The live connection to /api/events: fetch() + a stream reader instead of EventSource,
// because EventSource cannot send `Authorization: Bearer`, which the API needs when reads
// are protected. Reconnects with exponential backoff when the stream drops (the
// appliance restarting, a laptop waking up), and gives up only when told to.
import { createSseParser } from './sse-parse.js';

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
// The server sends ": keep-alive" every 15 s; three missed ones mean a dead connection
// that TCP has not noticed (a dropped Wi-Fi), so abort and reconnect.
const SILENCE_MS = 45_000;

/** Reads one stream, handing each event to onEvent; a silence of SILENCE_MS aborts it (ctrl). */
async function readStream(body, ctrl, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const feed = createSseParser((msg) => {
    let data;
    try {
      data = msg.data ? JSON.parse(msg.data) : {};
    } catch {
      return; // one bad message must not end the stream
    }
    onEvent(msg.event, data);
  });
  let watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      clearTimeout(watchdog);
      if (done) return;
      watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
      feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    clearTimeout(watchdog);
  }
}

/**
 * One connection, to its end. { next: 'again' }: a new token, connect at once;
 * { next: 'wait' }: refused and no token given, wait for restart(); { next: 'retry', reason }:
 * it ended or failed, try again after the backoff. onLive(): the stream opened.
 */
async function connectOnce(opts, ctrl, onLive) {
  try {
    opts.onState('connecting');
    const res = await fetch(opts.url, {
      headers: { Accept: 'text/event-stream', ...opts.headers() },
      signal: ctrl.signal,
      cache: 'no-store',
    });
    if (res.status === 401) {
      opts.onState('unauthorized');
      return { next: (await opts.onUnauthorized()) ? 'again' : 'wait' };
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    opts.onState('live');
    onLive();
    await readStream(res.body, ctrl, opts.onEvent);
    return { next: 'retry', reason: 'the stream ended' };
  } catch (e) {
    return { next: 'retry', reason: ctrl.signal.aborted ? 'no data for a while' : (e && e.message) || String(e) };
  }
}

/**
 * opts: url, headers() → extra headers (the token), onEvent(name, data),
 * onState(state, detail) with state 'connecting' | 'live' | 'retrying' | 'unauthorized' |
 * 'closed', and onUnauthorized() → Promise<boolean> (true: a new token, try again).
 * Returns { close(), restart() }.
 */
export function connectEvents(opts) {
  let closed = false;
  let running = false;
  let controller = null;
  let wake = null; // resolves the backoff sleep early on restart()
  let now = false; // restart() asked for a reconnect without the backoff wait

  const sleep = (ms) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => { clearTimeout(timer); resolve(); };
  });

  async function loop() {
    running = true;
    let delay = MIN_DELAY_MS;
    while (!closed) {
      const ctrl = new AbortController();
      controller = ctrl;
      // A stream that opened resets the backoff.
      const r = await connectOnce(opts, ctrl, () => { delay = MIN_DELAY_MS; });
      if (r.next === 'again') continue;
      if (r.next === 'wait' || closed) break;
      if (now) {
        now = false;
        continue;
      }
      opts.onState('retrying', { inMs: delay, reason: r.reason });
      await sleep(delay);
      now = false;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
    running = false;
    if (closed) opts.onState('closed');
  }

  loop();
  return {
    close() {
      closed = true;
      if (controller) controller.abort();
      if (wake) wake();
    },
    /** Reconnects now: after a new token, or to skip the rest of a backoff wait. */
    restart() {
      if (closed) return;
      if (!running) loop();
      else if (controller) {
        now = true;
        controller.abort();
        if (wake) wake();
      }
    },
  };
}
