#!/usr/bin/env bash
# Issue 13: what keeping its policy current costs one fleet router (egress25d) with 100,000 session bindings in the
# store under a session feed of 1,000 changes/s.
#
#   sudo Benchmarks/run-fleet-upkeep.sh
#
# Env: BINDINGS (100000), RATE (1000 changes/s), SECONDS_CPU (60), SECONDS_PROPAGATION (30), THREADS (3 generator
# threads, each its own connection), DURABLE (1: fsync and synchronous_commit on; 0: off), PERF (1: also 20 s of
# `perf record -g` on the router under churn, report in $PERF_OUT), SKIP_BUILD, PG_PORT (55437).
#
# Phases, one egress25d (fleet mode, its own network namespace with lo only, metrics on 127.0.0.1:9450):
#   idle    20 s without changes: the router's baseline CPU.
#   cpu     SECONDS_CPU s of churn (FleetBenchmarks churn: half renewals, half moves = a start on a new address
#           and a stop of the old one), nothing else reading the router: its CPU = utime+stime from
#           /proc/PID/stat over the churn, as % of one core, and per thread (/proc/PID/task/*/stat).
#   latency SECONDS_PROPAGATION s of the same churn while Benchmarks/fleet_generation_probe.py reads the router's
#           /metrics every ~10 ms and the generator samples the store's generation after a change every ~50 ms;
#           Benchmarks/fleet_upkeep_join.py joins them.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINDINGS=${BINDINGS:-100000}
RATE=${RATE:-1000}
SECONDS_CPU=${SECONDS_CPU:-60}
SECONDS_PROPAGATION=${SECONDS_PROPAGATION:-30}
THREADS=${THREADS:-3}
PG_PORT=${PG_PORT:-55437}
[ "$(id -u)" = 0 ] || { echo "run-fleet-upkeep.sh: needs root (network namespace, NFQUEUE)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25d && swift build -c release --product egress25ctl \
        && swift build -c release --product FleetBenchmarks) >&2
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/egress25-fleet-upkeep.XXXXXX)
chmod 755 "$WORK"
NS=e25upkeep$$
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
fleet_role bench_router egress25_router
ADMIN_URL=$(fleet_url bench_admin)
"$BIN/FleetBenchmarks" load-sessions --url "$ADMIN_URL" --bindings "$BINDINGS"

ip netns add "$NS"
ip -n "$NS" link set lo up
cat >"$WORK/router.yaml" <<YAML
node_name: edge-00
state_directory: $WORK/state
queue: { numbers: [150], fail_policy: open }
policy:
  subscriber_ranges: [100.64.0.0/10]
  relay_hosts: [192.0.2.25]
  ports: [25]
  block_action: reject
metrics: { listen: 127.0.0.1:9450 }
store:
  url: "$(fleet_url bench_router)"
  node: edge-00
YAML
ip netns exec "$NS" "$BIN/egress25d" --config "$WORK/router.yaml" >"$WORK/router.log" 2>&1 &
PIDS+=($!)
ROUTER=$! # `ip netns exec` execs egress25d: the same process
sleep 0.5
[ "$(cat /proc/$ROUTER/comm 2>/dev/null)" = egress25d ] || { echo "egress25d did not start:" >&2; cat "$WORK/router.log" >&2; exit 1; }
generation=$(fleet_psql "SELECT generation FROM store_state")
for _ in $(seq 1 600); do
    value=$(ip netns exec "$NS" curl -sf http://127.0.0.1:9450/metrics 2>/dev/null \
        | awk '$1 == "egress25_policy_store_generation" {print int($2)}' || true)
    [ "${value:-0}" -ge "$generation" ] && break
    sleep 0.1
done
[ "${value:-0}" -ge "$generation" ] || { echo "egress25d never reached generation $generation" >&2; cat "$WORK/router.log" >&2; exit 1; }
echo "egress25d (pid $ROUTER) holds $BINDINGS session bindings at store generation $generation; RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$ROUTER/status)"
echo "durable PostgreSQL: ${DURABLE:-1} (fsync and synchronous_commit $( [ "${DURABLE:-1}" = 1 ] && echo on || echo off ))"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "name ticks" for every thread of the router.
thread_ticks() { for t in /proc/"$ROUTER"/task/*; do echo "$(tr ' ' '_' <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done; }
thread_report() { # BEFORE_FILE AFTER_FILE SECONDS
    awk -v s="$3" -v hz="$ticks" 'NR == FNR {b[$1] += $2; next} {a[$1] += $2}
        END {for (n in a) if (a[n] - b[n] > 0) printf "    %-24s %5.1f %% of one core\n", n, (a[n] - b[n]) * 100 / hz / s}' "$1" "$2" | sort -k2 -nr
}

sleep 3
echo "background before idle: $(fleet_load_note)"
before=$(cpu_ticks "$ROUTER"); t0=$(date +%s.%N); sleep 20; after=$(cpu_ticks "$ROUTER"); t1=$(date +%s.%N)
echo "idle: egress25d $(echo "($after - $before) * 100 / $ticks / ($t1 - $t0)" | bc -l | xargs printf '%.2f') % of one core"

echo "background before churn: $(fleet_load_note)"
reloads_before=$(ip netns exec "$NS" curl -sf http://127.0.0.1:9450/metrics | awk '$1 == "egress25_policy_reloads_total" {print int($2)}')
thread_ticks >"$WORK/threads.before"
before=$(cpu_ticks "$ROUTER"); t0=$(date +%s.%N)
"$BIN/FleetBenchmarks" churn --url "$ADMIN_URL" --bindings "$BINDINGS" --rate "$RATE" --seconds "$SECONDS_CPU" --threads "$THREADS" --state "$WORK/churn-state"
after=$(cpu_ticks "$ROUTER"); t1=$(date +%s.%N)
thread_ticks >"$WORK/threads.after"
reloads_after=$(ip netns exec "$NS" curl -sf http://127.0.0.1:9450/metrics | awk '$1 == "egress25_policy_reloads_total" {print int($2)}')
elapsed=$(echo "$t1 - $t0" | bc -l)
echo "churn: egress25d $(echo "($after - $before) * 100 / $ticks / $elapsed" | bc -l | xargs printf '%.1f') % of one core over $(printf '%.1f' "$elapsed") s (utime+stime $(( after - before )) ticks at $ticks Hz); $((reloads_after - reloads_before)) snapshots republished ($(echo "($reloads_after - $reloads_before) / $elapsed" | bc -l | xargs printf '%.2f')/s)"
echo "  by thread:"
thread_report "$WORK/threads.before" "$WORK/threads.after" "$elapsed"
echo "  RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$ROUTER/status)"
echo "background right after churn: $(fleet_load_note)"

if [ "${PERF:-0}" = 1 ]; then
    "$BIN/FleetBenchmarks" churn --url "$ADMIN_URL" --bindings "$BINDINGS" --rate "$RATE" --seconds 25 --threads "$THREADS" --state "$WORK/churn-state" &
    gen=$!
    sleep 3
    perf record -F 499 -g -p "$ROUTER" -o "$WORK/perf.data" -- sleep 20 >/dev/null 2>&1
    wait "$gen"
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null | swift demangle --simplified \
        >"${PERF_OUT:-/tmp/egress25-upkeep-perf.txt}"
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | swift demangle --simplified \
        >"${PERF_OUT:-/tmp/egress25-upkeep-perf.txt}.children"
    echo "perf report: ${PERF_OUT:-/tmp/egress25-upkeep-perf.txt} (+ .children)"
fi

ip netns exec "$NS" python3 "$REPO/Benchmarks/fleet_generation_probe.py" 9450 "$WORK/probe.txt" &
probe=$!
PIDS+=($probe)
sleep 1
"$BIN/FleetBenchmarks" churn --url "$ADMIN_URL" --bindings "$BINDINGS" --rate "$RATE" --seconds "$SECONDS_PROPAGATION" \
    --threads "$THREADS" --state "$WORK/churn-state" --samples "$WORK/samples.txt"
sleep 2
kill "$probe"; wait "$probe" 2>/dev/null || true
python3 "$REPO/Benchmarks/fleet_upkeep_join.py" "$WORK/samples.txt" "$WORK/probe.txt"
echo "router log warnings/errors: $(grep -ciE 'warning|error' "$WORK/router.log" || true)"
