// End to end, issue 15 A3 (the lab and what Debian 12's iPXE does with mtftp:// are in
// mtftp-vm.test.ts and test/helpers/mtftp-vm.ts): kernel AND initrd by mtftp://. iPXE listens on
// 239.255.1.1:3001 for every mtftp:// file, so both files are on one group and port, which
// bootlab then never sends to: every RRQ gets a unicast round from port 1759
// (docs/decisions/0008-mtftp-shared-group.md). atftp --mget clients in namespaces on the
// same bridge fetch the same two files on the same group while the VM fetches each of
// them. Proven: the marker (kernel and initrd loaded and run); the VM's bytes rebuilt from
// a capture in the server namespace, block by block, equal both files (sha256), as do the
// atftp clients' files; every DATA left from port 1759, none to the group, nothing on port 69.
import t from 'tap';
import { join } from 'node:path';
import { atftpMget, parseIpPcap, sha256File, waitFor, type ClientRun } from '../helpers/mtftp-lab.js';
import {
  BOOT_TIMEOUT_MS,
  CASE_TIMEOUT_MS,
  FILE_TIMEOUT_MS,
  oneMtftpVmAtATime,
  CLIENT_PORT,
  GROUP,
  SERVER_IP,
  SERVER_PORT,
  bootsToMarker,
  leasedIp,
  logLines,
  mtftpLab,
  rebuildFromWire,
  type LogLine,
} from '../helpers/mtftp-vm.js';
import { asRoot, needsFile, tools } from '../helpers/needs.js';

needsFile(asRoot('the VM tests (namespaces, taps)'), tools('qemu-system-x86_64', 'ip'));

// The runner's per-file timeout (.taprc) is shorter than one slow MTFTP boot.
t.setTimeout(FILE_TIMEOUT_MS);
await oneMtftpVmAtATime(t);

const SHARED_MAC = '52:54:00:00:00:32';
const FILES = ['vmlinuz', 'initrd.gz'];

t.test('a BIOS VM loads kernel and initrd by mtftp:// on one shared group while atftp --mget clients fetch both: byte-exact, all from port 1759, none to the group or port 69', { timeout: CASE_TIMEOUT_MS }, async (t) => {
  const l = await mtftpLab(t, 'ms', [SHARED_MAC], { shared: true, clients: 4 });
  if (!l) return;
  const [m] = l.machines;
  const want = Object.fromEntries(FILES.map((f) => [f, sha256File(join(l.root, f))]));
  const vmIp = await waitFor(() => leasedIp(l.bootlab, m.mac), BOOT_TIMEOUT_MS);
  if (!t.ok(vmIp, 'bootlab leased the VM an address') || !vmIp) return;
  const vmRound = (file: string, phase: 'start' | 'done') => (x: LogLine) => x.msg === `mtftp round ${phase}` && x.file === file && x.master === vmIp;

  // While the VM fetches each file, two atftp clients fetch the two files on its group.
  // The kernel takes the VM minutes, so its clients listen a second first; the initrd
  // takes it seconds (~2000 blocks), so theirs ask at once (listen-delay 0).
  const runs: { file: string; run: ClientRun }[] = [];
  for (const [i, file] of FILES.entries()) {
    const seen = await waitFor(() => logLines(l.bootlab).some(vmRound(file, 'start')) || m.vm.log().includes('BOOTLAB-MTFTP-FAILED'), BOOT_TIMEOUT_MS);
    if (!t.ok(seen && logLines(l.bootlab).some(vmRound(file, 'start')), `the VM's round of ${file} started`, { serial: m.vm.tail(20) })) return;
    for (const [j, f] of FILES.entries()) {
      const member = `c${2 * i + j + 1}`;
      runs.push({ file: f, run: atftpMget(l.lab, member, { file: f, out: join(l.work, `${member}-${f}`), group: GROUP, clientPort: CLIENT_PORT, listenDelay: 1 - i, killAfterMs: BOOT_TIMEOUT_MS }) });
    }
  }
  if (!await bootsToMarker(t, m)) return;
  const results = await Promise.all(runs.map((r) => r.run.done));
  results.forEach((r, i) => {
    const file = runs[i].file;
    t.ok(r.code === 0 && sha256File(r.out) === want[file], `${r.member}: atftp --mget of ${file} exited 0 with a byte-exact copy`, { code: r.code, output: r.output.slice(-1500) });
  });
  t.comment(`atftp --mget (listen + unicast round): ${results.map((r, i) => `${r.member} ${runs[i].file} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);

  // bootlab's side: the VM mastered a unicast round of each file, and each atftp client
  // opened its round while the VM's round of the file of its batch still ran.
  const logs = logLines(l.bootlab);
  for (const [i, file] of FILES.entries()) {
    const done = logs.findIndex(vmRound(file, 'done'));
    const round = logs[done];
    t.ok(round?.ok === true && round.delivery === 'unicast', `the VM's round of ${file} ended ok, unicast`, { round });
    if (round) t.comment(`VM's ${file}: ${String(round.blocks)} blocks in ${String(round.seconds)} s, ${String(round.blocksSent)} DATA, ${String(round.retransmits)} retransmits`);
    for (const r of results.slice(2 * i, 2 * i + 2)) {
      const ip = `192.0.2.${10 + Number(r.member.slice(1))}`;
      const start = logs.findIndex((x) => x.msg === 'mtftp round start' && x.master === ip);
      t.ok(start >= 0 && start < done, `${r.member}'s round (${logs[start]?.file}) started while the VM's round of ${file} ran`, { start, done });
    }
  }

  // The wire's side, from the server namespace.
  await l.stopCapture();
  const udp = parseIpPcap(l.srvPcap).flatMap((p) => (p.udp ? [p.udp] : []));
  const data = udp.filter((u) => u.src === SERVER_IP && u.payload.length >= 4 && u.payload.readUInt16BE(0) === 3);
  t.ok(data.length > l.kernelBlocks * 3, `the capture holds the rounds' DATA (${data.length} datagrams)`);
  t.same(data.filter((u) => u.sport !== SERVER_PORT).slice(0, 5).map((u) => `${u.dst}:${u.dport} from port ${u.sport}`), [], `every DATA left from port ${SERVER_PORT}`);
  t.same(data.filter((u) => Number(u.dst.split('.')[0]) >= 224).slice(0, 5).map((u) => `${u.dst}:${u.dport}`), [], `no DATA went to a group (${GROUP} is shared)`);
  t.same(udp.filter((u) => u.sport === 69 || u.dport === 69).slice(0, 5).map((u) => `${u.src}:${u.sport} > ${u.dst}:${u.dport}`), [], 'nothing to or from port 69');
  const rebuilt = rebuildFromWire(udp, vmIp);
  for (const file of FILES) {
    const r = rebuilt.get(file);
    t.ok(r && r.conflicts === 0 && r.missing === 0, `the DATA the VM was sent for ${file} are consistent and complete`, { blocks: r?.blocks, conflicts: r?.conflicts, missing: r?.missing });
    t.equal(r?.sha256, want[file], `the VM's ${file}, rebuilt from the wire, is byte-exact (sha256)`);
  }
});
