// Where the repository and the compiled CLI are, found from this compiled file
// (dist/test/helpers/paths.js), so a test file may move between tiers (test/, test/lab/,
// test/vm/: docs/decisions/0013-test-tiers.md) without counting folders.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled helpers folder, dist/test/helpers/. */
export const HELPERS = dirname(fileURLToPath(import.meta.url));
/** The repository root (three folders above dist/test/helpers/). */
export const REPO = join(HELPERS, '..', '..', '..');
/** dist/services/cli.js: the `bootlab` command as built. */
export const CLI = join(REPO, 'dist', 'services', 'cli.js');
