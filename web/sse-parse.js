// A server-sent-events parser (the "event stream interpretation" of the WHATWG HTML
// standard, section 9.2.6), kept apart from the network code so it can be tested in Node.
// The dashboard needs its own because EventSource cannot send an Authorization header.

/**
 * Returns feed(text): give it decoded chunks as they arrive, in any split; it calls
 * onMessage({ event, data, id }) once per complete message (a blank line ends one).
 */
export function createSseParser(onMessage) {
  let buffer = '';
  let event = '';
  let data = [];
  let id = null;

  function line(text) {
    if (text === '') {
      // Blank line: dispatch. A message without data lines is dropped, per the standard.
      if (data.length > 0) onMessage({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return; // comment, e.g. the server's ": keep-alive"
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    // "retry" is ignored: the dashboard keeps its own backoff.
  }

  return function feed(chunk) {
    buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) break;
      // A lone CR at the very end may be the first half of a CRLF split across chunks.
      if (m[0] === '\r' && m.index === buffer.length - 1) break;
      line(buffer.slice(0, m.index));
      buffer = buffer.slice(m.index + m[0].length);
    }
  };
}
