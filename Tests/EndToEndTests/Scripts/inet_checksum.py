"""The Internet checksum (RFC 1071), shared by the packet-crafting scripts (craft.py, fragsyn.py, synflood.py)."""
import struct


def checksum(data):
    """The 16-bit one's complement of the one's complement sum of `data` (padded to an even length)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
