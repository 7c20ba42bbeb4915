#!/usr/bin/env bash
# Issue 13: the abuse desk's fleet queries on 10M block-log rows from 20 nodes over 30 days.
#
#   sudo Benchmarks/run-fleet-queries.sh
#
# Env: ROWS (10000000), DAYS (30), RUNS (7), SKIP_BUILD (0|1), PG_PORT (55436), PG_DIR (where the cluster lives;
# default a temporary directory, removed at exit), KEEP=1 (leave the cluster running and its data loaded: a second
# run with the same PG_DIR skips the load, and LOAD_ONLY=1 stops after it), CTL (egress25ctl for `store migrate`).
#
# Data (SQL, INSERT ... SELECT generate_series, one day a statement, rows in first_seen order as routers ship
# them): 200,000 subscribers 100.64.0.1 + 20*s in 100.64.0.0/10, each on router edge-(s mod 20); 70 % of the rows
# from subscribers drawn uniformly (about 35 rows each in 30 days), 30 % from 500 infected hosts (s = 397*k, about
# 6,000 rows each); 3,000 destinations 203.0.0.0 + 257*d with a skew (floor(3000 * random()^2)); first_seen uniform
# over the days, last_seen up to 60 s later; 1-3 attempts, 1-2 SYNs each; 90 % with a customer. Then ANALYZE.
# Timed through the real Swift API (FleetBenchmarks queries): blockedAttempts(source = one subscriber, since 30 days
# ago, limit 100 as `egress25ctl blocked query`'s default, and with no limit) for a typical and an infected
# subscriber, and topBlocked(by: .source, since 24 h, limit 20); RUNS runs each, median. EXPLAIN ANALYZE of both.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-10000000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-7}
PG_PORT=${PG_PORT:-55436}
[ "$(id -u)" = 0 ] || { echo "run-fleet-queries.sh: needs root (runs PostgreSQL as user postgres)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25ctl && swift build -c release --product FleetBenchmarks) >&2
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/egress25-fleet-queries.XXXXXX)
chmod 755 "$WORK"
PG_DIR=${PG_DIR:-$WORK/pg}
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then echo "kept: cluster $PG_DIR on port $PG_PORT (Benchmarks/fleet-cluster.sh fleet_cluster_stop)"
    else fleet_cluster_stop; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -f "$PG_DIR/loaded" ] && runuser -u postgres -- "$FLEET_PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
FLEET_PG_DIR=$PG_DIR FLEET_PG_PORT=$PG_PORT
now_ms=$(cat "$PG_DIR/loaded")
echo "reusing the data loaded in $PG_DIR at $(date -u -d @$((now_ms / 1000)))"
else
fleet_cluster_start "$PG_DIR" "$PG_PORT"
fleet_migrate "${CTL:-$BIN/egress25ctl}"
fleet_role bench_admin egress25_admin

now_ms=$(($(date +%s) * 1000))
start_ms=$((now_ms - DAYS * 86400000))
first_day=$((start_ms / 86400000))
last_day=$((now_ms / 86400000))
fleet_psql "SELECT count(blocked_attempts_partition(d)) FROM generate_series($first_day, $last_day) d" >/dev/null
per_day=$((ROWS / DAYS))
loading=$(date +%s)
for k in $(seq 0 $((DAYS - 1))); do
    from=$((k * per_day + 1))
    to=$(( k == DAYS - 1 ? ROWS : (k + 1) * per_day ))
    day_start=$((start_ms + k * 86400000))
    fleet_psql "
    INSERT INTO blocked_attempts (node, slice_start, id, first_seen, last_seen, source, destination,
        destination_port, attempts, syns, customer, reason, exception_id)
    SELECT 'edge-' || lpad((s % 20)::text, 2, '0'), fs / 3600000 * 3600, g, fs, fs + (random() * 60000)::bigint,
        '100.64.0.1'::inet + 20 * s, '203.0.0.0'::inet + 257 * d, 25, a, a * (1 + floor(random() * 2)::int),
        CASE WHEN random() < 0.9 THEN 'c-' || s END, 0, NULL
    FROM (SELECT g, $day_start + floor(random() * 86400000)::bigint AS fs,
            CASE WHEN random() < 0.3 THEN floor(random() * 500)::int * 397 ELSE floor(random() * 200000)::int END AS s,
            floor(3000 * random() ^ 2)::int AS d, 1 + floor(random() * 3)::int AS a
          FROM generate_series($from, $to) g) x
    ORDER BY fs"
done
fleet_psql "ANALYZE blocked_attempts"
echo "loaded $(fleet_psql "SELECT count(*) FROM blocked_attempts") rows in $(( $(date +%s) - loading )) s over $((last_day - first_day + 1)) daily partitions; $(fleet_psql "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'blocked_attempts'::regclass") with indexes"
echo "$now_ms" >"$PG_DIR/loaded"
fi
[ "${LOAD_ONLY:-0}" != 1 ] || exit 0

typical=$(fleet_psql "SELECT host('100.64.0.1'::inet + 20 * 12345)")
infected=$(fleet_psql "SELECT host('100.64.0.1'::inet + 20 * 397 * 7)")
echo "typical subscriber $typical: $(fleet_psql "SELECT count(*) FROM blocked_attempts WHERE source = '$typical'") rows; infected $infected: $(fleet_psql "SELECT count(*) FROM blocked_attempts WHERE source = '$infected'") rows"
echo "background before the queries: $(fleet_load_note)"
for limit in 100 0; do
    "$BIN/FleetBenchmarks" queries --url "$(fleet_url bench_admin)" --sources "$typical,$infected" --runs "$RUNS" --limit "$limit"
done
echo "background after: $(fleet_load_note)"

since30=$((now_ms - 30 * 86400000))
since24=$((now_ms - 86400000))
echo "--- EXPLAIN ANALYZE: history of $typical (limit 100), as ExceptionStore+BlockedQueries.swift sends it"
fleet_psql "EXPLAIN (ANALYZE, BUFFERS) SELECT node, first_seen, last_seen, host(source), host(destination),
    CAST(destination_port AS bigint), attempts, syns, customer, CAST(reason AS bigint), exception_id
    FROM blocked_attempts WHERE source <<= CAST('$typical' AS inet) AND first_seen >= $((since30 - 3600000))
    AND last_seen >= $since30 ORDER BY first_seen DESC, node, id DESC LIMIT 100"
echo "--- EXPLAIN ANALYZE: top 20 sources of 24 h"
fleet_psql "EXPLAIN (ANALYZE, BUFFERS) SELECT host(source) AS key, CAST(sum(attempts) AS bigint) AS attempts,
    CAST(sum(syns) AS bigint) AS syns, CAST(count(DISTINCT destination) AS bigint), CAST(1 AS bigint),
    min(first_seen), max(last_seen) FROM blocked_attempts WHERE first_seen >= $((since24 - 3600000))
    AND last_seen >= $since24 GROUP BY 1 ORDER BY syns DESC, attempts DESC, key LIMIT 20"
