// scripts/check-layers.mjs: every import in services/ runs down (decision 0012). The repo
// itself passes; a tree with an upward, a sideways and a dynamic import fails with each
// one named by file and line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { repoRoot } from '../helpers/vm.js';

interface Checker { check(root: string): string[]; FLOORS: string[][] }
const load = async (): Promise<Checker> => import(pathToFileURL(join(repoRoot(), 'scripts/check-layers.mjs')).href) as Promise<Checker>;

t.test('the repository: no import runs up or sideways', async (t) => {
  const { check } = await load();
  t.same(check(repoRoot()), []);
});

t.test('a tree that breaks the rule: each import named', async (t) => {
  const { check } = await load();
  const root = t.testdir();
  const write = (path: string, text: string) => {
    mkdirSync(join(root, 'services', path, '..'), { recursive: true });
    writeFileSync(join(root, 'services', path), text);
  };
  write('core/config.ts', "import { x } from '../mtftp/files.js';\nimport { y } from './net.js';\n");
  write('tftp/server.ts', "import type { G } from '../boot/choose.js';\nimport { z } from '../core/net.js';\n");
  write('dhcp/server.ts', "const m = await import('../runtime/runtime.js');\nimport { c } from '../boot/choose.js';\n");
  write('cli.ts', "import { r } from './runtime/runtime.js';\n");
  write('weird/a.ts', "import { r } from '../core/net.js';\n");
  t.same(check(root).sort(), [
    'services/core/config.ts:1: core/ imports mtftp/ (../mtftp/files.js), which is above it',
    'services/dhcp/server.ts:1: dhcp/ imports runtime/ (../runtime/runtime.js), which is above it',
    'services/tftp/server.ts:1: tftp/ imports boot/ (../boot/choose.js), which is on the same floor',
    'services/weird/a.ts:1: weird/ or core/ is on no floor: add it to FLOORS in scripts/check-layers.mjs',
  ]);
});
