// The booted report (services/boot/booted.ts): the HMAC key per MAC, report() emitting
// client.booted only for the right key, and the provider answering the path form
// bootlab/booted/<aa-bb-cc-dd-ee-ff>/<key> that a script's imgfetch asks for.
import t from 'tap';
import { BootReports } from '../../services/boot/booted.js';
import { EventBus, type BootEvent } from '../../services/core/events.js';

const A = '52:54:00:00:00:01';
const B = '52:54:00:00:00:02';
const SECRET = Buffer.alloc(32, 7);

function bus(): { events: EventBus; seen: BootEvent[] } {
  const events = new EventBus();
  const seen: BootEvent[] = [];
  events.onAny((e) => seen.push(e));
  return { events, seen };
}

t.test('the key: stable per MAC, different per MAC and per secret, 20 hex digits', async (t) => {
  const r = new BootReports(new EventBus(), SECRET);
  t.match(r.key(A), /^[0-9a-f]{20}$/);
  t.equal(r.key(A), r.key(A), 'the same MAC twice');
  t.equal(new BootReports(new EventBus(), Buffer.from(SECRET)).key(A), r.key(A), 'the same secret in another instance');
  t.not(r.key(B), r.key(A), 'another MAC');
  t.not(new BootReports(new EventBus(), Buffer.alloc(32, 8)).key(A), r.key(A), 'another secret');
  const random1 = new BootReports(new EventBus());
  const random2 = new BootReports(new EventBus());
  t.equal(random1.key(A), random2.key(A), 'without a secret every instance uses the process\'s one (TFTP and HTTP accept the same keys)');
  t.not(random1.key(A), r.key(A), 'which is not the fixed test secret');
  t.equal(r.path(A), `bootlab/booted/52-54-00-00-00-01/${r.key(A)}`);
});

t.test('report with the right key emits client.booted {mac, via: http, ip}', async (t) => {
  const { events, seen } = bus();
  const r = new BootReports(events, SECRET);
  t.equal(r.report(A, r.key(A), '192.0.2.50'), true);
  t.equal(seen.length, 1);
  t.match(seen[0], { kind: 'client.booted', mac: A, via: 'http', ip: '192.0.2.50' });
  t.type(seen[0].at, 'number');
  t.equal(r.report(A, r.key(A).toUpperCase(), null), true, 'the key in upper case is the same key');
  t.same(Object.keys(seen[1]).sort(), ['at', 'kind', 'mac', 'via'], 'no ip when none is known');
});

t.test('a wrong key, a wrong length, another MAC\'s key: false and no event', async (t) => {
  const { events, seen } = bus();
  const r = new BootReports(events, SECRET);
  const key = r.key(A);
  const flipped = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
  for (const [what, k] of [
    ['one digit off', flipped], ['empty', ''], ['too short', key.slice(0, 19)], ['too long', `${key}0`],
    ['the whole HMAC', `${key}${'0'.repeat(44)}`], ['another MAC\'s key', r.key(B)], ['not hex', 'z'.repeat(20)],
    ['another secret\'s key', new BootReports(new EventBus(), Buffer.alloc(32, 8)).key(A)],
  ] as const) t.equal(r.report(A, k, '192.0.2.50'), false, what);
  t.equal(r.report(B, key, '192.0.2.50'), false, 'A\'s key for B');
  t.same(seen, [], 'no event');
});

t.test('the provider: the path form answers "booted <mac>\\n" and reports; a bad key is not found', async (t) => {
  const { events, seen } = bus();
  const r = new BootReports(events, SECRET);
  const p = r.provider();
  t.equal(p(r.path(A), { address: '192.0.2.50' }), `booted ${A}\n`);
  t.match(seen, [{ kind: 'client.booted', mac: A, via: 'http', ip: '192.0.2.50' }]);
  const C = '52:54:00:ab:cd:ef';
  t.equal(p(`bootlab/booted/52-54-00-AB-CD-EF/${r.key(C)}`, { address: '192.0.2.51' }), `booted ${C}\n`, 'upper-case MAC in the path');
  t.equal(seen.length, 2);
  seen.length = 0;
  const key = r.key(A);
  for (const name of [
    `bootlab/booted/52-54-00-00-00-01/${r.key(B)}`, // another MAC's key
    `bootlab/booted/52-54-00-00-00-02/${key}`,
    `bootlab/booted/52-54-00-00-00-01/${key.slice(0, 10)}`,
    'bootlab/booted/52-54-00-00-00-01/',
    'bootlab/booted/52-54-00-00-00-01',
    `bootlab/booted/52:54:00:00:00:01/${key}`,
    `bootlab/booted/525400000001/${key}`,
    `bootlab/booted/52-54-00-00-00-01/${key}/x`,
    `bootlab/booted/52-54-00-00-00-01/${key}/local/x`,
    `bootlab/booted/52-54-00-00-00-01/${r.key(B)}/local`,
    `booted/52-54-00-00-00-01/${key}`,
    `x/bootlab/booted/52-54-00-00-00-01/${key}`,
    `bootlab/booted/52-54-00-00-00-01/${key}.txt`,
    'bootlab/52-54-00-00-00-01.ipxe',
  ]) t.equal(p(name, { address: '192.0.2.50' }), null, `null: ${name}`);
  t.same(seen, [], 'no event for any of them');
});

t.test('the local-disk step\'s report (<path>/local): client.booted with target local', async (t) => {
  const { events, seen } = bus();
  const r = new BootReports(events, SECRET);
  t.equal(r.provider()(`${r.path(A)}/local`, { address: '192.0.2.50' }), `booted ${A}\n`);
  t.match(seen, [{ kind: 'client.booted', mac: A, via: 'http', ip: '192.0.2.50', target: 'local' }]);
  r.provider()(r.path(A), { address: '192.0.2.50' });
  t.equal('target' in seen[1], false, 'the image\'s report has no target');
});
