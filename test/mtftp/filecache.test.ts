// The MTFTP rounds' file bytes: one copy per version of a file while rounds send it
// (services/mtftp/filecache.ts), read again when the file changes on disk.
import { open, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { FileCache } from '../../services/mtftp/filecache.js';

t.test('rounds of one version share one Buffer; a changed file is read again; the last release drops it', async (t) => {
  const dir = t.testdir({ vmlinuz: 'kernel v1' });
  const path = join(dir, 'vmlinuz');
  const cache = new FileCache();
  const a = await cache.read('vmlinuz', await open(path, 'r'));
  const b = await cache.read('vmlinuz', await open(path, 'r'));
  t.equal(a.toString(), 'kernel v1');
  t.equal(b, a, 'the second round gets the same Buffer, not a second copy');
  t.equal(cache.size, 1);

  await writeFile(path, 'kernel v2, longer');
  const c = await cache.read('vmlinuz', await open(path, 'r'));
  t.equal(c.toString(), 'kernel v2, longer', 'a file replaced on disk is read again');
  t.equal(a.toString(), 'kernel v1', 'the rounds already running keep the bytes they started with');

  await writeFile(path, 'kernel v3, longer');
  await utimes(path, new Date(1_000_000), new Date(1_000_000));
  const d = await cache.read('vmlinuz', await open(path, 'r'));
  t.equal(d.toString(), 'kernel v3, longer', 'same size, another mtime: read again');

  cache.release('vmlinuz', a);
  cache.release('vmlinuz', c);
  t.equal(cache.size, 1, 'releasing older versions leaves the current one');
  cache.release('vmlinuz', d);
  t.equal(cache.size, 0, 'the last round of the current version drops it');
  cache.release('vmlinuz', d);
  cache.release('other', d);
  t.equal(cache.size, 0, 'a release too many, or of another name, is harmless');
});

t.test('the handle is closed whether the read works or not', async (t) => {
  const dir = t.testdir({ 'f.bin': 'x' });
  const cache = new FileCache();
  const h = await open(join(dir, 'f.bin'), 'r');
  await cache.read('f.bin', h);
  await t.rejects(h.stat(), 'closed after a read');
  const h2 = await open(join(dir, 'f.bin'), 'r');
  await h2.close();
  await t.rejects(cache.read('f.bin', h2), 'a broken handle is an error for the caller, not a crash');
});
