#!/usr/bin/env bash
# Issue 14: egress25-admin at 500 requests/s on a router's SQLite store (not a timed test).
#
#   sudo Benchmarks/run-admin-bench.sh
#
# Builds egress25-admin, egress25ctl and AdminBenchmarks (release), writes a router configuration and an exception
# store of CUSTOMERS customers (named, one static /32 binding each) of which WITH_EXCEPTIONS hold an exception (a
# quarter of those a second one), through the ExceptionStore API (`AdminBenchmarks seed`, one change a
# transaction as egress25ctl; on tmpfs, then copied into the state directory, see SEED_DIR), starts egress25-admin
# (release) on 127.0.0.1:PORT, creates a support token with egress25ctl and signs in to the console with it
# (POST /login), then drives, open loop (`AdminBenchmarks load`: latency from each request's due time):
#   cold   GET /api/v1/check right after the server started (COLD_SECONDS, no warm-up): the first snapshot build
#          falls into it (keep it first in RUNS)
#   check  GET /api/v1/check?source=S&destination=D   (random customers; accepts and blocks)
#   page   GET /customers/ID with the session cookie   (the console's customer page, HTML)
#   api    GET /api/v1/customers/ID with the token     (the same data as JSON)
#   churn  check again while another process renews sessions at CHURN_RATE/s (`AdminBenchmarks churn`: a session
#          feed's interim updates; each moves the store's change token, so the check's snapshot is rebuilt)
# each at RATE requests/s for DURATION s after WARMUP s at the same rate. Before each run: the machine's load
# (loadavg, top's busiest processes over 2 s); after it: the server's CPU over the run (utime+stime from /proc)
# and its RSS.
#
# Env: CUSTOMERS (100000), WITH_EXCEPTIONS (20000), RATE (500), DURATION (20), WARMUP (3), COLD_SECONDS (5),
# CONNECTIONS (16), PORT (18025), RUNS ("cold check page api churn"), CHURN_RATE (20), SKIP_BUILD (0|1), SEED_DIR (/dev/shm: where the
# store is written before it is copied; the state directory is on disk), KEEP_STORE (a path: reuse/keep the seeded
# store file there, so reruns skip the seeding).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CUSTOMERS=${CUSTOMERS:-100000}
WITH_EXCEPTIONS=${WITH_EXCEPTIONS:-20000}
RATE=${RATE:-500}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
COLD_SECONDS=${COLD_SECONDS:-5}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18025}
RUNS=${RUNS:-cold check page api churn}
CHURN_RATE=${CHURN_RATE:-20}
SEED_DIR=${SEED_DIR:-/dev/shm}
[ "$(id -u)" = 0 ] || { echo "run-admin-bench.sh: needs root (reads other processes' load)" >&2; exit 1; }
source "$REPO/Benchmarks/fleet-cluster.sh"   # fleet_load_note

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    for product in egress25-admin egress25ctl AdminBenchmarks; do
        (cd "$REPO" && swift build -c release --product "$product") >&2
    done
fi
BIN=${BIN:-$(cd "$REPO" && swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/egress25-admin-bench.XXXXXX)
chmod 755 "$WORK"
ADMIN_PID=
CHURN_PID=
cleanup() {
    if [ -n "$CHURN_PID" ]; then kill "$CHURN_PID" 2>/dev/null || true; wait "$CHURN_PID" 2>/dev/null || true; fi
    if [ -n "$ADMIN_PID" ]; then kill "$ADMIN_PID" 2>/dev/null || true; wait "$ADMIN_PID" 2>/dev/null || true; fi
    rm -rf "$WORK" "$SEED_DIR/egress25-admin-bench.$$"
}
trap cleanup EXIT

STATE=$WORK/state
mkdir -p "$STATE"
CONFIG=$WORK/egress25.yaml
cat >"$CONFIG" <<YAML
# egress25-admin benchmark: a router's configuration, store in $STATE.
node_name: bench-admin
state_directory: $STATE
policy:
  subscriber_ranges: [100.64.0.0/10, "2001:db8:6400::/40"]
  relay_hosts: [192.0.2.25]
admin:
  listen: 127.0.0.1:$PORT
YAML

STORE=$STATE/exceptions.sqlite
if [ -n "${KEEP_STORE:-}" ] && [ -f "$KEEP_STORE" ]; then
    echo "reusing the seeded store $KEEP_STORE"
    cp "$KEEP_STORE" "$STORE"
else
    SEED=$SEED_DIR/egress25-admin-bench.$$
    mkdir -p "$SEED"
    "$BIN/AdminBenchmarks" seed --store "$SEED/exceptions.sqlite" --customers "$CUSTOMERS" \
        --with-exceptions "$WITH_EXCEPTIONS"
    # The seeding process has closed the store; fold any WAL into the file before it is copied.
    sqlite3 "$SEED/exceptions.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
    cp "$SEED/exceptions.sqlite" "$STORE"
    rm -rf "$SEED"
    if [ -n "${KEEP_STORE:-}" ]; then cp "$STORE" "$KEEP_STORE"; fi
fi
echo "store: $(sqlite3 "$STORE" "SELECT (SELECT count(*) FROM customer) || ' customers, ' ||
    (SELECT count(*) FROM binding WHERE valid_until IS NULL) || ' bindings in force, ' ||
    (SELECT count(*) FROM exception) || ' exceptions, ' || (SELECT count(*) FROM audit) || ' audit entries'"), \
$(du -h "$STORE" | cut -f1)"

TOKEN=$("$BIN/egress25ctl" --config "$CONFIG" token create --name bench-support --role support 2>/dev/null)
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
[ -n "$COOKIE" ] || { echo "run-admin-bench.sh: the console login gave no session cookie" >&2; exit 1; }
echo "egress25-admin $ADMIN_PID on $BASE, support token and console session ready"

for kind in check customer-page customer-api; do
    "$BIN/AdminBenchmarks" urls --kind "$kind" --base "$BASE" --customers "$CUSTOMERS" \
        --with-exceptions "$WITH_EXCEPTIONS" --count 20000 >"$WORK/$kind.urls"
done
# Spot check: the page is the customer's (check is left alone: the cold run must build the first snapshot).
first_page=$(head -1 "$WORK/customer-page.urls")
page=$(curl -sf -H "Cookie: $COOKIE" "$first_page")
grep -q "<h1>Customer c-" <<<"$page" \
    || { echo "run-admin-bench.sh: $first_page is not a customer page" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$ADMIN_PID/stat"; }
rss() { awk '/^VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$ADMIN_PID/status"; }

# load NAME URLS SECONDS WARMUP [ARGS...]
load() {
    local name=$1 urls=$2 seconds=$3 warmup=$4
    shift 4
    echo "=== $name: $(wc -l <"$urls") URLs, e.g. ${urls##*/}: $(head -1 "$urls")"
    echo "background before: $(fleet_load_note)"
    local before after hz
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks)
    "$BIN/AdminBenchmarks" load --urls "$urls" --rate "$RATE" --seconds "$seconds" --warmup "$warmup" \
        --connections "$CONNECTIONS" "$@"
    after=$(cpu_ticks)
    echo "egress25-admin CPU over the run (warm-up included): $(awk -v t=$((after - before)) -v hz="$hz" \
        -v s="$(awk -v a="$seconds" -v b="$warmup" 'BEGIN {print a + b}')" \
        'BEGIN {printf "%.1f %% of one core", 100 * t / hz / s}'); RSS $(rss)"
    echo "background after: $(fleet_load_note)"
}

for run in $RUNS; do
    case $run in
    cold) load "cold: check right after the start" "$WORK/check.urls" "$COLD_SECONDS" 0 \
              --header "Authorization: Bearer $TOKEN" ;;
    check) load "check" "$WORK/check.urls" "$DURATION" "$WARMUP" --header "Authorization: Bearer $TOKEN" ;;
    page) load "console customer page" "$WORK/customer-page.urls" "$DURATION" "$WARMUP" --cookie "$COOKIE" ;;
    api) load "API customer" "$WORK/customer-api.urls" "$DURATION" "$WARMUP" \
             --header "Authorization: Bearer $TOKEN" ;;
    churn)
        "$BIN/AdminBenchmarks" churn --store "$STORE" --rate "$CHURN_RATE" --seconds "$((DURATION + WARMUP + 3))" &
        CHURN_PID=$!
        sleep 2   # its sessions are started
        load "check while sessions are renewed at $CHURN_RATE/s" "$WORK/check.urls" "$DURATION" "$WARMUP" \
            --header "Authorization: Bearer $TOKEN"
        wait "$CHURN_PID"
        CHURN_PID= ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
    esac
done
echo "a check answer: $(curl -sf -H "Authorization: Bearer $TOKEN" "$(head -1 "$WORK/check.urls")")"
grep -ci "error\|warning" "$WORK/admin.log" | sed 's/^/egress25-admin log lines with error or warning: /' || true
