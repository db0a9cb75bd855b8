// After the build: delete compiled files whose TypeScript source is gone (moved or removed),
// so tap's globs (.taprc, the test:* scripts) never run a test that no longer exists.
// tsc writes outputs but never deletes them.
import { existsSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function prune(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      prune(p);
      if (readdirSync(p).length === 0) rmdirSync(p);
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(relative(dist, p));
    if (m && !existsSync(join(root, `${m[1]}.ts`))) {
      unlinkSync(p);
      if (!m[2]) process.stderr.write(`pruned dist/${m[1]}.js (no ${m[1]}.ts)\n`);
    }
  }
}
for (const top of ['services', 'test']) if (existsSync(join(dist, top))) prune(join(dist, top));
