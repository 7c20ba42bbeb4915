#!/usr/bin/env bash
# Builds (up) or removes (down) the end-to-end test topology in three network namespaces:
#
#   SUB  subscriber   100.64.0.10/24, 203.0.113.10/24 (not a subscriber), 2001:db8:6400::10/64
#    |  veth
#   RTR  router       100.64.0.1, 203.0.113.1, 2001:db8:6400::1 | 10.255.0.1/30, 2001:db8:ffff::1/64
#    |  veth          ip_forward=1; egress25d and its kernel rules run here
#   NET  internet     10.255.0.2/30, 2001:db8:ffff::2; on lo: 192.0.2.25 (relay), 198.51.100.25,
#                     198.51.100.26 (other MX hosts), 2001:db8:25::25 (relay), 2001:db8:99::25
#
# Only documentation / shared address space is used, and only inside these namespaces.
# SUBNET (0-255, default 0) moves the subscriber side to 100.64.SUBNET.0/24 and 2001:db8:64XX::/64 (XX: SUBNET in
# two hex digits), so that several routers of one fleet test hold different subscriber ranges.
# usage: topology.sh up|down PREFIX [SUBNET]      (namespaces PREFIX-sub, PREFIX-rtr, PREFIX-net)
set -euo pipefail
action=$1
p=$2
n=${3:-0}
sub=$p-sub rtr=$p-rtr net=$p-net

down() {
    for ns in "$sub" "$rtr" "$net"; do
        [ -e "/run/netns/$ns" ] || continue
        # Kill anything still running in the namespace, then delete it.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

if [ "$action" = down ]; then down; exit 0; fi
[ "$action" = up ] || { echo "usage: $0 up|down PREFIX [SUBNET]" >&2; exit 2; }
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -le 255 ] || { echo "SUBNET must be 0-255, found $n" >&2; exit 2; }
v4=100.64.$n v6=2001:db8:64$(printf %02x "$n")
down
trap 'down' ERR

# Few processes: each `ip -batch` below is one (a process start costs ~0.2 s under qemu's software emulation, where
# scripts/test-nft-kernel.sh builds this topology for every scenario).
ip -batch - <<EOF
netns add $sub
netns add $rtr
netns add $net
link add ${p}s0 netns $sub type veth peer name ${p}r0 netns $rtr
link add ${p}r1 netns $rtr type veth peer name ${p}n0 netns $net
EOF
ip netns exec "$sub" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip netns exec "$rtr" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec "$net" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0

ip -n "$sub" -batch - <<EOF
link set lo up
addr add $v4.10/24 dev ${p}s0
addr add 203.0.113.10/24 dev ${p}s0
addr add $v6::10/64 dev ${p}s0 nodad
link set ${p}s0 up
route add default via $v4.1 src $v4.10
route add default via $v6::1
EOF

ip -n "$rtr" -batch - <<EOF
link set lo up
addr add $v4.1/24 dev ${p}r0
addr add 203.0.113.1/24 dev ${p}r0
addr add $v6::1/64 dev ${p}r0 nodad
addr add 10.255.0.1/30 dev ${p}r1
addr add 2001:db8:ffff::1/64 dev ${p}r1 nodad
link set ${p}r0 up
link set ${p}r1 up
route add 192.0.2.0/24 via 10.255.0.2
route add 198.51.100.0/24 via 10.255.0.2
route add 2001:db8:25::/48 via 2001:db8:ffff::2
route add 2001:db8:99::/48 via 2001:db8:ffff::2
EOF

ip -n "$net" -batch - <<EOF
link set lo up
addr add 10.255.0.2/30 dev ${p}n0
addr add 2001:db8:ffff::2/64 dev ${p}n0 nodad
link set ${p}n0 up
addr add 192.0.2.25/32 dev lo
addr add 198.51.100.25/32 dev lo
addr add 198.51.100.26/32 dev lo
addr add 2001:db8:25::25/128 dev lo
addr add 2001:db8:99::25/128 dev lo
route add $v4.0/24 via 10.255.0.1
route add 203.0.113.0/24 via 10.255.0.1
route add $v6::/64 via 2001:db8:ffff::1
EOF
# Count SYNs that reach the internet side, per destination (the flood test reads these counters).
ip netns exec "$net" iptables-restore -w --noflush <<EOF
*filter
:E25COUNT - [0:0]
-A INPUT -p tcp --syn -j E25COUNT
-A E25COUNT -d 192.0.2.25 -p tcp --dport 25
-A E25COUNT -d 198.51.100.25 -p tcp --dport 25
-A E25COUNT -d 198.51.100.26 -p tcp --dport 25
COMMIT
EOF
# Resolve IPv6 neighbours once, so the first test connection does not wait for neighbour discovery.
ip netns exec "$sub" ping -6 -c1 -W2 $v6::1 >/dev/null 2>&1 || true
ip netns exec "$rtr" ping -6 -c1 -W2 2001:db8:ffff::2 >/dev/null 2>&1 || true
trap - ERR
