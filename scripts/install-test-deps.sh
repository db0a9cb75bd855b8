#!/usr/bin/env bash
# Installs the Debian packages the test suite drives: the real TFTP clients, and the
# tools for network-namespace labs. Idempotent; needs root (CI runs as root).
set -euo pipefail
# util-linux: setpriv, taskset; mount: the disk-full test mounts a small tmpfs.
packages=(atftp tftp-hpa curl iproute2 nftables util-linux mount procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
