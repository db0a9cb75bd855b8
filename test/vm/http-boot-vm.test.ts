// UEFI HTTP Boot with real firmware (issue 6, C): OVMF with EDK2's own network stack and
// its PXE boot options switched off (fw_cfg opt/org.tianocore/IPv4PXESupport=n, and IPv6),
// so the firmware's only network boot option is "UEFI HTTPv4". It sends a DHCP DISCOVER
// with option 60 "HTTPClient:Arch:00016"; bootlab (full mode) answers with option 60
// HTTPClient and a URL, http://192.0.2.1/snponly.efi (iPXE for x64); the firmware
// downloads that over HTTP and runs it; iPXE asks DHCP again and gets its script over HTTP,
// then the kernel. Nothing of the boot goes over TFTP. Once with bootlab as the lab's DHCP
// server, once as proxyDHCP beside a plain dnsmasq (the default mode of a school).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  DEFAULT_BOOT_TIMEOUT_MS, markerLine, newNonce, prepareMarkerPayload, startBootlabLab, startVm,
  type ClientRowLite, type HistoryEvent,
} from '../helpers/vm.js';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

for (const [mode, MAC] of [['full', '52:54:00:b0:06:61'], ['proxy', '52:54:00:b0:06:62']] as const) {
  t.test(`UEFI HTTP Boot, ${mode} mode: the firmware fetches iPXE over HTTP from the URL bootlab gives, then the script and kernel`, { timeout: 400_000 }, async (t) => {
    if (!needs(t, asRoot('the UEFI HTTP Boot VM test'))) return;
    const payload = prepareMarkerPayload();
    const nonce = newNonce();
    const env = await startBootlabLab(t, {
      tag: `hb${mode[0]}`, http: true, taps: 1, payload, mode,
      hosts: [
        'defaults: { action: local }',
        'images:',
        `  marker: { kernel: vmlinuz, initrd: initrd.gz, cmdline: "console=ttyS0 quiet bootlab.marker=${nonce}" }`,
        'hosts:',
        `  ${MAC}: { hostname: httpboot, image: marker }`,
        '',
      ].join('\n'),
    });
    const vm = startVm({
      lab: env.lab, tap: 'tap0', mac: MAC, firmware: 'uefi', workDir: env.work,
      extraArgs: [
        '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n',
        '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
      ],
    });
    const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`the UEFI HTTP Boot VM printed the marker after ${(ms / 1000).toFixed(1)} s`);

    const events = (await env.api<{ events: HistoryEvent[] }>('GET', `/api/clients/${MAC}/events`)).body?.events ?? [];
    const seen = events.filter((e) => /^(tftp|http|dhcp)\./.test(e.kind)).map((e) => `${e.kind} ${String(e.file ?? e.bootFile ?? '')}`);
    // Full mode offers the URL; proxy mode offers it beside the site's own offer (a DISCOVER
    // answered on port 67; EDK2 takes the address from one and the URI from the other).
    const offer = events.find((e) => (e.kind === 'dhcp.offer' || e.kind === 'dhcp.ack') && /^http:\/\//.test(String(e.bootFile ?? '')));
    t.equal(offer?.bootFile, 'http://192.0.2.1/snponly.efi', 'the firmware was offered a URL: iPXE for x64 over HTTP', { seen });
    t.ok(events.some((e) => e.kind === 'http.done' && e.file === 'snponly.efi'), 'the firmware downloaded snponly.efi over HTTP', { seen });
    t.notOk(events.some((e) => e.kind.startsWith('tftp.')), 'nothing went over TFTP', { seen });
    t.ok(events.some((e) => e.kind === 'http.done' && e.file === 'vmlinuz'), 'iPXE then loaded the kernel over HTTP', { seen });
    const row = (await env.api<ClientRowLite>('GET', `/api/clients/${MAC}`)).body;
    t.equal(row?.stage, 'booted', 'the script reported booted', { row });
    t.comment(`transfers: ${seen.join(', ')}`);
    if (mode === 'proxy') {
      const leases = readFileSync(join(env.work, 'site.leases'), 'utf8');
      t.ok(leases.includes(MAC), 'the address came from the site\'s DHCP server', { leases });
    }
  });
}
