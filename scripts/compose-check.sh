#!/usr/bin/env bash
# Builds and runs bootlab with `docker compose` exactly as compose.yaml says, checks it
# from this machine, and takes it down again, printing how long each step took:
#   - the container becomes healthy (its /healthz healthcheck);
#   - /healthz answers from the host on the admin port;
#   - a real TFTP download of undionly.kpxe over loopback has the ipxe package's sha256;
#   - the same file over the HTTP boot server (when this build has one);
#   - the container runs as the configured uid with exactly NET_BIND_SERVICE + NET_ADMIN;
#   - the BOOTLAB_* overrides reached the config (BOOTLAB_DHCP_MODE=off in the log);
#   - an empty tftpboot/ got the boot binaries and PROVENANCE.txt at start;
#   - `docker compose exec bootlab bootlab token` prints the token in use.
#
#   scripts/compose-check.sh            (root, or a user who may use the Docker engine)
#
# Safety: the container uses the host's network (ports 69, 80 and 8080 in this machine's
# own namespace), so DHCP is switched off (BOOTLAB_DHCP_MODE=off, no interface) and every
# request goes to 127.0.0.1 only. config/ and tftpboot/ are NOT the checkout's: a
# compose override mounts scratch copies, and the state volume is removed at the end
# (project name bootlab-check, so a classroom's own `bootlab` project is left alone).
# Without a running engine, ../shared/tools/docker-offline.sh (when present) starts a
# private one and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

PROJECT=bootlab-check
HTTP_PORT=${CHECK_HTTP_PORT:-80}
ADMIN_PORT=${CHECK_ADMIN_PORT:-8080}
TOKEN=compose-check-token-0123456789
RUN_UID=${BOOTLAB_UID:-1000}
RUN_GID=${BOOTLAB_GID:-1000}

t0=$(date +%s.%N)
last=$t0
timings=()
step() { # step NAME: records the time since the previous step
  local now; now=$(date +%s.%N)
  timings+=("$(printf '%-34s %6.1f s' "$1" "$(echo "$now - $last" | bc)")")
  last=$now
}
say() { echo "== $*"; }
fail() { echo "compose-check: FAIL: $*" >&2; exit 1; }

for tool in docker curl sha256sum bc; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

# Ports: 69/udp, HTTP and admin TCP must be free, or the container's bootlab cannot bind.
busy=$( (ss -Hlun "sport = :69"; ss -Hltn "( sport = :$HTTP_PORT or sport = :$ADMIN_PORT )") 2>/dev/null || true)
[ -z "$busy" ] || fail "a port bootlab needs is in use on this machine (stop that first):
$busy"

# The engine: a running one, or the private offline one.
started_engine=0
offline="$repo/../shared/tools/docker-offline.sh"
if ! docker info >/dev/null 2>&1; then
  [ -x "$offline" ] || fail "no Docker engine answers (and no $offline to start one)"
  # base-image starts the engine too: note first whether it ran before this script.
  running_before=$("$offline" status 2>/dev/null | grep -c '^dockerd: running' || true)
  say "starting the private engine ($offline)"
  "$offline" base-image >/dev/null
  step "base image (docker-offline)"
  eval "$("$offline" start)"
  [ "$running_before" = 1 ] || started_engine=1
  step "engine start"
elif [ -n "${DOCKER_HOST:-}" ] && [ -x "$offline" ]; then
  eval "$("$offline" env)"   # the offline engine's `docker compose` plugin
fi
docker compose version >/dev/null 2>&1 || fail "docker compose is not available"

scratch=$(mktemp -d /tmp/bootlab-compose-check.XXXXXX)
override="$scratch/override.yaml"
compose() { docker compose -p "$PROJECT" -f compose.yaml -f "$override" "$@"; }
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "---- container log (last 40 lines)" >&2
    compose logs --no-color --tail 40 >&2 2>/dev/null || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$scratch"
  if [ "$started_engine" = 1 ]; then "$offline" stop >/dev/null 2>&1 || true; fi
  exit $rc
}
trap cleanup EXIT

# Scratch config (a copy of the checkout's) and an empty tftpboot, owned by the uid the
# container runs as, as a teacher's checkout would be.
mkdir -p "$scratch/config" "$scratch/tftpboot"
cp config/appliance.yaml config/hosts.yaml "$scratch/config/"
if [ "$(id -u)" = 0 ]; then chown -R "$RUN_UID:$RUN_GID" "$scratch/config" "$scratch/tftpboot"
else RUN_UID=$(id -u); RUN_GID=$(id -g); fi
cat >"$override" <<EOF
services:
  bootlab:
    volumes:
      - $scratch/config:/app/config
      - $scratch/tftpboot:/app/tftpboot
EOF
export BOOTLAB_UID=$RUN_UID BOOTLAB_GID=$RUN_GID
export BOOTLAB_DHCP_MODE=off BOOTLAB_INTERFACE= BOOTLAB_ADMIN_TOKEN=$TOKEN
export BOOTLAB_HTTP_PORT=$HTTP_PORT BOOTLAB_ADMIN_PORT=$ADMIN_PORT

say "docker compose build"
compose build >"$scratch/build.log" 2>&1 || { tail -30 "$scratch/build.log" >&2; fail "build failed"; }
step "build"
say "docker compose up -d (waiting for healthy)"
compose up -d >"$scratch/up.log" 2>&1 || { cat "$scratch/up.log" >&2; fail "up failed"; }
cid=$(compose ps -q bootlab)
[ -n "$cid" ] || fail "no container"
for _ in $(seq 1 120); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null || echo gone)
  [ "$health" = healthy ] && break
  [ "$health" = unhealthy ] || [ "$health" = gone ] && fail "container is $health"
  sleep 0.5
done
[ "$health" = healthy ] || fail "not healthy after 60 s (is $health)"
step "up until healthy"

say "checks"
curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/healthz" >"$scratch/healthz" || fail "/healthz did not answer"
echo "  /healthz: $(head -c 200 "$scratch/healthz")"

if [ -f /usr/lib/ipxe/undionly.kpxe ]; then want=$(sha256sum </usr/lib/ipxe/undionly.kpxe | cut -d' ' -f1)
else want=$(docker exec "$cid" sha256sum /usr/lib/ipxe/undionly.kpxe | cut -d' ' -f1); fi
got=$(curl -fsS --max-time 20 "tftp://127.0.0.1/undionly.kpxe" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "TFTP undionly.kpxe: sha256 $got, want $want"
echo "  TFTP  tftp://127.0.0.1/undionly.kpxe: sha256 matches the ipxe package ($want)"
step "healthz + TFTP fetch"

code=$(curl -s -o "$scratch/http.kpxe" -w '%{http_code}' --max-time 20 "http://127.0.0.1:$HTTP_PORT/undionly.kpxe" || true)
if [ "$code" = 200 ]; then
  got=$(sha256sum <"$scratch/http.kpxe" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "HTTP undionly.kpxe: sha256 $got, want $want"
  echo "  HTTP  http://127.0.0.1:$HTTP_PORT/undionly.kpxe: sha256 matches"
  http_result="ok"
elif [ "$code" = 000 ]; then
  echo "  HTTP  nothing listens on port $HTTP_PORT (this build has no HTTP boot server yet)"
  http_result="no HTTP service in this build"
else
  fail "HTTP undionly.kpxe: status $code"
fi
step "HTTP fetch"

status=$(sed -n 's/^\(Uid\|CapEff\|CapBnd\):[[:space:]]*//p' "/proc/$(docker inspect -f '{{.State.Pid}}' "$cid")/status" | tr '\n' ' ')
echo "  process: Uid/CapEff/CapBnd $status"
read -r uid _ _ _ capeff capbnd <<<"$status"
[ "$uid" = "$RUN_UID" ] || fail "bootlab runs as uid $uid, want $RUN_UID"
# CAP_NET_BIND_SERVICE (10) and CAP_NET_ADMIN (12): 0x1400, nothing else.
[ "$((16#$capeff))" = $((0x1400)) ] || fail "effective capabilities $capeff, want 0000000000001400"
[ "$((16#$capbnd))" = $((0x1400)) ] || fail "bounding set $capbnd, want 0000000000001400"
echo "  capabilities: exactly NET_BIND_SERVICE + NET_ADMIN (effective and bounding), uid $uid"

compose ps
compose ps | grep -q '(healthy)' || fail "docker compose ps does not show healthy"
# The overrides, as the container's bootlab sees them (check-config prints its summary),
# and in the running service list: no dhcp.
summary=$(docker exec "$cid" bootlab-entrypoint check-config --config /app/config/appliance.yaml 2>&1) \
  || fail "check-config in the container failed: $summary"
echo "$summary" | grep -q '^  dhcp: off' || fail "check-config does not show dhcp: off (BOOTLAB_DHCP_MODE=off): $summary"
running=$(compose logs --no-color 2>&1 | grep -o '"services":\[[^]]*\][^}]*"msg":"bootlab running"' | head -1)
[ -n "$running" ] || fail "no 'bootlab running' line in the log"
case "$running" in *dhcp*) fail "DHCP runs although BOOTLAB_DHCP_MODE=off: $running" ;; esac
echo "  BOOTLAB_DHCP_MODE=off: check-config in the container says '$(echo "$summary" | grep '^  dhcp:' | sed 's/^ *//')'; log: ${running%%,\"admin\"*}]"
for f in undionly.kpxe ipxe.efi snponly.efi PROVENANCE.txt; do
  [ -f "$scratch/tftpboot/$f" ] || fail "tftpboot/$f was not installed at start"
done
owner=$(stat -c %u "$scratch/tftpboot/undionly.kpxe")
echo "  tftpboot: binaries and PROVENANCE.txt installed at start, owned by uid $owner"
curl -fsS --max-time 5 -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"hostname":"compose-check"}' "http://127.0.0.1:$ADMIN_PORT/api/hosts/52:54:00:00:00:01" >/dev/null \
  || fail "the admin API refused a host change with BOOTLAB_ADMIN_TOKEN"
grep -q 'hostname: compose-check' "$scratch/config/hosts.yaml" || fail "the host map in the mounted config/ was not written"
echo "  admin API: BOOTLAB_ADMIN_TOKEN accepted, host map saved into the mounted config/ (owner uid $(stat -c %u "$scratch/config/hosts.yaml"))"
shown=$(compose exec -T bootlab bootlab token 2>/dev/null) || fail "docker compose exec bootlab bootlab token failed"
[ "$shown" = "$TOKEN" ] || fail "bootlab token in the container printed '$shown', want the BOOTLAB_ADMIN_TOKEN it runs with"
echo "  docker compose exec bootlab bootlab token: prints the token in use"
size=$(docker image inspect -f '{{.Size}}' bootlab:local)
echo "  image bootlab:local: $((size / 1000000)) MB"
step "other checks"

say "docker compose down -v"
trap - EXIT
compose down -v --remove-orphans >/dev/null 2>&1
step "down"
rm -rf "$scratch"
if [ "$started_engine" = 1 ]; then "$offline" stop >/dev/null; step "engine stop"; fi

echo
echo "compose-check: PASS  (HTTP: $http_result)"
printf '  %s\n' "${timings[@]}"
printf '  %-34s %6.1f s\n' total "$(echo "$(date +%s.%N) - $t0" | bc)"
