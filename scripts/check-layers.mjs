#!/usr/bin/env node
// Every import in services/ runs down (docs/decisions/0012-source-layout.md): a module may
// import from its own folder or from a folder on a lower floor, never from one on its own
// floor or above. Reads the import lines of services/**/*.ts (static and dynamic, relative
// paths); prints each import that breaks the rule with file:line and exits 1.
//   node scripts/check-layers.mjs [root]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Bottom first. "." is services/ itself (cli.ts). */
export const FLOORS = [
  ['core'],
  ['progress'],
  ['tftp', 'boot', 'http'],
  ['mtftp', 'dhcp', 'flash'],
  ['runtime'],
  ['admin'],
  ['.'],
];

const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, i])));

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield p;
  }
}

/** The top folder of services/ a path is in ("." for services/ itself). */
const folderOf = (servicesDir, file) => {
  const rel = relative(servicesDir, file).split(sep);
  return rel.length === 1 ? '.' : rel[0];
};

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

export function check(root) {
  const servicesDir = resolve(root, 'services');
  const problems = [];
  for (const file of tsFiles(servicesDir)) {
    const from = folderOf(servicesDir, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const m of line.matchAll(IMPORT)) {
        const target = resolve(dirname(file), m[1]);
        if (!target.startsWith(servicesDir + sep)) continue;
        const to = folderOf(servicesDir, target);
        if (to === from) continue;
        const a = floorOf.get(from);
        const b = floorOf.get(to);
        const where = `${relative(root, file)}:${i + 1}`;
        if (a === undefined || b === undefined) problems.push(`${where}: ${from}/ or ${to}/ is on no floor: add it to FLOORS in scripts/check-layers.mjs`);
        else if (b >= a) problems.push(`${where}: ${from}/ imports ${to}/ (${m[1]}), which is ${b === a ? 'on the same floor' : 'above it'}`);
      }
    });
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..'));
  const problems = check(root);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`${problems.length} import(s) run up or sideways; floors, bottom first: ${FLOORS.map((f) => f.join(' ')).join(' < ')}`);
    process.exit(1);
  }
  console.log(`imports run down: ${FLOORS.map((f) => f.join(' ')).join(' < ')}`);
}
