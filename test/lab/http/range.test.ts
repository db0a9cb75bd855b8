// The pure parts of the HTTP boot server: Range (RFC 9110 14), conditionals, content
// types, request targets and the booted route.
import t from 'tap';
import { contentType, fileEtag, notModified, parseRange, rangeAllowed, type RangeResult } from '../../../services/http/range.js';
import { plainAddress } from '../../../services/core/net.js';
import { bootedRoute, fileName, parseTarget } from '../../../services/http/request.js';

t.test('parseRange', async (t) => {
  const whole: RangeResult = { kind: 'whole' };
  const none: RangeResult = { kind: 'unsatisfiable' };
  const one = (start: number, end: number): RangeResult => ({ kind: 'single', start, end });
  const cases: [string | undefined, number, RangeResult][] = [
    [undefined, 100, whole],
    ['bytes=0-9', 100, one(0, 9)],
    ['bytes=10-', 100, one(10, 99)],
    ['bytes=-10', 100, one(90, 99)],
    ['bytes=-1000', 100, one(0, 99)], // a suffix longer than the file: all of it
    ['bytes=90-1000', 100, one(90, 99)], // the end is clipped
    ['bytes=99-99', 100, one(99, 99)],
    ['bytes=0-0', 1, one(0, 0)],
    [' bytes = 5-6 ', 100, one(5, 6)],
    ['BYTES=5-6', 100, one(5, 6)],
    ['bytes=100-', 100, none],
    ['bytes=100-200', 100, none],
    ['bytes=-0', 100, none],
    ['bytes=0-', 0, none],
    ['bytes=-5', 0, none],
    ['bytes=0-1,5-6', 100, whole], // several ranges: the whole file
    ['bytes=0-1, 200-300', 100, whole],
    ['bytes=5-4', 100, whole], // invalid (last < first): ignored
    ['bytes=a-b', 100, whole],
    ['bytes=', 100, whole],
    ['bytes=-', 100, whole],
    ['items=0-5', 100, whole],
    ['0-5', 100, whole],
    ['bytes=99999999999999999999-', 100, whole],
  ];
  for (const [header, size, want] of cases) t.same(parseRange(header, size), want, `${header} of ${size}`);
});

t.test('conditionals', async (t) => {
  const mtimeMs = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  const v = { etag: fileEtag(1234, mtimeMs), mtimeMs };
  t.equal(v.etag, `"4d2-${Math.floor(mtimeMs).toString(16)}"`);
  const date = new Date(mtimeMs).toUTCString();
  t.ok(notModified({ 'if-none-match': v.etag }, v));
  t.ok(notModified({ 'if-none-match': `"x", W/${v.etag}` }, v), 'weak comparison for If-None-Match');
  t.ok(notModified({ 'if-none-match': '*' }, v));
  t.notOk(notModified({ 'if-none-match': '"other"', 'if-modified-since': date }, v), 'If-None-Match wins');
  t.ok(notModified({ 'if-modified-since': date }, v), 'same second');
  t.ok(notModified({ 'if-modified-since': new Date(mtimeMs + 5000).toUTCString() }, v));
  t.notOk(notModified({ 'if-modified-since': new Date(mtimeMs - 1000).toUTCString() }, v));
  t.notOk(notModified({ 'if-modified-since': 'yesterday' }, v));
  t.notOk(notModified({ 'if-modified-since': date }, { ...v, mtimeMs: null }), 'generated content has no date');
  t.notOk(notModified({}, v));

  t.ok(rangeAllowed(undefined, v));
  t.ok(rangeAllowed(v.etag, v));
  t.notOk(rangeAllowed('"other"', v));
  t.notOk(rangeAllowed(`W/${v.etag}`, v), 'a weak tag never matches If-Range');
  t.ok(rangeAllowed(date, v));
  t.notOk(rangeAllowed(new Date(mtimeMs + 5000).toUTCString(), v), 'If-Range dates must match exactly');
  t.notOk(rangeAllowed('garbage', v));
});

t.test('contentType', async (t) => {
  const text = 'text/plain; charset=utf-8';
  const bin = 'application/octet-stream';
  t.equal(contentType('boot.ipxe', false), text);
  t.equal(contentType('bootlab/52-54-00-00-00-01.IPXE', false), text);
  t.equal(contentType('grub/grub.cfg', false), text);
  t.equal(contentType('grub/grub.cfg-01-52-54-00-00-00-01', false), text);
  t.equal(contentType('pxelinux.cfg/default', false), text);
  t.equal(contentType('README.txt', false), text);
  t.equal(contentType('vmlinuz', false), bin);
  t.equal(contentType('initrd.gz', false), bin);
  t.equal(contentType('undionly.kpxe', false), bin);
  t.equal(contentType('images/x/cfg', false), bin);
  t.equal(contentType('anything', true), text, 'generated files are scripts and configs');
});

t.test('parseTarget', async (t) => {
  const p = (raw: string) => {
    const r = parseTarget(raw);
    return r === null ? null : { path: r.path, query: r.query.toString() };
  };
  t.same(p('/vmlinuz'), { path: '/vmlinuz', query: '' });
  t.same(p('/a/b?x=1&key=k'), { path: '/a/b', query: 'x=1&key=k' });
  t.same(p('/my%20file.txt'), { path: '/my file.txt', query: '' });
  t.same(p('/a+b'), { path: '/a+b', query: '' }, '+ is not a space in a path');
  t.same(p('/../etc/passwd'), { path: '/../etc/passwd', query: '' }, '.. is kept for the file layer to refuse');
  t.same(p('/%2e%2e/%2E%2E/etc'), { path: '/../../etc', query: '' });
  t.same(p('/a%2fb'), { path: '/a/b', query: '' });
  t.same(p('/x#frag'), { path: '/x', query: '' });
  t.same(p('http://192.0.2.1:8080/boot.ipxe?a=1'), { path: '/boot.ipxe', query: 'a=1' });
  t.same(p('http://192.0.2.1'), { path: '/', query: '' });
  t.same(p('*'), { path: '/*', query: '' });
  t.equal(p('/%zz'), null);
  t.equal(p('/%'), null);
  t.equal(fileName('//a/b'), 'a/b');
  t.equal(fileName('/'), '');
});

t.test('bootedRoute', async (t) => {
  t.same(bootedRoute('/bootlab/booted/52-54-00-AB-cd-01'), { mac: '52:54:00:ab:cd:01' });
  t.same(bootedRoute('/bootlab/booted/52:54:00:ab:cd:01/'), { mac: '52:54:00:ab:cd:01' });
  t.same(bootedRoute('/bootlab/booted/525400abcd01'), { mac: '52:54:00:ab:cd:01' });
  t.equal(bootedRoute('/bootlab/booted/nonsense'), 'bad-mac');
  t.equal(bootedRoute('/bootlab/booted/52-54-00-ab-cd'), 'bad-mac');
  t.equal(bootedRoute('/bootlab/booted/52-54-00-ab-cd-01/key'), null, 'the provider form (mac/key) is a file name');
  t.equal(bootedRoute('/bootlab/52-54-00-ab-cd-01.ipxe'), null);
  t.equal(bootedRoute('/bootlab/booted'), null);
});

t.test('plainAddress', async (t) => {
  t.equal(plainAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(plainAddress('127.0.0.1'), '127.0.0.1');
  t.equal(plainAddress('::1'), '::1');
  t.equal(plainAddress(undefined), '');
});
