// `npm start` runs this first: compile only when a TypeScript source is newer than its output,
// so a fresh checkout builds once and later starts are instant.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
// tsc --incremental rewrites only changed outputs but always touches its build-info file.
const out = join(root, 'dist/.tsbuildinfo');
const stale = !existsSync(out) || statSync(out).mtimeMs < newest(join(root, 'services'));
if (stale) {
  process.stderr.write('bootlab: building (tsc)...\n');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
}
