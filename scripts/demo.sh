#!/usr/bin/env bash
# egress25 sandbox demo: one command, as root, on a Debian 12 machine with Swift.
#
# Installs the packages egress25 needs, builds it, creates three network namespaces
# (subscriber 100.64.0.10 -> router running egress25d -> "internet" with SMTP listeners on
# 192.0.2.25 (the ISP's relay), 198.51.100.25 (some MX host) and their IPv6 twins),
# applies the kernel rules, starts egress25d with its state in a temporary directory, and shows:
#   - subscriber -> relay :25        connects (banner)
#   - subscriber -> other MX :25     refused at once (TCP reset from the router)
#   - subscriber -> other MX :587    untouched (submission is never policed)
#   - support staff's "why is this blocked?" and the abuse desk's view of the blocked attempts.
# Everything is removed on exit (set KEEP=1 to keep the namespaces and the daemon running).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces and binds NFQUEUE)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! pkg-config --exists libnetfilter_queue 2>/dev/null || ! command -v ipset >/dev/null || ! command -v python3 >/dev/null \
    || ! command -v curl >/dev/null; then
    say "installing packages (libnetfilter-queue-dev libmnl-dev libsqlite3-dev iptables ipset nftables iproute2 python3 curl)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config libnetfilter-queue-dev \
        libmnl-dev libsqlite3-dev iproute2 iptables ipset nftables python3 curl ca-certificates >/dev/null
fi

say "building egress25 (swift build -c ${CONFIGURATION:=debug})"
swift build -c "$CONFIGURATION" 2>&1 | tail -n 1
bin=$(swift build -c "$CONFIGURATION" --show-bin-path)

prefix=e25demo
ADMIN_PORT=${ADMIN_PORT:-8025}
scripts=Tests/EndToEndTests/Scripts
work=$(mktemp -d /tmp/egress25-demo.XXXXXX)
daemon_pid=
admin_pid=
cleanup() {
    [ "${KEEP:-0}" = 1 ] && { echo "KEEP=1: namespaces $prefix-{sub,rtr,net} and $work kept"; return; }
    [ -n "$admin_pid" ] && kill "$admin_pid" 2>/dev/null && wait "$admin_pid" 2>/dev/null || true
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    bash "$scripts/topology.sh" down "$prefix"
    rm -rf "$work"
}
trap cleanup EXIT

say "creating namespaces $prefix-sub (subscriber) -> $prefix-rtr (router) -> $prefix-net (internet)"
bash "$scripts/topology.sh" up "$prefix"
ip netns exec "$prefix-net" python3 "$scripts/smtpd.py" 192.0.2.25:25 198.51.100.25:25 198.51.100.25:587 \
    '[2001:db8:25::25]:25' '[2001:db8:99::25]:25' >/dev/null &
disown

cat >"$work/egress25.yaml" <<YAML
node_name: demo-router
state_directory: $work/state
queue: { numbers: [0], fail_policy: closed, max_length: 4096 }
policy:
  subscriber_ranges: [100.64.0.0/10, 2001:db8:6400::/40]
  relay_hosts: [192.0.2.25, 2001:db8:25::25]
  ports: [25]
  block_action: reject
  reject_mark: 0x25
block_log: { flush_interval: 1s }
admin: { listen: "127.0.0.1:$ADMIN_PORT" }
YAML
echo "configuration: $work/egress25.yaml (state in $work/state)"
rtr() { ip netns exec "$prefix-rtr" "$@"; }
sub() { ip netns exec "$prefix-sub" "$@"; }

say "egress25d --check-config"
rtr "$bin/egress25d" --config "$work/egress25.yaml" --check-config

say "egress25ctl rules apply (kernel rules rendered from the same configuration)"
rtr "$bin/egress25ctl" rules apply --config "$work/egress25.yaml"

say "starting egress25d in the router namespace"
rtr "$bin/egress25d" --config "$work/egress25.yaml" 2>"$work/egress25d.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -qE '^ *0 ' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && break
    rtr grep -qE '^ *0 ' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && break; sleep 0.1; done
sleep 0.2
cat "$work/egress25d.log"

probe() { printf '%-44s -> ' "$1"; shift; sub python3 "$scripts/probe.py" "$@"; }
say "connections from the subscriber (100.64.0.10 / 2001:db8:6400::10)"
probe "relay 192.0.2.25:25" 192.0.2.25 25
probe "relay [2001:db8:25::25]:25" 2001:db8:25::25 25
probe "other MX 198.51.100.25:25 (direct to MX)" 198.51.100.25 25
probe "other MX [2001:db8:99::25]:25" 2001:db8:99::25 25
probe "other MX 198.51.100.25:587 (submission)" 198.51.100.25 587

say "support staff: egress25ctl check 100.64.0.10 198.51.100.25"
"$bin/egress25ctl" check 100.64.0.10 198.51.100.25 --config "$work/egress25.yaml" || true

sleep 1.5
say "abuse desk: egress25ctl blocked query --source 100.64.0.10"
"$bin/egress25ctl" blocked query --source 100.64.0.10 --config "$work/egress25.yaml" || true

say "support staff through egress25-admin's API: grant customer c-1001 (100.64.0.10) an exception to 198.51.100.25"
ctl() { "$bin/egress25ctl" --config "$work/egress25.yaml" "$@"; }
ctl customer add c-1001 --name "Telecommuter" >/dev/null
ctl customer bind c-1001 100.64.0.10 >/dev/null
token=$(ctl token create --name demo-support --role support 2>/dev/null)
"$bin/egress25-admin" --config "$work/egress25.yaml" 2>"$work/egress25-admin.log" &
admin_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null && break; sleep 0.1; done
echo "curl -H 'Authorization: Bearer ...' -d '{\"destinations\": [\"198.51.100.25\"], \"duration\": \"30d\", ...}' \\"
echo "     http://127.0.0.1:$ADMIN_PORT/api/v1/customers/c-1001/exceptions"
curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"destinations": ["198.51.100.25"], "duration": "30d", "reason": "employer mail server", "ticket": "DEMO-1"}' \
    "http://127.0.0.1:$ADMIN_PORT/api/v1/customers/c-1001/exceptions"
echo
sleep 1
probe "other MX 198.51.100.25:25 (now an exception)" 198.51.100.25 25
probe "other MX [2001:db8:99::25]:25 (not in scope)" 2001:db8:99::25 25
if [ "${KEEP:-0}" = 1 ]; then
    echo "console: http://127.0.0.1:$ADMIN_PORT/ (sign in with the token $token)"
fi

say "done"
