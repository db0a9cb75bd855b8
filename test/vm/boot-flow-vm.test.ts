// The boot flow a classroom uses, proven with real firmware in QEMU VMs (issue 6, E).
// Each case builds its own namespace lab (startBootlabLab in test/helpers/vm.ts): a
// bridge, bootlab in full DHCP mode in a "srv" namespace at 192.0.2.1 (TFTP 69, HTTP 80
// when on, admin API 8080), dnsmasq sending IPv6 router advertisements only, and VMs on
// taps, each with its own MAC. The marker initrd prints "BOOTLAB-MARKER <nonce>" with
// the nonce from its kernel command line, which only bootlab's host map carries; the
// local disk's boot sector prints "BOOTLAB-LOCAL <nonce>".
//   1. BIOS (QEMU's iPXE ROM) -> per-host script -> kernel + initrd over HTTP
//   2. the same with http.enabled false: everything over TFTP
//   3. UEFI: OVMF with EDK2's own PXE client -> snponly.efi -> script -> kernel over HTTP
//   4. loader: pxelinux: pxelinux.0 with the generated pxelinux.cfg/01-<mac>
//   5. boot-once: the first boot gets the image, the second the local disk (5a: ended by
//      the booted report over HTTP; 5b: TFTP only, ended by the kernel download)
//   6. an unknown MAC gets the menu, whose default entry boots after its timeout
// The classroom (4 VMs at once) is classroom-vm.test.ts. The VM helper itself is checked
// against dnsmasq alone in vm-helper.test.ts: when that passes and this fails, the
// failure is bootlab's.
import t from 'tap';
import {
  DEFAULT_BOOT_TIMEOUT_MS, localLine, markerLine, newNonce, prepareMarkerPayload, startBootlabLab,
  startVm, writeLocalDisk, type BootlabLab, type ClientRowLite, type Firmware, type HistoryEvent, type MarkerPayload,
} from '../helpers/vm.js';
import { join } from 'node:path';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

const CASE_TIMEOUT_MS = 400_000;
let payload: MarkerPayload | undefined;
const timings: string[] = [];
t.teardown(() => { if (timings.length) t.comment(`VM boot-flow timings:\n${timings.join('\n')}`); });

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const hyphen = (mac: string): string => mac.replace(/:/g, '-');

function markerImage(name: string, nonce: string, extra = ''): string {
  return `  ${name}: { kernel: vmlinuz, initrd: initrd.gz, cmdline: "console=ttyS0 quiet bootlab.marker=${nonce}"${extra} }`;
}

/** The machine's history once `ok(events)` holds (events reach the tracker just after the bytes do). */
async function eventsOf(
  env: BootlabLab,
  mac: string,
  ok: (e: HistoryEvent[]) => boolean = () => true,
  ms = 10_000,
): Promise<HistoryEvent[]> {
  const deadline = Date.now() + ms;
  let events: HistoryEvent[] = [];
  for (;;) {
    const r = await env.api<{ events: HistoryEvent[] }>('GET', `/api/clients/${mac}/events`);
    events = r.status === 200 && r.body?.events ? r.body.events : [];
    if (ok(events) || Date.now() > deadline) return events;
    await new Promise((res) => setTimeout(res, 250));
  }
}

async function clientRow(
  env: BootlabLab,
  mac: string,
  ok: (r: ClientRowLite | null) => boolean = () => true,
  ms = 10_000,
): Promise<ClientRowLite | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await env.api<ClientRowLite>('GET', `/api/clients/${mac}`);
    const row = r.status === 200 ? r.body : null;
    if (ok(row) || Date.now() > deadline) return row;
    await new Promise((res) => setTimeout(res, 250));
  }
}

const done = (events: HistoryEvent[], proto: 'tftp' | 'http', file: RegExp): boolean =>
  events.some((e) => e.kind === `${proto}.done` && typeof e.file === 'string' && file.test(e.file));
/** "tftp.done vmlinuz" ... : the transfers in a machine's history, for messages. */
const transfers = (events: HistoryEvent[]): string[] =>
  events.filter((e) => /^(tftp|http)\.(done|failed|refused)$/.test(e.kind)).map((e) => `${e.kind} ${String(e.file)}`);

const KERNEL = /(^|\/)vmlinuz$/;
const INITRD = /(^|\/)initrd\.gz$/;

/** Cases 1-3: a host-map machine boots the marker image; its downloads go over `proto`. */
function kernelCase(n: number, firmware: Firmware, http: boolean, mac: string): void {
  const proto = http ? 'http' : 'tftp';
  t.test(`${n}. ${firmware} VM: per-host script, kernel and initrd over ${proto.toUpperCase()}`, { timeout: CASE_TIMEOUT_MS }, async (t) => {
    if (!needs(t, asRoot('the boot-flow VM test'))) return;
    payload ??= prepareMarkerPayload();
    const t0 = Date.now();
    const nonce = newNonce();
    const env = await startBootlabLab(t, {
      tag: `bf${n}`, http, taps: 1, payload,
      hosts: ['defaults: { action: local }', 'images:', markerImage('marker', nonce), 'hosts:', `  ${mac}: { hostname: vm${n}, image: marker }`, ''].join('\n'),
    });
    const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware, workDir: env.work });
    const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`${firmware} VM printed the marker after ${secs(ms)}`);

    const events = await eventsOf(env, mac, (e) => done(e, proto, KERNEL) && done(e, proto, INITRD));
    const seen = transfers(events);
    t.ok(done(events, proto, KERNEL), `vmlinuz went over ${proto}`, { transfers: seen });
    t.ok(done(events, proto, INITRD), `initrd.gz went over ${proto}`, { transfers: seen });
    const other = http ? 'tftp' : 'http';
    t.notOk(done(events, other, KERNEL) || done(events, other, INITRD), `no kernel or initrd over ${other}`, { transfers: seen });
    if (!http) t.notOk(events.some((e) => e.kind.startsWith('http.')), 'no HTTP events at all with http.enabled false', { transfers: seen });
    t.ok(events.some((e) => /bootlab\/[0-9a-f-]{17}\.ipxe$/.test(String(e.file ?? '')) && e.kind === `${proto}.done`), `the per-host script came over ${proto}`, { transfers: seen });
    // The script's last step before `boot` fetches bootlab/booted/<mac>/<key>, answered
    // over HTTP and TFTP alike (decision 0007): the row ends at booted either way.
    const row = await clientRow(env, mac, (r) => r?.stage === 'booted');
    t.equal(row?.stage, 'booted', `the script reported booted (over ${proto})`, { row });
    t.ok(row?.bootedAt, 'bootedAt is set');
    t.ok(done(events, proto, /(^|\/)bootlab\/booted\//), `the report went over ${proto}`, { transfers: seen });
    if (firmware === 'uefi') {
      // EDK2's own PXE client did the first DHCP (arch 7), not iPXE's EFI driver.
      t.equal(row?.firmware, 'uefi', 'listed as UEFI firmware', { row });
      t.equal(row?.arch, 7, 'client architecture 7 (EFI x64)', { row });
      t.ok(done(events, 'tftp', /(^|\/)snponly\.efi$/) || done(events, 'tftp', /(^|\/)ipxe\.efi$/), 'it loaded iPXE (snponly.efi or ipxe.efi) over TFTP first', { transfers: seen });
    }
    t.comment(`transfers: ${seen.join(', ')}`);
    timings.push(`${n}. ${firmware} over ${proto}: marker after ${secs(ms)} (case ${secs(Date.now() - t0)})`);
  });
}

kernelCase(1, 'bios', true, '52:54:00:b0:06:01');
kernelCase(2, 'bios', false, '52:54:00:b0:06:02');
kernelCase(3, 'uefi', true, '52:54:00:b0:06:03');

t.test('4. BIOS VM: an image with loader pxelinux boots through pxelinux.0 and its generated pxelinux.cfg/01-<mac>', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  if (!needs(t, asRoot('the boot-flow VM test'))) return;
  payload ??= prepareMarkerPayload();
  const t0 = Date.now();
  const mac = '52:54:00:b0:06:04';
  const nonce = newNonce();
  const env = await startBootlabLab(t, {
    tag: 'bf4', http: true, taps: 1, payload,
    hosts: ['defaults: { action: local }', 'images:', markerImage('marker-px', nonce, ', loader: pxelinux'), 'hosts:', `  ${mac}: { hostname: vm4, image: marker-px }`, ''].join('\n'),
  });
  const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work });
  const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
  t.pass(`the VM printed the marker after ${secs(ms)}`);
  // pxelinux draws its banner with cursor moves (PXELI\x1b[25;05H...NUX): read it without them.
  t.match(vm.log().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), /PXELINUX \d/, 'pxelinux ran (its banner is on the serial console)');
  const cfg = new RegExp(`pxelinux\\.cfg/01-${hyphen(mac)}$`);
  const events = await eventsOf(env, mac, (e) => done(e, 'tftp', KERNEL) || done(e, 'http', KERNEL));
  const seen = transfers(events);
  t.ok(done(events, 'tftp', /(^|\/)pxelinux\.0$/), 'pxelinux.0 was downloaded', { transfers: seen });
  t.ok(done(events, 'tftp', /(^|\/)ldlinux\.c32$/), 'ldlinux.c32 was downloaded', { transfers: seen });
  t.ok(done(events, 'tftp', cfg) || done(events, 'http', cfg), `pxelinux.cfg/01-${hyphen(mac)} was served`, { transfers: seen });
  t.ok(done(events, 'tftp', KERNEL) || done(events, 'http', KERNEL), 'and the kernel', { transfers: seen });
  t.comment(`transfers: ${seen.join(', ')}`);
  timings.push(`4. pxelinux: marker after ${secs(ms)} (case ${secs(Date.now() - t0)})`);
});

/**
 * Case 5: a boot-once host gets its image once, then follows the defaults (local disk).
 * 5a ends the boot-once on the script's booted report over HTTP (bootOnceEnds: booted),
 * 5b over TFTP only, on the full kernel download (bootOnceEnds: kernel).
 */
function bootOnceCase(n: string, http: boolean, ends: 'booted' | 'kernel', mac: string): void {
  const how = ends === 'booted' ? 'its booted report (HTTP)' : `its full kernel download (${http ? 'HTTP' : 'TFTP'}, bootOnceEnds: kernel)`;
  t.test(`${n}. boot-once ended by ${how}: the first boot gets the image, the host reverts to the defaults (local), the second boot is the local disk`, { timeout: CASE_TIMEOUT_MS }, async (t) => {
    if (!needs(t, asRoot('the boot-flow VM test'))) return;
    payload ??= prepareMarkerPayload();
    const t0 = Date.now();
    const nonce = newNonce();
    const env = await startBootlabLab(t, {
      tag: `bf${n}`, http, bootOnceEnds: ends, taps: 1, payload,
      hosts: ['defaults: { action: local }', 'images:', markerImage('marker', nonce), 'hosts:', `  ${mac}: { hostname: vm${n}, image: marker, bootOnce: true }`, ''].join('\n'),
    });
    const disk = writeLocalDisk(join(env.work, 'disk.img'), nonce);

    const first = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work, name: 'boot1', disk });
    const ms1 = await first.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`first boot: the image's marker after ${secs(ms1)}`);
    t.notOk(first.log().includes(localLine(nonce)), 'first boot did not reach the local disk');
    // The marker initrd powers off; -no-reboot makes QEMU exit.
    await Promise.race([first.proc.exited, new Promise((res) => setTimeout(res, 20_000))]);
    await first.stop();

    let host: Record<string, unknown> | null = null;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await env.api<Record<string, unknown>>('GET', `/api/hosts/${mac}`);
      host = r.body;
      if ((r.status === 200 && !host?.image && !host?.bootOnce) || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    t.notOk(host?.image, 'the host map entry has no image any more', { host });
    t.notOk(host?.bootOnce, 'and no bootOnce', { host });
    const firstEvents = await eventsOf(env, mac, (e) => e.some((x) => x.kind === 'host.boot-once-ended'));
    t.ok(firstEvents.some((e) => e.kind === 'host.boot-once-ended'), 'its history says the boot-once ended', { history: firstEvents.map((e) => e.kind) });

    const t1 = Date.now();
    const second = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work, name: 'boot2', disk });
    const ms2 = await second.waitFor(localLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`second boot: the local disk printed ${localLine(nonce)} after ${secs(ms2)}`);
    t.notOk(second.log().includes(markerLine(nonce)), 'second boot did not load the image');
    await second.stop();
    // The local-disk step reported before sanboot: the row ends booted from the local disk.
    const local = await clientRow(env, mac, (r) => (r as { bootedFrom?: string } | null)?.bootedFrom === 'local');
    t.match(local, { stage: 'booted', bootedFrom: 'local' }, 'the row says booted from the local disk', { row: local });
    const events = await eventsOf(env, mac);
    const lastBoot = events.slice(events.map((e) => e.kind).lastIndexOf('client.new-boot'));
    t.ok(lastBoot.length > 0 && lastBoot[0].kind === 'client.new-boot', 'the second boot is a new boot in its history');
    t.notOk(lastBoot.some((e) => /^(tftp|http)\.(start|done)$/.test(e.kind) && (KERNEL.test(String(e.file)) || INITRD.test(String(e.file)))), 'the second boot downloaded no kernel or initrd', { transfers: transfers(lastBoot) });
    t.comment(`history: ${events.map((e) => `${e.kind}${e.file ? ` ${String(e.file)}` : ''}`).join(', ')}`);
    timings.push(`${n}. boot-once (${ends}, ${http ? 'http' : 'tftp'}): image after ${secs(ms1)}, local disk after ${secs(ms2)} (second boot ${secs(Date.now() - t1)}, case ${secs(Date.now() - t0)})`);
  });
}

bootOnceCase('5a', true, 'booted', '52:54:00:b0:06:05');
bootOnceCase('5b', false, 'kernel', '52:54:00:b0:06:15');

t.test('6. an unknown MAC gets the menu, and its default entry boots when the timeout runs out', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  if (!needs(t, asRoot('the boot-flow VM test'))) return;
  payload ??= prepareMarkerPayload();
  const t0 = Date.now();
  const mac = '52:54:00:b0:06:06';
  const nonce = newNonce();
  const other = newNonce();
  const env = await startBootlabLab(t, {
    tag: 'bf6', http: true, taps: 1, payload,
    hosts: [
      'defaults: { action: menu, menuDefault: marker, menuTimeout: 2 }',
      'images:',
      markerImage('another', other),
      markerImage('marker', nonce),
      'hosts:',
      '  52:54:00:b0:06:99: { hostname: someone-else, image: another }',
      '',
    ].join('\n'),
  });
  const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work });
  const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
  t.pass(`the menu's default entry printed the marker after ${secs(ms)}`);
  const log = vm.log();
  t.match(log, /Boot from the local disk/, 'the serial console shows the menu (its local-disk item)');
  t.match(log, /another/, 'with the other images as items');
  t.notOk(log.includes(markerLine(other)), 'the other image did not boot');
  const row = await clientRow(env, mac, (r) => r?.stage === 'booted');
  t.equal(row?.stage, 'booted', 'the unknown machine is listed, booted (the menu entry reported)', { row });
  const shown = log.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n').replace(/\r/g, '\n').split('\n').filter((l) => /bootlab|another|marker|local disk/i.test(l) && !l.includes('BOOTLAB-MARKER'));
  t.comment(`menu lines on the serial console: ${JSON.stringify([...new Set(shown.map((l) => l.trim()))].slice(0, 12))}`);
  timings.push(`6. menu (unknown MAC, 2 s timeout): marker after ${secs(ms)} (case ${secs(Date.now() - t0)})`);
});
