// Where the clients are sent (services/boot/providers.ts): the HTTP boot server's URL exists
// only while the HTTP service runs (its bound port), so a stopped or crashed HTTP service
// makes DHCP and the scripts fall back to TFTP; http.baseUrl is taken as given.
import t from 'tap';
import { BootReports } from '../../services/boot/booted.js';
import { httpBaseFor, httpListening, httpPort, Site } from '../../services/boot/providers.js';
import { parseConfig } from '../../services/core/config.js';
import { EventBus } from '../../services/core/events.js';

const FILE = '/etc/bootlab/appliance.yaml';

t.test('no HTTP URL while the HTTP service is not listening; its bound port once it is', async (t) => {
  t.teardown(() => { httpListening.port = null; });
  const cfg = parseConfig('dhcp:\n  serverAddress: 192.0.2.1\n', FILE);
  const site = new Site(cfg, new BootReports(new EventBus(), Buffer.alloc(32, 1)));
  httpListening.port = null;
  t.equal(httpPort(), 0);
  t.equal(httpBaseFor(cfg, '192.0.2.1', httpPort()), null, 'not running: DHCP hands tftp:// URLs');
  t.equal(site.httpBase, null);
  httpListening.port = 80;
  t.equal(httpBaseFor(cfg, '192.0.2.1', httpPort()), 'http://192.0.2.1', 'port 80 is not written');
  t.equal(site.httpBase, 'http://192.0.2.1');
  httpListening.port = 8069;
  t.equal(site.httpBase, 'http://192.0.2.1:8069');
  t.equal(site.server, '192.0.2.1', 'dhcp.serverAddress');
});

t.test('http.enabled false: never a URL; http.baseUrl: always that one', async (t) => {
  t.teardown(() => { httpListening.port = null; });
  httpListening.port = 8069;
  t.equal(httpBaseFor(parseConfig('http:\n  enabled: false\n', FILE), '192.0.2.1', httpPort()), null);
  const behind = parseConfig('http:\n  baseUrl: "http://198.51.100.7:8000/"\n', FILE);
  t.equal(httpBaseFor(behind, '192.0.2.1', httpPort()), 'http://198.51.100.7:8000', 'the trailing slash dropped');
  httpListening.port = null;
  t.equal(httpBaseFor(behind, '192.0.2.1', httpPort()), 'http://198.51.100.7:8000', 'given by the teacher: used as is');
  t.equal(httpBaseFor(parseConfig('', FILE), null, 80), null, 'no known server address: no URL');
});
