// Where the clients are sent (services/core/site.ts, services/boot/providers.ts bootSite):
// the HTTP boot server's URL exists only while the HTTP service has announced its bound
// port, so a stopped or crashed HTTP service makes DHCP and the scripts fall back to TFTP;
// http.baseUrl is taken as given.
import t from 'tap';
import { BootReports } from '../../services/boot/booted.js';
import { bootSite } from '../../services/boot/providers.js';
import { parseConfig } from '../../services/core/config.js';
import { EventBus } from '../../services/core/events.js';
import { httpBaseFor, Site } from '../../services/core/site.js';

const FILE = '/etc/bootlab/appliance.yaml';

t.test('no HTTP URL while the HTTP service is not listening; its bound port once it is', async (t) => {
  const cfg = parseConfig('dhcp:\n  serverAddress: 192.0.2.1\n', FILE);
  const site = new Site();
  const boot = bootSite(cfg, site, new BootReports(new EventBus(), Buffer.alloc(32, 1)));
  t.equal(site.httpPort, 0);
  t.equal(site.httpBase(cfg, '192.0.2.1'), null, 'not running: DHCP hands tftp:// URLs');
  t.equal(boot.httpBase, null);
  site.announceHttp(80);
  t.equal(site.httpBase(cfg, '192.0.2.1'), 'http://192.0.2.1', 'port 80 is not written');
  t.equal(boot.httpBase, 'http://192.0.2.1');
  site.announceHttp(8069);
  t.equal(boot.httpBase, 'http://192.0.2.1:8069', 'the generated files follow the announced port');
  t.equal(boot.server, '192.0.2.1', 'dhcp.serverAddress');
  site.announceHttp(null);
  t.equal(boot.httpBase, null, 'stopped: no URL again');
  t.equal(new Site().httpBase(cfg, '192.0.2.1'), null, 'each appliance has its own site: nothing leaks between them');
});

t.test('http.enabled false: never a URL; http.baseUrl: always that one', async (t) => {
  t.equal(httpBaseFor(parseConfig('http:\n  enabled: false\n', FILE), '192.0.2.1', 8069), null);
  const behind = parseConfig('http:\n  baseUrl: "http://198.51.100.7:8000/"\n', FILE);
  t.equal(httpBaseFor(behind, '192.0.2.1', 8069), 'http://198.51.100.7:8000', 'the trailing slash dropped');
  t.equal(new Site().httpBase(behind, '192.0.2.1'), 'http://198.51.100.7:8000', 'given by the teacher: used as is, even before HTTP listens');
  t.equal(httpBaseFor(parseConfig('', FILE), null, 80), null, 'no known server address: no URL');
});
