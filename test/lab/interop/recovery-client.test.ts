// The other router-recovery style (issue 7): the device's boot loader is the TFTP client
// and asks a fixed server address for a fixed file name (a TP-Link Archer asks the
// address its vendor notes give for e.g. ArcherC7v5_tp_recovery.bin). The recipe in
// docs/operations.md: give the bootlab
// machine that address as a second one, bind tftp.address to it, and map the fixed name
// onto a file under tftpboot/firmware/ with a remap rule. Here, in a namespace lab with
// documentation addresses: bootlab at 192.0.2.1 and 192.0.2.66, the "device" at
// 192.0.2.86 runs busybox's tftp client (what embedded boot loaders resemble) and gets
// the firmware byte for byte; the same name asked of the machine's other address gets
// nothing, because TFTP listens on the recovery address only.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startBootlab } from '../../helpers/dhcp-clients.js';
import { NetLab } from '../../helpers/netlab.js';
import { needs, asRoot } from '../../helpers/needs.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('a device that asks a fixed address for a fixed name gets the firmware through tftp.address and a remap rule', { timeout: 120_000 }, async (t) => {
  if (!needs(t, asRoot('the recovery-client namespace test'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'bl-recovery-'));
  const lab = new NetLab('rc');
  t.teardown(async () => { await lab.destroy(); rmSync(dir, { recursive: true, force: true }); });
  lab.bridge('br0');
  lab.attach('srv', { cidr: '192.0.2.1/24' });
  lab.exec('srv', 'ip', ['addr', 'add', '192.0.2.66/24', 'dev', 'eth0']);
  lab.attach('dev', { cidr: '192.0.2.86/24' });

  const home = join(dir, 'bootlab');
  const firmware = randomBytes(3 * 1024 * 1024 + 77);
  mkdirSync(join(home, 'tftpboot', 'firmware'), { recursive: true });
  writeFileSync(join(home, 'tftpboot', 'firmware', 'archer-c7-v5.bin'), firmware);
  const bootlab = await startBootlab(lab, 'srv', dir, {
    home,
    dhcp: { mode: 'off' },
    tftp: {
      enabled: true, address: '192.0.2.66', port: 69,
      remap: [{ match: '^ArcherC7v5_tp_recovery\\.bin$', replace: 'firmware/archer-c7-v5.bin', stop: true }],
    },
  });
  t.teardown(() => bootlab.stop());

  const out = join(dir, 'got.bin');
  lab.exec('dev', 'busybox', ['tftp', '-g', '-r', 'ArcherC7v5_tp_recovery.bin', '-l', out, '192.0.2.66']);
  t.equal(sha(readFileSync(out)), sha(firmware), 'the device got the firmware under its fixed name, byte for byte');
  const served = await bootlab.waitLog((l) => l.msg === 'tftp read done' && l.client === '192.0.2.86', 30_000);
  t.match(served, { file: 'ArcherC7v5_tp_recovery.bin', bytes: firmware.length }, 'bootlab sent the mapped file under the asked name', { tail: bootlab.tail(10) });

  // TFTP listens on the recovery address only: the machine's own address gives nothing.
  let failed = false;
  try {
    lab.exec('dev', 'curl', ['-sS', '--max-time', '3', '-o', join(dir, 'other.bin'), 'tftp://192.0.2.1/ArcherC7v5_tp_recovery.bin']);
  } catch {
    failed = true;
  }
  t.ok(failed, 'the same request to 192.0.2.1 gets no answer');
});
