// `bootlab flash` and `bootlab get` against tftpd-hpa as the "device", in namespaces
// (docs test-lab.md): a "dev" namespace at 192.0.2.20 and a "pc" namespace at
// 192.0.2.10 on one bridge, the CLI run inside pc. Cases: a boot window that opens after
// three unanswered requests, a device that never answers (exit 3 within the wait), a
// refusal (exit 4 with the device's message), 16 MiB through a bridge dropping 5 % of
// packets (and a get back through it), --password, and `get`. tftpd-hpa is the Debian binary, or unpacked by
// scripts/bench-peers.sh (apt-get download + dpkg -x) when it is not installed.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetLab, type LabProcess } from '../../helpers/netlab.js';
import { REPO } from '../../helpers/paths.js';
import { needsFile, asRoot } from '../../helpers/needs.js';

const CLI = join(REPO, 'dist', 'services', 'cli.js');
const DEV = '192.0.2.20';

function tftpd(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v in.tftpd'], { encoding: 'utf8' }).trim();
  } catch {
    const out = execFileSync('sh', [join(REPO, 'scripts', 'bench-peers.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
    const line = out.split('\n').find((l) => l.startsWith('tftpd-hpa '));
    if (!line) throw new Error(`scripts/bench-peers.sh printed no tftpd-hpa: ${out}`);
    return line.trim().split(/\s+/)[2];
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

if (needsFile(asRoot('the flash interop test'))) {
  const bin = tftpd();
  const lab = new NetLab('fl');
  t.teardown(() => lab.destroy());
  lab.bridge();
  lab.attach('dev', { cidr: `${DEV}/24` });
  lab.attach('pc', { cidr: '192.0.2.10/24' });
  const root = t.testdir({});

  const startDevice = (dir: string, create: boolean): LabProcess =>
    lab.spawn('dev', bin, ['--foreground', '--listen', '--address', `${DEV}:69`, '--user', 'root', ...(create ? ['--create'] : []), '--secure', dir]);

  const cli = (args: string[]) => lab.spawn('pc', process.execPath, [CLI, ...args]);

  // The window opens once the command has asked three times (order, not time: a loaded
  // machine starts the command late, and the device must still be late for it).
  t.test('a boot window that opens after three unanswered requests: byte-exact, exit 0', async (tt) => {
    const dir = join(root, 'window');
    mkdirSync(dir);
    const fw = randomBytes(300_000 + 123);
    writeFileSync(join(root, 'fw.bin'), fw);
    const run = cli(['flash', '--target', DEV, '--file', join(root, 'fw.bin'), '--remote-name', 'code.bin', '--retry-every', '1s', '--wait', '120s']);
    for (let i = 0; i < 1200 && !/\(attempt 3\)/.test(run.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
    tt.match(run.stderr(), /waiting for 192\.0\.2\.20:69 \(attempt 3\)/, 'three requests went unanswered before the window opened');
    const dev = startDevice(dir, true);
    const { code } = await run.exited;
    await dev.stop();
    tt.equal(code, 0, 'exit 0', { stderr: run.stderr() });
    tt.match(run.stdout(), new RegExp(`Sent ${fw.length} bytes in [\\d.]+ seconds`));
    tt.equal(sha(readFileSync(join(dir, 'code.bin'))), sha(fw), 'byte-exact');
  });

  t.test('a target that never answers: exit 3 within --wait', async (tt) => {
    writeFileSync(join(root, 'small.bin'), randomBytes(1000));
    const run = cli(['flash', '--target', '192.0.2.99', '--file', join(root, 'small.bin'), '--retry-every', '500ms', '--wait', '3s']);
    const { code } = await run.exited;
    tt.equal(code, 3, 'exit 3', { stderr: run.stderr() });
    tt.match(run.stderr(), /no answer from 192\.0\.2\.99:69/);
    // --wait ended it, not a count: at most one request per --retry-every in 3 s (a loaded machine sends fewer).
    const sent = Number(/\((\d+) requests sent\)/.exec(run.stderr())?.[1]);
    tt.ok(sent >= 1 && sent <= 6, `${sent} requests sent`);
  });

  t.test('a device that refuses: exit 4 with its ERROR', async (tt) => {
    const dir = join(root, 'readonly');
    mkdirSync(dir);
    const dev = startDevice(dir, false);
    const run = cli(['flash', '--target', DEV, '--file', join(root, 'small.bin'), '--remote-name', 'nope.bin', '--wait', '10s']);
    const { code } = await run.exited;
    await dev.stop();
    tt.equal(code, 4, 'exit 4', { stderr: run.stderr() });
    tt.match(run.stderr(), /refused: ERROR \d+: \S+/, 'the device message is printed');
  });

  t.test('16 MiB through a bridge dropping 5 % of packets arrives intact', async (tt) => {
    const dir = join(root, 'lossy');
    mkdirSync(dir);
    const fw = randomBytes(16 * 1024 * 1024);
    writeFileSync(join(root, 'big.bin'), fw);
    lab.exec('lan', 'nft', ['-f', '-'], `table bridge loss {
  chain f {
    type filter hook forward priority 0; policy accept;
    meta protocol ip numgen random mod 1000 < 50 counter drop
  }
}
`);
    tt.teardown(() => { try { lab.exec('lan', 'nft', ['delete', 'table', 'bridge', 'loss']); } catch { /* lab gone */ } });
    const dev = startDevice(dir, true);
    const t0 = Date.now();
    const run = cli(['flash', '--target', DEV, '--file', join(root, 'big.bin'), '--remote-name', 'big.bin', '--blksize', '1468', '--wait', '10s']);
    const { code } = await run.exited;
    const dropped = lab.exec('lan', 'nft', ['list', 'table', 'bridge', 'loss']).match(/packets (\d+)/)?.[1];
    tt.equal(code, 0, 'exit 0', { stderr: run.stderr().slice(-2000) });
    tt.equal(sha(readFileSync(join(dir, 'big.bin'))), sha(fw), 'sha256 matches');
    tt.ok(Number(dropped) > 100, `${dropped} packets dropped in ${Date.now() - t0} ms`);
    // And back: get through the same loss. Small, because here the sender's timer rules:
    // tftpd-hpa never resends on a repeated ACK (the sorcerer's apprentice fix), so each
    // lost DATA costs its 1 s timeout (a 2 MiB get took 220 s). bootlab must just not give up.
    const cfg = fw.subarray(0, 128 * 1024 + 77);
    writeFileSync(join(dir, 'nvram.bin'), cfg);
    const out = join(root, 'nvram-back.bin');
    const back = cli(['get', '--target', DEV, '--file', 'nvram.bin', '-o', out, '--blksize', '1468', '--wait', '10s', '--retries', '20']);
    const r = await back.exited;
    await dev.stop();
    tt.equal(r.code, 0, 'get exit 0 under loss', { stderr: back.stderr().slice(-2000) });
    tt.equal(sha(readFileSync(out)), sha(cfg), 'get: sha256 matches');
  });

  t.test('--password: the boot loader gets it in the file-name field of the write request', async (tt) => {
    // tftpd-hpa (--create) stores an upload under the name the WRQ carried, so the file
    // it writes is named after the password: the field where boot loaders that ask for
    // one read it (services/tftp/client.ts).
    const dir = join(root, 'password');
    mkdirSync(dir);
    const dev = startDevice(dir, true);
    const run = cli(['flash', '--target', DEV, '--file', join(root, 'small.bin'), '--password', 'flash_update', '--wait', '10s']);
    const { code } = await run.exited;
    await dev.stop();
    tt.equal(code, 0, 'exit 0', { stderr: run.stderr() });
    tt.equal(sha(readFileSync(join(dir, 'flash_update'))), sha(readFileSync(join(root, 'small.bin'))), 'written under the password\'s name');
    tt.notOk(existsSync(join(dir, 'small.bin')), 'not under the file\'s own name');
  });

  t.test('bootlab get fetches a file byte-exact to -o OUT', async (tt) => {
    const dir = join(root, 'serve');
    mkdirSync(dir);
    const cfg = randomBytes(70_000 + 5);
    writeFileSync(join(dir, 'nvram.cfg'), cfg);
    const dev = startDevice(dir, false);
    const out = join(root, 'backup.cfg');
    const run = cli(['get', '--target', DEV, '--file', 'nvram.cfg', '-o', out, '--wait', '10s']);
    const { code } = await run.exited;
    tt.equal(code, 0, 'exit 0', { stderr: run.stderr() });
    tt.match(run.stdout(), new RegExp(`Received ${cfg.length} bytes`));
    tt.equal(sha(readFileSync(out)), sha(cfg), 'byte-exact');
    // With --blksize: options, an OACK with tsize, percent lines.
    const out2 = join(root, 'backup2.cfg');
    const run2 = cli(['get', '--target', DEV, '--file', 'nvram.cfg', '-o', out2, '--blksize', '1468', '--wait', '10s']);
    const r2 = await run2.exited;
    await dev.stop();
    tt.equal(r2.code, 0, 'exit 0 with --blksize', { stderr: run2.stderr() });
    tt.match(run2.stderr(), /100% \(70005 of 70005 bytes\)/, 'tsize from the OACK gives percentages');
    tt.equal(sha(readFileSync(out2)), sha(cfg), 'byte-exact with --blksize');
  });
}
