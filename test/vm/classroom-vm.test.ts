// A small classroom (issue 6, E): 4 VMs switched on at once on one lab bridge, BIOS and
// UEFI mixed, each with its own MAC and its own image (a marker nonce of its own), boot
// from one bootlab (full DHCP, HTTP on; startBootlabLab in test/helpers/vm.ts). Every VM
// must print its marker, and GET /api/clients must list every MAC with its boot followed
// to the end: kernel and initrd downloaded, and booted (its script's report) with bootedAt.
// Under TCG on 2 cores the 4 VMs share the CPUs, so a boot takes several times a lone one.
import t from 'tap';
import {
  localLine, markerLine, newNonce, prepareMarkerPayload, startBootlabLab, startVm,
  type ClientRowLite, type Firmware, type HistoryEvent,
} from '../helpers/vm.js';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

const SEATS: Array<{ mac: string; firmware: Firmware }> = [
  { mac: '52:54:00:c1:00:01', firmware: 'bios' },
  { mac: '52:54:00:c1:00:02', firmware: 'uefi' },
  { mac: '52:54:00:c1:00:03', firmware: 'bios' },
  { mac: '52:54:00:c1:00:04', firmware: 'uefi' },
];
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

t.test('classroom: 4 VMs (BIOS and UEFI) boot at once, each its own image; /api/clients follows every one to booted', { timeout: 600_000 }, async (t) => {
  if (!needs(t, asRoot('the classroom VM test'))) return;
  const payload = prepareMarkerPayload();
  const t0 = Date.now();
  const nonces = SEATS.map(() => newNonce());
  const env = await startBootlabLab(t, {
    tag: 'cr', http: true, taps: SEATS.length, payload,
    hosts: [
      'defaults: { action: local }',
      'images:',
      ...SEATS.map((_, i) => `  pc${i + 1}: { kernel: vmlinuz, initrd: initrd.gz, cmdline: "console=ttyS0 quiet bootlab.marker=${nonces[i]}" }`),
      'hosts:',
      ...SEATS.map((s, i) => `  ${s.mac}: { hostname: pc${i + 1}, image: pc${i + 1} }`),
      '',
    ].join('\n'),
  });

  const vms = SEATS.map((s, i) => startVm({ lab: env.lab, tap: `tap${i}`, mac: s.mac, firmware: s.firmware, workDir: env.work, name: `pc${i + 1}` }));
  const results = await Promise.allSettled(vms.map((vm, i) => vm.waitFor(markerLine(nonces[i]), 480_000)));
  const lines: string[] = [];
  results.forEach((r, i) => {
    const seat = `pc${i + 1} (${SEATS[i].firmware}, ${SEATS[i].mac})`;
    if (r.status === 'fulfilled') {
      t.pass(`${seat} printed its marker after ${secs(r.value)}`);
      lines.push(`${seat}: marker after ${secs(r.value)}`);
    } else {
      t.fail(`${seat} did not print its marker: ${(r.reason as Error).message}`);
      lines.push(`${seat}: no marker`);
    }
    // Each VM printed its own nonce, none printed another's (each MAC got its own image).
    const log = vms[i].log();
    nonces.forEach((n, j) => { if (j !== i) t.notOk(log.includes(markerLine(n)), `${seat} did not boot pc${j + 1}'s image`); });
    t.notOk(log.includes(localLine(nonces[i])), `${seat} did not fall back to a local disk`);
  });

  // The progress model: every MAC listed, its boot followed to the end.
  let rows: ClientRowLite[] = [];
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await env.api<{ clients: ClientRowLite[] }>('GET', '/api/clients');
    rows = r.body?.clients ?? [];
    if (SEATS.every((s) => rows.find((c) => c.mac === s.mac)?.stage === 'booted') || Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  for (const [i, s] of SEATS.entries()) {
    const row = rows.find((c) => c.mac === s.mac);
    t.ok(row, `/api/clients lists ${s.mac}`, { macs: rows.map((c) => c.mac) });
    t.equal(row?.stage, 'booted', `${s.mac} reached stage booted (its script reported)`, { row });
    t.ok(row?.bootedAt, `${s.mac} has bootedAt`);
    // QEMU's BIOS NIC ROM is iPXE itself (its first DHCP message says so); OVMF's is EDK2's PXE.
    t.equal(row?.firmware, s.firmware === 'bios' ? 'ipxe' : 'uefi', `${s.mac} is listed with the firmware of its first DHCP message`, { row });
    const ev = await env.api<{ events: HistoryEvent[] }>('GET', `/api/clients/${s.mac}/events`);
    const events = ev.body?.events ?? [];
    const kinds = events.map((e) => `${e.kind}${e.file ? ` ${String(e.file)}` : ''}`);
    const got = (re: RegExp) => events.some((e) => /^(tftp|http)\.done$/.test(e.kind) && re.test(String(e.file ?? '')));
    t.ok(got(/(^|\/)vmlinuz$/), `pc${i + 1}: its kernel download finished`, { history: kinds });
    t.ok(got(/(^|\/)initrd\.gz$/), `pc${i + 1}: its initrd download finished`, { history: kinds });
    t.ok(events.some((e) => e.kind === 'client.booted'), `pc${i + 1}: client.booted is in its history`, { history: kinds });
  }
  t.comment(`classroom timings (4 VMs at once):\n${lines.join('\n')}\nwhole case ${secs(Date.now() - t0)}`);
});
