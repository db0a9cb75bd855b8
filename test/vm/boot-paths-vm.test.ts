// Boot paths real firmware takes (issue 15 A1, A2), each with a BIOS VM (SeaBIOS and QEMU's
// iPXE ROM) in a namespace lab (startBootlabLab, test/helpers/vm.ts: bootlab in full DHCP
// mode at 192.0.2.1). The marker initrd prints "BOOTLAB-MARKER <nonce>".
//   1. A teacher's own boot.ipxe on disk, named by an image (script: boot.ipxe), is the one
//      iPXE runs: before, bootlab's generated boot.ipxe shadowed it and chained the
//      machine's script again, about 60 requests a second until the machine was switched off.
//   2. A chain that does come back (an image whose script is bootlab's own dispatcher): the
//      machine gets a script that says why and returns to its firmware; its row says failed.
//   3-4. pxelinux chained from the machine's iPXE script: pxelinux takes its path prefix from
//      the script's URL (http://192.0.2.1/bootlab/<mac>.ipxe, or tftp:// with HTTP off) and asks
//      for bootlab/ldlinux.c32, bootlab/pxelinux.cfg/... and the relative kernel names of the
//      teacher's config; they resolve from the root.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_BOOT_TIMEOUT_MS, markerLine, newNonce, prepareMarkerPayload, startBootlabLab, startVm,
  type BootlabLab, type HistoryEvent, type MarkerPayload,
} from '../helpers/vm.js';
import { asRoot, needs, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

const CASE_TIMEOUT_MS = 400_000;
let payload: MarkerPayload | undefined;
const timings: string[] = [];
t.teardown(() => { if (timings.length) t.comment(`VM boot-path timings:\n${timings.join('\n')}`); });
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function poll<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((res) => setTimeout(res, 250));
  }
}

const history = (env: BootlabLab, mac: string) => async () => {
  const r = await env.api<{ events: HistoryEvent[] }>('GET', `/api/clients/${mac}/events`);
  return r.status === 200 && r.body?.events ? r.body.events : [];
};
const row = (env: BootlabLab, mac: string) => async () => (await env.api<Record<string, unknown>>('GET', `/api/clients/${mac}`)).body;

t.test('1. BIOS VM: the image "script: boot.ipxe" runs the teacher\'s boot.ipxe on disk, not bootlab\'s', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  if (!needs(t, asRoot('the boot-path VM test'))) return;
  payload ??= prepareMarkerPayload();
  const mac = '52:54:00:b1:50:01';
  const nonce = newNonce();
  const env = await startBootlabLab(t, {
    tag: 'bp1', http: true, taps: 1, payload,
    hosts: `defaults: { action: local }\nimages:\n  teachers: { script: boot.ipxe }\nhosts:\n  ${mac}: { hostname: vm1, image: teachers }\n`,
  });
  writeFileSync(join(env.root, 'boot.ipxe'), [
    '#!ipxe', 'echo the teacher\'s boot.ipxe',
    `kernel /vmlinuz initrd=initrd.gz console=ttyS0 quiet bootlab.marker=${nonce}`, 'initrd /initrd.gz', 'boot', '',
  ].join('\n'));
  const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work });
  const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
  t.pass(`the teacher's script booted the marker after ${secs(ms)}`);
  t.match(vm.log(), /the teacher's boot\.ipxe/, 'its echo is on the serial console');
  const events = await history(env, mac)();
  const scripts = events.filter((e) => /\.done$/.test(e.kind) && /^bootlab\/[0-9a-f-]{17}\.ipxe$/.test(String(e.file)));
  t.equal(scripts.length, 1, 'the machine\'s own script was fetched once: no loop', { files: events.map((e) => `${e.kind} ${e.file ?? ''}`) });
  t.notOk(events.some((e) => e.kind === 'client.stopped'), 'and nothing was stopped');
  timings.push(`1. teacher's boot.ipxe: marker after ${secs(ms)}`);
});

t.test('2. BIOS VM: a chain back to the machine\'s own script is stopped, said on the console and on its row', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  if (!needs(t, asRoot('the boot-path VM test'))) return;
  payload ??= prepareMarkerPayload();
  const mac = '52:54:00:b1:50:02';
  const env = await startBootlabLab(t, {
    tag: 'bp2', http: true, taps: 1, payload,
    hosts: `defaults: { action: local }\nimages:\n  loopy: { script: bootlab/boot.ipxe }\nhosts:\n  ${mac}: { hostname: vm2, image: loopy }\n`,
  });
  const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work });
  const ms = await vm.waitFor(/bootlab: its boot chain came back to its own script 5 times/, DEFAULT_BOOT_TIMEOUT_MS);
  t.pass(`the VM printed bootlab's reason after ${secs(ms)}`);
  const r = await poll(row(env, mac), (x) => x?.stage === 'failed');
  t.match(r, { stage: 'failed', reason: /came back to its own script 5 times.*image loopy/ }, 'the row says why');
  const events = await history(env, mac)();
  const fetched = events.filter((e) => e.kind === 'http.done' && /^bootlab\/[0-9a-f-]{17}\.ipxe$/.test(String(e.file))).length;
  t.equal(fetched, 5, 'the script was served 5 times (the fifth is the stopped one), not without end', { files: events.map((e) => `${e.kind} ${e.file ?? ''}`) });
  t.equal(events.filter((e) => e.kind === 'client.stopped').length, 1, 'one client.stopped');
  await vm.stop();
  timings.push(`2. chain loop: stopped after ${secs(ms)}`);
});

function pxelinuxCase(n: number, http: boolean, mac: string): void {
  const proto = http ? 'http' : 'tftp';
  t.test(`${n}. BIOS VM: pxelinux chained from the machine's iPXE script (over ${proto.toUpperCase()}) finds ldlinux.c32, its config and the kernel`, { timeout: CASE_TIMEOUT_MS }, async (t) => {
    if (!needs(t, asRoot('the boot-path VM test'))) return;
    payload ??= prepareMarkerPayload();
    const nonce = newNonce();
    const env = await startBootlabLab(t, {
      tag: `bp${n}`, http, taps: 1, payload,
      hosts: `defaults: { action: local }\nimages:\n  viapxe: { script: lab/pxe.ipxe }\nhosts:\n  ${mac}: { hostname: vm${n}, image: viapxe }\n`,
    });
    mkdirSync(join(env.root, 'lab'), { recursive: true });
    writeFileSync(join(env.root, 'lab', 'pxe.ipxe'), '#!ipxe\nchain /pxelinux.0\n');
    // The teacher's pxelinux config as such configs are written: names relative to the prefix.
    mkdirSync(join(env.root, 'pxelinux.cfg'), { recursive: true });
    writeFileSync(join(env.root, 'pxelinux.cfg', 'default'), [
      'DEFAULT marker', 'PROMPT 0', 'TIMEOUT 0', 'LABEL marker', '  KERNEL vmlinuz', `  APPEND initrd=initrd.gz console=ttyS0 quiet bootlab.marker=${nonce}`, '',
    ].join('\n'));
    const vm = startVm({ lab: env.lab, tap: 'tap0', mac, firmware: 'bios', workDir: env.work });
    const ms = await vm.waitFor(markerLine(nonce), DEFAULT_BOOT_TIMEOUT_MS);
    t.pass(`pxelinux booted the marker after ${secs(ms)}`);
    // pxelinux draws its banner with cursor moves (PXELI\x1b[25;05H...NUX): read it without them.
    t.match(vm.log().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), /PXELINUX \d/, 'pxelinux ran');
    t.notMatch(vm.log(), /Failed to load ldlinux\.c32/, 'and found ldlinux.c32');
    // Transfers carry the name as the loader asked for it (bootlab/...); the file layer sent the root's.
    const events = await poll(history(env, mac), (e) => e.some((x) => x.kind === `${proto}.done` && x.file === 'bootlab/initrd.gz'));
    const done = (file: string) => events.some((e) => e.kind === `${proto}.done` && e.file === file);
    const files = events.filter((e) => /\.(done|refused)$/.test(e.kind)).map((e) => `${e.kind} ${e.file ?? ''}`);
    t.ok(done('bootlab/ldlinux.c32'), `bootlab/ldlinux.c32 sent over ${proto}`, { files });
    t.ok(done('bootlab/pxelinux.cfg/default'), 'the teacher\'s pxelinux.cfg/default, asked as bootlab/pxelinux.cfg/default', { files });
    t.ok(done('bootlab/vmlinuz') && done('bootlab/initrd.gz'), 'the kernel and initrd by their names relative to the prefix', { files });
    t.ok(events.some((e) => e.kind === `${proto}.refused` && e.file === `bootlab/pxelinux.cfg/01-${mac.replace(/:/g, '-')}`),
      'the per-host name was asked first and not found (the image is a script: pxelinux takes its default)', { files });
    t.comment(`files: ${files.join(', ')}`);
    timings.push(`${n}. pxelinux from an iPXE script over ${proto}: marker after ${secs(ms)}`);
  });
}

pxelinuxCase(3, true, '52:54:00:b1:50:03');
pxelinuxCase(4, false, '52:54:00:b1:50:04');
