// Self-check of the VM helper (test/helpers/vm.ts), independent of bootlab: dnsmasq is the
// full PXE server (DHCP + TFTP) in a lab namespace, and a QEMU VM on a tap boots the marker
// kernel from it. If this fails, pxe-vm.test.ts failing says nothing about bootlab.
//   bios: SeaBIOS + QEMU's iPXE ROM -> boot.ipxe (iPXE script) -> kernel + initrd
//   uefi: OVMF + EDK2's own PXE (romfile=) -> snponly.efi -> boot.ipxe -> kernel + initrd
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NetLab } from '../helpers/netlab.js';
import {
  markerTftpRoot, markerLine, newNonce, prepareMarkerPayload, startRaResponder, startVm,
  type Firmware,
} from '../helpers/vm.js';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

const MAC = '52:54:00:00:00:31';

for (const firmware of ['bios', 'uefi'] as Firmware[]) {
  t.test(`dnsmasq as PXE server boots the marker kernel (${firmware})`, { timeout: 420_000 }, async (t) => {
    if (!needs(t, asRoot('the VM helper self-check'))) return;
    const payload = prepareMarkerPayload();
    const work = mkdtempSync(join(tmpdir(), 'bl-vmcheck-'));
    const lab = new NetLab('vc');
    t.teardown(async () => {
      await lab.destroy();
      if (t.passing()) rmSync(work, { recursive: true, force: true });
      else t.comment(`kept ${work}`);
    });

    const nonce = newNonce();
    const root = markerTftpRoot(work, payload);
    writeFileSync(join(root, 'boot.ipxe'), [
      '#!ipxe',
      `kernel tftp://192.0.2.1/vmlinuz initrd=initrd.gz console=ttyS0 quiet bootlab.marker=${nonce}`,
      'initrd tftp://192.0.2.1/initrd.gz',
      'boot',
      '',
    ].join('\n'));

    lab.bridge('br0');
    const srv = lab.attach('srv', { cidr: '192.0.2.1/24' });
    lab.tap('tap0');
    startRaResponder(lab, { workDir: work });
    const dnsmasq = lab.spawn(srv, 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
      `--pid-file=${join(work, 'dnsmasq.pid')}`, `--dhcp-leasefile=${join(work, 'leases')}`,
      '--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m',
      '--enable-tftp', `--tftp-root=${root}`,
      '--dhcp-match=set:ipxe,175',
      '--dhcp-match=set:efi64,option:client-arch,7',
      '--dhcp-boot=tag:ipxe,boot.ipxe,,192.0.2.1',
      '--dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi,,192.0.2.1',
      '--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,192.0.2.1',
      '--log-dhcp', '--log-facility=-',
    ]);
    t.teardown(() => { if (!t.passing()) t.comment(`dnsmasq:\n${dnsmasq.stderr().slice(-4000)}`); });

    const vm = startVm({ lab, tap: 'tap0', mac: MAC, firmware, workDir: work });
    const ms = await vm.waitFor(markerLine(nonce));
    t.pass(`${firmware} VM printed the marker after ${(ms / 1000).toFixed(1)} s`);
  });
}
