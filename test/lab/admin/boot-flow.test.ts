// The boot flow through the real wiring (createRuntime, the supervised TFTP and HTTP
// services, the admin API) on loopback, driven by curl as a machine would: its script over
// HTTP and TFTP, the booted report out of the script's imgfetch line ending a boot-once,
// a wrong key changing nothing, generated pxelinux configs (a disk file wins), boot.ipxe,
// an HTTP kernel download in /api/transfers and /api/clients, and boot.bootOnceEnds: kernel.
// Every client here is 127.0.0.1: the progress model maps it to the MAC of the script it
// fetched last, so each step fetches its machine's script first.
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { BOOT_IPXE } from '../../../services/boot/ipxe.js';
import { adminFixture, type AdminFixture } from '../../helpers/admin.js';

const run = promisify(execFile);
const PC02 = '52:54:00:00:00:02';
const PC03 = '52:54:00:00:00:03';
const PC04 = '52:54:00:00:00:04';
const PC05 = '52:54:00:00:00:05';
const hyp = (mac: string) => mac.replace(/:/g, '-');
const script = (mac: string) => `bootlab/${hyp(mac)}.ipxe`;
const KERNEL_SIZE = 2 << 20;
const KERNEL = randomBytes(KERNEL_SIZE);

const HOSTS = `# the lab
images:
  debian:
    kernel: debian/linux
    initrd: debian/initrd.gz
    cmdline: "hostname={{hostname}} report={{bootedUrl}}"
hosts:
  ${PC02}: { hostname: pc02, image: debian, bootOnce: true }
  ${PC03}: { hostname: pc03, image: debian, bootOnce: true }
  ${PC04}: { hostname: pc04, image: debian }
  ${PC05}: { hostname: pc05, image: debian, bootOnce: true }
`;
// Bigger than loopback's socket buffers, so its HTTP transfer is still running while curl reads slowly.
const BIG_SIZE = 48 << 20;
const FILES = { 'debian/linux': KERNEL, 'images/big.iso': Buffer.alloc(BIG_SIZE, 0x5a), 'debian/initrd.gz': 'initrd bytes\n', 'pxelinux.cfg/default': 'DEFAULT from-disk\n' };

const httpPort = (f: AdminFixture) => f.runtime.supervisor.row('http').bound[0].port;
const tftpPort = (f: AdminFixture) => f.runtime.supervisor.row('tftp').bound[0].port;

let n = 0;
/** curl over HTTP: status and body. */
async function http(
  f: AdminFixture,
  path: string,
  extra: string[] = [],
): Promise<{ status: number; body: Buffer; type: string }> {
  const out = join(f.dir, `http-${++n}`);
  const { stdout } = await run('curl', [
    '-s',
    '--max-time',
    '30',
    '-o',
    out,
    '-w',
    '%{http_code} %{content_type}',
    ...extra,
    `http://127.0.0.1:${httpPort(f)}/${path}`,
  ]);
  const cut = stdout.indexOf(' ');
  return { status: Number(stdout.slice(0, cut)), body: readFileSync(out), type: stdout.slice(cut + 1) };
}

/** curl over TFTP: the body, or null when curl failed (68: TFTP file not found). */
async function tftp(f: AdminFixture, path: string): Promise<{ ok: true; body: Buffer } | { ok: false; exit: number }> {
  const out = join(f.dir, `tftp-${++n}`);
  try {
    await run('curl', ['-s', '--max-time', '30', '-o', out, `tftp://127.0.0.1:${tftpPort(f)}/${path}`]);
    return { ok: true, body: readFileSync(out) };
  } catch (e) {
    return { ok: false, exit: (e as { code: number }).code };
  }
}

/** The path of the booted report in a script's imgfetch line. */
function bootedPath(text: string): string {
  const m = /^imgfetch --name bootlab-booted \/(bootlab\/booted\/[0-9a-f-]{17}\/[0-9a-f]+) && imgfree bootlab-booted \|\| echo bootlab: could not report booted$/m.exec(text);
  if (!m) throw new Error(`no imgfetch booted line in:\n${text}`);
  return m[1];
}

async function hostRow(f: AdminFixture, mac: string) {
  return (await f.get(`/api/hosts/${mac}`)).json();
}

t.test('the script over HTTP and TFTP; its booted path ends the boot-once over HTTP; a wrong key changes nothing', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: FILES });
  const overHttp = await http(f, script(PC02));
  t.equal(overHttp.status, 200);
  t.match(overHttp.type, /^text\/plain(;|$)/, 'a .ipxe is text/plain');
  const text = overHttp.body.toString();
  t.match(text, /^#!ipxe\n# bootlab: 52:54:00:00:00:02 \(pc02\)\nkernel \/debian\/linux initrd=initrd\.gz hostname=pc02 report=http:\/\/127\.0\.0\.1:\d+\/bootlab\/booted\/52-54-00-00-00-02\/[0-9a-f]+\ninitrd \/debian\/initrd\.gz\nimgfetch .*\nboot\n$/);
  const path = bootedPath(text);
  t.match(path, /^bootlab\/booted\/52-54-00-00-00-02\/[0-9a-f]{20}$/);
  t.ok(text.includes(`report=http://127.0.0.1:${httpPort(f)}/${path}`), '{{bootedUrl}} is the same report over the bound HTTP port');

  const overTftp = await tftp(f, script(PC02));
  t.ok(overTftp.ok, 'the script over TFTP');
  t.equal(overTftp.ok && overTftp.body.toString(), text, 'byte for byte the script HTTP sent (one key per machine, whichever protocol)');

  const wrong = path.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'));
  const refused = await http(f, wrong);
  t.equal(refused.status, 404, 'a wrong key: not found');
  t.equal((await http(f, path.replace(hyp(PC02), hyp(PC03)))).status, 404, 'pc02\'s key for pc03: not found');
  await f.runtime.bootOnce.settled(PC02);
  await f.runtime.bootOnce.settled(PC03);
  t.match(await hostRow(f, PC02), { image: 'debian', bootOnce: true }, 'nothing changed');
  t.match(await hostRow(f, PC03), { image: 'debian', bootOnce: true });
  t.not((await f.get(`/api/clients/${PC02}`)).json().stage, 'booted');

  const ok = await http(f, path);
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), `booted ${PC02}\n`);
  await f.runtime.bootOnce.settled(PC02);
  t.same(await hostRow(f, PC02), { mac: PC02, hostname: 'pc02', image: null, ip: null, bootOnce: false, labels: {} }, 'image and bootOnce are gone');
  const file = readFileSync(f.hostsFile, 'utf8');
  t.match(file, /^# the lab$/m, 'the file keeps its comment');
  t.match(file, /^ {2}52:54:00:00:00:02: \{ hostname: pc02 \}$/m);
  t.match((await f.get(`/api/clients/${PC02}`)).json(), { mac: PC02, stage: 'booted' });
  t.match(await hostRow(f, PC03), { image: 'debian', bootOnce: true }, 'pc03 untouched');
  t.match((await http(f, script(PC02))).body.toString(), /^:menu$/m, 'pc02 now follows the defaults (the menu)');
});

t.test('the booted path over TFTP works too, whichever protocol its script came by', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: FILES });
  // pc03: the path from its script over HTTP, reported over TFTP.
  const fromHttp = bootedPath((await http(f, script(PC03))).body.toString());
  const r = await tftp(f, fromHttp);
  t.ok(r.ok, `TFTP answers ${fromHttp}`);
  t.equal(r.ok && r.body.toString(), `booted ${PC03}\n`);
  await f.runtime.bootOnce.settled(PC03);
  t.match(await hostRow(f, PC03), { image: null, bootOnce: false });
  t.match((await f.get(`/api/clients/${PC03}`)).json(), { stage: 'booted' });
  // pc05: the path from its script over TFTP, reported over TFTP, then a wrong key.
  const got = await tftp(f, script(PC05));
  const fromTftp = bootedPath(got.ok ? got.body.toString() : '');
  const bad = await tftp(f, fromTftp.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0')));
  t.same(bad, { ok: false, exit: 68 }, 'a wrong key over TFTP: file not found');
  await f.runtime.bootOnce.settled(PC05);
  t.match(await hostRow(f, PC05), { image: 'debian', bootOnce: true }, 'nothing changed');
  t.ok((await tftp(f, fromTftp)).ok);
  await f.runtime.bootOnce.settled(PC05);
  t.match(await hostRow(f, PC05), { image: null, bootOnce: false });
  // pc04 (no boot-once): its TFTP script's path reported over HTTP (what {{bootedUrl}} in a TFTP-served cmdline names).
  const t04 = await tftp(f, script(PC04));
  const p04 = bootedPath(t04.ok ? t04.body.toString() : '');
  t.equal((await http(f, p04)).status, 200, 'the TFTP script\'s report path is accepted over HTTP');
  t.match(await hostRow(f, PC04), { image: 'debian', bootOnce: false }, 'a host without boot-once keeps its image');
});

t.test('generated pxelinux.cfg over both; a disk file wins; boot.ipxe over HTTP', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: FILES });
  const name = `pxelinux.cfg/01-${hyp(PC04)}`;
  const want = [
    '# bootlab: 52:54:00:00:00:04', 'DEFAULT debian', 'PROMPT 0', 'TIMEOUT 0',
    'LABEL debian', '  MENU LABEL debian', '  KERNEL /debian/linux',
    `  APPEND initrd=/debian/initrd.gz hostname=pc04 report=http://127.0.0.1:${httpPort(f)}/bootlab/booted/52-54-00-00-00-04/`,
  ].join('\n');
  const overHttp = await http(f, name);
  t.equal(overHttp.status, 200);
  t.ok(overHttp.body.toString().startsWith(want), overHttp.body.toString());
  const overTftp = await tftp(f, name);
  t.equal(overTftp.ok && overTftp.body.toString(), overHttp.body.toString(), 'the same over TFTP');
  t.equal((await http(f, 'pxelinux.cfg/01-52-54-00-00-00-99')).status, 404, 'a machine the map does not name: not found (pxelinux then asks for default)');
  t.same(await tftp(f, 'pxelinux.cfg/01-52-54-00-00-00-99'), { ok: false, exit: 68 });
  const dflt = await http(f, 'pxelinux.cfg/default');
  t.equal(dflt.body.toString(), 'DEFAULT from-disk\n', 'the disk\'s pxelinux.cfg/default wins over the generated one');
  const d2 = await tftp(f, 'pxelinux.cfg/default');
  t.equal(d2.ok && d2.body.toString(), 'DEFAULT from-disk\n');
  const grub = await http(f, 'grub/grub.cfg');
  t.equal(grub.status, 200, 'no grub/grub.cfg on disk: the generated menu');
  t.match(grub.body.toString(), /^# bootlab: default \(the menu\)\nset default=1\nset timeout=10\n/);
  const boot = await http(f, 'boot.ipxe');
  t.equal(boot.status, 200);
  t.equal(boot.body.toString(), BOOT_IPXE);
  t.match(boot.body.toString(), /^chain bootlab\/\$\{mac:hexhyp\}\.ipxe \|\| goto failed$/m);
  const bt = await tftp(f, 'boot.ipxe');
  t.equal(bt.ok && bt.body.toString(), BOOT_IPXE, 'boot.ipxe over TFTP too');
});

t.test('an HTTP download shows in /api/transfers while it runs; the 2 MiB kernel in the machine\'s row', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: FILES });
  t.equal((await http(f, script(PC04))).status, 200, 'the script tells bootlab who 127.0.0.1 is');
  const kernel = await http(f, 'debian/linux');
  t.equal(kernel.status, 200);
  t.ok(kernel.body.equals(KERNEL), 'the kernel, byte for byte');
  t.match((await f.get(`/api/clients/${PC04}`)).json(), { mac: PC04, ip: '127.0.0.1', stage: 'kernel', file: 'debian/linux', bytes: KERNEL_SIZE, total: KERNEL_SIZE, percent: 100 });
  const events = (await f.get(`/api/clients/${PC04}/events`)).json().events as Record<string, unknown>[];
  t.match(events.find((e) => e.kind === 'http.start' && e.file === 'debian/linux'), { size: KERNEL_SIZE, range: null, ip: '127.0.0.1' });
  t.match(events.find((e) => e.kind === 'http.done' && e.file === 'debian/linux'), { bytes: KERNEL_SIZE });
  t.match(await hostRow(f, PC04), { image: 'debian', bootOnce: false }, 'bootOnceEnds booted: a kernel download changes no host');

  // The 2 MiB kernel is in the socket buffers before curl reads it: a big file, read slowly, is watched in flight.
  const out = join(f.dir, 'big');
  const download = run('curl', ['-s', '--max-time', '60', '--limit-rate', '12M', '-o', out, '-w', '%{http_code}', `http://127.0.0.1:${httpPort(f)}/images/big.iso`]);
  let row: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && !row; i++) {
    row = ((await f.get('/api/transfers')).json().transfers as Record<string, unknown>[]).find((x) => x.protocol === 'http');
    if (!row) await sleep(10);
  }
  t.match(row, { id: /^http-\d+$/, protocol: 'http', direction: 'read', file: 'images/big.iso', ip: '127.0.0.1', mac: PC04, size: BIG_SIZE }, 'listed while it runs');
  let moving = false;
  for (let i = 0; i < 200 && !moving; i++) {
    const r = ((await f.get('/api/transfers')).json().transfers as { protocol: string; bytes: number }[]).find((x) => x.protocol === 'http');
    moving = !!r && r.bytes > 0 && r.bytes < BIG_SIZE;
    if (!moving) await sleep(25);
  }
  t.ok(moving, 'its bytes grow while it runs');
  t.match((await f.get(`/api/clients/${PC04}`)).json(), { file: 'images/big.iso', total: BIG_SIZE }, 'the machine\'s row follows it');
  t.equal((await download).stdout, '200');
  t.equal(readFileSync(out).length, BIG_SIZE);
  t.same(((await f.get('/api/transfers')).json().transfers as { protocol: string }[]).filter((x) => x.protocol === 'http'), [], 'off the list when done');
});

t.test('boot.bootOnceEnds: kernel: the booted report, the initrd and a range of the kernel do not end it; the whole kernel does', async (t) => {
  const f = await adminFixture(t, { tftp: [], http: [], hosts: HOSTS, files: FILES, extra: 'boot:\n  bootOnceEnds: kernel\n' });
  t.equal((await f.get('/api/hosts')).json().bootOnceEnds, 'kernel');
  const text = (await http(f, script(PC05))).body.toString();
  const ok = await http(f, bootedPath(text));
  t.equal(ok.status, 200, 'the report is accepted');
  await f.runtime.bootOnce.settled(PC05);
  t.match(await hostRow(f, PC05), { image: 'debian', bootOnce: true }, 'but does not end a kernel-ended boot-once');

  t.equal((await http(f, 'debian/initrd.gz')).status, 200);
  await f.runtime.bootOnce.settled(PC05);
  t.match(await hostRow(f, PC05), { image: 'debian', bootOnce: true }, 'the initrd is not the kernel');

  const part = await http(f, 'debian/linux', ['-r', '0-65535']);
  t.equal(part.status, 206);
  t.equal(part.body.length, 65536);
  await f.runtime.bootOnce.settled(PC05);
  t.match(await hostRow(f, PC05), { image: 'debian', bootOnce: true }, 'a range of part of the kernel is not the kernel sent');

  await http(f, script(PC05));
  const whole = await http(f, 'debian/linux');
  t.equal(whole.status, 200);
  t.ok(whole.body.equals(KERNEL));
  await f.runtime.bootOnce.settled(PC05);
  t.same(await hostRow(f, PC05), { mac: PC05, hostname: 'pc05', image: null, ip: null, bootOnce: false, labels: {} }, 'the whole kernel ends it');
  t.match(await hostRow(f, PC02), { image: 'debian', bootOnce: true }, 'other machines untouched');
});
