#!/usr/bin/env bash
# Puts one ready-to-boot example image into tftpboot/: Debian 12's network installer
# (kernel `linux` + `initrd.gz`, text front end) from the Debian package
# debian-installer-12-netboot-amd64, then prints the host-map lines that boot it.
#
#   scripts/fetch-example-image.sh [--gtk] [TFTPBOOT]     TFTPBOOT defaults to <checkout>/tftpboot
#
# Result: TFTPBOOT/images/debian-installer/{linux,initrd.gz,PROVENANCE.txt}. Downloads
# ~130 MB (the package holds every variant; only two files are kept, ~50 MB). Needs apt
# (Debian/Ubuntu with Debian's bookworm sources); does not install the package.
# --gtk: the graphical installer's initrd instead (~73 MB). The installer fetches the
# rest of Debian from a mirror, so the lab machines need a way out to the internet
# (proxy DHCP mode keeps the school's router). After a Debian point release, run this
# again: the installer's kernel must match the modules on the mirror.
set -euo pipefail

PKG=debian-installer-12-netboot-amd64
NAME=debian-installer
variant=text
target=
for arg in "$@"; do
  case "$arg" in
    --gtk) variant=gtk ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fetch-example-image: unknown option $arg" >&2; exit 2 ;;
    *) target=$arg ;;
  esac
done
[ -n "$target" ] || target="$(cd "$(dirname "$0")/.." && pwd)/tftpboot"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
  || { echo "fetch-example-image: needs apt-get and dpkg-deb (Debian or Ubuntu)" >&2; exit 1; }
if ! apt-cache show "$PKG" >/dev/null 2>&1; then
  echo "fetch-example-image: apt knows no package $PKG; it is in Debian 12 (bookworm) main:" >&2
  echo "  add bookworm to the apt sources and run 'sudo apt-get update', or put linux + initrd.gz into $target/images/$NAME/ yourself" >&2
  exit 1
fi

work=$(mktemp -d /tmp/bootlab-example-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt downloads as the _apt user when run as root: let it write into the folder.
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
echo "== apt-get download $PKG"
(cd "$work" && apt-get download -q "$PKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
deb=$(ls "$work"/"$PKG"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "fetch-example-image: the download failed (see above)" >&2; exit 1; }
version=$(dpkg-deb -f "$deb" Version)
dir=./usr/lib/debian-installer/images/12/amd64/$variant/debian-installer/amd64
mkdir -p "$work/x"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" "$dir/linux" "$dir/initrd.gz"

dest="$target/images/$NAME"
mkdir -p "$dest"
for f in linux initrd.gz; do
  cp "$work/x/$dir/$f" "$dest/.$f.tmp.$$"
  chmod 0644 "$dest/.$f.tmp.$$"
  mv -f "$dest/.$f.tmp.$$" "$dest/$f"
done
{
  echo "# Debian 12 network installer ($variant), from the Debian package $PKG $version,"
  echo "# unpacked by scripts/fetch-example-image.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Never committed."
  echo "# Package source: https://sources.debian.org/src/debian-installer/$version/"
  (cd "$dest" && sha256sum linux initrd.gz | while read -r sum f; do
    printf '%-10s %s  %s\n' "$f" "${dir#./}/$f" "$sum"; done)
} >"$dest/PROVENANCE.txt"
echo "== $dest: linux ($(stat -c %s "$dest/linux") bytes), initrd.gz ($(stat -c %s "$dest/initrd.gz") bytes), $PKG $version"
cat <<EOF

Add this to config/hosts.yaml (under images:, replacing 'images: {}'), then give a
machine the image (hosts: <mac>: { image: $NAME }), or pick it from the boot menu:

images:
  $NAME:
    kernel: images/$NAME/linux
    initrd: images/$NAME/initrd.gz
    cmdline: "--- quiet"

EOF
