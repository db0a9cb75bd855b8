// A full disk during an upload: the client gets error 3 (disk full) and the partial file
// is gone. The upload folder is a 256 KiB tmpfs mounted by the test (root, as in CI).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atftp, describe, killLeftovers, randomFile, waitForEvent } from '../../helpers/clients.js';
import { startTestServer } from '../../helpers/tftp.js';
import { needs, needsFile, asRoot, tools } from '../../helpers/needs.js';

needsFile(tools('atftp'));
t.test('disk full: error 3 to the client, nothing left in the folder', async (t) => {
  if (!needs(t, asRoot('mounting a tmpfs'))) return;
  // Not t.testdir(): tap's fixture cleanup stalls on a mount point. Unmount, then remove.
  const root = mkdtempSync(join(tmpdir(), 'bootlab-diskfull-'));
  const uploads = join(root, 'uploads');
  mkdirSync(uploads);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', uploads], { encoding: 'utf8' });
  t.equal(mount.status, 0, `tmpfs mounted: ${mount.stderr}`);
  t.teardown(() => {
    killLeftovers();
    spawnSync('umount', [uploads]);
    rmSync(root, { recursive: true, force: true });
  });
  const src = join(root, 'big.bin');
  randomFile(root, 'big.bin', 1024 * 1024);
  const srv = await startTestServer(t, { root, tftp: { write: { enabled: true, dirs: ['uploads'], policy: 'create-only' } } });
  const r = await atftp('put', { port: srv.port, remote: 'uploads/big.bin', local: src, options: { blksize: 1428 } });
  t.notOk(r.ok, 'the upload fails');
  t.match(r.stderr, /disk full/, `atftp shows the server's message (${describe(r)})`);
  const failed = await waitForEvent(srv.seen, 'tftp.failed', (e) => e.file === 'uploads/big.bin');
  t.match(failed, { direction: 'write', reason: /ENOSPC/, clientAbort: false }, 'the failure names ENOSPC');
  // The temporary file is removed once the transfer has failed.
  for (let i = 0; i < 50 && readdirSync(uploads).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(readdirSync(uploads), [], 'no partial or temporary file remains');
  t.equal(srv.service.stats.failed, 1, 'counted as a failed transfer');
});
