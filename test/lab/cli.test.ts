// The `bootlab` command as a user runs it: check-config, one-line config errors, the
// privileged-port message, serve answering a real client and stopping on SIGTERM,
// remap-test, and scripts/start.sh (the README's first command) with the shipped configuration.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, describe } from '../helpers/clients.js';
import { spawnBootlab } from '../helpers/bootlab.js';
import { REPO } from '../helpers/paths.js';
import { needs, needsFile, asRoot, tools } from '../helpers/needs.js';

needsFile(tools('curl'));
const project = REPO;
const cli = join(project, 'dist/services/cli.js');
const started: ChildProcess[] = [];
t.teardown(() => {
  for (const c of started) if (c.exitCode === null && c.pid) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
});

function bootlab(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a long-running command in its own process group; resolves when `ready` shows on stdout. */
function startUntil(
  cmd: string,
  args: string[],
  ready: RegExp,
  opts: { cwd?: string } = {},
): Promise<{ child: ChildProcess; out: () => string; stdout: () => string }> {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? project, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 60 s: ${out}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, out: () => out, stdout: () => stdout });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready: ${out}`));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

t.test('check-config: the shipped file is valid and summarised', async (t) => {
  const r = bootlab(['check-config', '--config', join(project, 'config/appliance.yaml')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /appliance\.yaml: OK/);
  t.match(r.stdout, /tftp: 0\.0\.0\.0:69, root .*tftpboot, writes off/);
});

t.test('check-config warns about files under bootlab/ the generated names shadow, and images that chain back to the machine', async (t) => {
  const dir = t.testdir({
    root: { bootlab: { 'boot.ipxe': 'mine', '52-54-00-00-00-01.ipxe': 'old', 'notes.txt': 'fine' } },
    'hosts.yaml': [
      'images:',
      '  dispatch: { script: boot.ipxe }',
      '  own: { script: bootlab/52-54-00-00-00-09.ipxe }',
      '  url: { chain: "http://192.0.2.1/bootlab/{{machyp}}.ipxe" }',
      '  fine: { script: lab/menu.ipxe }',
      'hosts:',
      '  52:54:00:00:00:01: { hostname: pc01 }',
      '  52:54:00:00:00:02: { hostname: PC01 }',
      '',
    ].join('\n'),
    'a.yaml': 'tftp:\n  root: ./root\nhosts: ./hosts.yaml\ndhcp:\n  mode: off\n',
  });
  const r = bootlab(['check-config', '--config', join(dir, 'a.yaml')]);
  t.equal(r.code, 0, r.stderr);
  const warnings = r.stdout.split('\n').filter((l) => l.startsWith('  warning: '));
  t.equal(warnings.length, 6, r.stdout);
  t.match(r.stdout, /warning: .*hosts\.yaml:\d+ hosts\.52:54:00:00:00:02\.hostname: "PC01" is also the hostname of 52:54:00:00:00:01/, 'the host map\'s own warnings too');
  t.match(r.stdout, /warning: .*root\/bootlab\/boot\.ipxe is never served: bootlab\/boot\.ipxe is one of bootlab's generated names/);
  t.match(r.stdout, /warning: .*root\/bootlab\/52-54-00-00-00-01\.ipxe is never served/);
  t.match(r.stdout, /warning: image dispatch: script boot\.ipxe is bootlab's own dispatcher \(there is no boot\.ipxe on disk\), which chains the machine's own script again: a loop/);
  t.match(r.stdout, /warning: image own: script bootlab\/52-54-00-00-00-09\.ipxe is bootlab's own dispatcher/);
  t.match(r.stdout, /warning: image url: chain bootlab\/\{\{machyp\}\}\.ipxe is bootlab's own dispatcher/);
  t.notMatch(r.stdout, /notes\.txt|image fine/, 'other files and images: no word');
  writeFileSync(join(dir, 'root', 'boot.ipxe'), '#!ipxe\n');
  t.notMatch(bootlab(['check-config', '--config', join(dir, 'a.yaml')]).stdout, /image dispatch/, 'with a boot.ipxe on disk the image runs that one: no loop');
});

t.test('bootlab token prints the token serve uses: from the config, the environment, or the state folder', async (t) => {
  const dir = t.testdir({
    'a.yaml': 'stateDir: ./state\n',
    'b.yaml': 'admin:\n  token: from-the-config-0123456789\n',
    'c.yaml': 'stateDir: ./not-a-folder\n',
    'not-a-folder': 'a file',
  });
  const token = (file: string, env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [cli, 'token', '--config', join(dir, file)], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, ...env } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const first = token('a.yaml');
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^[A-Za-z0-9_-]{32}\n$/, 'stdout: the token alone');
  t.match(first.stderr, /from .*state\/admin-token \(generated now/);
  t.equal(readFileSync(join(dir, 'state', 'admin-token'), 'utf8'), first.stdout, 'kept in the state folder');
  t.equal(statSync(join(dir, 'state', 'admin-token')).mode & 0o777, 0o600, 'readable by its owner only');
  const again = token('a.yaml');
  t.equal(again.stdout, first.stdout, 'the same token the next time (as serve reads it after a restart)');
  t.match(again.stderr, /from .*state\/admin-token:/);
  t.same(token('b.yaml'), { code: 0, stdout: 'from-the-config-0123456789\n', stderr: `bootlab: the admin token, from admin.token in ${join(dir, 'b.yaml')}:\n` });
  const env = token('a.yaml', { BOOTLAB_ADMIN_TOKEN: 'from-the-environment-0123' });
  t.equal(env.stdout, 'from-the-environment-0123\n');
  t.match(env.stderr, /from BOOTLAB_ADMIN_TOKEN/);
  const broken = token('c.yaml');
  t.equal(broken.code, 1);
  t.equal(broken.stdout, '');
  t.match(broken.stderr, /not-a-folder\/admin-token: cannot read the admin token: ENOTDIR/);
});

t.test('a bad config stops with one line naming file, line and key; exit 2', async (t) => {
  const dir = t.testdir({ 'a.yaml': '# comment\ntftp:\n  root: .\n  port: 70000\n' });
  const file = join(dir, 'a.yaml');
  for (const cmd of ['check-config', 'serve']) {
    const r = bootlab([cmd, '--config', file]);
    t.equal(r.code, 2, `${cmd} exits 2`);
    t.equal(r.stderr, `${file}:4 tftp.port: must be an integer 0-65535\n`, `${cmd}: exactly one line`);
  }
  const missing = bootlab(['check-config', '--config', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.yaml: cannot read the config file: ENOENT/);
  const noRoot = join(dir, 'b.yaml');
  writeFileSync(noRoot, 'tftp:\n  root: ./missing\n');
  const r = bootlab(['serve', '--config', noRoot]);
  t.equal(r.code, 2);
  t.match(r.stderr, /tftp\.root: the folder .*missing does not exist/);
});

t.test('port 69 without privilege: one line that says what to do', async (t) => {
  if (!needs(t, asRoot('dropping to nobody'))) return;
  const dir = t.testdir({ root: {}, 'c.yaml': 'tftp:\n  address: 127.0.0.1\n  port: 69\n  root: ./root\nhttp:\n  enabled: false\n' });
  chmodSync(dir, 0o755);
  // `env -i`: tap's coverage hook rides on NODE_OPTIONS (added to every spawn) and
  // cannot write its report as nobody.
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
    process.execPath, cli, 'serve', '--config', join(dir, 'c.yaml')], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 1, `exit 1 (${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, 'one line, no stack trace', { stderr: r.stderr });
  t.match(lines[0], /cannot bind 127\.0\.0\.1:69 \(tftp\.port\): port 69 is privileged; run as root, grant CAP_NET_BIND_SERVICE .* or set tftp\.port to a port of 1024 or more/);
});

t.test('serve answers a real client, logs JSON lines, stops cleanly on SIGTERM', async (t) => {
  const dir = t.testdir({ boot: { 'hello.txt': 'hello from bootlab\n' } });
  const b = await spawnBootlab({
    home: dir, t,
    config: {
      log: { level: 'info' },
      tftp: { address: '127.0.0.1', port: 0, root: './boot' },
      http: { address: '127.0.0.1', port: 0 },
      admin: { address: '127.0.0.1', port: 0 },
    },
  });
  const port = Number(b.logs().find((l) => l.msg === 'tftp listening')?.port);
  const local = join(dir, 'got.txt');
  const r = await curl('get', { port, remote: 'hello.txt', local });
  t.ok(r.ok, describe(r));
  t.equal(readFileSync(local, 'utf8'), 'hello from bootlab\n');
  process.kill(b.proc.pid, 'SIGTERM');
  t.equal((await b.proc.exited).code, 0, 'exit 0 on SIGTERM');
  const lines = b.proc.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(lines.some((l) => l.msg === 'tftp read done' && l.file === 'hello.txt' && l.service === 'tftp' && typeof l.transfer === 'number'),
    'a per-transfer child logger line at the end of the transfer');
  t.ok(lines.some((l) => l.msg === 'tftp stopped'), 'the service says it stopped');
  // No admin.token: one was generated, stored for its owner only, and shown once on stderr.
  const token = readFileSync(join(dir, 'state', 'admin-token'), 'utf8').trim();
  t.equal(statSync(join(dir, 'state', 'admin-token')).mode & 0o777, 0o600);
  const shown = `${b.proc.stdout()}${b.proc.stderr()}`.split('\n').filter((l) => l.includes(token));
  t.same(shown, [`  ${token}`], 'the token appears once in the output, and in no log line');
  t.equal(b.ready.msg, 'bootlab running', 'the ready line');
  t.match(b.ready.admin, /^http:\/\/127\.0\.0\.1:\d+$/, 'the admin URL is logged');
});

t.test('remap-test prints what each name on stdin maps to', async (t) => {
  const dir = t.testdir({
    'r.yaml': [
      'tftp:', '  root: .', '  remap:',
      "    - match: '^pxelinux\\.cfg/default$'", "      replace: 'pxelinux.cfg/\\x'",
      "    - match: '\\.exe$'", '      action: refuse', '',
    ].join('\n'),
  });
  const r = bootlab(['remap-test', '--config', join(dir, 'r.yaml'), '--ip', '192.0.2.10'], 'pxelinux.cfg/default\nsetup.exe\n..\\..\\etc\\passwd\nipxe.efi\n');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, [
    'pxelinux.cfg/default -> pxelinux.cfg/C000020A (tftp.remap.0)',
    'setup.exe -> refused (tftp.remap.1)',
    '..\\..\\etc\\passwd -> refused: path escapes the root ("..")',
    'ipxe.efi -> ipxe.efi',
    '',
  ].join('\n'));
});

t.test('scripts/as-root: runs as is for root, says what to do for a user without sudo', async (t) => {
  if (!needs(t, asRoot('dropping to nobody'))) return;
  const asRootScript = join(project, 'scripts/as-root');
  const root = spawnSync(asRootScript, ['id', '-u'], { encoding: 'utf8' });
  t.equal(root.stdout, '0\n', 'root: the command itself, no sudo');
  // A user on a machine without sudo: a PATH that holds only id.
  const bin = t.testdir({ id: t.fixture('symlink', '/usr/bin/id') });
  chmodSync(bin, 0o755);
  const user = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '/usr/bin/env', `PATH=${bin}`, '/bin/sh', asRootScript, 'id', '-u'], { encoding: 'utf8' });
  t.equal(user.status, 1);
  t.equal(user.stdout, '');
  t.equal(user.stderr, "bootlab: 'id -u' needs root, and sudo is not installed: run this again as root (su -)\n");
});

// The README's first command, literally: it finds every Debian package installed (CI installed
// them), node_modules current and the boot binaries in place, builds if needed and serves.
t.test('scripts/start.sh (the README\'s first command) serves the shipped config on port 69', async (t) => {
  if (!needs(t, asRoot('port 69'))) return;
  const { child, out } = await startUntil(join(project, 'scripts/start.sh'), [], /"msg":"bootlab running"/);
  t.notMatch(out(), /installing from Debian|npm ci/, 'nothing to install on a machine that has it all');
  const local = join(t.testdir(), 'readme');
  const r = await curl('get', { port: 69, remote: 'README.md', local });
  t.ok(r.ok, describe(r));
  t.equal(readFileSync(local, 'utf8'), readFileSync(join(project, 'tftpboot/README.md'), 'utf8'), 'tftpboot/README.md served');
  const health = await fetch('http://127.0.0.1:8080/healthz');
  t.same(await health.json(), { status: 'ok' }, 'the admin server answers on port 8080');
  const page = await fetch('http://127.0.0.1:8080/');
  t.equal(page.status, 200, 'the dashboard is served at /');
  t.match(await page.text(), /bootlab/i);
  process.kill(-child.pid!, 'SIGTERM');
  await exited(child);
});
