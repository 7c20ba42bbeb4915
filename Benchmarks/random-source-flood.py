#!/usr/bin/env python3
"""Random-source SYN flood for the block log's memory test: IPv4 SYNs to port 25 from sources drawn uniformly
from a pool of POOL addresses starting at 100.64.0.0 (subscriber space), to random hosts in 198.51.100.0/24,
paced at RATE frames per second for SECONDS, sent as Ethernet frames on IFACE (AF_PACKET) to DSTMAC.

With the defaults (30,000/s for 120 s from a pool of 800,000) about 780,000 distinct sources send 3.6 M SYNs,
so nearly every SYN needs a block-log row of its own. Prints "sent=N distinct_sources=N seconds=S".

usage: random-source-flood.py IFACE DSTMAC [RATE [SECONDS [POOL [SEED]]]]"""
import random
import socket
import struct
import sys
import time


def fold(total):
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def main():
    iface, dstmac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 30000.0
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    pool = int(sys.argv[5]) if len(sys.argv) > 5 else 800_000
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 25
    if not (0 < pool <= 1 << 22):
        sys.exit("POOL must be 1 ... 4194304 (100.64.0.0/10)")
    with open(f"/sys/class/net/{iface}/address") as file:
        srcmac = bytes.fromhex(file.read().strip().replace(":", ""))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    rng = random.Random(seed)
    base_source, base_destination = 0x64400000, 0xC6336400  # 100.64.0.0, 198.51.100.0
    ethernet = dstmac + srcmac + b"\x08\x00"
    # IPv4: version/IHL, TOS, total length 40, id, DF, TTL 64, TCP; the constant words' sum, for the checksum.
    ip_constant = 0x4500 + 40 + 0x4000 + (64 << 8 | 6)
    # TCP pseudo header (protocol 6, length 20) and the constant header words: dport 25, offset 5, SYN, window.
    tcp_constant = 6 + 20 + 25 + (5 << 12 | 0x02) + 64240
    seen = set()
    sent = 0
    start = time.monotonic()
    deadline = start + seconds
    frame = bytearray(14 + 40)
    frame[0:14] = ethernet
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        ahead = start + sent / rate - now
        if ahead > 0.001:
            time.sleep(ahead)
        for _ in range(100):
            source = base_source + rng.randrange(pool)
            destination = base_destination + 1 + rng.randrange(254)
            sport = 1024 + rng.randrange(64000)
            sequence = rng.getrandbits(32)
            address_sum = (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF)
            ip_checksum = 0xFFFF - fold(ip_constant + address_sum)
            tcp_sum = tcp_constant + address_sum + sport + (sequence >> 16) + (sequence & 0xFFFF)
            tcp_checksum = 0xFFFF - fold(tcp_sum)
            struct.pack_into(
                "!BBHHHBBHII", frame, 14, 0x45, 0, 40, 0, 0x4000, 64, 6, ip_checksum, source, destination)
            struct.pack_into(
                "!HHIIBBHHH", frame, 34, sport, 25, sequence, 0, 5 << 4, 0x02, 64240, tcp_checksum, 0)
            try:
                sock.send(frame)
            except OSError:
                time.sleep(0.001)
                continue
            sent += 1
            seen.add(source)
    print(f"sent={sent} distinct_sources={len(seen)} seconds={time.monotonic() - start:.1f}")


if __name__ == "__main__":
    main()
