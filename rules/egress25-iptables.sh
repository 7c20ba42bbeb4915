#!/bin/sh
# egress25 kernel rules (iptables + ipset), rendered by `egress25ctl rules show --backend iptables` from deploy/egress25.yaml.
# The equivalent of egress25.nft for kernels without the nftables queue expression (CONFIG_NFT_QUEUE).
# Idempotent: sets are refilled under a temporary name and swapped in, our chains are replaced in one
# iptables-restore commit, and each FORWARD jump is added only when `-C` does not find it.
# Touches only the egress25-* sets, the EGRESS25-* chains and the two jumps to them.
#
# mangle FORWARD -> EGRESS25-JUDGE (appended, so rules already there, such as TCPMSS clamping, still
#   see the SYNs egress25d accepts): SYN without ACK from a subscriber to a policed port:
#   to a relay -> RETURN (never queued), else -> NFQUEUE. Tiny/overlapping TCP fragments (RFC 1858,
#   RFC 3128): IPv4 fragment at offset 1 -> DROP (first); IPv4 first fragment under 80 bytes and
#   IPv6 first fragment -> NFQUEUE whatever the port and flags (egress25d judges a truncated one
#   malformed). Nothing reassembles here; later fragments cannot become a SYN alone.
# filter FORWARD -> EGRESS25-ENFORCE (inserted first, before the router's accept rules): SYN to a
#   policed port whose mark has all reject-mark bits set -> REJECT with a TCP reset; a marked TCP
#   first fragment -> DROP.
set -eu

ipset restore <<'RULES'
create egress25-subscribers-v4 hash:net family inet maxelem 1048576 -exist
create egress25-subscribers-v4-new hash:net family inet maxelem 1048576 -exist
flush egress25-subscribers-v4-new
add egress25-subscribers-v4-new 100.64.0.0/10
add egress25-subscribers-v4-new 203.0.113.0/24
create egress25-relays-v4 hash:net family inet maxelem 1048576 -exist
create egress25-relays-v4-new hash:net family inet maxelem 1048576 -exist
flush egress25-relays-v4-new
add egress25-relays-v4-new 192.0.2.25
create egress25-subscribers-v6 hash:net family inet6 maxelem 1048576 -exist
create egress25-subscribers-v6-new hash:net family inet6 maxelem 1048576 -exist
flush egress25-subscribers-v6-new
add egress25-subscribers-v6-new 2001:db8:6400::/40
create egress25-relays-v6 hash:net family inet6 maxelem 1048576 -exist
create egress25-relays-v6-new hash:net family inet6 maxelem 1048576 -exist
flush egress25-relays-v6-new
add egress25-relays-v6-new 2001:db8:25::25
RULES

iptables-restore -w --noflush <<'RULES'
*mangle
:EGRESS25-JUDGE - [0:0]
:EGRESS25-FIRSTFRAG - [0:0]
-A EGRESS25-FIRSTFRAG -p tcp -m u32 --u32 "0>>22&0x3C@16&0x0=0x0" -j RETURN
-A EGRESS25-FIRSTFRAG ! -p tcp -j RETURN
-A EGRESS25-FIRSTFRAG -j DROP
-A EGRESS25-JUDGE -p tcp -m set --match-set egress25-subscribers-v4 src -m u32 --u32 "4&0x1FFF=1" -j DROP
-A EGRESS25-JUDGE -p tcp -m set --match-set egress25-subscribers-v4 src -m u32 --u32 "4&0x3FFF=0x2000" -j EGRESS25-FIRSTFRAG
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m mark --mark 0x25/0x25 -j RETURN
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m set --match-set egress25-relays-v4 dst -j RETURN
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m comment --comment "egress25 rules 399c9b22dccd8a25 q=0-3 mark=0x25/0x25" -j NFQUEUE --queue-balance 0:3
COMMIT
*filter
:EGRESS25-ENFORCE - [0:0]
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m mark --mark 0x25/0x25 -j REJECT --reject-with tcp-reset
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m set --match-set egress25-relays-v4 dst -j RETURN
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v4 src -m mark ! --mark 0x20/0x25 -j DROP
COMMIT
RULES

ip6tables-restore -w --noflush <<'RULES'
*mangle
:EGRESS25-JUDGE - [0:0]
:EGRESS25-FIRSTFRAG - [0:0]
-A EGRESS25-FIRSTFRAG -p tcp -m tcp --tcp-flags SYN SYN -j RETURN
-A EGRESS25-FIRSTFRAG -p tcp -m tcp --tcp-flags SYN NONE -j RETURN
-A EGRESS25-FIRSTFRAG ! -p tcp -j RETURN
-A EGRESS25-FIRSTFRAG -j DROP
-A EGRESS25-JUDGE -m set --match-set egress25-subscribers-v6 src -m frag --fragfirst -j EGRESS25-FIRSTFRAG
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m mark --mark 0x25/0x25 -j RETURN
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m set --match-set egress25-relays-v6 dst -j RETURN
-A EGRESS25-JUDGE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m comment --comment "egress25 rules 399c9b22dccd8a25 q=0-3 mark=0x25/0x25" -j NFQUEUE --queue-balance 0:3
COMMIT
*filter
:EGRESS25-ENFORCE - [0:0]
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m mark --mark 0x25/0x25 -j REJECT --reject-with tcp-reset
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m set --match-set egress25-relays-v6 dst -j RETURN
-A EGRESS25-ENFORCE -p tcp -m tcp --tcp-flags SYN,ACK SYN --dport 25 -m set --match-set egress25-subscribers-v6 src -m mark ! --mark 0x20/0x25 -j DROP
COMMIT
RULES

ipset restore <<'RULES'
swap egress25-subscribers-v4-new egress25-subscribers-v4
destroy egress25-subscribers-v4-new
swap egress25-relays-v4-new egress25-relays-v4
destroy egress25-relays-v4-new
swap egress25-subscribers-v6-new egress25-subscribers-v6
destroy egress25-subscribers-v6-new
swap egress25-relays-v6-new egress25-relays-v6
destroy egress25-relays-v6-new
RULES

iptables -w -t mangle -C FORWARD -j EGRESS25-JUDGE 2>/dev/null || iptables -w -t mangle -A FORWARD -j EGRESS25-JUDGE
iptables -w -t filter -C FORWARD -j EGRESS25-ENFORCE 2>/dev/null || iptables -w -t filter -I FORWARD 1 -j EGRESS25-ENFORCE
ip6tables -w -t mangle -C FORWARD -j EGRESS25-JUDGE 2>/dev/null || ip6tables -w -t mangle -A FORWARD -j EGRESS25-JUDGE
ip6tables -w -t filter -C FORWARD -j EGRESS25-ENFORCE 2>/dev/null || ip6tables -w -t filter -I FORWARD 1 -j EGRESS25-ENFORCE
