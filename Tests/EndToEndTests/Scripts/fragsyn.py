#!/usr/bin/env python3
"""Sends one IPv4 TCP SYN from SOURCE to DEST:PORT over a raw socket (IP_HDRINCL), split into two fragments
after FIRST bytes of the TCP segment (a multiple of 8; 0 = not fragmented), with PAYLOAD data bytes after
the 20-byte TCP header. FIRST=8 is the RFC 1858 tiny fragment: the first fragment holds the ports and the
sequence number, the second (fragment offset 1) the flags. Then waits up to WAIT seconds for the answer and
prints one word: `synack` (a listener answered), `reset` (a TCP reset from DEST:PORT) or `silent`.
IPv6 addresses send an IPv6 packet; fragments get a fragment header (the IPv4 rules about FIRST apply).
usage: fragsyn.py SOURCE DEST PORT FIRST PAYLOAD [WAIT]"""
import random
import select
import socket
import struct
import sys
import time

from inet_checksum import checksum  # noqa: E402 (next to this script)


src, dst, dport, first, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wait = float(sys.argv[6]) if len(sys.argv) > 6 else 1.5
assert first % 8 == 0 and first < 20 + payload
sport, seq, ident = random.randint(20000, 60000), random.randint(0, 2**32 - 1), random.randint(1, 0xFFFF)
v6 = ":" in dst
family = socket.AF_INET6 if v6 else socket.AF_INET
saddr, daddr = socket.inet_pton(family, src), socket.inet_pton(family, dst)
tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0) + bytes(i % 256 for i in range(payload))
if v6:
    pseudo = saddr + daddr + struct.pack("!IxxxB", len(tcp), 6)
else:
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]


def ip(offset, more, body):
    if v6:
        if offset is None:  # not fragmented
            return struct.pack("!IHBB", 0x60000000, len(body), 6, 64) + saddr + daddr + body
        fragment = struct.pack("!BBHI", 6, 0, offset << 3 | more, ident)
        return struct.pack("!IHBB", 0x60000000, 8 + len(body), 44, 64) + saddr + daddr + fragment + body
    # The kernel fills in the IPv4 checksum; total length is set here as it would be anyway.
    field = 0 if offset is None else more << 13 | offset
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, field, 64, 6, 0, saddr, daddr) + body


packets = [ip(None, 0, tcp)] if first == 0 else [ip(0, 1, tcp[:first]), ip(first // 8, 0, tcp[first:])]
listener = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
sender = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IPPROTO_RAW implies header included
for packet in packets:
    sender.sendto(packet, (dst, 0))
deadline = time.monotonic() + wait
while True:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([listener], [], [], left)[0]:
        print("silent")
        break
    reply, address = listener.recvfrom(65535)
    # IPv4 raw sockets deliver the IP header, IPv6 ones start at the TCP header.
    start = 0 if v6 else (reply[0] & 0x0F) * 4
    if socket.inet_pton(family, address[0]) != daddr or struct.unpack("!HH", reply[start:start + 4]) != (dport, sport):
        continue
    flags = reply[start + 13]
    if flags & 0x04:
        print("reset")
        break
    if flags & 0x12 == 0x12:
        print("synack")
        break
