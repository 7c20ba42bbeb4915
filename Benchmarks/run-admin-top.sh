#!/usr/bin/env bash
# Issue 14: egress25-admin's top offenders on the 10M-row fleet block log of run-fleet-queries.sh (not a timed test).
#
#   sudo Benchmarks/run-admin-top.sh
#
# Uses the cluster that `KEEP=1 LOAD_ONLY=1 PG_DIR=$PG_DIR Benchmarks/run-fleet-queries.sh` leaves loaded (10M rows
# over 30 days, 20 nodes; runs it first when PG_DIR holds no loaded cluster) and points egress25-admin (release) at
# it with an admin machine's configuration (store: only, store.url as the login role bench_admin in egress25_admin,
# which run-fleet-queries.sh creates). With an abuse token (egress25ctl token create) and a console session
# (POST /login), it times, RUNS times each, one request at a time (curl's time_total: connect to last byte):
#   GET /abuse/top?by=source&since=24h             the console page (top 50)
#   GET /api/v1/blocked/top?by=source&since=24h    the API (top 20)
# and the same with since=31d, a window holding every row. Prints the rows in each window, the machine's load
# before each set, first and median. EXPLAIN=1 also prints EXPLAIN ANALYZE of the ranking over all rows.
#
# Env: PG_DIR (/work/bench-pg), PG_PORT (55436), RUNS (7), PORT (18026), SKIP_BUILD (0|1), WINDOWS ("24h 31d").
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_DIR=${PG_DIR:-/work/bench-pg}
PG_PORT=${PG_PORT:-55436}
RUNS=${RUNS:-7}
PORT=${PORT:-18026}
WINDOWS=${WINDOWS:-24h 31d}
[ "$(id -u)" = 0 ] || { echo "run-admin-top.sh: needs root (runs PostgreSQL as user postgres)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    for product in egress25-admin egress25ctl; do
        (cd "$REPO" && swift build -c release --product "$product") >&2
    done
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
if ! { [ -f "$PG_DIR/loaded" ] \
    && runuser -u postgres -- "$FLEET_PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }; then
    KEEP=1 LOAD_ONLY=1 SKIP_BUILD=1 PG_DIR=$PG_DIR PG_PORT=$PG_PORT BIN=$BIN "$REPO/Benchmarks/run-fleet-queries.sh"
fi
FLEET_PG_DIR=$PG_DIR
FLEET_PG_PORT=$PG_PORT
loaded_ms=$(cat "$PG_DIR/loaded")

WORK=$(mktemp -d /tmp/egress25-admin-top.XXXXXX)
chmod 755 "$WORK"
ADMIN_PID=
TOKEN_NAME=bench-abuse-$$
CONFIG=$WORK/admin.yaml
cleanup() {
    if [ -n "$ADMIN_PID" ]; then kill "$ADMIN_PID" 2>/dev/null || true; wait "$ADMIN_PID" 2>/dev/null || true; fi
    "$BIN/egress25ctl" --config "$CONFIG" token revoke "$TOKEN_NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    echo "the cluster stays loaded in $PG_DIR on port $PG_PORT (Benchmarks/fleet-cluster.sh fleet_cluster_stop)"
}
trap cleanup EXIT
cat >"$CONFIG" <<YAML
# egress25-admin on an admin machine: the fleet's store only.
node_name: bench-admin-fleet
state_directory: $WORK/state
store:
  url: "$(fleet_url bench_admin)"
admin:
  listen: 127.0.0.1:$PORT
YAML
mkdir -p "$WORK/state"

TOKEN=$("$BIN/egress25ctl" --config "$CONFIG" token create --name "$TOKEN_NAME" --role abuse 2>/dev/null)
"$BIN/egress25-admin" --config "$CONFIG" --log-level warning >"$WORK/admin.log" 2>&1 &
ADMIN_PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do
    curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$ADMIN_PID" 2>/dev/null || { cat "$WORK/admin.log" >&2; exit 1; }
    sleep 0.1
done
COOKIE=$(curl -s -o /dev/null -D - -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode "token=$TOKEN" "$BASE/login" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "run-admin-top.sh: the console login gave no session cookie" >&2; exit 1; }
echo "egress25-admin $ADMIN_PID on $BASE over $(fleet_url bench_admin); data loaded $(( ($(date +%s) * 1000 - loaded_ms) / 60000 )) min ago"

# time_set LABEL URL CURL-ARGS...: RUNS sequential requests; every status must be 200.
time_set() {
    local label=$1 url=$2
    shift 2
    local times=() line status
    for _ in $(seq 1 "$RUNS"); do
        line=$(curl -s -o "$WORK/body" -w '%{http_code} %{time_total}' "$@" "$url")
        status=${line%% *}
        [ "$status" = 200 ] || { echo "$label: HTTP $status: $(head -c 300 "$WORK/body")" >&2; exit 1; }
        times+=("$(awk -v t="${line#* }" 'BEGIN {printf "%.0f", t * 1000}')")
    done
    local sorted median
    sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "$label: median $median ms, first ${times[0]} ms; runs in order ${times[*]} (sorted $sorted) ms; $(wc -c <"$WORK/body") bytes"
}

for window in $WINDOWS; do
    case $window in
    *h) seconds=$(( ${window%h} * 3600 )) ;;
    *d) seconds=$(( ${window%d} * 86400 )) ;;
    *) echo "WINDOWS: 24h, 31d, ..." >&2; exit 2 ;;
    esac
    since_ms=$(( $(date +%s) * 1000 - seconds * 1000 ))
    rows=$(fleet_psql "SELECT count(*) || ' rows, ' || count(DISTINCT source) || ' sources' FROM blocked_attempts
        WHERE first_seen >= $((since_ms - 3600000)) AND last_seen >= $since_ms")
    echo "=== since=$window: $rows of $(fleet_psql "SELECT count(*) FROM blocked_attempts") in the window"
    echo "background before: $(fleet_load_note)"
    time_set "console /abuse/top?by=source&since=$window (top 50)" "$BASE/abuse/top?by=source&since=$window" \
        -H "Cookie: $COOKIE"
    time_set "API /api/v1/blocked/top?by=source&since=$window (top 20)" \
        "$BASE/api/v1/blocked/top?by=source&since=$window" -H "Authorization: Bearer $TOKEN"
    echo "background after: $(fleet_load_note)"
done

if [ "${EXPLAIN:-0}" = 1 ]; then
    since_ms=$(( $(date +%s) * 1000 - 31 * 86400000 ))
    echo "--- EXPLAIN ANALYZE: the first pass of topBlocked (sums per source) over every row, work_mem 32MB"
    fleet_psql "BEGIN; SET LOCAL work_mem = '32MB'; EXPLAIN (ANALYZE, BUFFERS) SELECT source AS k, sum(attempts) AS a_sum,
        sum(syns) AS s_sum, min(first_seen) AS f_min, max(last_seen) AS l_max FROM blocked_attempts
        WHERE first_seen >= $((since_ms - 3600000)) AND last_seen >= $since_ms
        GROUP BY source ORDER BY s_sum DESC, a_sum DESC, host(source) LIMIT 20; COMMIT;"
fi
echo "egress25-admin log lines with error or warning: $(grep -ci "error\|warning" "$WORK/admin.log" || true)"
