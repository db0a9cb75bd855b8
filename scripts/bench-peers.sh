#!/bin/sh
# Fetches the TFTP peers that `npm run bench:tftp` measures bootlab against, without
# installing them: tftpd-hpa and atftpd conflict in apt, so each .deb is downloaded
# and unpacked (dpkg -x) into its own folder under the cache. Their shared-library
# dependencies (libwrap0, libpcre2-8-0) are installed with apt-get, and the clients the
# benchmark drives (curl, atftp, nftables, iproute2, util-linux's taskset) too.
# Idempotent: a peer already unpacked is left alone. Prints the two binaries' paths.
#
#   scripts/bench-peers.sh [CACHE]      (default /var/cache/bootlab-bench/peers)
set -eu

CACHE=${1:-${BENCH_PEERS_DIR:-/var/cache/bootlab-bench/peers}}
mkdir -p "$CACHE"

need_apt=""
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libwrap\.so\.0' || need_apt="$need_apt libwrap0"
have_lib 'libpcre2-8\.so\.0' || need_apt="$need_apt libpcre2-8-0"
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl"
command -v atftp >/dev/null 2>&1 || need_apt="$need_apt atftp"
command -v nft >/dev/null 2>&1 || need_apt="$need_apt nftables"
command -v ip >/dev/null 2>&1 || need_apt="$need_apt iproute2"
command -v taskset >/dev/null 2>&1 || need_apt="$need_apt util-linux"
if [ -n "$need_apt" ]; then
  echo "bench-peers: installing$need_apt" >&2
  apt-get install -y --no-install-recommends $need_apt >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends $need_apt >&2; }
fi

fetch() { # package binary-inside-the-package
  pkg=$1; bin=$2
  dir="$CACHE/$pkg"
  if [ -x "$dir/root/$bin" ] && [ -s "$dir/version" ]; then return 0; fi
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp/root"
  # apt-get download drops privileges to _apt when it can write the folder (else it warns).
  chown _apt "$dir.tmp" 2>/dev/null || true
  (
    cd "$dir.tmp"
    apt-get download "$pkg" >&2 || { apt-get update >&2 && apt-get download "$pkg" >&2; }
    deb=$(ls ./*.deb | head -n 1)
    dpkg -x "$deb" root
    dpkg-deb -f "$deb" Version > version
  )
  chown root "$dir.tmp" 2>/dev/null || true
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

fetch tftpd-hpa usr/sbin/in.tftpd
fetch atftpd usr/sbin/atftpd

echo "tftpd-hpa $(cat "$CACHE/tftpd-hpa/version") $CACHE/tftpd-hpa/root/usr/sbin/in.tftpd"
echo "atftpd $(cat "$CACHE/atftpd/version") $CACHE/atftpd/root/usr/sbin/atftpd"
