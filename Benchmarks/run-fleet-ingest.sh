#!/usr/bin/env bash
# Issue 13: blocked-attempt ingest into the fleet store through the real shipping path.
#
#   sudo Benchmarks/run-fleet-ingest.sh
#
# Env: ROWS (2000000), NODES (4 shipper threads, one per node, each its own login role in egress25_router),
# BATCH (10000, the router's shipper's batch), DURABLE (1: fsync, synchronous_commit and full_page_writes on;
# 0: off), SKIP_BUILD, PG_PORT (55438).
#
# A private cluster (Benchmarks/fleet-cluster.sh), `egress25ctl store migrate`, then FleetBenchmarks ingest: each
# node ships its synthetic rows (hourly segments, rows in shipping order) with ExceptionStore.shipBlockedRows, one
# transaction per batch: the mark row locked, the day's partition ensured, COPY of the rows, the mark moved.
# The table has the schema's three indexes. The count and the marks are checked at the end.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-2000000}
NODES=${NODES:-4}
BATCH=${BATCH:-10000}
PG_PORT=${PG_PORT:-55438}
[ "$(id -u)" = 0 ] || { echo "run-fleet-ingest.sh: needs root (runs PostgreSQL as user postgres)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && swift build -c release --product egress25ctl && swift build -c release --product FleetBenchmarks) >&2
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/egress25-fleet-ingest.XXXXXX)
chmod 755 "$WORK"
cleanup() { fleet_cluster_stop; rm -rf "$WORK"; }
trap cleanup EXIT

fleet_cluster_start "$WORK/pg" "$PG_PORT"
fleet_migrate "$BIN/egress25ctl"
for n in $(seq 0 $((NODES - 1))); do fleet_role "bench_router_$n" egress25_router; done
echo "PostgreSQL $(fleet_psql "SHOW server_version"): fsync $(fleet_psql "SHOW fsync"), synchronous_commit $(fleet_psql "SHOW synchronous_commit"), shared_buffers $(fleet_psql "SHOW shared_buffers")"
echo "background before: $(fleet_load_note)"
"$BIN/FleetBenchmarks" ingest --url-template "$(fleet_url 'bench_router_{n}')" --nodes "$NODES" --rows "$ROWS" --batch "$BATCH"
echo "background after: $(fleet_load_note)"
echo "check: $(fleet_psql "SELECT count(*) FROM blocked_attempts") rows in blocked_attempts, $(fleet_psql "SELECT sum(rows) FROM blocked_shipping") rows by the marks, $(fleet_psql "SELECT count(*) FROM (SELECT node, slice_start, id FROM blocked_attempts GROUP BY 1, 2, 3 HAVING count(*) > 1) d") duplicates"
