#!/bin/sh
# bootlab container entrypoint: checks what the container was given, puts the boot
# binaries into the mounted tftpboot/ when they are missing, then runs bootlab.
#   bootlab-entrypoint serve --config /app/config/appliance.yaml   (the image's CMD)
#   bootlab-entrypoint check-config ...                            (any bootlab command)
# In a running container the same CLI is `bootlab` (deploy/bootlab-cli.sh):
#   docker compose exec bootlab bootlab token
#   bootlab-entrypoint sh                                           (anything else: run as is)
set -eu

case "${1:-}" in
  serve|check-config|remap-test|token|help|--help|-h) ;;
  *) exec "$@" ;;
esac

say() { echo "bootlab-entrypoint: $*" >&2; }

# node carries file capabilities (NET_BIND_SERVICE, NET_ADMIN); the kernel refuses to
# run it at all (EPERM) when the container's bounding set lacks one. Say why instead.
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
missing=
[ $(( (0x$bnd >> 10) & 1 )) = 1 ] || missing="$missing NET_BIND_SERVICE"
[ $(( (0x$bnd >> 12) & 1 )) = 1 ] || missing="$missing NET_ADMIN"
if [ -n "$missing" ] && [ "$(id -u)" != 0 ]; then
  say "the container lacks the capabilities${missing}; run it with --cap-add NET_BIND_SERVICE --cap-add NET_ADMIN (compose.yaml does)"
  exit 1
fi

[ "$1" = serve ] || exec node /app/dist/services/cli.js "$@"

who="uid $(id -u) gid $(id -g)"
# Who owns the checkout's folders: the fix to print when they are not ours to write.
owner=$(stat -c %u:%g /app/config 2>/dev/null || echo "?")
fix="set BOOTLAB_UID=${owner%%:*} and BOOTLAB_GID=${owner##*:} (the owner of config/) in .env beside compose.yaml, or chown the folder to $(id -u):$(id -g)"
if [ -d /app/tftpboot ]; then
  if ! out=$(bootlab-setup-tftpboot --keep /app/tftpboot 2>&1); then
    echo "$out" >&2
    say "could not install the boot binaries into tftpboot/ (mounted from the host): the container runs as $who;"
    say "  $fix. Serving what is there."
  elif echo "$out" | grep -q 'installed\|wrote'; then
    echo "$out" | sed 's/^/bootlab-entrypoint: tftpboot: /' >&2
  fi
fi
# The state volume keeps the uid that first wrote it (the token file is 0600).
for f in /app/state/*; do
  if [ -e "$f" ] && [ ! -r "$f" ]; then
    say "$f belongs to uid $(stat -c %u "$f"), not to $who (BOOTLAB_UID changed since the volume was made):"
    say "  set BOOTLAB_UID back to $(stat -c %u "$f"), or start over with 'docker compose down -v' (forgets the leases and the generated admin token)"
    exit 1
  fi
done
for d in /app/config /app/state; do
  if [ -d "$d" ] && [ ! -w "$d" ]; then
    say "$d is not writable by $who: the admin API cannot save the host map or its state there;"
    say "  $fix"
  fi
done

exec node /app/dist/services/cli.js "$@"
