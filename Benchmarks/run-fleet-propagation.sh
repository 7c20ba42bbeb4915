#!/usr/bin/env bash
# Issue 13: how long a committed change takes to be in force on 20 fleet routers (egress25d) on one PostgreSQL.
#
#   sudo Benchmarks/run-fleet-propagation.sh
#
# Env: ROUTERS (20), CHANGES (100), BINDINGS (10000 sessions in the store, so each router rebuilds a realistic
# snapshot), BLOCK_LOG (false|true: the routers' block log and shipper), SKIP_BUILD (0|1), PG_PORT (55435),
# KEEP_CSV (a path to copy the raw per-router samples to).
#
# What it does: a private PostgreSQL cluster (Benchmarks/fleet-cluster.sh: durable settings, unix socket only),
# `egress25ctl store migrate`, an admin login role in egress25_admin, BINDINGS sessions (FleetBenchmarks
# load-sessions), then ROUTERS real egress25d processes in fleet mode in one network namespace of their own (lo
# only: nothing is judged, so no kernel rules), each with its own state_directory, node name edge-NN, login role
# in egress25_router, NFQUEUE queue number 100+N and metrics port 9400+N, reaching PostgreSQL over its unix
# socket. Then CHANGES changes from the admin (`egress25ctl exception grant` / `revoke`, alternately), each
# timed to every router by Benchmarks/fleet_propagation_probe.py (see there). Everything is removed on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUTERS=${ROUTERS:-20}
CHANGES=${CHANGES:-100}
BINDINGS=${BINDINGS:-10000}
BLOCK_LOG=${BLOCK_LOG:-false}
PG_PORT=${PG_PORT:-55435}
[ "$(id -u)" = 0 ] || { echo "run-fleet-propagation.sh: needs root (network namespace, NFQUEUE)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25d && swift build -c release --product egress25ctl \
        && swift build -c release --product FleetBenchmarks) >&2
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}

WORK=$(mktemp -d /tmp/egress25-fleet-propagation.XXXXXX)
chmod 755 "$WORK"
NS=e25fleet$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    fleet_cluster_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

fleet_cluster_start "$WORK/pg" "$PG_PORT"
fleet_migrate "$BIN/egress25ctl"
fleet_role bench_admin egress25_admin
printf 'store:\n  url: "%s"\n' "$(fleet_url bench_admin)" >"$WORK/admin.yaml"
"$BIN/FleetBenchmarks" load-sessions --url "$(fleet_url bench_admin)" --bindings "$BINDINGS"

ip netns add "$NS"
ip -n "$NS" link set lo up
ports=()
for i in $(seq 0 $((ROUTERS - 1))); do
    name=$(printf 'edge-%02d' "$i")
    role=$(printf 'bench_router_%02d' "$i")
    fleet_role "$role" egress25_router
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name.yaml" <<YAML
node_name: $name
state_directory: $WORK/$name/state
queue: { numbers: [$((100 + i))], fail_policy: open }
policy:
  subscriber_ranges: [100.64.0.0/10]
  relay_hosts: [192.0.2.25]
  ports: [25]
  block_action: reject
block_log: { enabled: $BLOCK_LOG }
metrics: { listen: 127.0.0.1:$((9400 + i)) }
store:
  url: "$(fleet_url "$role")"
  node: $name
YAML
    ip netns exec "$NS" "$BIN/egress25d" --config "$WORK/$name.yaml" >"$WORK/$name/log" 2>&1 &
    PIDS+=($!)
    ports+=($((9400 + i)))
done
# Every router up, connected and holding the store's current generation.
generation=$(fleet_psql "SELECT generation FROM store_state")
for port in "${ports[@]}"; do
    for _ in $(seq 1 300); do
        value=$(ip netns exec "$NS" curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null \
            | awk '$1 == "egress25_policy_store_generation" {print int($2)}' || true)
        [ "${value:-0}" -ge "$generation" ] && break
        sleep 0.1
    done
    [ "${value:-0}" -ge "$generation" ] || { echo "router on port $port never came up:" >&2; cat "$WORK"/edge-*/log | tail -20 >&2; exit 1; }
done
echo "$ROUTERS routers up at store generation $generation with $BINDINGS session bindings; block log $BLOCK_LOG"
sleep 5
echo "background before the measurement: $(fleet_load_note)"
ip netns exec "$NS" python3 "$REPO/Benchmarks/fleet_propagation_probe.py" "$BIN/egress25ctl" "$WORK/admin.yaml" \
    "$(IFS=,; echo "${ports[*]}")" "$CHANGES" "$WORK/propagation.csv"
echo "background after: $(fleet_load_note)"
fleet_psql "SELECT count(*) || ' node rows, policy generation ' || min(policy_generation) || '..' || max(policy_generation) FROM node"
[ -z "${KEEP_CSV:-}" ] || cp "$WORK/propagation.csv" "$KEEP_CSV"
