// End to end: a real firmware network-boots a real kernel from bootlab. Each case builds
// its own namespace lab (test/helpers/netlab.ts): a bridge, bootlab in a "srv" namespace
// (192.0.2.1/24), a QEMU VM on a tap, and dnsmasq sending IPv6 router advertisements only
// (iPXE would otherwise wait ~13 s for IPv6). The VM's kernel command line carries a
// per-case nonce; the case passes when the VM's serial console prints
// "BOOTLAB-MARKER <nonce>", which only the kernel + initrd served by bootlab can print.
//   full:  bootlab is the lab's only DHCP server (pool 192.0.2.100-150).
//   proxy: a "site" namespace (192.0.2.2) runs dnsmasq as the site's plain DHCP server,
//          with no PXE options at all; bootlab in proxy mode adds only the boot part.
//   bios:  SeaBIOS + QEMU's iPXE ROM (identifies as iPXE: gets the per-host script).
//   uefi:  OVMF with romfile= (EDK2's own PXE client, arch 7): gets snponly.efi, which is
//          iPXE, which asks again and gets the per-host script.
// The VM helper itself is checked against dnsmasq alone in vm-helper.test.ts: when that
// passes and this fails, the failure is bootlab's.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NetLab, type LabProcess } from '../helpers/netlab.js';
import {
  markerTftpRoot, DEFAULT_BOOT_TIMEOUT_MS, markerLine, newNonce, prepareMarkerPayload,
  startRaResponder, startVm, tailLines, waitForText, type Firmware, type MarkerPayload,
} from '../helpers/vm.js';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';
import { spawnBootlab } from '../helpers/bootlab.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

const MAC = '52:54:00:00:00:01';
const SERVER_IP = '192.0.2.1';
const SITE_IP = '192.0.2.2';

interface Case {
  mode: 'full' | 'proxy';
  firmware: Firmware;
}

const cases: Case[] = [
  { mode: 'full', firmware: 'bios' },
  { mode: 'proxy', firmware: 'bios' },
  { mode: 'full', firmware: 'uefi' },
  { mode: 'proxy', firmware: 'uefi' },
];

let payload: MarkerPayload | undefined;

for (const c of cases) {
  t.test(`${c.firmware} VM boots the marker kernel from bootlab in ${c.mode} mode`, { timeout: 400_000 }, async (t) => {
    if (!needs(t, asRoot('the PXE VM test'))) return;
    payload ??= prepareMarkerPayload();
    const work = mkdtempSync(join(tmpdir(), `bl-pxevm-${c.mode}-${c.firmware}-`));
    const lab = new NetLab('pv');
    let bootlab: LabProcess | undefined;
    let site: LabProcess | undefined;
    t.teardown(async () => {
      if (!t.passing()) {
        if (bootlab) t.comment(`bootlab stdout (tail):\n${tailLines(bootlab.stdout(), 60)}\nbootlab stderr (tail):\n${tailLines(bootlab.stderr(), 20)}`);
        if (site) t.comment(`site dnsmasq (tail):\n${tailLines(site.stderr(), 30)}`);
      }
      await lab.destroy();
      if (t.passing()) rmSync(work, { recursive: true, force: true });
      else t.comment(`kept ${work} (serial log, config, state)`);
    });

    const nonce = newNonce();
    const root = markerTftpRoot(work, payload);
    lab.bridge('br0');
    const srv = lab.attach('srv', { cidr: `${SERVER_IP}/24` });
    lab.tap('tap0');
    startRaResponder(lab, { workDir: work });

    if (c.mode === 'proxy') {
      const siteNs = lab.attach('site', { cidr: `${SITE_IP}/24` });
      site = lab.spawn(siteNs, 'dnsmasq', [
        '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
        `--pid-file=${join(work, 'site.pid')}`, `--dhcp-leasefile=${join(work, 'site.leases')}`,
        '--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m', '--log-dhcp', '--log-facility=-',
      ]);
      await waitForText(() => site!.stderr(), /started, version/, 10_000, site, 'site dnsmasq');
    }

    ({ proc: bootlab } = await spawnBootlab({
      home: work, lab, member: srv,
      hosts: [
        'defaults: { action: menu }',
        'images:',
        `  marker: { kernel: vmlinuz, initrd: initrd.gz, cmdline: "console=ttyS0 quiet bootlab.marker=${nonce}" }`,
        'hosts:',
        `  ${MAC}: { hostname: vm1, image: marker }`,
        '',
      ].join('\n'),
      config: {
        tftp: { root, address: '0.0.0.0', port: 69 },
        dhcp: {
          mode: c.mode, interfaces: ['eth0'],
          ...(c.mode === 'full' ? { pool: { start: '192.0.2.100', end: '192.0.2.150' }, leaseTime: 600 } : {}),
        },
      },
    }));

    const vm = startVm({ lab, tap: 'tap0', mac: MAC, firmware: c.firmware, workDir: work });
    const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`${c.firmware} VM printed the marker after ${(ms / 1000).toFixed(1)} s (${c.mode} mode)`);

    if (c.mode === 'proxy') {
      // The address came from the site's server, not from bootlab.
      const leases = existsSync(join(work, 'site.leases')) ? readFileSync(join(work, 'site.leases'), 'utf8') : '';
      t.ok(leases.includes(MAC), 'the site DHCP server leased the VM its address', { leases });
    }
  });
}
