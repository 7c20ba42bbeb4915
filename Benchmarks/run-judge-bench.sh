#!/usr/bin/env bash
# Plugs egress25d into the b25 judge bench (../shared/bench/run.sh) and runs the whole comparison
# (none, kernel, c-nfq, py-nfq, egress25d as "cmd") several times, then summarises with summarize.sh.
#
#   sudo Benchmarks/run-judge-bench.sh                 # 3 runs with the block log enabled
#   sudo RUNS=1 BLOCK_LOG=false Benchmarks/run-judge-bench.sh
#   sudo BLOCK_LOG_AB=1 Benchmarks/run-judge-bench.sh  # also: RUNS more with the block log disabled
#
# Env: BENCH (bench directory, default /work/shared/bench), RUNS (3), BLOCK_LOG (true|false), BLOCK_LOG_AB
# (0|1), JUDGES (default "none kernel c-nfq py-nfq"; egress25d is always added as "cmd"), QUIET_WAIT (60),
# FAIL_POLICY (open, as the C reference's NFQA_CFG_F_FAIL_OPEN; or closed), SKIP_BUILD (0|1),
# OUT_ROOT (where the run directories go, default /tmp). Any other run.sh knob (WINDOW, CHECK_N, ...) passes through.
#
# The bench installs its own rules (queue 0, IPv4, FORWARD, no reject-by-mark rule), so egress25d runs with
# block_action: drop, and applies no rules itself (it never does; `egress25ctl rules apply` is a separate step).
# Its state (exceptions.sqlite, blocklog/) lives in a temporary directory that is removed at exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${BENCH:-/work/shared/bench}
RUNS=${RUNS:-3}
BLOCK_LOG=${BLOCK_LOG:-true}
BLOCK_LOG_AB=${BLOCK_LOG_AB:-0}
FAIL_POLICY=${FAIL_POLICY:-open}
export QUIET_WAIT=${QUIET_WAIT:-60}
export JUDGES=${JUDGES:-none kernel c-nfq py-nfq}
OUT_ROOT=${OUT_ROOT:-/tmp}

[ "$(id -u)" = 0 ] || { echo "run-judge-bench.sh: needs root (the bench creates network namespaces)" >&2; exit 1; }
[ -x "$BENCH/run.sh" ] || { echo "run-judge-bench.sh: no bench at $BENCH" >&2; exit 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25d) >&2
fi
BIN_DIR=$(cd "$REPO" && swift build -c release --show-bin-path)
DAEMON=$BIN_DIR/egress25d
[ -x "$DAEMON" ] || { echo "run-judge-bench.sh: $DAEMON not built" >&2; exit 1; }

WORK=$(mktemp -d /tmp/egress25-judge-bench.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

# write_config FILE BLOCK_LOG_ENABLED: the bench's policy (README "Policy") as an egress25 configuration.
write_config() {
    local file=$1 enabled=$2 state=$WORK/state-$2
    mkdir -p "$state"
    cat >"$file" <<EOF
# egress25d for the b25 judge bench: the bench's policy, its queue, no rules of our own.
node_name: b25rtr
state_directory: $state
queue:
  numbers: [0]
  fail_policy: $FAIL_POLICY
  max_length: 4096
  receive_buffer: 64MiB
  batch_size: 64
policy:
  mode: enforce
  subscriber_ranges: [100.64.0.0/10]
  relay_hosts: [192.0.2.25, 192.0.2.26]
  ports: [25]
  block_action: drop
  exceptions:
    - id: bench-host
      customer: bench-a
      sources: [100.64.7.7/32]
      destinations: any
      reason: b25 bench exception (host)
    - id: bench-net
      customer: bench-b
      sources: [100.64.9.0/24]
      destinations: any
      reason: b25 bench exception (network)
block_log:
  enabled: $enabled
  segment: 1h
  flush_interval: 1s
  aggregation_window: 60s
  retention: 1d
  max_bytes: 1GiB
metrics:
  listen: 127.0.0.1:9325
EOF
    "$DAEMON" --check-config --config "$file" >&2
}

# bench_runs LABEL BLOCK_LOG_ENABLED: RUNS runs of the bench; prints the run directories.
bench_runs() {
    local label=$1 enabled=$2 config=$WORK/egress25-$2.yaml dirs=() i out
    write_config "$config" "$enabled"
    for i in $(seq "$RUNS"); do
        out=$OUT_ROOT/b25bench.$label.$(date +%Y%m%d-%H%M%S).$i
        echo "== $label run $i/$RUNS -> $out" >&2
        # The daemon's log goes to the bench's cmd.err; SIGUSR1 prints "judged=N allowed=N blocked=N ..."
        # on stdout (cmd.log), which the bench cross-checks against the kernel counters. No `exec`: the
        # bench's sh ignores SIGUSR1, and an ignored signal would stay ignored across exec.
        OUT=$out JUDGE_STATS=usr1 JUDGE_CMD="'$DAEMON' --config '$config' --log-level notice" \
            "$BENCH/run.sh" >&2 || echo "run-judge-bench.sh: run $i exited $?" >&2
        [ -f "$out/results.tsv" ] && dirs+=("$out")
        rm -rf "$WORK/state-$enabled"/blocklog
    done
    printf '%s\n' "${dirs[@]}"
}

summary() { # LABEL DIRS...
    local label=$1; shift
    echo
    echo "=== $label: $# runs (${*})"
    "$BENCH/summarize.sh" "$@"
}

mapfile -t MAIN < <(bench_runs "blocklog-$BLOCK_LOG" "$BLOCK_LOG")
[ ${#MAIN[@]} -gt 0 ] || { echo "run-judge-bench.sh: no run completed" >&2; exit 1; }
summary "egress25d block_log.enabled=$BLOCK_LOG" "${MAIN[@]}"
if [ "$BLOCK_LOG_AB" = 1 ]; then
    other=$([ "$BLOCK_LOG" = true ] && echo false || echo true)
    mapfile -t AB < <(JUDGES="c-nfq" bench_runs "blocklog-$other" "$other")
    [ ${#AB[@]} -gt 0 ] && summary "egress25d block_log.enabled=$other (judges: c-nfq, cmd)" "${AB[@]}"
fi
