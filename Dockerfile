# bootlab appliance image. `docker compose up` (compose.yaml) builds and runs it; see
# docs/operations.md. Two stages: the build stage installs every dependency, compiles
# the TypeScript and prunes the dev dependencies; the runtime stage gets dist/services and
# the pruned node_modules, without compilers.

FROM node:20-bookworm-slim AS build
# The sockopt package (SO_BINDTOIFINDEX, SO_RCVBUFFORCE) compiles at install: its
# published linux prebuilds are Mach-O files that do not load. node-gyp would download
# Node's headers from nodejs.org; Debian's libnode-dev has them (Node 18, fine for a
# Node-API addon, whose ABI is stable across versions), so a build needs only the Debian
# mirror and the npm registry. Compilers and headers stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libnode-dev \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY services ./services
# tsconfig also includes test/**, which is not in the build context: only services/ compiles.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# ipxe: undionly.kpxe, ipxe.efi, snponly.efi; pxelinux + syslinux-common: pxelinux.0 and
# its modules; libcap2-bin: setcap (below) and getpcaps for checking a running container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ipxe pxelinux syslinux-common libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
# bootlab runs as an ordinary user (compose.yaml: user, default the image's node user,
# uid 1000) so the files it writes in the mounted config/ and tftpboot/ belong to the
# checkout's owner. Ports 67/69/80 need CAP_NET_BIND_SERVICE, DHCP's 256 KiB receive
# buffer (SO_RCVBUFFORCE) CAP_NET_ADMIN; a non-root process only gets them from file
# capabilities, and only when the container's bounding set has them (compose.yaml's
# cap_add). SO_BINDTOIFINDEX needs no capability since Linux 5.7.
RUN setcap cap_net_bind_service,cap_net_admin+ep /usr/local/bin/node
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/services ./dist/services
COPY web ./web
COPY config ./config
COPY scripts/setup-tftpboot.sh /usr/local/bin/bootlab-setup-tftpboot
COPY deploy/docker-entrypoint.sh /usr/local/bin/bootlab-entrypoint
COPY deploy/bootlab-cli.sh /usr/local/bin/bootlab
# The setup step, run at build time: it fails the build if the packages lack a file, and
# leaves the image's reference copy with its provenance. At start the entrypoint runs it
# again (--keep) on the mounted tftpboot/, so a fresh checkout gets the binaries.
# /app/state is the named volume's seed: sticky and open to any uid (compose.yaml's
# BOOTLAB_UID may differ from 1000); the admin token in it is 0600 all the same.
RUN bootlab-setup-tftpboot /usr/lib/bootlab/tftpboot-base \
 && mkdir -p /app/tftpboot \
 && install -d -o node -g node -m 1777 /app/state \
 && chown node:node /app/config /app/config/hosts.yaml /app/tftpboot
USER node
VOLUME ["/app/state"]
EXPOSE 67/udp 69/udp 80/tcp 4011/udp 8080/tcp
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.BOOTLAB_ADMIN_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["bootlab-entrypoint"]
CMD ["serve", "--config", "/app/config/appliance.yaml"]
