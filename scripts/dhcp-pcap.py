#!/usr/bin/env python3
"""Pulls DHCPv4 messages out of a pcap (Ethernet, from tcpdump -w) and decodes them by hand.

Used by scripts/capture-dhcp-fixtures.sh. Standard library only; independent of bootlab's
codec on purpose, so its JSON can serve as an expectation for the codec tests.

  dhcp-pcap.py find PCAP --mac MAC --type N [--with-opt C] [--without-opt C] [--nth K]
      exit 0 and print the packet index when the K-th (default 1st) match exists, else exit 1
  dhcp-pcap.py extract PCAP INDEX OUT.bin      write the UDP payload (the BOOTP message)
  dhcp-pcap.py decode FILE.bin [--source TEXT]  print the decoded JSON
  dhcp-pcap.py list PCAP                        one line per DHCP packet
"""
import json
import struct
import sys

MAGIC = b"\x63\x82\x53\x63"
TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def pcap_udp_payloads(path):
    """Yields (index, src_ip, src_port, dst_ip, dst_port, payload) for every IPv4/UDP frame."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    off = 24
    index = 0
    while off + 16 <= len(data):
        _sec, _usec, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        index += 1
        if len(frame) < 14:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        l3 = 14
        if ethertype == 0x8100:  # one VLAN tag
            ethertype = struct.unpack("!H", frame[16:18])[0]
            l3 = 18
        if ethertype != 0x0800:
            continue
        ip = frame[l3:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        udp = ip[ihl:total]
        if len(udp) < 8:
            continue
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        payload = udp[8:ulen]
        src = ".".join(str(b) for b in ip[12:16])
        dst = ".".join(str(b) for b in ip[16:20])
        yield index, src, sport, dst, dport, payload


def options(msg):
    """The options as an ordered list of (code, bytes). Stops at 255; skips pads."""
    if len(msg) < 240 or msg[236:240] != MAGIC:
        raise ValueError("no DHCP magic cookie at offset 236")
    out = []
    i = 240
    while i < len(msg):
        code = msg[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            out.append((255, b""))
            break
        ln = msg[i + 1]
        out.append((code, msg[i + 2:i + 2 + ln]))
        i += 2 + ln
    return out


def msg_type(msg):
    for code, val in options(msg):
        if code == 53 and len(val) == 1:
            return val[0]
    return None


def mac_of(msg):
    return ":".join(f"{b:02x}" for b in msg[28:28 + msg[2]])


def presence(opts, code, text=False):
    vals = [v for c, v in opts if c == code]
    if not vals:
        return {"present": False}
    v = vals[0]
    d = {"present": True, "length": len(v), "hex": v.hex()}
    if text:
        d["ascii"] = v.decode("latin1")
    return d


def decode(msg):
    op, htype, hlen, hops, xid, secs, flags = struct.unpack("!BBBBIHH", msg[:12])
    ip = lambda o: ".".join(str(b) for b in msg[o:o + 4])
    opts = options(msg)
    by = {}
    for c, v in opts:
        by.setdefault(c, v)
    end_at = msg.index(b"\xff", 240) if 255 in by else None
    d = {
        "length": len(msg),
        "op": op, "htype": htype, "hlen": hlen, "hops": hops,
        "xid": f"0x{xid:08x}", "secs": secs, "flags": f"0x{flags:04x}", "broadcastFlag": bool(flags & 0x8000),
        "ciaddr": ip(12), "yiaddr": ip(16), "siaddr": ip(20), "giaddr": ip(24),
        "chaddr": mac_of(msg),
        "snameEmpty": not any(msg[44:108]), "fileEmpty": not any(msg[108:236]),
        "messageType": by.get(53, b"\0")[0] if 53 in by else None,
        "messageTypeName": TYPES.get(by[53][0]) if 53 in by else None,
        "optionOrder": [c for c, _ in opts],
        "optionLengths": {str(c): len(v) for c, v in opts if c != 255},
        "endOptionOffset": end_at,
        "paddingAfterEnd": len(msg) - end_at - 1 if end_at is not None else None,
    }
    if 93 in by:
        v = by[93]
        d["opt93ClientArch"] = {"length": len(v), "values": [struct.unpack("!H", v[i:i + 2])[0] for i in range(0, len(v) - 1, 2)]}
    else:
        d["opt93ClientArch"] = None
    d["opt60VendorClass"] = by[60].decode("latin1") if 60 in by else None
    d["opt77UserClass"] = presence(opts, 77, text=True)
    d["opt175Ipxe"] = presence(opts, 175)
    if 175 in by:
        subs, v, i = [], by[175], 0
        while i + 1 < len(v):
            sc, sl = v[i], v[i + 1]
            subs.append({"code": sc, "length": sl, "hex": v[i + 2:i + 2 + sl].hex()})
            i += 2 + sl
        d["opt175Ipxe"]["subOptions"] = subs
    d["opt97ClientUuid"] = presence(opts, 97)
    if 97 in by and len(by[97]) == 17:
        d["opt97ClientUuid"]["type"] = by[97][0]
    d["opt94ClientNdi"] = presence(opts, 94)
    d["opt61ClientId"] = presence(opts, 61)
    d["opt57MaxMessageSize"] = struct.unpack("!H", by[57])[0] if 57 in by and len(by[57]) == 2 else None
    d["opt55ParameterRequestList"] = list(by[55]) if 55 in by else None
    d["opt12HostName"] = by[12].decode("latin1") if 12 in by else None
    d["opt50RequestedIp"] = ".".join(str(b) for b in by[50]) if 50 in by else None
    d["opt54ServerId"] = ".".join(str(b) for b in by[54]) if 54 in by else None
    return d


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "list":
        for idx, src, sp, dst, dp, pl in pcap_udp_payloads(argv[2]):
            if sp in (67, 68, 4011) or dp in (67, 68, 4011):
                try:
                    t = TYPES.get(msg_type(pl), "?")
                    o = [c for c, _ in options(pl)]
                except ValueError:
                    t, o = "BOOTP?", []
                print(f"{idx} {src}:{sp} -> {dst}:{dp} len={len(pl)} {t} mac={mac_of(pl)} xid=0x{pl[4:8].hex()} secs={struct.unpack('!H', pl[8:10])[0]} opts={o}")
    elif cmd == "find":
        path = argv[2]
        args = argv[3:]
        mac, typ, with_, without, nth = None, None, [], [], 1
        i = 0
        while i < len(args):
            k, v = args[i], args[i + 1]
            if k == "--mac": mac = v.lower()
            elif k == "--type": typ = int(v)
            elif k == "--with-opt": with_.append(int(v))
            elif k == "--without-opt": without.append(int(v))
            elif k == "--nth": nth = int(v)
            else: raise SystemExit(f"unknown {k}")
            i += 2
        seen = 0
        for idx, _s, sp, _d, dp, pl in pcap_udp_payloads(path):
            if sp != 68 or dp != 67:
                continue
            try:
                codes = {c for c, _ in options(pl)}
                if mac and mac_of(pl) != mac: continue
                if typ is not None and msg_type(pl) != typ: continue
            except ValueError:
                continue
            if any(c not in codes for c in with_) or any(c in codes for c in without):
                continue
            seen += 1
            if seen == nth:
                print(idx)
                return 0
        return 1
    elif cmd == "extract":
        path, want, out = argv[2], int(argv[3]), argv[4]
        for idx, *_rest, pl in pcap_udp_payloads(path):
            if idx == want:
                open(out, "wb").write(pl)
                return 0
        raise SystemExit(f"no packet {want} in {path}")
    elif cmd == "decode":
        msg = open(argv[2], "rb").read()
        d = decode(msg)
        if len(argv) > 4 and argv[3] == "--source":
            d = {"source": argv[4], **d}
        print(json.dumps(d, indent=2))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
