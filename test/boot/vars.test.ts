// Template variables in an image's cmdline and chain URL (services/boot/vars.ts): every
// name, spaces inside the braces, unknown names left as written, and what varsFor takes
// from the host entry, the client's address and the site.
import t from 'tap';
import { render, unknownVars, VAR_NAMES, varsFor, type BootSite, type BootVars } from '../../services/boot/vars.js';
import type { Host } from '../../services/core/hostmap-parse.js';

const MAC = '52:54:00:00:00:01';
const SITE: BootSite = { server: '192.0.2.1', httpBase: 'http://192.0.2.1:8069', bootedPath: (mac) => `bootlab/booted/${mac.replace(/:/g, '-')}/0123456789abcdef0123` };
const OFF: BootSite = { server: null, httpBase: null, bootedPath: SITE.bootedPath };
const HOST: Host = { mac: MAC, hostname: 'pc01', image: 'debian', ip: '192.0.2.41', bootOnce: false, labels: {} };

const VARS: BootVars = {
  mac: MAC, machyp: '52-54-00-00-00-01', ip: '192.0.2.50', hostname: 'pc01', image: 'debian',
  server: '192.0.2.1', httpBase: 'http://192.0.2.1:8069', bootedUrl: 'http://192.0.2.1:8069/bootlab/booted/52-54-00-00-00-01/0123456789abcdef0123',
};

t.test('the variable names are the contract\'s eight', async (t) => {
  t.same([...VAR_NAMES], ['mac', 'machyp', 'ip', 'hostname', 'image', 'server', 'httpBase', 'bootedUrl']);
});

t.test('render: every variable', async (t) => {
  const cases: [string, string][] = [
    ['{{mac}}', '52:54:00:00:00:01'],
    ['{{machyp}}', '52-54-00-00-00-01'],
    ['{{ip}}', '192.0.2.50'],
    ['{{hostname}}', 'pc01'],
    ['{{image}}', 'debian'],
    ['{{server}}', '192.0.2.1'],
    ['{{httpBase}}', 'http://192.0.2.1:8069'],
    ['{{bootedUrl}}', 'http://192.0.2.1:8069/bootlab/booted/52-54-00-00-00-01/0123456789abcdef0123'],
  ];
  for (const [tpl, want] of cases) t.equal(render(tpl, VARS), want, tpl);
  t.equal(render('hostname={{hostname}} ip={{ip}}::{{server}}:255.255.255.0 BOOTIF=01-{{machyp}} url={{httpBase}}/{{image}}/preseed.cfg', VARS),
    'hostname=pc01 ip=192.0.2.50::192.0.2.1:255.255.255.0 BOOTIF=01-52-54-00-00-00-01 url=http://192.0.2.1:8069/debian/preseed.cfg');
  t.equal(render('{{mac}}{{mac}}', VARS), '52:54:00:00:00:0152:54:00:00:00:01', 'adjacent, twice');
  t.equal(render('no variables at all', VARS), 'no variables at all');
  t.equal(render('', VARS), '');
});

t.test('render: spaces inside the braces are allowed', async (t) => {
  t.equal(render('{{ mac }}', VARS), MAC);
  t.equal(render('{{hostname }}-{{  ip}}', VARS), 'pc01-192.0.2.50');
  t.equal(render('{{\thostname\t}}', VARS), 'pc01', 'tabs too');
});

t.test('render: unknown names, other brace shapes and case are left as written', async (t) => {
  t.equal(render('{{nope}}', VARS), '{{nope}}');
  t.equal(render('a={{ nope }} b={{mac}}', VARS), `a={{ nope }} b=${MAC}`);
  t.equal(render('{{MAC}}', VARS), '{{MAC}}', 'names are case-sensitive');
  t.equal(render('{mac}', VARS), '{mac}');
  t.equal(render('{{mac}', VARS), '{{mac}');
  t.equal(render('{{ma c}}', VARS), '{{ma c}}');
  t.equal(render('{{constructor}}', VARS), '{{constructor}}', 'no Object.prototype names');
  t.equal(render('{{toString}}', VARS), '{{toString}}');
  t.equal(render('$' + '{mac}', VARS), '${mac}', 'iPXE\'s own ${...} settings are untouched');
});

t.test('render: a value is not rendered again', async (t) => {
  t.equal(render('{{hostname}}', { ...VARS, hostname: '{{mac}}' }), '{{mac}}');
});

t.test('unknownVars names the names that are not variables, in order, repeats kept', async (t) => {
  t.same(unknownVars('{{mac}} {{ nope }} {{ip}} {{Hostname}} {{nope}}'), ['nope', 'Hostname', 'nope']);
  t.same(unknownVars('{{mac}} {{ machyp }} {{bootedUrl}}'), []);
  t.same(unknownVars('plain {text}'), []);
});

t.test('varsFor with a host and HTTP on', async (t) => {
  t.same(varsFor(MAC, HOST, 'debian', '192.0.2.50', SITE), VARS, 'the client\'s address wins over the host\'s ip');
  t.same(varsFor(MAC, HOST, 'debian', null, SITE), { ...VARS, ip: '192.0.2.41' }, 'no client address: the host map\'s ip');
});

t.test('varsFor without a host, with HTTP off', async (t) => {
  t.same(varsFor(MAC, undefined, null, null, OFF), {
    mac: MAC, machyp: '52-54-00-00-00-01', ip: '', hostname: '', image: '', server: '', httpBase: '', bootedUrl: '',
  });
  t.same(varsFor(MAC, undefined, 'rescue', '198.51.100.9', { ...OFF, server: '198.51.100.1' }), {
    mac: MAC, machyp: '52-54-00-00-00-01', ip: '198.51.100.9', hostname: '', image: 'rescue', server: '198.51.100.1', httpBase: '', bootedUrl: '',
  }, 'a server but no HTTP: no httpBase, no bootedUrl');
  const noName: Host = { ...HOST, hostname: null, ip: null };
  t.equal(varsFor(MAC, noName, 'debian', null, SITE).hostname, '');
  t.equal(varsFor(MAC, noName, 'debian', null, SITE).ip, '');
});

t.test('varsFor then render: a host-less, HTTP-less template renders empty strings, not "undefined"', async (t) => {
  t.equal(render('h={{hostname}} ip={{ip}} u={{bootedUrl}}', varsFor(MAC, undefined, null, null, OFF)), 'h= ip= u=');
});
