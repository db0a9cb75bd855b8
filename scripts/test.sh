#!/bin/sh
# The README's second command, and CI's (.ci/run): the whole test suite on a Debian 12
# machine, as root or as a user who may sudo. It installs the Debian packages the tests
# drive (real TFTP and DHCP clients, QEMU, OVMF, Chromium ...: scripts/install-test-deps.sh),
# npm ci, the boot binaries into tftpboot/, builds, checks the house rules (npm run lint:
# sizes, line length, layout, imports that run down), then runs every test as root: the
# network-namespace, VM and privileged-port tests need it (here they fail without it; run
# alone, outside CI, they skip saying why).
set -eu
cd "$(dirname "$0")/.."
scripts/as-root scripts/install-test-deps.sh
. scripts/node-headers.sh
node_headers
npm ci --no-audit --no-fund
scripts/setup-tftpboot.sh
npm run build
npm run -s lint
# The tests: `npm test` (tap over every compiled test, the three tiers). The build is the
# user's (above), so root runs npm test without its pretest build (--ignore-scripts skips
# only pre/post scripts). CI=true: with every package installed and root, a test whose
# needs are unmet fails instead of skipping (test/helpers/needs.ts); passed through env
# because sudo drops it. CI=false opts out.
exec scripts/as-root env CI="${CI:-true}" npm test --ignore-scripts -- "$@"
