#!/usr/bin/env python3
"""Sends one IPv4 TCP SYN from SOURCE to DEST:PORT over a raw socket (IP_HDRINCL), split into two fragments
after FIRST bytes of the TCP segment (a multiple of 8; 0 = not fragmented), with PAYLOAD data bytes after
the 20-byte TCP header. FIRST=8 is the RFC 1858 tiny fragment: the first fragment holds the ports and the
sequence number, the second (fragment offset 1) the flags. Then waits up to WAIT seconds for the answer and
prints one word: `synack` (a listener answered), `reset` (a TCP reset from DEST:PORT) or `silent`.
usage: fragsyn.py SOURCE DEST PORT FIRST PAYLOAD [WAIT]"""
import random
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


src, dst, dport, first, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wait = float(sys.argv[6]) if len(sys.argv) > 6 else 1.5
assert first % 8 == 0 and first < 20 + payload
sport, seq, ident = random.randint(20000, 60000), random.randint(0, 2**32 - 1), random.randint(1, 0xFFFF)
tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0) + bytes(i % 256 for i in range(payload))
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]


def ip(fragment_field, body):
    # The kernel fills in the IP checksum; total length is set here as it would be anyway.
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, fragment_field, 64, 6, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + body


packets = [ip(0, tcp)] if first == 0 else [ip(0x2000, tcp[:first]), ip(first // 8, tcp[first:])]
listener = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IPPROTO_RAW implies IP_HDRINCL
for packet in packets:
    sender.sendto(packet, (dst, 0))
deadline = time.monotonic() + wait
while True:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([listener], [], [], left)[0]:
        print("silent")
        break
    reply = listener.recv(65535)
    ihl = (reply[0] & 0x0F) * 4
    if socket.inet_ntoa(reply[12:16]) != dst or struct.unpack("!HH", reply[ihl:ihl + 4]) != (dport, sport):
        continue
    flags = reply[ihl + 13]
    if flags & 0x04:
        print("reset")
        break
    if flags & 0x12 == 0x12:
        print("synack")
        break
