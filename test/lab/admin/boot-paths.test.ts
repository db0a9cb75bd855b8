// Boot paths real firmware takes (issue 15 A1, A2), through the real wiring on loopback
// (createRuntime, the supervised TFTP and HTTP services, the admin API), with curl as the
// machine: a teacher's own boot.ipxe is never shadowed; a chain that comes back to the
// machine's own script is stopped and shown on its row; names a loader derives from
// bootlab/ (pxelinux and GRUB chained from http://srv/bootlab/<mac>.ipxe) resolve from the
// root; the local-disk step reports. The VM proofs are in test/vm/boot-paths-vm.test.ts.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BOOT_IPXE, BOOTLAB_BOOT_IPXE } from '../../../services/boot/ipxe.js';
import { adminFixture, type AdminFixture } from '../../helpers/admin.js';

const run = promisify(execFile);
const PC01 = '52:54:00:00:00:01';
const PC02 = '52:54:00:00:00:02';
const PC03 = '52:54:00:00:00:03';
const hyp = (mac: string) => mac.replace(/:/g, '-');
const script = (mac: string) => `bootlab/${hyp(mac)}.ipxe`;
const LDLINUX = randomBytes(40_000);

const HOSTS = `images:
  teachers: { script: boot.ipxe }
  debian: { kernel: debian/linux, initrd: debian/initrd.gz, cmdline: "quiet" }
  loopy: { script: bootlab/boot.ipxe }
hosts:
  ${PC01}: { hostname: pc01, image: teachers }
  ${PC02}: { hostname: pc02, image: debian }
  ${PC03}: { hostname: pc03, image: loopy }
`;
const TEACHERS_BOOT = '#!ipxe\necho the teacher\'s own boot.ipxe\n';

const httpPort = (f: AdminFixture) => f.runtime.supervisor.row('http').bound[0].port;
const tftpPort = (f: AdminFixture) => f.runtime.supervisor.row('tftp').bound[0].port;

let n = 0;
async function http(f: AdminFixture, path: string): Promise<{ status: number; body: Buffer }> {
  const out = join(f.dir, `http-${++n}`);
  const { stdout } = await run('curl', ['-s', '--max-time', '30', '-o', out, '-w', '%{http_code}', `http://127.0.0.1:${httpPort(f)}/${path}`]);
  return { status: Number(stdout), body: readFileSync(out) };
}

async function tftp(f: AdminFixture, path: string): Promise<Buffer | null> {
  const out = join(f.dir, `tftp-${++n}`);
  try {
    await run('curl', ['-s', '--max-time', '30', '-o', out, `tftp://127.0.0.1:${tftpPort(f)}/${path}`]);
    return readFileSync(out);
  } catch {
    return null;
  }
}

t.test('A1: a boot.ipxe on disk is the one served, over HTTP and TFTP; bootlab/boot.ipxe is always bootlab\'s', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: { 'boot.ipxe': TEACHERS_BOOT } });
  t.equal((await http(f, 'boot.ipxe')).body.toString(), TEACHERS_BOOT, 'HTTP: the teacher\'s file');
  t.equal((await tftp(f, 'boot.ipxe'))?.toString(), TEACHERS_BOOT, 'TFTP: the teacher\'s file');
  t.equal((await http(f, 'bootlab/boot.ipxe')).body.toString(), BOOTLAB_BOOT_IPXE, 'bootlab\'s dispatcher in its own folder');
  t.equal((await tftp(f, 'bootlab/boot.ipxe'))?.toString(), BOOTLAB_BOOT_IPXE);
  // The image "script: boot.ipxe" chains /boot.ipxe: the teacher's file, which does not come back.
  t.match((await http(f, script(PC01))).body.toString(), /^chain \/boot\.ipxe$/m);
});

t.test('A1: without a boot.ipxe on disk the generated one answers at the root too', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS });
  t.equal((await http(f, 'boot.ipxe')).body.toString(), BOOT_IPXE);
  t.equal((await tftp(f, 'boot.ipxe'))?.toString(), BOOT_IPXE);
});

t.test('A1: a chain that comes back to the machine\'s script is stopped after 5 fetches and shown on its row', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS });
  const first = (await http(f, script(PC03))).body.toString();
  t.match(first, /^chain \/bootlab\/boot\.ipxe$/m, 'the image chains the dispatcher, which chains the machine\'s own script');
  // iPXE would follow it: HTTP and TFTP alike count (the guard is one for both services).
  for (let i = 0; i < 2; i++) t.match((await http(f, script(PC03))).body.toString(), /^chain /m);
  t.match((await tftp(f, script(PC03)))?.toString(), /^chain /m, 'fetch 4, over TFTP: still the script');
  const stopped = (await http(f, script(PC03))).body.toString();
  t.match(stopped, /^#!ipxe\n# bootlab: 52:54:00:00:00:03 \(pc03\)\necho bootlab: its boot chain came back to its own script 5 times .*image loopy.*\nsleep 10 \|\|\nexit\n$/);
  t.notMatch(stopped, /^chain /m, 'no chain in the stopped script');
  const row = (await f.get(`/api/clients/${PC03}`)).json();
  t.match(row, { mac: PC03, stage: 'failed', reason: /came back to its own script 5 times/ }, 'the machine\'s row says why');
  const events = (await f.get(`/api/clients/${PC03}/events`)).json().events as { kind: string }[];
  t.equal(events.filter((e) => e.kind === 'client.stopped').length, 1, 'one client.stopped in its history');
  t.match((await http(f, script(PC02))).body.toString(), /^kernel \/debian\/linux/m, 'another machine is not stopped');
});

t.test('A2: names under bootlab/ that a loader derives resolve from the root, over HTTP and TFTP', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: { 'ldlinux.c32': LDLINUX, 'syslinux/menu.c32': 'menu' } });
  const h = await http(f, 'bootlab/ldlinux.c32');
  t.equal(h.status, 200, 'pxelinux under iPXE over HTTP: bootlab/ldlinux.c32');
  t.ok(h.body.equals(LDLINUX), 'the root\'s ldlinux.c32, byte for byte');
  t.ok((await tftp(f, 'bootlab/ldlinux.c32'))?.equals(LDLINUX), 'and over TFTP');
  t.equal((await http(f, 'bootlab/syslinux/menu.c32')).body.toString(), 'menu', 'its search path below the prefix');
  const cfg = await http(f, `bootlab/pxelinux.cfg/01-${hyp(PC02)}`);
  t.equal(cfg.status, 200);
  t.match(cfg.body.toString(), /^# bootlab: 52:54:00:00:00:02\nDEFAULT debian\n/, 'the generated per-host pxelinux config');
  t.match((await tftp(f, 'bootlab/pxelinux.cfg/default'))?.toString(), /^# bootlab: default/, 'and the default, over TFTP');
  t.match((await http(f, 'bootlab/grub/grub.cfg')).body.toString(), /^# bootlab: default/, 'GRUB\'s prefix too');
  t.equal((await http(f, 'bootlab/nothing.c32')).status, 404, 'a name found under neither: 404');
  t.equal((await http(f, 'bootlab/../../etc/passwd')).status, 404, 'no way out of the root (curl folds the dots; the name is bootlab/etc/passwd)');
  t.equal((await tftp(f, 'bootlab/../hosts.yaml')), null, 'a .. over TFTP is refused');
  t.match((await http(f, script(PC02))).body.toString(), /^kernel /m, 'bootlab/<mac>.ipxe is still the script');
});

t.test('the local-disk step reports: the row ends booted, a boot-once is kept', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: `defaults: { action: local }\nhosts:\n  ${PC02}: { hostname: pc02 }\n` });
  const text = (await http(f, script(PC02))).body.toString();
  const m = /^imgfetch --name bootlab-booted \/(bootlab\/booted\/52-54-00-00-00-02\/[0-9a-f]+\/local) && imgfree bootlab-booted \|\| echo bootlab: could not report the local boot$/m.exec(text);
  t.ok(m, text);
  t.equal((await http(f, m![1])).status, 200);
  t.match((await f.get(`/api/clients/${PC02}`)).json(), { mac: PC02, stage: 'booted', bootedFrom: 'local' }, 'booted from the local disk');
});
