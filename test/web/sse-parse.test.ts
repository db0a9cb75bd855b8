// The dashboard's server-sent-events parser (web/sse-parse.js), run in Node: the browser
// gets the stream in arbitrary chunks, so every split of a real stream must give the
// same messages. web/ is plain JavaScript with no build step, hence the dynamic import.
import t from 'tap';

interface Message { event: string; data: string; id: string | null }
type Parser = (onMessage: (m: Message) => void) => (chunk: string) => void;

const mod = (await import(new URL('../../../web/sse-parse.js', import.meta.url).href)) as { createSseParser: Parser };

function parseAll(chunks: string[]): Message[] {
  const out: Message[] = [];
  const feed = mod.createSseParser((m) => out.push(m));
  for (const c of chunks) feed(c);
  return out;
}

// What services/admin/sse.ts writes: named events with one JSON data line, and comments.
const stream = [
  'event: snapshot\ndata: {"clients":[],"transfers":[],"services":[]}\n\n',
  ': keep-alive\n\n',
  'event: clients\ndata: {"clients":[{"mac":"52:54:00:12:34:56"}],"removed":[]}\n\n',
  'event: hosts\ndata: {}\n\n',
].join('');

const expected: Message[] = [
  { event: 'snapshot', data: '{"clients":[],"transfers":[],"services":[]}', id: null },
  { event: 'clients', data: '{"clients":[{"mac":"52:54:00:12:34:56"}],"removed":[]}', id: null },
  { event: 'hosts', data: '{}', id: null },
];

t.test('a whole stream in one chunk', async (t) => {
  t.same(parseAll([stream]), expected);
});

t.test('every two-way split gives the same messages', async (t) => {
  for (let i = 1; i < stream.length; i++) {
    t.same(parseAll([stream.slice(0, i), stream.slice(i)]), expected, `split at ${i}`);
  }
});

t.test('one character at a time, with CRLF and CR line ends', async (t) => {
  const crlf = stream.replace(/\n/g, '\r\n');
  t.same(parseAll([...crlf]), expected, 'CRLF, a CR and its LF in different chunks');
  t.same(parseAll([...stream.replace(/\n/g, '\r')]).slice(0, 2), expected.slice(0, 2), 'CR alone');
});

t.test('field rules of the standard', async (t) => {
  t.same(parseAll(['data: a\ndata:b\n\n']), [{ event: 'message', data: 'a\nb', id: null }], 'data lines join with \\n; one leading space dropped');
  t.same(parseAll(['event: x\n\n']), [], 'no data: nothing dispatched');
  t.same(parseAll(['event: x\ndata: 1\nid: 7\nretry: 10\nbogus: 1\n\n']), [{ event: 'x', data: '1', id: '7' }]);
  t.same(parseAll(['data: incomplete']), [], 'a message is only dispatched at its blank line');
});
