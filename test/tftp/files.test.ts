// The file layer against a real folder: names map inside tftp.root, escapes are refused,
// generated content comes first, uploads only go to the writable folders.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { RemapRule } from '../../services/core/config.js';
import { FileLayer, isRefusal, normalizeName, type FileLayerOptions, type FileRefusal, type ReadTarget } from '../../services/core/files.js';
import { Remapper } from '../../services/core/remap.js';
import { tftpErrorFor } from '../../services/tftp/packet.js';

const client = { address: '192.0.2.10', port: 2000 };

function tree(tt: { testdir: typeof t.testdir; fixture: typeof t.fixture }): { root: string; outside: string } {
  const dir = tt.testdir({
    root: {
      'pxelinux.0': 'PXE',
      'menu.ipxe': 'disk menu',
      boot: { x86: { 'file.efi': 'EFI' } },
      'PXELinux.CFG': { Default: 'menu' },
      EFI: { BOOT: { 'BOOTX64.EFI': 'x64' } },
      dir: {},
      uploads: { 'existing.log': 'old', sub: {}, ln: tt.fixture('symlink', '../pxelinux.0') },
      'link-in': tt.fixture('symlink', 'boot/x86/file.efi'),
      'link-out': tt.fixture('symlink', '../outside/secret'),
      'Link-Out-Case': tt.fixture('symlink', '../outside/secret'),
      'dir-out': tt.fixture('symlink', '../outside'),
      dangling: tt.fixture('symlink', 'nowhere'),
      Dangle: tt.fixture('symlink', 'nowhere'),
    },
    outside: { secret: 'SECRET' },
  });
  return { root: join(dir, 'root'), outside: join(dir, 'outside') };
}

function rule(r: Partial<RemapRule> & { match: string }): RemapRule {
  return { replace: '', flags: '', action: 'rewrite', stop: false, requests: 'both', ...r };
}

function layer(root: string, over: Partial<FileLayerOptions> = {}): FileLayer {
  return new FileLayer({ root, maxFilenameLength: 255, caseInsensitive: false, remapper: new Remapper([]), writeDirs: ['uploads'], ...over });
}

type Read = { kind: 'file' | 'memory'; name: string; content: string; path?: string; size?: number } | FileRefusal;

/** openRead, with the content read and the handle closed. */
async function read(fl: FileLayer, name: string): Promise<Read> {
  const r: ReadTarget | FileRefusal = await fl.openRead(name, client);
  if (isRefusal(r)) return r;
  if (r.kind === 'memory') return { kind: 'memory', name: r.name, content: r.data.toString() };
  try {
    return { kind: 'file', name: r.name, content: (await r.handle.readFile()).toString(), path: r.path, size: r.size };
  } finally {
    await r.handle.close();
  }
}

/** A refusal as the TFTP edge answers it (tftpErrorFor): 1 not found, 2 access violation. */
const code = (r: Read | FileRefusal | { code?: number }) => (isRefusal(r) ? tftpErrorFor(r) : null);

t.test('normalizeName', async (t) => {
  const cases: [string, string[] | number][] = [
    ['pxelinux.0', ['pxelinux.0']],
    ['/pxelinux.0', ['pxelinux.0']],
    ['//a///b/', ['a', 'b']],
    ['./a/./b', ['a', 'b']],
    ['\\boot\\x86\\f', ['boot', 'x86', 'f']],
    ['a\\b/c', ['a', 'b', 'c']],
    ['..', 2],
    ['../x', 2],
    ['a/../b', 2],
    ['a\\..\\b', 2],
    ['a/..', 2],
    ['a\0b', 2],
    ['', 1],
    ['/', 1],
    ['./.', 1],
    ['...', ['...']], // not a parent reference
    ['..a', ['..a']],
  ];
  for (const [input, want] of cases) {
    const r = normalizeName(input, 255);
    if (typeof want === 'number') t.equal(isRefusal(r) ? tftpErrorFor(r) : 'accepted', want, JSON.stringify(input));
    else t.same(r, want, JSON.stringify(input));
  }
  const long = normalizeName('a'.repeat(17), 16);
  t.ok(isRefusal(long) && long.refused === 'forbidden' && long.message === 'file name too long', '17 characters over 16: refused');
  t.same([normalizeName('../x', 255), normalizeName('', 255)].map((r) => isRefusal(r) && r.refused), ['forbidden', 'not-found'],
    'refusals speak no protocol: forbidden and not-found, which TFTP and HTTP each map at their edge');
  t.same(normalizeName('a'.repeat(16), 16), ['a'.repeat(16)], '16 characters: accepted');
});

t.test('reads inside the root', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  const realRoot = realpathSync(root);
  const cases: [string, string, string][] = [
    ['pxelinux.0', 'pxelinux.0', 'PXE'],
    ['/pxelinux.0', 'pxelinux.0', 'PXE'],
    ['//pxelinux.0', 'pxelinux.0', 'PXE'],
    ['./pxelinux.0', 'pxelinux.0', 'PXE'],
    ['boot/x86/file.efi', 'boot/x86/file.efi', 'EFI'],
    ['boot\\x86\\file.efi', 'boot/x86/file.efi', 'EFI'],
    ['\\boot\\x86\\file.efi', 'boot/x86/file.efi', 'EFI'],
    ['/boot/x86\\file.efi', 'boot/x86/file.efi', 'EFI'],
  ];
  for (const [input, name, content] of cases) {
    const r = await read(fl, input);
    t.same(r, { kind: 'file', name, content, path: join(realRoot, name), size: content.length }, input);
  }
});

t.test('refusals', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  const cases: [string, number][] = [
    ['../outside/secret', 2],
    ['boot/../../outside/secret', 2],
    ['..\\outside\\secret', 2],
    ['/../outside/secret', 2],
    ['boot/../pxelinux.0', 2], // any "..", even one that stays inside
    ['..', 2],
    ['pxe\0linux.0', 2],
    ['nope', 1],
    ['boot/nope', 1],
    ['pxelinux.0/x', 1], // ENOTDIR
    ['/', 1],
    ['dir', 1], // a directory is not a file
    ['boot', 1],
    ['dangling', 1], // a symlink to nothing
  ];
  for (const [input, want] of cases) {
    let r: Read | undefined;
    try {
      r = await read(fl, input);
    } catch (e) {
      t.fail(`${JSON.stringify(input)}: openRead threw ${(e as Error).message}`);
      continue;
    }
    t.equal(code(r), want, `${JSON.stringify(input)} → error ${want}`);
    if (isRefusal(r)) {
      t.type(r.message, 'string');
      t.type(r.reason, 'string');
    }
  }
});

t.test('symlinks: inside the root allowed, out of the root refused', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  const inside = await read(fl, 'link-in');
  t.match(inside, { kind: 'file', name: 'link-in', content: 'EFI' }, 'a symlink to a file inside the root is served');
  t.equal((inside as { path: string }).path, join(realpathSync(root), 'boot/x86/file.efi'), 'from its real path');
  const out = await read(fl, 'link-out');
  t.equal(code(out), 2, 'a symlink to a file outside: error 2');
  t.match((out as FileRefusal).reason, /symlink leaves the root/);
  t.equal(code(await read(fl, 'dir-out/secret')), 2, 'a file under a symlinked folder outside: error 2');
});

t.test('a FIFO under the root is refused at once, not waited on (an open() of a FIFO blocks until a writer comes)', async (t) => {
  const { root } = tree(t);
  execFileSync('mkfifo', [join(root, 'pipe')]);
  const fl = layer(root);
  const r = await Promise.race([read(fl, 'pipe'), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 2000).unref())]);
  t.not(r, 'hung', 'openRead answered');
  t.equal(code(r as Read), 1, 'file not found');
  t.match((r as FileRefusal).reason, /pipe is not a regular file/);
});

t.test('a root that is itself a symlink works', async (t) => {
  const dir = t.testdir({ real: { 'a.bin': 'A' }, alias: t.fixture('symlink', 'real') });
  const fl = layer(join(dir, 'alias'));
  t.match(await read(fl, 'a.bin'), { kind: 'file', content: 'A' });
});

t.test('caseInsensitive', async (t) => {
  const { root } = tree(t);
  const exact = layer(root);
  const folding = layer(root, { caseInsensitive: true });
  t.equal(code(await read(exact, 'pxelinux.cfg/default')), 1, 'off: a name in another case is not found');
  t.match(await read(folding, 'pxelinux.cfg/default'), { kind: 'file', content: 'menu', name: 'pxelinux.cfg/default' }, 'on: found');
  t.match(await read(folding, 'efi\\boot\\bootx64.efi'), { kind: 'file', content: 'x64' }, 'on: every component folded');
  t.match(await read(folding, 'PXELinux.CFG/Default'), { kind: 'file', content: 'menu' }, 'exact case still works');
  t.equal(code(await read(folding, 'pxelinux.cfg/nope')), 1, 'on: a missing name is still not found');
  t.equal(code(await read(folding, 'link-out-case')), 2, 'folding does not bypass the symlink check');
  t.equal(code(await read(folding, '../outside/secret')), 2);
});

t.test('caseInsensitive: a dangling symlink is "not found", not an exception', async (t) => {
  const { root } = tree(t);
  const folding = layer(root, { caseInsensitive: true });
  for (const name of ['Dangle', 'dangle', 'dangling']) {
    let r: Read | string;
    try {
      r = await read(folding, name);
    } catch (e) {
      r = `threw ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    t.equal(typeof r === 'string' ? r : code(r), 1, `${name}: error 1`);
  }
});

t.test('maxFilenameLength', async (t) => {
  const dir = t.testdir({ ['a'.repeat(16)]: '16', ['b'.repeat(17)]: '17' });
  const fl = layer(dir, { maxFilenameLength: 16 });
  t.match(await read(fl, 'a'.repeat(16)), { kind: 'file', content: '16' }, 'a name of exactly the limit is served');
  const r = await read(fl, 'b'.repeat(17));
  t.equal(code(r), 2, 'over the limit: error 2, even though the file exists');
  t.equal((r as FileRefusal).message, 'file name too long');
  t.equal(code(await read(fl, '/' + 'a'.repeat(16))), 2, 'the limit counts the raw name');
  const w = await fl.resolveWrite('uploads/' + 'c'.repeat(9), client);
  t.equal(code(w as FileRefusal), 2, 'writes too');
  const remapped = layer(dir, { maxFilenameLength: 16, remapper: new Remapper([rule({ match: '^x$', replace: 'y'.repeat(40) })]) });
  t.equal(code(await read(remapped, 'x')), 2, 'a name made long by a remap rule is refused too');
});

t.test('content providers are served before the disk', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  const asked: string[] = [];
  const remove = fl.addProvider((name, c) => {
    asked.push(name);
    return name === 'menu.ipxe' ? `#!ipxe for ${c.address}` : null;
  });
  t.same(await read(fl, '/menu.ipxe'), { kind: 'memory', name: 'menu.ipxe', content: '#!ipxe for 192.0.2.10' }, 'the provider wins over the disk file');
  t.match(await read(fl, '\\menu.ipxe'), { kind: 'memory' }, 'the provider sees the normalised name');
  t.match(await read(fl, 'pxelinux.0'), { kind: 'file', content: 'PXE' }, 'null: the disk answers');
  t.same(asked, ['menu.ipxe', 'menu.ipxe', 'pxelinux.0']);
  t.equal(code(await read(fl, '../menu.ipxe')), 2, 'refused names never reach a provider');
  t.equal(asked.length, 3);

  fl.addProvider(async (name) => (name === 'gen/only.cfg' ? Buffer.from('generated') : null));
  t.same(await read(fl, 'gen/only.cfg'), { kind: 'memory', name: 'gen/only.cfg', content: 'generated' }, 'an async provider with a Buffer, for a name not on disk');
  fl.addProvider(() => 'second');
  t.match(await read(fl, 'menu.ipxe'), { content: '#!ipxe for 192.0.2.10' }, 'the first provider that answers wins');
  remove();
  t.match(await read(fl, 'menu.ipxe'), { kind: 'memory', content: 'second' }, 'a removed provider is not asked');
  t.same(await read(fl, 'nothing-at-all'), { kind: 'memory', name: 'nothing-at-all', content: 'second' });
  t.same(await read(layer(root), 'menu.ipxe'), { kind: 'file', name: 'menu.ipxe', content: 'disk menu', path: join(realpathSync(root), 'menu.ipxe'), size: 9 }, 'without providers: the disk');
  remove(); // twice is harmless
});

t.test('remap rules apply before the file layer', async (t) => {
  const { root } = tree(t);
  const fl = layer(root, {
    remapper: new Remapper([
      rule({ match: '^secret', action: 'refuse' }),
      rule({ match: '^old/(.*)$', replace: 'boot/x86/\\1' }),
      rule({ match: '^escape$', replace: '../outside/secret' }),
      rule({ match: '^w/(.*)$', replace: 'uploads/\\1', requests: 'put' }),
    ]),
  });
  t.match(await read(fl, 'old/file.efi'), { kind: 'file', content: 'EFI', name: 'boot/x86/file.efi' });
  t.match(await read(fl, 'old\\file.efi'), { kind: 'file', content: 'EFI' }, 'backslashes are turned into slashes before the rules');
  const refused = await read(fl, 'secret.txt');
  t.equal(code(refused), 2);
  t.match((refused as FileRefusal).reason, /rule 0/);
  t.equal(code(await read(fl, 'escape')), 2, 'a rule cannot lead out of the root');
  t.equal(code(await read(fl, 'w/x')), 1, 'a put rule does not apply to reads');
  t.match(await fl.resolveWrite('w/x.log', client), { name: 'uploads/x.log', exists: false }, 'it applies to writes');
});

t.test('resolveWrite: only under tftp.write.dirs', async (t) => {
  const { root } = tree(t);
  const realRoot = realpathSync(root);
  const fl = layer(root);
  t.same(await fl.resolveWrite('uploads/new.bin', client), { name: 'uploads/new.bin', path: join(realRoot, 'uploads', 'new.bin'), exists: false });
  t.same(await fl.resolveWrite('/uploads/new.bin', client), { name: 'uploads/new.bin', path: join(realRoot, 'uploads', 'new.bin'), exists: false });
  t.same(await fl.resolveWrite('\\uploads\\new.bin', client), { name: 'uploads/new.bin', path: join(realRoot, 'uploads', 'new.bin'), exists: false });
  t.same(await fl.resolveWrite('uploads/existing.log', client), { name: 'uploads/existing.log', path: join(realRoot, 'uploads', 'existing.log'), exists: true });
  const refused: [string, number][] = [
    ['new.bin', 2], // the root itself is not writable
    ['uploads', 2], // the folder itself
    ['uploadsX/new.bin', 2],
    ['boot/uploads/new.bin', 2],
    ['uploads/../new.bin', 2],
    ['../uploads/new.bin', 2],
    ['uploads/sub', 2], // an existing folder
    ['uploads/ln', 2], // an existing symlink
    ['uploads/nodir/new.bin', 1], // the parent does not exist
  ];
  for (const [input, want] of refused) t.equal(code((await fl.resolveWrite(input, client)) as FileRefusal), want, `${input} → error ${want}`);
  t.match(await fl.resolveWrite('uploads/sub/deeper.bin', client), { name: 'uploads/sub/deeper.bin', exists: false }, 'a subfolder of a write dir is writable');
});

t.test('resolveWrite: write dir forms and escapes', async (t) => {
  const { root } = tree(t);
  const realRoot = realpathSync(root);
  t.match(await layer(root, { writeDirs: ['/uploads/'] }).resolveWrite('uploads/a', client), { exists: false }, 'a write dir with slashes around it');
  t.match(await layer(root, { writeDirs: ['.\\uploads'] }).resolveWrite('uploads/a', client), { exists: false }, 'a write dir with ./ and a backslash');
  const nested = layer(root, { writeDirs: ['uploads/sub'] });
  t.equal(code((await nested.resolveWrite('uploads/a', client)) as FileRefusal), 2, 'only the nested folder');
  t.same(await nested.resolveWrite('uploads/sub/a', client), { name: 'uploads/sub/a', path: join(realRoot, 'uploads', 'sub', 'a'), exists: false });
  t.equal(code((await layer(root, { writeDirs: [] }).resolveWrite('uploads/a', client)) as FileRefusal), 2, 'no write dirs: nothing writable');
  const named = await layer(root, { writeDirs: ['incoming'] }).resolveWrite('incoming', client);
  t.equal(code(named as FileRefusal), 2, 'a file named like a (missing) write dir, in the root: refused');
  t.match((named as FileRefusal).reason, /write outside tftp\.write\.dirs/);
  const out = await layer(root, { writeDirs: ['dir-out'] }).resolveWrite('dir-out/a', client);
  t.equal(code(out as FileRefusal), 2, 'a write dir that is a symlink out of the root: refused');
  t.match((out as FileRefusal).reason, /leaves the root/);
});

t.test('fallback providers answer only for names the disk lacks; normal providers still come first', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  const asked: string[] = [];
  const removeFallback = fl.addProvider((name, c) => {
    asked.push(name);
    return name.startsWith('pxelinux.cfg/') || name === 'pxelinux.0' || name === 'menu.ipxe' || name === 'gen.cfg' ? `generated ${name} for ${c.address}` : null;
  }, { fallback: true });
  t.same(await read(fl, '/pxelinux.cfg/default'), { kind: 'memory', name: 'pxelinux.cfg/default', content: 'generated pxelinux.cfg/default for 192.0.2.10' },
    'not on disk (only PXELinux.CFG/Default, another case): the fallback answers');
  t.same(await read(fl, 'gen.cfg'), { kind: 'memory', name: 'gen.cfg', content: 'generated gen.cfg for 192.0.2.10' });
  t.same(asked, ['pxelinux.cfg/default', 'gen.cfg']);
  t.same(await read(fl, 'pxelinux.0'), { kind: 'file', name: 'pxelinux.0', content: 'PXE', path: join(realpathSync(root), 'pxelinux.0'), size: 3 }, 'a file on disk wins');
  t.same(asked, ['pxelinux.cfg/default', 'gen.cfg'], 'and the fallback is not even asked');
  t.equal(code(await read(fl, 'nothing-here')), 1, 'a fallback answering null: not found');
  t.equal(code(await read(fl, '../pxelinux.cfg/default')), 2, 'refused names never reach a fallback');
  t.equal(asked.at(-1), 'nothing-here');

  fl.addProvider((name) => (name === 'menu.ipxe' || name === 'gen.cfg' ? `first ${name}` : null));
  t.same(await read(fl, 'menu.ipxe'), { kind: 'memory', name: 'menu.ipxe', content: 'first menu.ipxe' }, 'a normal provider still wins over the disk');
  t.same(await read(fl, 'gen.cfg'), { kind: 'memory', name: 'gen.cfg', content: 'first gen.cfg' }, 'and over a fallback');

  fl.addProvider(() => 'second fallback', { fallback: true });
  t.match(await read(fl, 'pxelinux.cfg/01-52-54-00-00-00-01'), { content: 'generated pxelinux.cfg/01-52-54-00-00-00-01 for 192.0.2.10' }, 'the first fallback that answers wins');
  removeFallback();
  t.match(await read(fl, 'pxelinux.cfg/default'), { kind: 'memory', content: 'second fallback' }, 'a removed fallback is not asked');
  t.match(await read(fl, 'pxelinux.0'), { kind: 'file', content: 'PXE' }, 'the disk still wins over the other');
});

t.test('fallback providers with caseInsensitive: a disk file in another case wins', async (t) => {
  const { root } = tree(t);
  const folding = layer(root, { caseInsensitive: true });
  folding.addProvider(() => 'generated', { fallback: true });
  t.match(await read(folding, 'pxelinux.cfg/default'), { kind: 'file', content: 'menu' }, 'PXELinux.CFG/Default on disk is this name');
  t.match(await read(folding, 'pxelinux.cfg/01-52-54-00-00-00-01'), { kind: 'memory', content: 'generated' }, 'a name no case of which is on disk: the fallback');
  t.match(await read(folding, 'PXELINUX.0'), { kind: 'file', content: 'PXE' });
});

t.test('fallback providers are asked below a folder the disk lacks', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  fl.addProvider(async (name) => (name.startsWith('grub/') ? Buffer.from(`gen ${name}`) : null), { fallback: true });
  t.match(await read(fl, 'grub/grub.cfg'), { kind: 'memory', content: 'gen grub/grub.cfg' }, 'ENOENT: no grub folder on disk');
});

// Issue 15 A2: a loader chained from a generated name (iPXE got http://srv/bootlab/<mac>.ipxe)
// takes that name's folder as its path prefix: pxelinux asks for bootlab/ldlinux.c32,
// bootlab/pxelinux.cfg/01-<mac>, GRUB for bootlab/grub/grub.cfg. They resolve from the root.
t.test('a prefix alias: names under a generated folder resolve from the root when nothing owns them there', async (t) => {
  const { root } = tree(t);
  const fl = layer(root);
  fl.addPrefixAlias('bootlab');
  fl.addProvider((name) => (name === 'bootlab/own.ipxe' ? 'generated own' : null));
  fl.addProvider((name) => (name.startsWith('pxelinux.cfg/01-') ? `generated ${name}` : null), { fallback: true });
  t.match(await read(fl, 'bootlab/pxelinux.0'), { kind: 'file', name: 'pxelinux.0', content: 'PXE' }, 'bootlab/pxelinux.0 is the root\'s pxelinux.0');
  t.match(await read(fl, '/bootlab/boot/x86/file.efi'), { kind: 'file', content: 'EFI' }, 'deeper paths too');
  t.match(await read(fl, 'bootlab/pxelinux.cfg/01-52-54-00-00-00-01'), { kind: 'memory', content: 'generated pxelinux.cfg/01-52-54-00-00-00-01' },
    'a fallback provider answers for the name without the prefix');
  t.match(await read(fl, 'bootlab/own.ipxe'), { kind: 'memory', content: 'generated own' }, 'a generated name under the folder is still itself');
  t.equal(code(await read(fl, 'bootlab/nothing')), 1, 'not found under either name');
  t.equal(code(await read(fl, 'bootlab/../../outside/secret')), 2, 'an escape is refused before any alias');
  t.equal(code(await read(fl, 'bootlab/link-out')), 2, 'the alias goes through the same symlink check');
  t.equal(code(await read(fl, 'bootlab')), 1, 'the folder itself is not a file');
  t.equal(code(await read(fl, 'bootlab/bootlab/pxelinux.0')), 1, 'one prefix is taken off, not every one');
  t.equal(code(await read(fl, 'other/pxelinux.0')), 1, 'other folders are not aliases');
});

t.test('a prefix alias: a real file under the folder on disk wins over the root\'s', async (t) => {
  const dir = t.testdir({ root: { 'ldlinux.c32': 'root copy', bootlab: { 'ldlinux.c32': 'disk copy under bootlab' } } });
  const fl = layer(join(dir, 'root'));
  fl.addPrefixAlias('bootlab');
  t.match(await read(fl, 'bootlab/ldlinux.c32'), { kind: 'file', content: 'disk copy under bootlab' });
});
