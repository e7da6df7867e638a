#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""vifpkt.py - small traffic tools for the netns tests (stdlib only).

  udp-send  --dst IP --port P [--count N] [--duration S] [--size B]
            [--rate PPS]
      Send UDP datagrams from an unconnected socket until N are sent or
      S seconds pass (whichever comes first; either may be 0 = no limit).
      Prints the number sent.  Send errors (ENOBUFS, EPERM from an
      unreachable route, ...) are counted, not fatal.
  udp-recv  --port P --timeout S [--expect N] [--ready FILE]
      Count datagrams on 0.0.0.0:P until N arrived or S seconds passed
      with nothing new.  Touches FILE once bound.  Prints the count.
  raw       --dev IF --dst MAC --src MAC --ip-src A --ip-dst B --port P
            [--vlan V] [--count N] [--size B] [--tpid T]
      Write IPv4/UDP frames on IF with an AF_PACKET socket, 802.1Q-tagged
      with V when given (as the trunk's router would), and with any source
      address (as a spoofing service would).  Prints the number sent.
"""
import argparse
import errno
import os
import select
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(b, 16) for b in s.split(":"))


def udp_send(a):
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"vifplane-test".ljust(a.size, b"x")[: a.size]
    deadline = time.monotonic() + a.duration if a.duration else None
    gap = 1.0 / a.rate if a.rate else 0.0
    sent = errors = 0
    nxt = time.monotonic()
    while not a.count or sent + errors < a.count:
        if deadline and time.monotonic() >= deadline:
            break
        try:
            sk.sendto(payload, (a.dst, a.port))
            sent += 1
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EPERM, errno.EHOSTUNREACH,
                               errno.ENETUNREACH, errno.ECONNREFUSED,
                               errno.EAGAIN):
                raise
            errors += 1
            time.sleep(0.001)
        if gap:
            nxt += gap
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print(sent)
    return 0


def udp_recv(a):
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sk.bind(("0.0.0.0", a.port))
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    n = 0
    while not a.expect or n < a.expect:
        r, _, _ = select.select([sk], [], [], a.timeout)
        if not r:
            break
        sk.recv(65536)
        n += 1
    print(n)
    return 0


def raw(a):
    ip_src = socket.inet_aton(a.ip_src)
    ip_dst = socket.inet_aton(a.ip_dst)
    payload = b"vifplane-raw".ljust(a.size, b"y")[: a.size]
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", 40000, a.port, udp_len, 0) + payload
    pseudo = ip_src + ip_dst + struct.pack("!BBH", 0, 17, udp_len)
    ucs = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", ucs) + udp[8:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17,
                      0, ip_src, ip_dst)
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    if a.vlan is None:
        l2 = mac(a.dst) + mac(a.src) + struct.pack("!H", 0x0800)
    else:
        l2 = (mac(a.dst) + mac(a.src) +
              struct.pack("!HHH", a.tpid, a.vlan & 0x0FFF, 0x0800))
    frame = l2 + iph + udp
    sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sk.bind((a.dev, 0))
    for _ in range(a.count):
        sk.send(frame)
    print(a.count)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("udp-send")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--duration", type=float, default=0)
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--rate", type=float, default=0)
    s = sub.add_parser("udp-recv")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--timeout", type=float, default=2)
    s.add_argument("--expect", type=int, default=0)
    s.add_argument("--ready")
    s = sub.add_parser("raw")
    s.add_argument("--dev", required=True)
    s.add_argument("--vlan", type=int)
    s.add_argument("--dst", required=True)
    s.add_argument("--src", required=True)
    s.add_argument("--ip-src", required=True)
    s.add_argument("--ip-dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--tpid", type=lambda x: int(x, 0), default=0x8100)
    a = p.parse_args()
    return {"udp-send": udp_send, "udp-recv": udp_recv,
            "raw": raw}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
