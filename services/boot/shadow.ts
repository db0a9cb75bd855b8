// What a teacher should hear at start about the generated names (issue 15 A1: a file on
// disk must never be shadowed without a word, and a configuration that loops is said
// before a machine spins on it). Reads only the names under tftp.root it checks.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../core/hostmap-parse.js';

/** Names in bootlab/ that bootlab answers itself, before the disk. */
const OWN = /^(boot\.ipxe|[0-9a-f]{2}(-[0-9a-f]{2}){5}\.ipxe|booted)$/i;
/** A script or chain target that leads back to the machine's own script. */
const DISPATCH = /(^|\/)bootlab\/(boot\.ipxe|[0-9a-f]{2}(-[0-9a-f]{2}){5}\.ipxe|\{\{\s*machyp\s*\}\}\.ipxe)$/i;

const path = (p: string) => p.replace(/^[a-z]+:\/\/[^/]*/i, '').replace(/^\/+/, '');

/** One sentence per problem: disk files under bootlab/ that are never served, images whose chain loops. */
export function bootPathWarnings(root: string, images: Iterable<Image>): string[] {
  const out: string[] = [];
  const own = join(root, 'bootlab');
  let names: string[] = [];
  try {
    if (statSync(own).isDirectory()) names = readdirSync(own);
  } catch {
    /* no bootlab/ on disk: nothing shadowed */
  }
  for (const name of names.filter((n) => OWN.test(n))) {
    out.push(`${join(own, name)} is never served: bootlab/${name} is one of bootlab's generated names (move the file out of ${own})`);
  }
  const rootDispatcher = !existsSync(join(root, 'boot.ipxe'));
  for (const img of images) {
    const target = img.kind === 'script' ? path(img.script) : img.kind === 'chain' ? path(img.url) : null;
    if (target === null) continue;
    if (DISPATCH.test(target) || (target === 'boot.ipxe' && rootDispatcher)) {
      out.push(`image ${img.name}: ${img.kind} ${target} is bootlab's own dispatcher${target === 'boot.ipxe' ? ' (there is no boot.ipxe on disk)' : ''}, which chains the machine's own script again: `
        + 'a loop (bootlab stops such a machine after 5 fetches of its script and says so on its row)');
    }
  }
  return out;
}
