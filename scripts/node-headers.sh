# Sourced by scripts/start.sh and scripts/test.sh before `npm ci`: the sockopt addon compiles
# against Node's C headers, and node-gyp would download them from nodejs.org (not reachable on
# a closed network or behind some proxies). Use headers already on this machine: an npm
# config that names them, Node's own beside its binary (the official tarball and image,
# NodeSource), or Debian's libnode-dev (Node 18's: fine for a Node-API addon, whose ABI is
# stable across versions; the Dockerfile does the same).
node_headers() {
  configured=$(npm config get nodedir 2>/dev/null || true)
  if [ -n "$configured" ] && [ "$configured" != undefined ] && [ -f "$configured/include/node/common.gypi" ]; then
    return 0
  fi
  prefix=$(dirname "$(dirname "$(command -v node)")")
  if [ -f "$prefix/include/node/common.gypi" ]; then
    export npm_config_nodedir="$prefix"
    return 0
  fi
  if ! dpkg-query -W -f='${Status}' libnode-dev 2>/dev/null | grep -q "install ok installed"; then
    echo "bootlab: installing Debian's libnode-dev (Node's headers, for the sockopt addon)" >&2
    scripts/as-root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnode-dev"
  fi
  export npm_config_nodedir=/usr
}
