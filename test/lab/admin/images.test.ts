// GET /api/images: each image with its files under tftp.root, found the way the TFTP
// server finds them: nothing outside the root counts (a ".." path, an absolute path, a
// symlink leading out), a folder is no file, and a chain image needs no file.
import t from 'tap';
import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { adminFixture } from '../../helpers/admin.js';
import { UNAUTHORIZED } from '../../helpers/hosts-sample.js';

const HOSTS = `images:
  debian:
    kernel: debian/linux
    initrd: /debian/initrd.gz      # a leading "/" is inside the root, as for TFTP
    cmdline: auto=true
  rescue:
    script: rescue.ipxe            # not there
  web:
    chain: http://192.0.2.1/boot.ipxe
  netinst:
    kernel: http://192.0.2.1/linux  # loaded over HTTP: not a tftp.root file
    initrd: netinst/initrd.gz
  raw:
    files:
      bios: pxelinux.0
      uefi32: debian               # a folder
      uefi64: ../appliance.yaml    # exists, but outside the root
      arm32: /etc/passwd           # absolute: looked up inside the root
      arm64: escape.efi            # a symlink out of the root
hosts: {}
`;

const file = (role: string, path: string, size: number | null) => ({ role, path, exists: size !== null, size });

t.test('every image with its files: exists and size under tftp.root, never outside it', async (t) => {
  const f = await adminFixture(t, { hosts: HOSTS, files: { 'debian/linux': 'k'.repeat(1000), 'debian/initrd.gz': 'i'.repeat(20), 'netinst/initrd.gz': 'n', 'pxelinux.0': 'p'.repeat(7) } });
  symlinkSync(f.configFile, join(f.root, 'escape.efi'));
  const res = await f.get('/api/images');
  t.equal(res.statusCode, 200);
  t.same(res.json(), { images: [
    { name: 'debian', kind: 'kernel', url: null, files: [file('kernel', 'debian/linux', 1000), file('initrd', '/debian/initrd.gz', 20)], ok: true },
    { name: 'rescue', kind: 'script', url: null, files: [file('script', 'rescue.ipxe', null)], ok: false },
    { name: 'web', kind: 'chain', url: 'http://192.0.2.1/boot.ipxe', files: [], ok: true },
    { name: 'netinst', kind: 'kernel', url: null, files: [file('initrd', 'netinst/initrd.gz', 1)], ok: true },
    { name: 'raw', kind: 'files', url: null, files: [
      file('bios', 'pxelinux.0', 7), file('uefi32', 'debian', null), file('uefi64', '../appliance.yaml', null),
      file('arm32', '/etc/passwd', null), file('arm64', 'escape.efi', null),
    ], ok: false },
  ] });
});

t.test('a symlink that stays inside the root counts; a file added later shows at the next read', async (t) => {
  const f = await adminFixture(t, { hosts: 'images:\n  rescue:\n    script: rescue.ipxe\n', files: { 'scripts/real.ipxe': '#!ipxe\n' } });
  t.same((await f.get('/api/images')).json().images[0].ok, false);
  symlinkSync('scripts/real.ipxe', join(f.root, 'rescue.ipxe'));
  t.same((await f.get('/api/images')).json(), { images: [{ name: 'rescue', kind: 'script', url: null, files: [file('script', 'rescue.ipxe', 7)], ok: true }] });
});

t.test('with tftp.caseInsensitive, a name in other case is found, as the TFTP server would find it', async (t) => {
  const hosts = 'images:\n  debian:\n    kernel: Debian/LINUX\n';
  const f = await adminFixture(t, { hosts, tftp: ['caseInsensitive: true'], files: { 'debian/linux': 'kernel' } });
  t.same((await f.get('/api/images')).json().images[0].files, [file('kernel', 'Debian/LINUX', 6)]);
  const strict = await adminFixture(t, { hosts, files: { 'debian/linux': 'kernel' } });
  t.same((await strict.get('/api/images')).json().images[0].files, [file('kernel', 'Debian/LINUX', null)]);
});

t.test('no images, and no tftp.root at all', async (t) => {
  const empty = await adminFixture(t);
  t.same((await empty.get('/api/images')).json(), { images: [] });
  const f = await adminFixture(t, { hosts: 'images:\n  rescue:\n    script: rescue.ipxe\n', files: { 'rescue.ipxe': '#!ipxe\n' } });
  rmSync(f.root, { recursive: true });
  t.same((await f.get('/api/images')).json(), { images: [{ name: 'rescue', kind: 'script', url: null, files: [file('script', 'rescue.ipxe', null)], ok: false }] });
});

t.test('the token: open on loopback by default, needed when reads are protected', async (t) => {
  const f = await adminFixture(t, { admin: ['protectReads: always'] });
  const res = await f.app.inject({ url: '/api/images' });
  t.equal(res.statusCode, 401);
  t.same(res.json(), UNAUTHORIZED);
  t.equal((await f.get('/api/images')).statusCode, 200);
});
