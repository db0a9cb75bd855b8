#!/usr/bin/env bash
# Prepares the VM tests' boot payload in a cache directory (default /var/cache/bootlab-test,
# reused across runs): a Debian cloud kernel downloaded with `apt-get download` + `dpkg -x`
# (never committed), and a tiny initrd (static busybox + an /init that prints
# "BOOTLAB-MARKER <nonce>" taken from bootlab.marker=<nonce> on the kernel command line,
# then powers off). Prints two lines: "kernel=<path>" and "initrd=<path>".
#
# usage: scripts/fetch-test-kernel.sh [cache-dir]
# env:   BOOTLAB_TEST_KERNEL_PKG  force a package (e.g. linux-image-6.1.0-56-cloud-amd64)
set -euo pipefail
cache="${1:-${BOOTLAB_TEST_CACHE:-/var/cache/bootlab-test}}"
mkdir -p "$cache"
cd "$cache"
exec 9>"$cache/.lock"
flock 9   # several tests may prepare the cache at once

# --- kernel ------------------------------------------------------------------------------
pkg="${BOOTLAB_TEST_KERNEL_PKG:-}"
if [ -z "$pkg" ]; then
  # The meta package names the current ABI, e.g. linux-image-6.1.0-56-cloud-amd64.
  pkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')" || true
fi
kernel=""
if [ -n "$pkg" ] && [ -s "$cache/$pkg/vmlinuz" ]; then
  kernel="$cache/$pkg/vmlinuz"
elif [ -n "$pkg" ]; then
  tmp="$(mktemp -d "$cache/.dl.XXXXXX")"
  if (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>"$tmp/apt.err"); then
    mkdir -p "$tmp/x"
    dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/x"
    mkdir -p "$cache/$pkg"
    cp "$tmp"/x/boot/vmlinuz-* "$cache/$pkg/vmlinuz.part"
    cp "$tmp"/x/boot/config-* "$cache/$pkg/config"
    mv "$cache/$pkg/vmlinuz.part" "$cache/$pkg/vmlinuz"
    kernel="$cache/$pkg/vmlinuz"
  else
    echo "fetch-test-kernel: apt-get download $pkg failed: $(cat "$tmp/apt.err")" >&2
  fi
  rm -rf "$tmp"
fi
if [ -z "$kernel" ]; then
  # Offline or no apt metadata: reuse whatever kernel an earlier run cached.
  kernel="$(ls -1 "$cache"/linux-image-*/vmlinuz 2>/dev/null | sort -V | tail -n1 || true)"
fi
if [ -z "$kernel" ]; then
  echo "fetch-test-kernel: no kernel: apt-get download failed and nothing is cached in $cache" >&2
  exit 1
fi

# --- initrd ------------------------------------------------------------------------------
busybox="$(command -v busybox.static 2>/dev/null || true)"
[ -n "$busybox" ] || busybox=/bin/busybox
lddout="$(ldd "$busybox" 2>&1 || true)"
case "$lddout" in
  *'not a dynamic'*|*'statically linked'*) ;;
  *) echo "fetch-test-kernel: $busybox is not a static binary (install busybox-static)" >&2; exit 1 ;;
esac
init_script='#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
m=none
for w in $(/bin/busybox cat /proc/cmdline); do
  case "$w" in bootlab.marker=*) m="${w#bootlab.marker=}" ;; esac
done
echo "BOOTLAB-MARKER $m" > /dev/console
echo "BOOTLAB-MARKER $m"
/bin/busybox sync
/bin/busybox poweroff -f
'
# The initrd's name carries a hash of its inputs, so a changed /init or busybox rebuilds it.
sum="$( { printf '%s' "$init_script"; sha256sum < "$busybox"; } | sha256sum | cut -c1-12)"
initrd="$cache/marker-initrd-$sum.gz"
if [ ! -s "$initrd" ]; then
  root="$(mktemp -d "$cache/.initrd.XXXXXX")"
  mkdir -p "$root/bin" "$root/proc" "$root/dev" "$root/sys"
  cp "$busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  printf '%s' "$init_script" > "$root/init"
  chmod 755 "$root/init" "$root/bin/busybox"
  # The kernel's own initramfs has /dev/console already; add one anyway when we can.
  mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0 | gzip -9n > "$initrd.part")
  mv "$initrd.part" "$initrd"
  rm -rf "$root"
fi
echo "kernel=$kernel"
echo "initrd=$initrd"
