// chooseBoot (services/boot/choose.ts) with the HTTP boot server and the loaders: iPXE gets
// its script over http:// (the port named unless 80) or tftp:// when HTTP is off; UEFI
// HTTP Boot gets a URL; `loader: pxelinux` and `loader: grub` kernel images hand BIOS /
// UEFI clients that loader. And respond(): an HTTPClient DISCOVER in proxy mode.
import t from 'tap';
import { httpBaseFor } from '../../services/core/site.js';
import { dhcpSpec, parseConfig, type AppConfig } from '../../services/core/config.js';
import { defaults } from '../../services/core/schema.js';
import { chooseBoot, type BootFilesConfig } from '../../services/boot/choose.js';
import { LeaseStore } from '../../services/dhcp/leases.js';
import { MessageType, Opt, decode, isDecodeError, optText, type DhcpPacket } from '../../services/dhcp/packet.js';
import type { ClientKind } from '../../services/core/firmware.js';
import { classify } from '../../services/dhcp/pxe.js';
import { respond, type RespondContext, type ResolvedDhcpConfig } from '../../services/dhcp/respond.js';
import { IPXE, PXE_BIOS, PXE_UEFI, dhcp, hostView, tlv } from '../helpers/dhcp-bytes.js';

const SERVER = '192.0.2.1';
const PC01 = '52:54:00:00:00:01';
const SCRIPT = 'bootlab/52-54-00-00-00-01.ipxe';

function kindOf(opts: Buffer[]): ClientKind {
  const p = decode(dhcp(1, opts, { mac: PC01 }));
  if (isDecodeError(p)) throw new Error(p.error);
  return classify(p);
}
const HTTP_X64 = [tlv(60, 'HTTPClient:Arch:00016:UNDI:003016'), tlv(93, [0, 16])];
const HTTP_ARM64 = [tlv(60, 'HTTPClient:Arch:00019:UNDI:003016'), tlv(93, [0, 19])];
const PXE_ARM64 = [tlv(60, 'PXEClient:Arch:00011:UNDI:003016'), tlv(93, [0, 11])];
const PXE_IA32 = [tlv(60, 'PXEClient:Arch:00006:UNDI:003016'), tlv(93, [0, 6])];
const K = {
  bios: kindOf(PXE_BIOS), biosIpxe: kindOf([...PXE_BIOS, ...IPXE]),
  uefi: kindOf(PXE_UEFI), uefiIpxe: kindOf([...PXE_UEFI, ...IPXE]),
  arm64: kindOf(PXE_ARM64), ia32: kindOf(PXE_IA32),
  http: kindOf(HTTP_X64), httpArm64: kindOf(HTTP_ARM64), httpOdd: kindOf([tlv(60, 'HTTPClient:Arch:00099:UNDI:003016'), tlv(93, [0, 99])]),
};

/** An AppConfig from appliance.yaml text (the http section decides httpBaseFor). */
const app = (yaml: string): AppConfig => parseConfig(yaml, '/etc/bootlab/appliance.yaml');
const LOADERS = { pxelinux: 'pxelinux.0', grub: { uefi64: 'grubx64.efi', arm64: 'grubaa64.efi' } };

function cfg(http: { port: number; yaml?: string } | null, over: Partial<BootFilesConfig> = {}): BootFilesConfig {
  const a = app(http ? (http.yaml ?? 'http:\n  enabled: true\n') : 'http:\n  enabled: false\n');
  return {
    bootFiles: defaults(dhcpSpec).bootFiles, httpBootUrl: null, loaders: LOADERS,
    httpBase: (server) => httpBaseFor(a, server, http?.port ?? 80), ...over,
  };
}

const MAP = hostView(`defaults: { action: menu }
images:
  debian: { kernel: debian/linux, initrd: debian/initrd.gz }
  old: { kernel: old/vmlinuz, loader: pxelinux }
  efi: { kernel: efi/vmlinuz, loader: grub }
hosts:
  52:54:00:00:00:01: { hostname: pc01 }
`);
const withImage = (image: string) => hostView(`images:
  debian: { kernel: debian/linux, initrd: debian/initrd.gz }
  old: { kernel: old/vmlinuz, loader: pxelinux }
  efi: { kernel: efi/vmlinuz, loader: grub }
hosts:
  ${PC01}: { image: ${image} }
`);

t.test('httpBaseFor: port 80 omitted, other ports named, baseUrl wins, null when off or unknown', async (t) => {
  const on = app('http:\n  enabled: true\n');
  t.equal(httpBaseFor(on, SERVER, 80), 'http://192.0.2.1');
  t.equal(httpBaseFor(on, SERVER, 8069), 'http://192.0.2.1:8069');
  t.equal(httpBaseFor(on, null, 80), null, 'no server address known');
  t.equal(httpBaseFor(on, SERVER, 0), null, 'not bound yet');
  t.equal(httpBaseFor(app('http:\n  enabled: false\n'), SERVER, 80), null);
  t.equal(httpBaseFor(app('http:\n  baseUrl: "http://198.51.100.5:8080/boot//"\n'), SERVER, 80), 'http://198.51.100.5:8080/boot', 'baseUrl, trailing slashes trimmed');
});

t.test('iPXE gets its script over HTTP when the HTTP server is on: port 80 omitted, :8069 named', async (t) => {
  for (const kind of [K.biosIpxe, K.uefiIpxe]) {
    t.same(chooseBoot(kind, PC01, MAP, cfg({ port: 80 }), SERVER), { file: `http://192.0.2.1/${SCRIPT}`, reason: 'iPXE: its per-machine script over HTTP' });
    t.same(chooseBoot(kind, PC01, MAP, cfg({ port: 8069 }), SERVER), { file: `http://192.0.2.1:8069/${SCRIPT}`, reason: 'iPXE: its per-machine script over HTTP' });
  }
  t.equal(chooseBoot(K.biosIpxe, PC01, MAP, cfg({ port: 80 }), '198.51.100.1').file, `http://198.51.100.1/${SCRIPT}`, 'the server address of the link it came in on');
  t.equal(chooseBoot(K.biosIpxe, PC01, MAP, cfg({ port: 80, yaml: 'http:\n  baseUrl: http://203.0.113.7:8000\n' }), SERVER).file, `http://203.0.113.7:8000/${SCRIPT}`);
});

t.test('iPXE gets tftp:// when HTTP is off', async (t) => {
  t.same(chooseBoot(K.biosIpxe, PC01, MAP, cfg(null), SERVER), { file: `tftp://192.0.2.1/${SCRIPT}`, reason: 'iPXE: its per-machine script' });
  t.equal(chooseBoot(K.uefiIpxe, PC01, MAP, cfg(null, { httpBase: undefined }), SERVER).file, `tftp://192.0.2.1/${SCRIPT}`, 'no httpBase at all');
  t.equal(chooseBoot(K.uefiIpxe, PC01, MAP, cfg({ port: 0 }), SERVER).file, `tftp://192.0.2.1/${SCRIPT}`, 'HTTP not bound (port unknown)');
});

t.test('firmware still gets the iPXE binary for its architecture, by name (TFTP)', async (t) => {
  t.equal(chooseBoot(K.bios, PC01, MAP, cfg({ port: 80 }), SERVER).file, 'undionly.kpxe');
  t.equal(chooseBoot(K.uefi, PC01, MAP, cfg({ port: 80 }), SERVER).file, 'snponly.efi');
});

t.test('UEFI HTTP Boot: httpBootUrl if set, else <httpBase>/<bootFiles for its arch>, else no file and why', async (t) => {
  const url = 'http://198.51.100.9/ipxe.efi';
  t.same(chooseBoot(K.http, PC01, MAP, cfg({ port: 8069 }, { httpBootUrl: url }), SERVER), { file: url, reason: 'UEFI HTTP boot (dhcp.httpBootUrl)' });
  t.same(chooseBoot(K.http, PC01, MAP, cfg(null, { httpBootUrl: url }), SERVER), { file: url, reason: 'UEFI HTTP boot (dhcp.httpBootUrl)' }, 'HTTP off: the URL still');
  t.same(chooseBoot(K.http, PC01, MAP, cfg({ port: 8069 }), SERVER), { file: 'http://192.0.2.1:8069/snponly.efi', reason: 'UEFI HTTP boot: iPXE for uefi64' });
  t.same(chooseBoot(K.http, PC01, MAP, cfg({ port: 80 }), SERVER), { file: 'http://192.0.2.1/snponly.efi', reason: 'UEFI HTTP boot: iPXE for uefi64' });
  t.equal(chooseBoot(K.httpArm64, PC01, MAP, cfg({ port: 80 }), SERVER).file, 'http://192.0.2.1/snponly-arm64.efi');
  t.same(chooseBoot(K.http, PC01, MAP, cfg(null), SERVER), { file: null, reason: 'UEFI HTTP boot client, and neither dhcp.httpBootUrl nor the HTTP server (http.enabled) is set' });
  t.same(chooseBoot(K.httpOdd, PC01, MAP, cfg({ port: 80 }), SERVER), { file: null, reason: 'UEFI HTTP boot client of unknown architecture 99' });
  t.equal(chooseBoot(K.http, PC01, hostView('defaults: { action: none }\n'), cfg({ port: 80 }), SERVER).file, null, 'defaults none: nothing');
  t.equal(chooseBoot(K.http, PC01, withImage('efi'), cfg({ port: 80 }), SERVER).file, 'http://192.0.2.1/snponly.efi', 'an HTTP Boot client loads iPXE first, whatever the loader');
});

t.test('loader: pxelinux: BIOS firmware and BIOS iPXE get boot.pxelinux; UEFI keeps iPXE', async (t) => {
  const v = withImage('old');
  t.same(chooseBoot(K.bios, PC01, v, cfg({ port: 80 }), SERVER), { file: 'pxelinux.0', reason: 'image old: pxelinux' });
  t.same(chooseBoot(K.biosIpxe, PC01, v, cfg({ port: 80 }), SERVER), { file: 'pxelinux.0', reason: 'image old: pxelinux' });
  t.equal(chooseBoot(K.uefi, PC01, v, cfg({ port: 80 }), SERVER).file, 'snponly.efi');
  t.equal(chooseBoot(K.uefiIpxe, PC01, v, cfg({ port: 80 }), SERVER).file, `http://192.0.2.1/${SCRIPT}`);
  t.equal(chooseBoot(K.bios, PC01, v, cfg({ port: 80 }, { loaders: { ...LOADERS, pxelinux: 'syslinux/lpxelinux.0' } }), SERVER).file, 'syslinux/lpxelinux.0', 'boot.pxelinux as configured');
  t.equal(chooseBoot(K.bios, PC01, v, cfg({ port: 80 }, { loaders: undefined }), SERVER).file, 'undionly.kpxe', 'no loaders given: iPXE');
});

t.test('loader: grub: UEFI x64 (and arm64) get boot.grub; BIOS and ia32 keep iPXE', async (t) => {
  const v = withImage('efi');
  t.same(chooseBoot(K.uefi, PC01, v, cfg({ port: 80 }), SERVER), { file: 'grubx64.efi', reason: 'image efi: GRUB' });
  t.same(chooseBoot(K.arm64, PC01, v, cfg({ port: 80 }), SERVER), { file: 'grubaa64.efi', reason: 'image efi: GRUB' });
  t.equal(chooseBoot(K.ia32, PC01, v, cfg({ port: 80 }), SERVER).file, 'ipxe-i386.efi');
  t.equal(chooseBoot(K.bios, PC01, v, cfg({ port: 80 }), SERVER).file, 'undionly.kpxe');
  t.equal(chooseBoot(K.biosIpxe, PC01, v, cfg({ port: 80 }), SERVER).file, `http://192.0.2.1/${SCRIPT}`);
});

t.test('loader: ipxe (the default) keeps iPXE everywhere', async (t) => {
  const v = withImage('debian');
  t.equal(chooseBoot(K.bios, PC01, v, cfg({ port: 80 }), SERVER).file, 'undionly.kpxe');
  t.equal(chooseBoot(K.uefi, PC01, v, cfg({ port: 80 }), SERVER).file, 'snponly.efi');
  t.equal(chooseBoot(K.biosIpxe, PC01, v, cfg({ port: 80 }), SERVER).file, `http://192.0.2.1/${SCRIPT}`);
});

function context(over: Partial<ResolvedDhcpConfig>): RespondContext {
  return {
    config: { ...defaults(dhcpSpec), interfaces: ['eth0'], dns: [], ...over },
    hosts: MAP, reservedBy: () => undefined, leases: LeaseStore.memory(), now: 1_800_000_000_000,
  };
}

function offer(t: { equal(a: unknown, b: unknown): unknown }, ctx: RespondContext, opts: Buffer[]): DhcpPacket {
  const packet = decode(dhcp(1, opts, { mac: PC01 }));
  if (isDecodeError(packet)) throw new Error(packet.error);
  const d = respond({ packet, mac: PC01, kind: classify(packet), link: { name: 'eth0', address: SERVER, netmask: '255.255.255.0' }, bootServer: false, source: { address: '0.0.0.0', port: 68 } }, ctx);
  if (d.kind !== 'reply') throw new Error(`no reply: ${JSON.stringify(d)}`);
  t.equal(d.type, MessageType.Offer);
  return d.packet;
}

t.test('respond, proxy mode: an HTTPClient DISCOVER gets option 60 HTTPClient and the URL in option 67', async (t) => {
  const http = { httpBase: (s: string) => `http://${s}:8069` };
  const p = offer(t, context(http), HTTP_X64);
  t.equal(optText(p, Opt.VendorClass), 'HTTPClient');
  t.equal(optText(p, Opt.BootfileName), 'http://192.0.2.1:8069/snponly.efi');
  t.equal(p.file, 'http://192.0.2.1:8069/snponly.efi');
  t.equal(p.yiaddr, '0.0.0.0', 'proxy: no address');
  t.notOk(p.options.has(Opt.VendorSpecific), 'no PXE option 43 for an HTTP client');
  const ipxe = offer(t, context(http), [...PXE_BIOS, ...IPXE]);
  t.equal(optText(ipxe, Opt.VendorClass), 'PXEClient');
  t.equal(optText(ipxe, Opt.BootfileName), `http://192.0.2.1:8069/${SCRIPT}`, 'iPXE: the script URL over HTTP');
});
