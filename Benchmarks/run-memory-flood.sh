#!/usr/bin/env bash
# The block log's memory under floods (issue 12): egress25d with the block log on judges, in the b25 bench's
# topology (b25sub -> b25rtr -> b25net, iptables FORWARD -> NFQUEUE 0), first a random-source flood (default
# 30,000 SYN/s for 120 s from about 780,000 distinct sources: nearly one row per SYN), then b25gen at full speed
# (about 250,000 SYN/s on this machine, 60 s). Every 5 s it prints egress25d's RSS and peak RSS (VmRSS, VmHWM),
# the block log's commit lag, rows in memory, rows closed early, coarse SYNs and lost events; at the end the
# exact check: blocked SYNs judged = SYNs recorded + lost.
#
#   sudo Benchmarks/run-memory-flood.sh
#   sudo RANDOM_SECONDS=30 FULL_SECONDS=20 MAX_MEMORY=64MiB Benchmarks/run-memory-flood.sh
#
# Env: BENCH (/work/shared/bench), RANDOM_RATE (30000), RANDOM_SECONDS (120), RANDOM_POOL (800000),
# FULL_SECONDS (60), MAX_MEMORY (64MiB), SKIP_BUILD (0|1). Prints the machine's load beside every sample:
# with other work running, rates are lower but the memory bound is what is measured.
set -u  # not -e: the bench's common.sh expects failing probes (ip netns pids of a missing namespace)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${BENCH:-/work/shared/bench}
RANDOM_RATE=${RANDOM_RATE:-30000}
RANDOM_SECONDS=${RANDOM_SECONDS:-120}
RANDOM_POOL=${RANDOM_POOL:-800000}
FULL_SECONDS=${FULL_SECONDS:-60}
MAX_MEMORY=${MAX_MEMORY:-64MiB}

[ "$(id -u)" = 0 ] || { echo "run-memory-flood.sh: needs root (network namespaces)" >&2; exit 1; }
[ -f "$BENCH/common.sh" ] || { echo "run-memory-flood.sh: no bench at $BENCH" >&2; exit 1; }
# shellcheck source=/dev/null
BENCH_DIR=$BENCH
source "$BENCH/common.sh"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25d) >&2
fi
DAEMON=$(cd "$REPO" && swift build -c release --show-bin-path)/egress25d
[ -x "$DAEMON" ] || { echo "run-memory-flood.sh: $DAEMON not built" >&2; exit 1; }

WORK=$(mktemp -d /tmp/egress25-memory-flood.XXXXXX)
chmod 755 "$WORK"
DAEMON_PID=""
cleanup() {
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    topo_down
    rm -rf "$WORK"
}
trap cleanup EXIT

build_tools
topo_up
nsx $NS_RTR "$IPT" -A FORWARD -s 100.64.0.0/10 -p tcp --dport 25 --syn -j NFQUEUE --queue-num 0

cat >"$WORK/egress25.yaml" <<EOF
node_name: b25rtr
state_directory: $WORK/state
queue: { numbers: [0], fail_policy: closed, max_length: 4096, receive_buffer: 64MiB, batch_size: 64 }
policy:
  subscriber_ranges: [100.64.0.0/10]
  relay_hosts: [192.0.2.25, 192.0.2.26]
  ports: [25]
  block_action: drop
block_log: { enabled: true, flush_interval: 1s, aggregation_window: 60s, max_memory: $MAX_MEMORY }
metrics: { listen: 127.0.0.1:9325 }
EOF
mkdir -p "$WORK/state"
"$DAEMON" --check-config --config "$WORK/egress25.yaml" >&2
nsx $NS_RTR "$DAEMON" --config "$WORK/egress25.yaml" --log-level notice >"$WORK/daemon.out" 2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 50); do nfq_bound && break; sleep 0.1; done
nfq_bound || { echo "run-memory-flood.sh: egress25d did not bind queue 0" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
PID=$(pgrep -n -x egress25d)

metric() { # name -> value (sum over label sets)
    nsx $NS_RTR curl -s --max-time 2 http://127.0.0.1:9325/metrics |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}'
}
sample() { # label
    local rss hwm lag
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
    lag=$(nsx $NS_RTR curl -s --max-time 2 http://127.0.0.1:9325/metrics |
        awk '$1 == "egress25_block_log_lag_seconds" {print $2}')
    printf '%-8s %6ds  rss %4d MiB  peak %4d MiB  lag %5ss  rows %8s/%s  closed_early %9s  coarse %9s  lost %9s  load %s\n' \
        "$1" "$2" $((rss / 1024)) $((hwm / 1024)) "${lag:-?}" "$(metric egress25_block_log_rows_in_memory)" \
        "$(metric egress25_block_log_row_capacity)" "$(metric egress25_block_log_rows_closed_early_total)" \
        "$(metric egress25_block_log_coarse_syns_total)" "$(metric egress25_block_log_lost_events_total)" \
        "$(cut -d' ' -f1 /proc/loadavg)"
}
run_phase() { # label seconds command...
    local label=$1 seconds=$2 started
    shift 2
    "$@" >"$WORK/$label.out" 2>&1 &
    local generator=$!
    started=$(date +%s)
    while kill -0 "$generator" 2>/dev/null; do
        sleep 5
        sample "$label" $(($(date +%s) - started))
        [ $(($(date +%s) - started)) -gt $((seconds + 60)) ] && kill "$generator"
    done
    wait "$generator" || true
    echo "$label generator: $(tail -1 "$WORK/$label.out")"
}

echo "egress25d pid $PID, block_log.max_memory $MAX_MEMORY"
sample idle 0
run_phase random "$RANDOM_SECONDS" nsx $NS_SUB python3 "$REPO/Benchmarks/random-source-flood.py" s0 "$R0_MAC" \
    "$RANDOM_RATE" "$RANDOM_SECONDS" "$RANDOM_POOL"
sleep 3
sample after 0
run_phase full "$FULL_SECONDS" gen -t "$FULL_SECONDS"
sleep 3
sample after 0

peak=$(($(awk '/^VmHWM/ {print $2}' "/proc/$PID/status") / 1024))
kill -USR1 "$PID"
sleep 1
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
DAEMON_PID=""
# The SIGUSR1 line: judged=N allowed=N blocked=N malformed=N lost=N (lost: attempts the rings refused).
stats=$(grep 'judged=' "$WORK/daemon.out" | tail -1)
blocked=$(kv blocked "$stats")
recorded=$("$(dirname "$DAEMON")/egress25ctl" blocked top --by destination --since 2d --limit 1000000 --format csv \
    --config "$WORK/egress25.yaml" | awk -F, 'NR > 1 {s += $3} END {print s + 0}')
echo "peak RSS ${peak} MiB; egress25d: $stats"
echo "blocked SYNs judged: ${blocked:-?}; SYNs in the block log after shutdown: $recorded" \
    "(the difference is the lost events above)"
tail -3 "$WORK/daemon.log"
