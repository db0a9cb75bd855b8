// The firmware folder (services/flash/firmware.ts) on real temporary folders: listing
// keeps only regular files with firmware names, sorted; a store is create-only unless
// replace, makes the folder, and leaves no temporary file whether it lands or fails;
// names with folders or a leading dot are refused before anything is written.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  FirmwareExists, firmwareFolder, isFirmwareName, listFirmware, readFirmware, storeFirmware,
} from '../../services/flash/firmware.js';

t.test('names: plain file names only', async (t) => {
  for (const good of ['router.bin', 'a', 'OpenWrt-23.05_x86+64.img']) t.ok(isFirmwareName(good), good);
  for (const bad of ['', '.hidden', '..', '../etc/passwd', 'dir/file', 'sp ace.bin', `${'a'.repeat(129)}`]) {
    t.notOk(isFirmwareName(bad), JSON.stringify(bad));
  }
  t.equal(firmwareFolder('/srv/tftpboot'), join('/srv/tftpboot', 'firmware'));
});

t.test('list: regular files with firmware names, sorted by name, with their sizes', async (t) => {
  const dir = t.testdir({
    'b.bin': 'bbbb', 'a.bin': 'a', '.a.bin.0123.part': 'half', sub: { 'c.bin': 'c' }, 'bad name.bin': 'x',
  });
  symlinkSync(join(dir, 'a.bin'), join(dir, 'link.bin'));
  t.same(await listFirmware(dir), [{ name: 'a.bin', size: 1 }, { name: 'b.bin', size: 4 }]);
});

t.test('list: a missing folder lists nothing', async (t) => {
  t.same(await listFirmware(join(t.testdir({}), 'firmware')), []);
});

t.test('read: the bytes, or null for a missing file or a folder', async (t) => {
  const dir = t.testdir({ 'fw.bin': 'firmware bytes', sub: {} });
  t.same(await readFirmware(dir, 'fw.bin'), Buffer.from('firmware bytes'));
  t.equal(await readFirmware(dir, 'nope.bin'), null);
  t.equal(await readFirmware(dir, 'sub'), null);
  await t.rejects(readFirmware(dir, '../fw.bin'), RangeError);
});

t.test('store: makes the folder, writes the bytes, leaves no temporary file', async (t) => {
  const folder = join(t.testdir({}), 'firmware');
  const data = Buffer.from('new firmware');
  t.same(await storeFirmware(folder, 'new.bin', data), { name: 'new.bin', size: data.length });
  t.same(readFileSync(join(folder, 'new.bin')), data);
  t.same(readdirSync(folder), ['new.bin']);
});

t.test('store: create only refuses an existing name and keeps the old file', async (t) => {
  const dir = t.testdir({ 'fw.bin': 'old' });
  const err = await storeFirmware(dir, 'fw.bin', Buffer.from('new')).catch((e: unknown) => e);
  t.ok(err instanceof FirmwareExists, 'FirmwareExists');
  t.equal((err as FirmwareExists).file, 'fw.bin');
  t.equal(readFileSync(join(dir, 'fw.bin'), 'utf8'), 'old');
  t.same(readdirSync(dir), ['fw.bin'], 'no temporary file left');
});

t.test('store: replace overwrites', async (t) => {
  const dir = t.testdir({ 'fw.bin': 'old' });
  t.same(await storeFirmware(dir, 'fw.bin', Buffer.from('newer'), true), { name: 'fw.bin', size: 5 });
  t.equal(readFileSync(join(dir, 'fw.bin'), 'utf8'), 'newer');
  t.same(readdirSync(dir), ['fw.bin']);
});

t.test('store: a failed replace leaves what was there and no temporary file', async (t) => {
  const dir = t.testdir({});
  mkdirSync(join(dir, 'fw.bin'));
  writeFileSync(join(dir, 'fw.bin', 'inside'), 'kept');
  await t.rejects(storeFirmware(dir, 'fw.bin', Buffer.from('new'), true));
  t.equal(readFileSync(join(dir, 'fw.bin', 'inside'), 'utf8'), 'kept');
  t.same(readdirSync(dir), ['fw.bin'], 'no temporary file left');
});

t.test('store: a name with a folder or a leading dot is refused before anything is written', async (t) => {
  const dir = t.testdir({});
  for (const bad of ['../escape.bin', '.hidden', 'sub/fw.bin']) {
    await t.rejects(storeFirmware(join(dir, 'firmware'), bad, Buffer.from('x')), RangeError, bad);
  }
  t.same(readdirSync(dir), [], 'not even the folder was made');
});
