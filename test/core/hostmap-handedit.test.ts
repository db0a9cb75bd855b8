// The host map's defences against a hand edit saved in place while it writes (issue 15 B,
// docs/decisions/0010), each one on its own and in a fixed order: the test is the editor,
// so it decides what the file holds at each step and nothing depends on timing.
// - a save found in the inode a write replaced is written back, the write applied on top;
// - an invalid save found there is written back as it is (the map keeps its last good state);
// - a save there that a later save of the file overtook is not written back;
// - a file that keeps changing, or that vanished, fails with HostMapBusy and writes nothing.
import t from 'tap';
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ReplacedInodes, sha, statHandle } from '../../services/core/hostmap-file.js';
import { HostMap, HostMapBusy } from '../../services/core/hostmap.js';
import { silentLogger } from '../../services/core/log.js';

const START = `# Room B12
hosts:
  # the teacher's machine
  52-54-00-00-00-01: { hostname: teacher }
  52:54:00:00:00:02:
    hostname: pc02
`;
const SAVED = `${START}  # added by hand
  52:54:00:00:00:03:
    hostname: pc03
`;

async function opened(
  t: Tap,
  text = START,
  opts: Parameters<typeof HostMap.open>[2] = {},
): Promise<{ map: HostMap; file: string; dir: string }> {
  const dir = t.testdir({ 'hosts.yaml': text });
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger(), { settleMs: 20, ...opts });
  t.teardown(() => map.close());
  return { map, file, dir };
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('a save into the inode a write replaced is written back, with the write applied on top', async (t) => {
  const { map, file, dir } = await opened(t);
  const recovered: unknown[] = [];
  map.on('recovered', (r) => recovered.push(r));
  // The editor truncates the file (O_TRUNC) and stops there, its fd open: the write sees an
  // empty file that holds still, builds on it and renames its result over the file.
  const editor = openSync(file, 'w');
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  // The editor's buffer goes into the inode the rename unlinked.
  writeSync(editor, SAVED);
  closeSync(editor);
  await map.idle();
  const text = readFileSync(file, 'utf8');
  t.equal(text, `${SAVED}  52:54:00:00:00:09:\n    hostname: api09\n`, 'the save, comments and notation as typed, and the write after it');
  t.same([...map.hosts.values()].map((h) => h.hostname), ['teacher', 'pc02', 'pc03', 'api09'], 'the map serves all of it');
  t.same(recovered, [{ reapplied: 1, skipped: [] }]);
  t.same(readdirSync(dir), ['hosts.yaml'], 'no temporary file left');
  // Later writes build on the recovered file.
  await map.setHost('52:54:00:00:00:0a', { hostname: 'api0a' });
  t.match(readFileSync(file, 'utf8'), /hostname: pc03[\s\S]*hostname: api09[\s\S]*hostname: api0a/);
});

t.test('every write since the replaced inode is applied on top, in order; one that no longer applies is skipped', async (t) => {
  const { map, file } = await opened(t);
  const editor = openSync(file, 'w');
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09b' });
  await map.removeHost('52:54:00:00:00:02');
  // The hand edit gives pc03 an image the file does not define: that write is refused on
  // its own (file unchanged), and never enters the list to apply again.
  await t.rejects(map.setHost('52:54:00:00:00:03', { image: 'nope' }));
  writeSync(editor, SAVED);
  closeSync(editor);
  await map.idle();
  t.same([...map.hosts.values()].map((h) => [h.mac, h.hostname]), [['52:54:00:00:00:01', 'teacher'], ['52:54:00:00:00:03', 'pc03'], ['52:54:00:00:00:09', 'api09b']]);
  t.notMatch(readFileSync(file, 'utf8'), /pc02/, 'the removal applied on top of the save');
});

t.test('an invalid save found in a replaced inode is written back as it is; the map keeps its last good state', async (t) => {
  const { map, file } = await opened(t);
  const editor = openSync(file, 'w');
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  const broken = `${SAVED}  this is: [not closed\n`;
  writeSync(editor, broken);
  closeSync(editor);
  await map.idle();
  t.equal(readFileSync(file, 'utf8'), broken, 'the teacher finds their text, to fix it');
  t.match(map.lastError?.[0], /hosts\.yaml:\d+ /, 'and the error, for the API to show');
  t.equal(map.lookup('52:54:00:00:00:09')?.hostname, 'api09', 'the last good map is still served');
});

t.test('a save into a replaced inode that a later save of the file overtook is not written back', async (t) => {
  const { map, file } = await opened(t);
  const editor = openSync(file, 'w');
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  const later = `${START}  52:54:00:00:00:04: { hostname: later }\n`;
  writeFileSync(file, later);
  writeSync(editor, SAVED);
  closeSync(editor);
  await map.idle();
  t.equal(readFileSync(file, 'utf8'), later, 'the later save stays');
  await map.reload();
  t.equal(map.lookup('52:54:00:00:00:04')?.hostname, 'later');
});

t.test('a file that never holds still: HostMapBusy, and nothing is written', async (t) => {
  let typing = true;
  // Each look at the file finds it changed again, as an editor writing on and on would.
  const wait = async () => { if (typing) appendFileSync(file, '# still typing\n'); };
  const { map, file } = await opened(t, START, { wait });
  // The editor has begun (the file is no longer the version the map read): it must hold still.
  appendFileSync(file, '# typing\n');
  const err = await map.setHost('52:54:00:00:00:09', { hostname: 'api09' }).catch((e: unknown) => e);
  t.ok(err instanceof HostMapBusy, 'HostMapBusy');
  t.equal((err as HostMapBusy).reason, 'changing');
  t.equal((err as Error).message, `${file} is being written (a hand edit being saved?): nothing was changed; try again in a moment`);
  t.notMatch(readFileSync(file, 'utf8'), /api09/, 'the write did not land');
  t.equal(map.lookup('52:54:00:00:00:09'), undefined);
  typing = false;
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  const text = readFileSync(file, 'utf8');
  t.ok(text.includes('# typing\n# still typing\n') && text.includes('  52:54:00:00:00:09:\n    hostname: api09\n'), 'once it holds still, the write builds on what was typed');
});

t.test('a file that vanished after it was read: HostMapBusy, and no near-empty file is created', async (t) => {
  const { map, file } = await opened(t);
  unlinkSync(file);
  const err = await map.setHost('52:54:00:00:00:09', { hostname: 'api09' }).catch((e: unknown) => e);
  t.ok(err instanceof HostMapBusy, 'HostMapBusy');
  t.equal((err as HostMapBusy).reason, 'missing');
  t.equal(existsSync(file), false, 'a write now would have started an empty host map: none is made');
  t.equal(map.lookup('52:54:00:00:00:02')?.hostname, 'pc02', 'the map keeps its hosts');
  writeFileSync(file, START);
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  t.match(readFileSync(file, 'utf8'), /pc02[\s\S]*api09/, 'put back, the file takes writes again');
});

t.test('no file at the start: the first write creates it', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'hosts.yaml');
  const map = await HostMap.open(file, silentLogger(), { settleMs: 20 });
  t.teardown(() => map.close());
  await map.setHost('52:54:00:00:00:09', { hostname: 'api09' });
  t.equal(readFileSync(file, 'utf8'), 'hosts:\n  52:54:00:00:00:09:\n    hostname: api09\n');
});

// The poll timer's check and idle()'s check of the replaced inodes may overlap; one must not
// close a handle the other is reading (seen once in CI: EBADF out of HostMap.idle).
t.test('replaced inodes: overlapping checks run one at a time, none reads a handle another closed', async (t) => {
  // Big enough that reading it takes many reads: a close in between would be seen.
  const text = `hosts: {}\n${'# a long comment line of a big hand-kept file\n'.repeat(40_000)}`;
  const file = join(t.testdir({ 'hosts.yaml': text }), 'hosts.yaml');
  const errors: unknown[] = [];
  const results: PromiseSettledResult<boolean>[] = [];
  for (let i = 0; i < 20; i++) {
    const replaced = new ReplacedInodes<string>({
      graceMs: 0,
      settleMs: 60_000,
      pollMs: 60_000,
      onSave: () => undefined,
      onError: (e) => errors.push(e),
    });
    const handle = await fsp.open(file, 'r');
    replaced.wrote({ handle, stamp: await statHandle(handle), hash: sha(text), text }, null);
    await new Promise((r) => setTimeout(r, 2)); // past its grace: the first check to finish drops it
    results.push(...await Promise.allSettled([true, false, true, false].map((full) => replaced.check(full))));
    replaced.close();
  }
  t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'no check failed');
  t.same(errors, []);
});
