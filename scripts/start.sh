#!/bin/sh
# The README's first command: bootlab on this machine with the shipped configuration
# (config/appliance.yaml), as root or as a user who may sudo. On a fresh Debian 12 it
#   1. installs from Debian: ipxe, pxelinux, syslinux-common (the boot binaries) and
#      python3, make, g++ (npm compiles the sockopt addon), only what is missing;
#   2. checks Node.js (20 or newer; Debian 12's own nodejs is 18);
#   3. npm ci, when node_modules is missing or older than package-lock.json (against
#      Node's headers on this machine, scripts/node-headers.sh);
#   4. copies the boot binaries into tftpboot/ (scripts/setup-tftpboot.sh) and builds;
#   5. runs `bootlab serve` as root (ports 67, 69 and 80 are privileged).
# The classroom way, with Docker, is `docker compose up -d` (README, docs/operations.md).
set -eu
cd "$(dirname "$0")/.."
say() { echo "bootlab: $*" >&2; }

need=
for p in ipxe pxelinux syslinux-common python3 make g++; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  say "installing from Debian:$need"
  scripts/as-root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$need"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "Node.js 20 or newer (with npm) is needed and is not installed: see https://nodejs.org/en/download (Debian 12's nodejs package is 18, too old)"
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  say "Node.js $(node -v) is too old: bootlab needs 20 or newer (https://nodejs.org/en/download)"
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  . scripts/node-headers.sh
  node_headers
  say "npm ci"
  npm ci --no-audit --no-fund
fi
scripts/setup-tftpboot.sh --keep
node scripts/build-if-needed.mjs
exec scripts/as-root node dist/services/cli.js serve --config config/appliance.yaml "$@"
