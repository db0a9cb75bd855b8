#!/usr/bin/env bash
# Installs the Debian packages the test suite drives: the real TFTP clients, and the
# tools for network-namespace labs. Idempotent; needs root (CI runs as root).
set -euo pipefail
# util-linux: setpriv, taskset; mount: the disk-full test mounts a small tmpfs.
# DHCP clients and peers: isc-dhcp-client (dhclient), busybox-static (udhcpc, and the
# VM's initrd), dnsmasq-base (the site's DHCP server and a DHCP relay in the labs),
# tcpdump (captures). VMs: qemu-system-x86 with ipxe-qemu (the NIC boot ROMs), ipxe
# (undionly.kpxe, snponly.efi), ovmf (UEFI), pxelinux + syslinux-common, cpio.
# chromium + fonts-liberation: the dashboard's browser test (driven by playwright-core, which never
# downloads a browser of its own).
# python3, make, g++: npm ci compiles the sockopt addon.
packages=(python3 make g++ atftp tftp-hpa curl iproute2 nftables util-linux mount procps
  isc-dhcp-client busybox-static dnsmasq-base tcpdump
  qemu-system-x86 ipxe-qemu ipxe ovmf pxelinux syslinux-common cpio chromium fonts-liberation)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  # The VM tests fetch a kernel with apt-get download: the package lists must exist.
  ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages || apt-get update -qq
fi
