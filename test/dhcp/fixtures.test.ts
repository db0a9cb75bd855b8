// Real firmware packets (test/fixtures/dhcp, captured with tcpdump in a test namespace by
// scripts/capture-dhcp-fixtures.sh: QEMU's iPXE ROM under SeaBIOS and under OVMF, EDK2's
// own PXE client, snponly.efi) through the codec, compared with the JSON decoded from the
// bytes independently; then through the responder, in both modes, to the reply each
// firmware needs.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dhcpSpec } from '../../services/core/config.js';
import { hostView } from '../helpers/dhcp-bytes.js';
import { defaults } from '../../services/core/schema.js';
import { LeaseStore } from '../../services/dhcp/leases.js';
import { MessageType, Opt, decode, encode, isDecodeError, macOf, messageType, optIp, optText, optUInt16, type DhcpPacket } from '../../services/dhcp/packet.js';
import { classify } from '../../services/dhcp/pxe.js';
import { respond } from '../../services/dhcp/respond.js';

// Compiled to dist/test/dhcp: the fixtures stay in the source tree.
const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'dhcp');

interface Expect {
  length: number;
  xid: string;
  flags: string;
  chaddr: string;
  messageType: number;
  optionOrder: number[];
  optionLengths: Record<string, number>;
  opt60VendorClass: string;
  opt93ClientArch: { values: number[] };
  opt77UserClass: { present: boolean; text?: string };
  opt175Ipxe: { present: boolean };
  opt97ClientUuid: { present: boolean; hex?: string };
  opt57MaxMessageSize?: number | null;
  opt50RequestedIp?: string | null;
  opt54ServerId?: string | null;
}

const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.bin')).map((f) => ({
  name: f.replace(/\.bin$/, ''),
  bytes: readFileSync(join(DIR, f)),
  expect: JSON.parse(readFileSync(join(DIR, f.replace(/\.bin$/, '.json')), 'utf8')) as Expect,
}));

const HOSTS = hostView(`
defaults: { action: menu }
images:
  marker: { kernel: vmlinuz, initrd: initrd.gz }
hosts:
  52:54:00:00:00:01: { image: marker }
`);

function decoded(bytes: Buffer): DhcpPacket {
  const p = decode(bytes);
  if (isDecodeError(p)) throw new Error(p.error);
  return p;
}

t.test('every capture is there', async (t) => {
  const names = fixtures.map((f) => f.name);
  for (const n of ['ipxe-bios-virtio-discover', 'edk2-ovmf-x64-discover', 'edk2-ovmf-x64-request', 'ipxe-snponly-efi-discover']) t.ok(names.includes(n), n);
});

for (const f of fixtures) {
  t.test(`${f.name}: decodes to what the bytes say`, async (t) => {
    const e = f.expect;
    t.equal(f.bytes.length, e.length);
    const p = decoded(f.bytes);
    t.equal(`0x${p.xid.toString(16).padStart(8, '0')}`, e.xid);
    t.equal(`0x${p.flags.toString(16).padStart(4, '0')}`, e.flags);
    t.equal(macOf(p), e.chaddr);
    t.equal(messageType(p), e.messageType);
    const present = e.optionOrder.filter((c) => c !== 255 && c !== 0);
    t.same([...p.options.keys()].sort((a, b) => a - b), [...new Set(present)].sort((a, b) => a - b), 'the same options, none lost');
    for (const [code, len] of Object.entries(e.optionLengths)) t.equal(p.options.get(Number(code))?.length, len, `option ${code} length`);
    t.equal(optText(p, Opt.VendorClass), e.opt60VendorClass);
    t.equal(optUInt16(p, Opt.ClientArch), e.opt93ClientArch.values[0]);
    t.equal(p.options.has(Opt.UserClass), e.opt77UserClass.present);
    t.equal(p.options.has(Opt.Ipxe), e.opt175Ipxe.present);
    if (e.opt97ClientUuid.hex) t.equal(p.options.get(Opt.ClientUuid)?.toString('hex'), e.opt97ClientUuid.hex);
    if (e.opt57MaxMessageSize) t.equal(optUInt16(p, Opt.MaxMessageSize), e.opt57MaxMessageSize);
    if (e.opt50RequestedIp) t.equal(optIp(p, Opt.RequestedIp), e.opt50RequestedIp);
    if (e.opt54ServerId) t.equal(optIp(p, Opt.ServerId), e.opt54ServerId);
    // Re-encoding keeps every option byte for byte.
    const again = decoded(encode(p));
    for (const [k, v] of p.options) t.same(again.options.get(k), v, `option ${k} survives encode`);
  });

  t.test(`${f.name}: the reply this firmware needs, in proxy and in full mode`, async (t) => {
    const p = decoded(f.bytes);
    const kind = classify(p);
    const e = f.expect;
    t.equal(kind.pxe, true, 'a PXE client');
    t.equal(kind.ipxe, e.opt77UserClass.present || e.opt175Ipxe.present);
    for (const mode of ['proxy', 'full'] as const) {
      const config = { ...defaults(dhcpSpec), mode, interfaces: ['eth0'], pool: { start: '192.0.2.100', end: '192.0.2.150' }, dns: [] };
      const ctx = { config, hosts: HOSTS, reservedBy: () => undefined, leases: LeaseStore.memory(), now: Date.now() };
      // A captured REQUEST followed an OFFER of that address (full mode binds only what it offered).
      if (mode === 'full' && e.messageType === MessageType.Request) ctx.leases.offer(macOf(p)!, optIp(p, Opt.RequestedIp) ?? '192.0.2.100', ctx.now, 60_000, null);
      const d = respond({ packet: p, mac: macOf(p)!, kind, link: { name: 'eth0', address: '192.0.2.1', netmask: '255.255.255.0' }, bootServer: false, source: { address: '0.0.0.0', port: 68 } }, ctx);
      if (mode === 'proxy' && e.messageType === MessageType.Request) {
        t.equal(d.kind, 'ignore', 'proxy: the site server answers REQUESTs');
        continue;
      }
      if (d.kind !== 'reply') { t.fail(`${mode}: no reply (${d.kind === 'ignore' ? d.reason : d.what})`); continue; }
      const r = d.packet;
      const expectedFile = kind.ipxe ? 'tftp://192.0.2.1/bootlab/52-54-00-00-00-01.ipxe' : kind.arch === 'bios' ? 'undionly.kpxe' : 'snponly.efi';
      t.equal(r.file, expectedFile, `${mode}: boot file`);
      t.equal(optText(r, Opt.VendorClass), 'PXEClient', `${mode}: option 60 echoed`);
      t.same(r.options.get(Opt.ClientUuid), p.options.get(Opt.ClientUuid), `${mode}: option 97 echoed`);
      t.equal(r.siaddr, '192.0.2.1', `${mode}: siaddr`);
      t.equal(r.yiaddr, mode === 'proxy' ? '0.0.0.0' : '192.0.2.100', `${mode}: yiaddr`);
      // EDK2 drops offers with PXE MTFTP sub-options; UEFI gets no option 43 at all.
      t.equal(r.options.has(Opt.VendorSpecific), kind.arch === 'bios' || kind.ipxe, `${mode}: option 43 only for BIOS ROMs and iPXE`);
      t.ok(encode(r).length >= 300, `${mode}: padded to 300 bytes`);
    }
  });
}
