#!/usr/bin/env bash
# Regenerates the real-firmware DHCP fixtures in test/fixtures/dhcp/ (README.md there).
# Needs root (network namespaces), qemu-system-x86, ipxe-qemu, ipxe, ovmf, tcpdump, dnsmasq,
# python3. Every capture runs in its own namespace lab (blcap<pid>-lan holding bridge br0
# and tap0; blcap<pid>-srv for the dnsmasq run), with tcpdump -w on br0. Nothing leaves the
# lab: the VM's only NIC is the tap, and both veth ends live in the lab's namespaces.
# Processes are stopped by PID and the namespaces deleted on exit, even on failure.
#
# usage: scripts/capture-dhcp-fixtures.sh [OUTDIR]      (default test/fixtures/dhcp)
#        KEEP_PCAPS=DIR keeps the raw captures.
#
# xid (and iPXE's secs) differ on every run; everything else in the fixtures is reproduced
# exactly with the same package versions.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/test/fixtures/dhcp}"
tool="$repo/scripts/dhcp-pcap.py"
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "capture-dhcp-fixtures: needs root (ip netns)" >&2; exit 1; }

MAC=52:54:00:00:00:01
# A fixed SMBIOS UUID (QEMU's default is all zeros), asymmetric so that the byte order
# firmware puts into option 97 can be checked: EDK2 and iPXE both send it little-endian
# in the first three fields, as SMBIOS stores it.
UUID=8a4f1a2e-3c5d-4e6f-9a0b-1c2d3e4f5a6b
P="blcap$$"
LAN="$P-lan"
SRV="$P-srv"
work="$(mktemp -d /tmp/bl-capture.XXXXXX)"
pids=()

stop_pids() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
lab_down() {
  stop_pids
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$LAN" 2>/dev/null || true
}
cleanup() {
  lab_down
  if [ -n "${KEEP_PCAPS:-}" ]; then mkdir -p "$KEEP_PCAPS"; cp "$work"/*.pcap "$work"/*.log "$KEEP_PCAPS"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

lab_up() {  # lab_up [with-server]
  ip netns add "$LAN"
  ip -n "$LAN" link set lo up
  ip -n "$LAN" link add br0 type bridge
  ip -n "$LAN" link set br0 type bridge forward_delay 0 stp_state 0
  ip -n "$LAN" link set br0 up
  ip -n "$LAN" tuntap add tap0 mode tap
  ip -n "$LAN" link set tap0 master br0 up
  if [ "${1:-}" = with-server ]; then
    ip netns add "$SRV"
    ip -n "$SRV" link set lo up
    ip -n "$LAN" link add vsrv type veth peer name eth0 netns "$SRV"
    ip -n "$LAN" link set vsrv master br0 up
    ip -n "$SRV" addr add 192.0.2.1/24 dev eth0
    ip -n "$SRV" link set eth0 up
  fi
}

start_tcpdump() {  # start_tcpdump NAME
  ip netns exec "$LAN" tcpdump -i br0 -U -s 0 -w "$work/$1.pcap" 'udp and (port 67 or port 68 or port 4011)' 2>"$work/$1.tcpdump.log" &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q 'listening on' "$work/$1.tcpdump.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "tcpdump did not start: $(cat "$work/$1.tcpdump.log")" >&2
  return 1
}

start_vm() {  # start_vm NAME bios|uefi|uefi-ipxe   (same QEMU arguments as test/helpers/vm.ts)
  local name="$1" fw="$2" dev="virtio-net-pci,netdev=n0,mac=$MAC"
  local -a fwargs=()
  if [ "$fw" = uefi ]; then dev="$dev,romfile="; fi
  if [ "$fw" != bios ]; then
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/$name.vars.fd"
    fwargs=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
            -drive "if=pflash,format=raw,unit=1,file=$work/$name.vars.fd")
  fi
  ip netns exec "$LAN" qemu-system-x86_64 -machine pc -accel tcg -m 256 \
    -nographic -monitor none -serial "file:$work/$name.serial.log" -no-reboot -uuid "$UUID" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
    -device "$dev,bootindex=1" "${fwargs[@]}" >"$work/$name.qemu.log" 2>&1 &
  pids+=($!)
}

wait_packet() {  # wait_packet NAME TIMEOUT_S FIND-ARGS... ; prints the packet index
  local name="$1" timeout="$2"; shift 2
  local deadline=$(( $(date +%s) + timeout )) idx
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if idx="$(python3 "$tool" find "$work/$name.pcap" "$@" 2>/dev/null)"; then echo "$idx"; return 0; fi
    sleep 0.5
  done
  echo "no packet matching [$*] in $name after ${timeout}s; capture:" >&2
  python3 "$tool" list "$work/$name.pcap" >&2 || true
  tail -c 2000 "$work/$name.serial.log" >&2 || true
  return 1
}

save() {  # save NAME INDEX FIXTURE "description"
  python3 "$tool" extract "$work/$1.pcap" "$2" "$out/$3.bin"
  python3 "$tool" decode "$out/$3.bin" --source "$4" >"$out/$3.json"
  echo "saved $3.bin ($(stat -c %s "$out/$3.bin") bytes): $4"
}

versions="qemu-system-x86 $(dpkg-query -W -f='${Version}' qemu-system-x86), ipxe-qemu $(dpkg-query -W -f='${Version}' ipxe-qemu), ipxe $(dpkg-query -W -f='${Version}' ipxe), ovmf $(dpkg-query -W -f='${Version}' ovmf)"
echo "$versions"

# (a) QEMU's iPXE ROM under SeaBIOS (virtio-net), no server.
lab_up
start_tcpdump a
start_vm a bios
i="$(wait_packet a 180 --mac $MAC --type 1)"
save a "$i" ipxe-bios-virtio-discover "QEMU iPXE option ROM (pxe-virtio.rom / efi-virtio.rom legacy part) under SeaBIOS, virtio-net-pci, first DHCPDISCOVER; $versions"
lab_down

# (b)+(c) OVMF with romfile= (EDK2's own PXE client), no server: every DHCP packet it sends.
# EDK2 retries DISCOVER with the same xid; keep the first and the last one seen in 70 s.
lab_up
start_tcpdump b
start_vm b uefi
i="$(wait_packet b 240 --mac $MAC --type 1)"
save b "$i" edk2-ovmf-x64-discover "OVMF (EDK2 PxeBcDxe, romfile= so no iPXE), virtio-net-pci, first DHCPDISCOVER; $versions"
sleep 70
python3 "$tool" list "$work/b.pcap" | tee "$out/edk2-ovmf-x64-noserver.txt"
n="$(python3 "$tool" list "$work/b.pcap" | grep -c "mac=$MAC" || true)"
if [ "$n" -gt 1 ]; then
  i="$(python3 "$tool" find "$work/b.pcap" --mac $MAC --type 1 --nth "$n" || true)"
  [ -n "$i" ] && save b "$i" edk2-ovmf-x64-discover-retry "OVMF EDK2 PXE, DHCPDISCOVER number $n of the same boot (retransmission, no server); $versions"
fi
lab_down

# (e) OVMF with QEMU's default NIC ROM: iPXE's EFI driver does the DHCP, no server.
lab_up
start_tcpdump e
start_vm e uefi-ipxe
i="$(wait_packet e 240 --mac $MAC --type 1)"
save e "$i" ipxe-efi-virtio-discover "QEMU iPXE option ROM EFI driver (efi-virtio.rom) under OVMF, virtio-net-pci, first DHCPDISCOVER; $versions"
lab_down

# (d) EDK2 PXE -> dnsmasq (full DHCP + TFTP) hands out snponly.efi -> iPXE's first DISCOVER.
# Also keeps EDK2's DHCPREQUEST from the same exchange.
lab_up with-server
mkdir -p "$work/tftp"
cp /usr/lib/ipxe/snponly.efi "$work/tftp/"
start_tcpdump d
ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=eth0 --bind-interfaces \
  --pid-file="$work/dnsmasq.pid" --dhcp-leasefile="$work/leases" \
  --dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m --enable-tftp --tftp-root="$work/tftp" \
  --dhcp-match=set:ipxe,175 --dhcp-boot=tag:!ipxe,snponly.efi,,192.0.2.1 \
  --log-dhcp --log-facility=- >"$work/d.dnsmasq.log" 2>&1 &
pids+=($!)
start_vm d uefi
i="$(wait_packet d 240 --mac $MAC --type 3 --without-opt 175)"
save d "$i" edk2-ovmf-x64-request "OVMF EDK2 PXE DHCPREQUEST after dnsmasq's offer (full DHCP server at 192.0.2.1); $versions"
i="$(wait_packet d 240 --mac $MAC --type 1 --with-opt 175)"
save d "$i" ipxe-snponly-efi-discover "iPXE snponly.efi (package ipxe) chainloaded by OVMF EDK2 PXE, first DHCPDISCOVER; $versions"
lab_down

echo "fixtures in $out"
