#!/usr/bin/env python3
"""A corpus of crafted TCP SYNs to port 25: fragment chains, extension headers, IPv4 options, odd flags.

Runs in the subscriber namespace (python3 standard library only). Each case sends one connection attempt,
from the subscriber's own address, to a non-relay MX host in a crafted form, and then watches the subscriber's
interface (AF_PACKET) for up to WAIT seconds for the answer from the MX address to the case's own source port:

    CASE <name> answered   a SYN-ACK came back: the MX reassembled/parsed the SYN and accepted it
    CASE <name> reset      a TCP reset came back (the router's reject, or the MX refused it)
    CASE <name> silent     nothing came back (dropped somewhere, or the MX threw the packet away)

A SYN-ACK wins over a reset seen in the same window (the window is always waited out unless a SYN-ACK comes).
Every case has its own source port, IPv4 identification and IPv6 fragment identification. The subscriber's
kernel answers the SYN-ACK of a raw-socket SYN with a reset; that is fine, only the SYN-ACK matters.

Packets are sent through raw sockets with the header included (AF_INET/AF_INET6, IPPROTO_RAW), the way
fragsyn.py sends its fragments: the kernel sends the bytes as given (it fills in the IPv4 total length and
header checksum), so IPv6 Fragment, Destination Options, Hop-by-Hop, Routing and unknown headers go out as built.

Cases named control_* are the harness's own check: control_relay_* go to the relay (192.0.2.25,
2001:db8:25::25; must be answered), control_mx_* are plain SYNs to the MX (must not be answered under egress25).

`--list` prints, per case, `LIST <name> <family> unfiltered=<answered|silent>`: what a Linux MX does with the
case when nothing filters it (answered = the crafted packet really is a connection attempt the MX accepts;
silent = the MX itself drops it, e.g. overlapping fragments, RFC 5722, or an unknown next header).

usage: craft.py [--wait S] [--only NAME[,NAME...]] [--base-port N] [--interface IF] [--list]
                [--source4 A] [--source6 A] [--mx4 A] [--mx6 A] [--relay4 A] [--relay6 A] [--port P]
                [--max-seconds S]
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import time

from inet_checksum import checksum  # noqa: E402 (next to this script)

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
HOPOPTS, TCP, ROUTING, FRAGMENT, DSTOPTS, MOBILITY = 0, 6, 43, 44, 60, 135


# ---------------------------------------------------------------------------------------------- TCP


def tcp(src, dst, sport, dport, seq, flags=SYN, options=b"", payload=b"", urgent=0, window=64240):
    """A TCP segment with a correct checksum over the IPv4 or IPv6 pseudo header (chosen by address length)."""
    assert len(options) % 4 == 0 and len(options) <= 40
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (5 + len(options) // 4) << 4, flags, window, 0, urgent)
    segment = header + options + payload
    if len(src) == 16:
        pseudo = src + dst + struct.pack("!IxxxB", len(segment), TCP)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, TCP, len(segment))
    return segment[:16] + struct.pack("!H", checksum(pseudo + segment)) + segment[18:]


MSS = struct.pack("!BBH", 2, 4, 1460)
# TCP Fast Open (RFC 7413): kind 34 with an 8-byte cookie, MSS before it, two NOPs to a multiple of 4.
TFO = MSS + struct.pack("!BB", 34, 10) + bytes(range(0xA0, 0xA8)) + b"\x01\x01"

# ---------------------------------------------------------------------------------------------- IPv4


def ipv4(src, dst, ident, body, offset8=0, more=0, options=b"", df=0):
    assert len(options) % 4 == 0 and len(options) <= 40
    ihl = 5 + len(options) // 4
    field = df << 14 | more << 13 | offset8
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(body), ident, field, 64, TCP, 0, src, dst)
    header += options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + body


def v4_pieces(src, dst, ident, pieces, options=b""):
    """pieces: (byte offset into the TCP segment, bytes, more fragments). Options only in the offset-0 piece."""
    packets = []
    for start, data, more in pieces:
        assert start % 8 == 0
        packets.append(ipv4(src, dst, ident, data, start // 8, more, options if start == 0 else b""))
    return packets


# IPv4 options filling the header to IHL 15 (60 bytes).
OPT_RR = b"\x01" + struct.pack("!BBB", 7, 39, 4) + bytes(36)  # NOP + record route, 9 empty slots
OPT_TS = struct.pack("!BBBB", 68, 40, 5, 0) + bytes(36)  # timestamp, 9 empty slots
OPT_NOP = b"\x01" * 40

# ---------------------------------------------------------------------------------------------- IPv6


def ipv6(src, dst, next_header, body):
    return struct.pack("!IHBB", 0x60000000, len(body), next_header, 64) + src + dst + body


def options_header(total):
    """A Hop-by-Hop or Destination Options header of TOTAL bytes (a multiple of 8, 8..256). Up to 7 bytes of
    content are padding (Linux refuses more than 7 bytes of consecutive padding); longer ones carry one
    experimental option of type 0x1E (RFC 4727; the top bits 00 mean "skip if unknown")."""
    assert total % 8 == 0 and 8 <= total <= 256
    content = total - 2

    def make(next_header):
        if content <= 7:
            body = struct.pack("!BB", 1, content - 2) + bytes(content - 2)  # PadN
        else:
            body = struct.pack("!BB", 0x1E, content - 2) + bytes(i % 251 + 1 for i in range(content - 2))
        return struct.pack("!BB", next_header, total // 8 - 1) + body

    return make


def routing0(address):
    """Routing header type 0 with one address and segments left 0 (RFC 5095: ignored when segments left is 0)."""
    return lambda next_header: struct.pack("!BBBBI", next_header, 2, 0, 0, 0) + address


def generic(total=8):
    """An extension header of unknown meaning: next header, length, then zeros (for 253, 254, 135...)."""
    return lambda next_header: struct.pack("!BB", next_header, total // 8 - 1) + bytes(total - 2)


def chain(headers, last, tail):
    """headers: [(protocol number, make(next_header) -> bytes)]; returns (first next header, chain + tail)."""
    body, next_header = tail, last
    for number, make in reversed(headers):
        body, next_header = make(next_header) + body, number
    return next_header, body


def v6_plain(src, dst, headers, segment):
    first, body = chain(headers, TCP, segment)
    return [ipv6(src, dst, first, body)]


def v6_fragments(src, dst, ident, unfragmentable, fragmentable, segment, pieces):
    """Fragments of (fragmentable headers + SEGMENT): pieces are (start, end or None, more) byte ranges of the
    fragmentable part, or (start, bytes, more) to send other bytes at START (overlaps)."""
    first, part = chain(fragmentable, TCP, segment)
    packets = []
    for start, end, more in pieces:
        assert start % 8 == 0
        data = end if isinstance(end, (bytes, bytearray)) else part[start:end]
        fragment = struct.pack("!BBHI", first, 0, (start // 8) << 3 | more, ident)
        nh, body = chain(unfragmentable, FRAGMENT, fragment + data)
        packets.append(ipv6(src, dst, nh, body))
    return packets, part


# ---------------------------------------------------------------------------------------------- cases


class Case:
    def __init__(self, name, family, unfiltered, build, target="mx"):
        self.name, self.family, self.unfiltered, self.build, self.target = name, family, unfiltered, build, target


def corpus():
    """Every case: name, family, what an unfiltered Linux MX does, and a builder(ctx) -> [packets]."""
    cases = []

    def add(name, family, unfiltered, target="mx"):
        def register(build):
            cases.append(Case(name, family, unfiltered, build, target))
            return build

        return register

    DO8, DO16, DO256, HBH8 = options_header(8), options_header(16), options_header(256), options_header(8)
    data12 = b"EHLO x.test\n"  # 12 bytes: makes a 32-byte segment, so fragments at 8, 16 and 24 leave a tail

    # --- controls
    @add("control_relay_v4", 4, "answered", target="relay")
    def _(c):
        return [ipv4(c.s4, c.relay4, c.ident, c.syn4(c.relay4))]

    @add("control_relay_v6", 6, "answered", target="relay")
    def _(c):
        return v6_plain(c.s6, c.relay6, [], c.syn6(c.relay6))

    @add("control_mx_v4", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4())]

    @add("control_mx_v6", 6, "answered")
    def _(c):
        return v6_plain(c.s6, c.mx6, [], c.syn6())

    # --- IPv6: the extension-header chain split across fragments (RFC 7112) and its variants
    def v6frag(c, unfrag, frag, pieces, segment=None):
        packets, _ = v6_fragments(c.s6, c.mx6, c.ident6, unfrag, frag, segment or c.syn6(), pieces)
        return packets

    @add("v6_split_chain", 6, "answered")
    def _(c):  # first fragment: Frag + DestOpts(next: DestOpts), ends there; second: DestOpts(next: TCP) + SYN
        return v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, 8, 1), (8, None, 0)])

    @add("v6_split_chain_reversed", 6, "answered")
    def _(c):  # the same fragments, second one first
        return list(reversed(v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, 8, 1), (8, None, 0)])))

    @add("v6_split_chain_long", 6, "answered")
    def _(c):  # a 256-byte first DestOpts: a long, harmless-looking first fragment without the transport header
        return v6frag(c, [], [(DSTOPTS, DO256), (DSTOPTS, DO8)], [(0, 256, 1), (256, None, 0)])

    @add("v6_split_inside_header", 6, "silent")
    def _(c):  # the first fragment ends inside the second DestOpts header (8 of its 16 bytes; Linux drops it)
        return v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO16)], [(0, 16, 1), (16, None, 0)])

    @add("v6_destopts_before_fragment_split", 6, "answered")
    def _(c):  # DestOpts in the unfragmentable part (before the Fragment header), then the split chain
        return v6frag(c, [(DSTOPTS, DO8)], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, 8, 1), (8, None, 0)])

    @add("v6_split_chain_three", 6, "answered")
    def _(c):  # the chain over three fragments
        return v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO8), (DSTOPTS, DO8)],
                      [(0, 8, 1), (8, 16, 1), (16, None, 0)])

    @add("v6_hbh_split_chain", 6, "answered")
    def _(c):  # Hop-by-Hop (unfragmentable, only allowed first), then the split chain
        return v6frag(c, [(HOPOPTS, HBH8)], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, 8, 1), (8, None, 0)])

    @add("v6_rh0_split_chain", 6, "answered")
    def _(c):  # Routing header type 0, segments left 0, in the unfragmentable part, then the split chain
        return v6frag(c, [(ROUTING, routing0(c.mx6_bytes))], [(DSTOPTS, DO8), (DSTOPTS, DO8)],
                      [(0, 8, 1), (8, None, 0)])

    @add("v6_rh0_in_fragment_split", 6, "answered")
    def _(c):  # Routing header type 0 (segments left 0) after the Fragment header, chain split after it
        return v6frag(c, [], [(ROUTING, routing0(c.mx6_bytes)), (DSTOPTS, DO8)], [(0, 24, 1), (24, None, 0)])

    @add("v6_split_in_tcp", 6, "silent")
    def _(c):  # DestOpts + only 8 bytes of TCP in the first fragment (Linux drops it: RFC 8200 4.5)
        return v6frag(c, [], [(DSTOPTS, DO8)], [(0, 16, 1), (16, None, 0)], c.syn6(payload=data12))

    @add("v6_tiny_tcp8", 6, "silent")
    def _(c):  # 8 bytes of TCP in the first fragment, no extension header
        return v6frag(c, [], [], [(0, 8, 1), (8, None, 0)], c.syn6(payload=data12))

    @add("v6_syn_in_second_fragment", 6, "silent")
    def _(c):  # first fragment: DestOpts(next: TCP) and nothing else; the whole SYN in the second fragment
        return v6frag(c, [], [(DSTOPTS, DO16)], [(0, 16, 1), (16, None, 0)])

    @add("v6_rh0", 6, "answered")
    def _(c):  # unfragmented: Routing type 0, segments left 0, then the SYN
        return v6_plain(c.s6, c.mx6, [(ROUTING, routing0(c.mx6_bytes))], c.syn6())

    @add("v6_hbh", 6, "answered")
    def _(c):
        return v6_plain(c.s6, c.mx6, [(HOPOPTS, HBH8)], c.syn6())

    @add("v6_destopts", 6, "answered")
    def _(c):
        return v6_plain(c.s6, c.mx6, [(DSTOPTS, DO8)], c.syn6())

    @add("v6_hbh_destopts_rh0_destopts", 6, "answered")
    def _(c):  # a long legal chain, unfragmented
        return v6_plain(c.s6, c.mx6, [(HOPOPTS, HBH8), (DSTOPTS, DO16), (ROUTING, routing0(c.mx6_bytes)),
                                      (DSTOPTS, DO8)], c.syn6())

    for number in (253, 254, MOBILITY):
        @add(f"v6_unknown_{number}", 6, "silent")
        def _(c, number=number):  # unknown next header before TCP: Linux answers Parameter Problem
            return v6_plain(c.s6, c.mx6, [(number, generic())], c.syn6())

        @add(f"v6_destopts_unknown_{number}", 6, "silent")
        def _(c, number=number):
            return v6_plain(c.s6, c.mx6, [(DSTOPTS, DO8), (number, generic())], c.syn6())

        @add(f"v6_unknown_{number}_fragmented", 6, "silent")
        def _(c, number=number):  # first fragment: only the unknown header
            return v6frag(c, [], [(number, generic())], [(0, 8, 1), (8, None, 0)])

    @add("v6_atomic", 6, "answered")
    def _(c):  # atomic fragment (RFC 6946): Fragment header, offset 0, M=0, carrying a whole SYN
        return v6frag(c, [], [], [(0, None, 0)])

    @add("v6_atomic_destopts", 6, "answered")
    def _(c):
        return v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, None, 0)])

    @add("v6_duplicate_first", 6, "answered")
    def _(c):  # the same first fragment (complete TCP header) twice, then the rest
        first, rest = v6frag(c, [], [], [(0, 24, 1), (24, None, 0)], c.syn6(payload=data12))
        return [first, first, rest]

    @add("v6_duplicate_first_split_chain", 6, "answered")
    def _(c):
        first, rest = v6frag(c, [], [(DSTOPTS, DO8), (DSTOPTS, DO8)], [(0, 8, 1), (8, None, 0)])
        return [first, first, rest]

    @add("v6_overlapping_first", 6, "silent")
    def _(c):  # two different first fragments, each with the whole TCP header, that overlap (RFC 5722: the
        # receiver drops the lot; a first fragment without the whole TCP header would be dropped alone)
        syn = c.syn6(payload=data12 + b"RCPT TO:")
        return v6frag(c, [], [], [(0, 24, 1), (0, 32, 1), (32, None, 0)], syn)

    @add("v6_overlap_rewrites_flags", 6, "silent")
    def _(c):  # first fragment: a benign ACK to :25; second at offset 8 rewrites the flags to SYN
        syn = c.syn6(payload=data12)
        benign = c.syn6(flags=ACK, payload=data12)
        return v6frag(c, [], [], [(0, benign[:24], 1), (8, syn[8:], 0)], syn)

    @add("v6_ecn", 6, "answered")
    def _(c):
        return v6_plain(c.s6, c.mx6, [], c.syn6(flags=SYN | ECE | CWR))

    @add("v6_tfo_data", 6, "answered")
    def _(c):
        return v6_plain(c.s6, c.mx6, [], c.syn6(options=TFO, payload=b"EHLO tfo.test\r\n"))

    # --- IPv4: tiny and overlapping fragments (RFC 1858, RFC 3128), options, flags
    def v4frag(c, pieces, options=b""):
        return v4_pieces(c.s4, c.mx4, c.ident, pieces, options)

    @add("v4_tiny8", 4, "answered")
    def _(c):  # first fragment: 8 TCP bytes (ports, sequence), the flags at offset 1
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:8], 1), (8, syn[8:], 0)])

    @add("v4_tiny8_reversed", 4, "answered")
    def _(c):
        syn = c.syn4(payload=data12)
        return v4frag(c, [(8, syn[8:], 0), (0, syn[:8], 1)])

    @add("v4_short16", 4, "answered")
    def _(c):  # 16 TCP bytes (flags but not the whole header), the rest at offset 2
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:16], 1), (16, syn[16:], 0)])

    @add("v4_overlap_offset1_rewrites_flags", 4, "silent")
    def _(c):  # RFC 3128: a benign first fragment (ACK to :25), then offset 1 rewrites the flags to SYN
        syn, benign = c.syn4(payload=data12), c.syn4(flags=ACK, payload=data12)
        return v4frag(c, [(0, benign[:24], 1), (8, syn[8:], 0)])

    @add("v4_overlap_offset1_first", 4, "silent")
    def _(c):  # the offset-1 fragment before the first one
        syn, benign = c.syn4(payload=data12), c.syn4(flags=ACK, payload=data12)
        return v4frag(c, [(8, syn[8:], 0), (0, benign[:24], 1)])

    @add("v4_overlap_offset2", 4, "silent")
    def _(c):  # overlapping fragments at offset 2 (the first fragment is a whole SYN header)
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:24], 1), (16, syn[16:], 0)])

    @add("v4_frag_long", 4, "answered")
    def _(c):  # an ordinary fragmented SYN: the first fragment has the whole header
        syn = c.syn4(payload=bytes(i % 256 for i in range(200)))
        return v4frag(c, [(0, syn[:104], 1), (104, syn[104:], 0)])

    for label, options in (("rr", OPT_RR), ("ts", OPT_TS), ("nop", OPT_NOP)):
        @add(f"v4_options_{label}", 4, "answered")
        def _(c, options=options):  # IHL 15
            return [ipv4(c.s4, c.mx4, c.ident, c.syn4(), options=options)]

    @add("v4_options_tiny8", 4, "answered")
    def _(c):  # IHL 15 + 8 TCP bytes (68 bytes) in the first fragment, flags at offset 1
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:8], 1), (8, syn[8:], 0)], OPT_RR)

    @add("v4_options_short16", 4, "answered")
    def _(c):  # IHL 15 + 16 TCP bytes (76 bytes), rest at offset 2
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:16], 1), (16, syn[16:], 0)], OPT_NOP)

    @add("v4_options_frag24", 4, "answered")
    def _(c):  # IHL 15 + the whole TCP header and 4 bytes (84 bytes), rest at offset 3
        syn = c.syn4(payload=data12)
        return v4frag(c, [(0, syn[:24], 1), (24, syn[24:], 0)], OPT_TS)

    @add("v4_ecn", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(flags=SYN | ECE | CWR))]

    @add("v4_syn_fin", 4, "silent")
    def _(c):  # Linux listeners discard SYN+FIN
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(flags=SYN | FIN))]

    @add("v4_tfo_data", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(options=TFO, payload=b"EHLO tfo.test\r\n"))]

    @add("v4_syn_psh_data", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(flags=SYN | PSH, payload=b"EHLO psh.test\r\n"))]

    @add("v4_syn_urg", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(flags=SYN | URG, payload=b"EHLO urg\r\n", urgent=1))]

    @add("v4_df", 4, "answered")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(), df=1)]

    # --- not a SYN: a segment of a flow whose SYN was never judged (the conntrack guard's case). An MX answers
    # it with a reset (no such connection); with policy.guard_non_syn the router drops it, so it stays silent.
    @add("nonsyn_ack_data_v4", 4, "silent")
    def _(c):
        return [ipv4(c.s4, c.mx4, c.ident, c.syn4(flags=ACK | PSH, payload=b"MAIL FROM:<x@y.test>\r\n"))]

    @add("nonsyn_ack_data_v6", 6, "silent")
    def _(c):
        return v6_plain(c.s6, c.mx6, [], c.syn6(flags=ACK | PSH, payload=b"MAIL FROM:<x@y.test>\r\n"))

    return cases


class Context:
    """Per-case addresses and identifiers."""

    def __init__(self, args, index, case):
        self.s4, self.s6 = socket.inet_aton(args.source4), socket.inet_pton(socket.AF_INET6, args.source6)
        self.mx4, self.mx6 = socket.inet_aton(args.mx4), socket.inet_pton(socket.AF_INET6, args.mx6)
        self.mx6_bytes = self.mx6
        self.relay4 = socket.inet_aton(args.relay4)
        self.relay6 = socket.inet_pton(socket.AF_INET6, args.relay6)
        self.port = args.port
        self.sport = args.base_port + index
        self.ident = (args.base_port * 7 + index * 13) % 0xFFFE + 1
        self.ident6 = (args.base_port << 12 | index) & 0xFFFFFFFF or 1
        self.seq = random.randint(0, 2**32 - 1)
        if case.family == 4:
            self.dst = self.relay4 if case.target == "relay" else self.mx4
        else:
            self.dst = self.relay6 if case.target == "relay" else self.mx6

    def syn4(self, dst=None, **kwargs):
        return tcp(self.s4, dst or self.mx4, self.sport, self.port, self.seq, **kwargs)

    def syn6(self, dst=None, **kwargs):
        return tcp(self.s6, dst or self.mx6, self.sport, self.port, self.seq, **kwargs)


def parse_reply(frame):
    """(source address bytes, TCP header bytes) of an Ethernet frame carrying IPv4/IPv6 TCP, else None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    packet = frame[14:]
    if ethertype == 0x0800 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] != TCP or struct.unpack("!H", packet[6:8])[0] & 0x1FFF:
            return None
        return packet[12:16], packet[ihl:ihl + 20]
    if ethertype == 0x86DD and len(packet) >= 40:
        next_header, offset = packet[6], 40
        for _ in range(8):  # bounded walk over extension headers
            if next_header in (HOPOPTS, ROUTING, DSTOPTS) and len(packet) >= offset + 2:
                next_header, offset = packet[offset], offset + (packet[offset + 1] + 1) * 8
            elif next_header == FRAGMENT and len(packet) >= offset + 8:
                if struct.unpack("!H", packet[offset + 2:offset + 4])[0] & 0xFFF8:
                    return None
                next_header, offset = packet[offset], offset + 8
            else:
                break
        if next_header != TCP:
            return None
        return packet[8:24], packet[offset:offset + 20]
    return None


def outcome(sniffer, source, sport, dport, wait):
    """answered (SYN-ACK), reset (RST) or silent, for TCP from SOURCE:DPORT to our SPORT within WAIT seconds."""
    result = "silent"
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sniffer], [], [], left)[0]:
            return result
        frame, address = sniffer.recvfrom(65535)
        if address[2] == PACKET_OUTGOING:
            continue
        parsed = parse_reply(frame)
        if not parsed or parsed[0] != source or len(parsed[1]) < 14:
            continue
        their_port, our_port = struct.unpack("!HH", parsed[1][:4])
        if (their_port, our_port) != (dport, sport):
            continue
        flags = parsed[1][13]
        if flags & (SYN | ACK) == SYN | ACK:
            return "answered"
        if flags & RST:
            result = "reset"


def interface_name(explicit):
    if explicit:
        return explicit
    names = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    if not names:
        sys.exit("craft.py: no network interface besides lo")
    return names[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=0.8)
    parser.add_argument("--only", default="")
    parser.add_argument("--base-port", type=int, default=None)
    parser.add_argument("--interface", default=None)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--source4", default="100.64.0.10")
    parser.add_argument("--source6", default="2001:db8:6400::10")
    parser.add_argument("--mx4", default="198.51.100.25")
    parser.add_argument("--mx6", default="2001:db8:99::25")
    parser.add_argument("--relay4", default="192.0.2.25")
    parser.add_argument("--relay6", default="2001:db8:25::25")
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--max-seconds", type=float, default=180, help="stop (and fail) after this long")
    args = parser.parse_args()

    cases = corpus()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {c.name for c in cases}
        if unknown:
            sys.exit(f"craft.py: unknown cases: {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.name in wanted]
    if args.list:
        for case in cases:
            print(f"LIST {case.name} v{case.family} unfiltered={case.unfiltered}")
        return
    if args.base_port is None:
        args.base_port = random.randrange(20000, 60000 - 200, 200)
    assert 1024 <= args.base_port and args.base_port + len(corpus()) < 65536

    ifname = interface_name(args.interface)
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sniffer.bind((ifname, 0))
    sender4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # implies IP_HDRINCL
    sender6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)  # header included too
    started = time.monotonic()
    # Indices come from the full corpus, so a case keeps its source port whatever --only selects.
    index_of = {c.name: i for i, c in enumerate(corpus())}
    for case in cases:
        if time.monotonic() - started > args.max_seconds:
            print(f"ABORTED after {args.max_seconds} s", flush=True)
            sys.exit(3)
        context = Context(args, index_of[case.name], case)
        packets = case.build(context)
        if case.family == 4:
            sender, destination = sender4, (socket.inet_ntoa(context.dst), 0)
        else:
            sender, destination = sender6, (socket.inet_ntop(socket.AF_INET6, context.dst), 0)
        try:
            for packet in packets:
                sender.sendto(packet, destination)
                time.sleep(0.002)
        except OSError as error:
            print(f"CASE {case.name} error {error.errno}", flush=True)
            continue
        print(f"CASE {case.name} {outcome(sniffer, context.dst, context.sport, args.port, args.wait)}", flush=True)


if __name__ == "__main__":
    main()
