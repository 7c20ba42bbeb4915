#!/usr/bin/env bash
# Issue 15: egress25-admin's RADIUS accounting feed under load (not a timed test).
#
#   sudo Benchmarks/run-radius-bench.sh
#
# For each store in STORES (sqlite: the router's embedded file; postgresql: a private durable cluster, see
# fleet-cluster.sh, egress25-admin as an egress25_admin login role over the unix socket) it starts egress25-admin
# (release) with session_feed.radius on 127.0.0.1:RADIUS_PORT and drives it with RadiusBenchmarks (release):
#   load  open loop, each request a new session's Accounting-Start, at each rate of RATES for DURATION s after
#         WARMUP s at the same rate; p50/p90/p99/max from each request's due time to its answer
#   interim  Interim-Updates of the sessions the first load run opened, at INTERIM_RATE
# Then, on the SQLite store, the storm: the namespace topology (Tests/EndToEndTests/Scripts/topology.sh) with the
# real egress25d in the router namespace, STORM Starts as fast as egress25-admin answers (at most WINDOW
# unanswered), the last one for a customer holding an exception, on the subscriber namespace's address; a prober
# in the subscriber namespace connects to that customer's MX every 20 ms. Printed: the storm's time to the last
# answer, and from the last answer to the first connect the router lets through (every Start before it is then
# enforced: the daemon's snapshot is built from the whole store at once).
# Before each run: the machine's load (loadavg, top's busiest processes).
#
# Env: STORES ("sqlite postgresql"), RATES ("5000 10000 20000 25000"), DURATION (20), WARMUP (3),
# INTERIM_RATE (20000), STORM (64000), WINDOW (4096), RADIUS_PORT (18131), HTTP_PORT (18026), SKIP_BUILD (0|1),
# DURABLE (1; 0 = PostgreSQL without fsync, say so beside a figure).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STORES=${STORES:-sqlite postgresql}
RATES=${RATES:-5000 10000 20000 25000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
INTERIM_RATE=${INTERIM_RATE:-20000}
STORM=${STORM:-64000}
WINDOW=${WINDOW:-4096}
RADIUS_PORT=${RADIUS_PORT:-18131}
HTTP_PORT=${HTTP_PORT:-18026}
[ "$(id -u)" = 0 ] || { echo "run-radius-bench.sh: needs root (namespaces, PostgreSQL as user postgres)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"   # fleet_cluster_*, fleet_load_note

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    for product in egress25d egress25-admin egress25ctl RadiusBenchmarks; do
        (cd "$REPO" && swift build -c release --product "$product") >&2
    done
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/egress25-radius-bench.XXXXXX)
chmod 755 "$WORK"
PREFIX=e25rb
ADMIN_PID=
PROBER_PID=
cleanup() {
    for pid in $PROBER_PID $ADMIN_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    bash "$REPO/Tests/EndToEndTests/Scripts/topology.sh" down "$PREFIX" 2>/dev/null || true
    [ -n "${FLEET_PG_DIR:-}" ] && fleet_cluster_stop 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "egress25 radius bench $(date -u +%FT%TZ) commit $(git -C "$REPO" rev-parse --short HEAD) bin $BIN"
echo "kernel rmem_max $(sysctl -n net.core.rmem_max) (the listener asks for 4 MiB)"
printf 'bench-secret-%s\n' "$RANDOM$RANDOM" >"$WORK/radius-secret"
chmod 644 "$WORK/radius-secret"

# $1: store (sqlite|postgresql). Writes $WORK/$1.yaml.
write_config() {
    local store_yaml=""
    if [ "$1" = postgresql ]; then
        store_yaml="store:
  url: \"$(fleet_url bench_admin)\"
  node: bench-admin"
    fi
    cat >"$WORK/$1.yaml" <<YAML
node_name: bench-router
state_directory: $WORK/state-$1
policy:
  subscriber_ranges: [100.64.0.0/10, "2001:db8:6400::/40"]
  relay_hosts: [192.0.2.25]
metrics: { listen: 127.0.0.1:9325 }
admin: { listen: 127.0.0.1:$HTTP_PORT }
session_feed:
  radius:
    listen: ["127.0.0.1:$RADIUS_PORT"]
    clients:
      - { address: 127.0.0.0/8, secret_file: $WORK/radius-secret }
$store_yaml
YAML
}

start_admin() {
    "$BIN/egress25-admin" --config "$1" >"$WORK/admin.log" 2>&1 &
    ADMIN_PID=$!
    for _ in $(seq 1 200); do
        curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$ADMIN_PID" 2>/dev/null || { cat "$WORK/admin.log" >&2; return 1; }
        sleep 0.1
    done
    echo "egress25-admin did not start" >&2; cat "$WORK/admin.log" >&2; return 1
}

stop_admin() {
    kill "$ADMIN_PID" 2>/dev/null || true
    wait "$ADMIN_PID" 2>/dev/null || true
    ADMIN_PID=
}

admin_cpu() {  # utime+stime of egress25-admin in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$ADMIN_PID/stat"
}

for store in $STORES; do
    echo
    echo "== store: $store"
    mkdir -p "$WORK/state-$store"
    if [ "$store" = postgresql ]; then
        fleet_cluster_start "$WORK/pg" 54391
        write_config "$store"
        fleet_migrate "$BIN/egress25ctl"
        fleet_role bench_admin egress25_admin
    else
        write_config "$store"
        "$BIN/egress25ctl" --config "$WORK/$store.yaml" customer add bench-seed --by bench >/dev/null
    fi
    start_admin "$WORK/$store.yaml"
    first=0
    for rate in $RATES; do
        fleet_load_note
        cpu0=$(admin_cpu)
        "$BIN/RadiusBenchmarks" load --port "$RADIUS_PORT" --secret-file "$WORK/radius-secret" --rate "$rate" \
            --seconds "$DURATION" --warmup "$WARMUP" --first "$first" --kind start
        echo "egress25-admin CPU $(awk -v a="$cpu0" -v b="$(admin_cpu)" -v s=$((DURATION + WARMUP)) \
            'BEGIN { printf "%.0f %% of a core", (b - a) / s * 100 }') RSS $(awk '/VmRSS/ { print $2 " kB" }' /proc/$ADMIN_PID/status)"
        [ "$first" = 0 ] && interim_first=0 interim_count=$((rate * (DURATION + WARMUP)))
        first=$((first + rate * (DURATION + WARMUP)))
    done
    if [ "$INTERIM_RATE" -gt 0 ] && [ "$((INTERIM_RATE * (DURATION + WARMUP)))" -le "$interim_count" ]; then
        fleet_load_note
        "$BIN/RadiusBenchmarks" load --port "$RADIUS_PORT" --secret-file "$WORK/radius-secret" \
            --rate "$INTERIM_RATE" --seconds "$DURATION" --warmup "$WARMUP" --first "$interim_first" --kind interim
    fi
    grep -c "" "$WORK/admin.log" >/dev/null || true
    curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^egress25_radius_(requests_total|sessions_active)' || true
    stop_admin
    [ "$store" = postgresql ] && fleet_cluster_stop
done

# The storm, end to end on one router (SQLite).
if [ "$STORM" -gt 0 ]; then
    echo
    echo "== storm: $STORM Starts, enforced on the router"
    bash "$REPO/Tests/EndToEndTests/Scripts/topology.sh" up "$PREFIX" >/dev/null
    rm -rf "$WORK/state-storm" && mkdir -p "$WORK/state-storm"
    sed -e "s|state-sqlite|state-storm|" "$WORK/sqlite.yaml" >"$WORK/storm.yaml"
    (cd "$REPO/Tests/EndToEndTests/Scripts" && ip netns exec "$PREFIX-net" python3 smtpd.py 198.51.100.25:25 \
        192.0.2.25:25 >/dev/null 2>&1 &)
    ip netns exec "$PREFIX-rtr" "$BIN/egress25ctl" --config "$WORK/storm.yaml" rules apply >/dev/null
    "$BIN/egress25ctl" --config "$WORK/storm.yaml" customer add storm-last --by bench >/dev/null
    "$BIN/egress25ctl" --config "$WORK/storm.yaml" exception grant storm-last --to 198.51.100.25 --for 1h \
        --reason bench --by bench >/dev/null
    ip netns exec "$PREFIX-rtr" "$BIN/egress25d" --config "$WORK/storm.yaml" >"$WORK/egress25d.log" 2>&1 &
    sleep 2
    start_admin "$WORK/storm.yaml"
    # The prober: one connect every 20 ms from the subscriber (100.64.0.10) until one gets through; prints its
    # wall-clock time. Bounded: 120 s.
    ip netns exec "$PREFIX-sub" python3 - >"$WORK/prober.out" 2>&1 <<'PY' &
import socket, time
end = time.time() + 120
while time.time() < end:
    s = socket.socket(); s.settimeout(0.2)
    try:
        s.connect(("198.51.100.25", 25)); print("connected %.3f" % time.time()); break
    except OSError:
        pass
    finally:
        s.close()
    time.sleep(0.02)
else:
    print("never")
PY
    PROBER_PID=$!
    sleep 1
    fleet_load_note
    started=$(date +%s.%N)
    "$BIN/RadiusBenchmarks" storm --port "$RADIUS_PORT" --secret-file "$WORK/radius-secret" --count "$STORM" \
        --window "$WINDOW" --first 0 --last-customer storm-last --last-address 100.64.0.10 | tee "$WORK/storm.out"
    wait "$PROBER_PID" || true
    PROBER_PID=
    last=$(sed -n 's/^last_answer_epoch=//p' "$WORK/storm.out")
    connected=$(awk '/^connected/ { print $2 }' "$WORK/prober.out")
    echo "prober: $(cat "$WORK/prober.out")"
    if [ -n "$connected" ]; then
        awk -v s="$started" -v l="$last" -v c="$connected" 'BEGIN {
            printf "storm start -> last answer %.3f s; last answer -> enforced on the router %.3f s; total %.3f s\n",
                l - s, c - l, c - s }'
    fi
    echo "egress25d policy: $(ip netns exec "$PREFIX-rtr" curl -fsS http://127.0.0.1:9325/metrics | grep -E '^egress25_policy_(generation|reloads_total) ' | tr '\n' ' ')"
fi
