#!/usr/bin/env bash
# Installs the boot binaries bootlab hands to firmware into tftpboot/ (or the folder
# given), from Debian packages, and writes down where each came from (PROVENANCE.txt).
#
#   scripts/setup-tftpboot.sh [--keep] [DIR]      DIR defaults to <checkout>/tftpboot
#
# - ipxe (required; `apt-get install ipxe`): undionly.kpxe (BIOS), ipxe.efi and
#   snponly.efi (UEFI x86-64). Debian 12's ipxe package is built for x86 only: it ships
#   no ARM64 and no 32-bit UEFI binary, so dhcp.bootFiles.arm64/uefi32 have nothing here.
# - pxelinux + syslinux-common (optional): pxelinux.0, ldlinux.c32 and the menu modules,
#   for images with `loader: pxelinux`.
#
# Files are copied, never symlinked (a Docker bind mount of tftpboot/ cannot follow a
# link to the host's /usr/lib). Idempotent: a file already identical is left alone, a
# different one is replaced atomically (or, with --keep, left as it is: the container's
# start-up uses this so a teacher's own build of undionly.kpxe survives restarts).
# PROVENANCE.txt is rewritten only when something changed. The binaries are never
# committed (.gitignore).
set -euo pipefail

keep=0
target=
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "setup-tftpboot: unknown option $arg (try --help)" >&2; exit 2 ;;
    *) [ -z "$target" ] || { echo "setup-tftpboot: one folder only" >&2; exit 2; }; target=$arg ;;
  esac
done
[ -n "$target" ] || target="$(cd "$(dirname "$0")/.." && pwd)/tftpboot"

# package | source path | name in the folder | required
FILES=(
  "ipxe|/usr/lib/ipxe/undionly.kpxe|undionly.kpxe|yes"
  "ipxe|/usr/lib/ipxe/ipxe.efi|ipxe.efi|yes"
  "ipxe|/usr/lib/ipxe/snponly.efi|snponly.efi|yes"
  "pxelinux|/usr/lib/PXELINUX/pxelinux.0|pxelinux.0|no"
  "syslinux-common|/usr/lib/syslinux/modules/bios/ldlinux.c32|ldlinux.c32|no"
  "syslinux-common|/usr/lib/syslinux/modules/bios/libcom32.c32|libcom32.c32|no"
  "syslinux-common|/usr/lib/syslinux/modules/bios/libutil.c32|libutil.c32|no"
  "syslinux-common|/usr/lib/syslinux/modules/bios/menu.c32|menu.c32|no"
)

# The installed version of a package, or nothing (never fails: set -e and pipefail).
pkg_version() { { dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true; } | awk '$1=="installed"{print $2}'; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup-tftpboot: dpkg-query not found: this step takes its binaries from Debian packages (Debian/Ubuntu)." >&2
  echo "  Elsewhere, put undionly.kpxe, ipxe.efi and snponly.efi from https://ipxe.org into $target yourself." >&2
  exit 1
fi
ipxe_version=$(pkg_version ipxe)
if [ -z "$ipxe_version" ] || [ ! -f /usr/lib/ipxe/undionly.kpxe ]; then
  echo "setup-tftpboot: Debian's ipxe package is not installed; it provides the boot binaries." >&2
  echo "  Install it, then run this again:  sudo apt-get install ipxe" >&2
  echo "  (for pxelinux images too:          sudo apt-get install ipxe pxelinux syslinux-common)" >&2
  exit 1
fi

mkdir -p "$target"
target=$(cd "$target" && pwd)
changed=0
rows=()
missing_optional=()
for entry in "${FILES[@]}"; do
  IFS='|' read -r pkg src name required <<<"$entry"
  version=$(pkg_version "$pkg")
  if [ -z "$version" ] || [ ! -f "$src" ]; then
    if [ "$required" = yes ]; then
      echo "setup-tftpboot: $src is missing although $pkg is installed; reinstall it: sudo apt-get install --reinstall $pkg" >&2
      exit 1
    fi
    missing_optional+=("$name ($pkg)")
    continue
  fi
  want=$(sha256sum "$src" | cut -d' ' -f1)
  dest="$target/$name"
  if [ -L "$dest" ]; then rm -f "$dest"; fi   # an old symlink: replace it by a real copy
  if [ -f "$dest" ]; then
    have=$(sha256sum "$dest" | cut -d' ' -f1)
    if [ "$have" = "$want" ]; then
      echo "  unchanged  $name"
      rows+=("$name|$pkg|$version|$src|$want")
      continue
    fi
    if [ "$keep" = 1 ]; then
      echo "  kept       $name (differs from $src: left as it is)"
      rows+=("$name|(kept:not-from-a-package)|-|-|$have")
      continue
    fi
  fi
  tmp="$target/.$name.tmp.$$"
  cp "$src" "$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dest"
  echo "  installed  $name  from $pkg $version"
  rows+=("$name|$pkg|$version|$src|$want")
  changed=1
done

body=$(
  printf '%-14s %-28s %-38s %-46s %s\n' file package version source sha256
  for r in "${rows[@]}"; do
    IFS='|' read -r name pkg version src sum <<<"$r"
    printf '%-14s %-28s %-38s %-46s %s\n' "$name" "$pkg" "$version" "$src" "$sum"
  done
)
prov="$target/PROVENANCE.txt"
old_body=
[ -f "$prov" ] && old_body=$(grep -v '^#' "$prov" || true)
if [ "$changed" = 1 ] || [ "$body" != "$old_body" ]; then
  {
    echo "# Boot binaries in this folder, installed by scripts/setup-tftpboot.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# on $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -s) from Debian packages (sources: https://sources.debian.org/src/<package>/<version>/)."
    echo "# Never committed (.gitignore). Check the files: awk '!/^#/ && \$1!=\"file\" {print \$5\"  \"\$1}' PROVENANCE.txt | sha256sum -c"
    echo "$body"
  } >"$prov.tmp.$$"
  mv -f "$prov.tmp.$$" "$prov"
  echo "  wrote      PROVENANCE.txt"
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "  not installed (optional, for loader: pxelinux): ${missing_optional[*]}; apt-get install pxelinux syslinux-common adds them"
fi
echo "setup-tftpboot: $target ready (ipxe $ipxe_version)"
