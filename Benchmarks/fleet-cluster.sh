# Sourced by Benchmarks/run-fleet-*.sh: a private PostgreSQL cluster for one benchmark run.
#
#   fleet_cluster_start DIR PORT   initdb (as user postgres) under DIR and start it on a unix socket in DIR (and
#                                  no TCP). Durable, as a production server: fsync on, synchronous_commit on,
#                                  full_page_writes on. shared_buffers 1GB, max_wal_size 4GB (so a bulk load is
#                                  not checkpoint-bound); everything else is PostgreSQL's default.
#                                  DURABLE=0 in the environment: fsync/synchronous_commit off (say so beside a figure).
#   fleet_cluster_stop             stop it (immediate) and remove DIR.
#   fleet_psql SQL                 run SQL as the superuser in database egress25 (tuples only, unaligned).
#   fleet_url ROLE                 the unix-socket URL of database egress25 for ROLE (trusted on the socket).
#   fleet_migrate CTL              create database egress25 and run `CTL store migrate` as the superuser.
#   fleet_role NAME GROUP          a login role NAME in GROUP (egress25_router or egress25_admin).

FLEET_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

fleet_cluster_start() {
    FLEET_PG_DIR=$1
    FLEET_PG_PORT=$2
    [ -n "$FLEET_PG_BIN" ] || { echo "no PostgreSQL server installed (apt-get install postgresql)" >&2; return 1; }
    rm -rf "$FLEET_PG_DIR"
    mkdir -p "$FLEET_PG_DIR"
    chown postgres:postgres "$FLEET_PG_DIR"
    chmod 0755 "$FLEET_PG_DIR"
    runuser -u postgres -- "$FLEET_PG_BIN/initdb" -D "$FLEET_PG_DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$FLEET_PG_DIR/initdb.log" 2>&1 \
        || { cat "$FLEET_PG_DIR/initdb.log" >&2; return 1; }
    local durability="fsync = on
synchronous_commit = on
full_page_writes = on"
    if [ "${DURABLE:-1}" = 0 ]; then
        durability="fsync = off
synchronous_commit = off
full_page_writes = off"
    fi
    cat >>"$FLEET_PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $FLEET_PG_PORT
unix_socket_directories = '$FLEET_PG_DIR'
max_connections = 200
shared_buffers = 1GB
max_wal_size = 4GB
$durability
log_min_messages = warning
CONF
    runuser -u postgres -- "$FLEET_PG_BIN/pg_ctl" -D "$FLEET_PG_DIR/data" -l "$FLEET_PG_DIR/server.log" -w -t 60 \
        start >/dev/null || { cat "$FLEET_PG_DIR/server.log" >&2; return 1; }
}

fleet_cluster_stop() {
    [ -n "${FLEET_PG_DIR:-}" ] || return 0
    if [ -d "$FLEET_PG_DIR/data" ]; then
        runuser -u postgres -- "$FLEET_PG_BIN/pg_ctl" -D "$FLEET_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$FLEET_PG_DIR"
}

fleet_url() { echo "postgresql://$1@/egress25?host=$FLEET_PG_DIR&port=$FLEET_PG_PORT"; }

fleet_psql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "postgresql://postgres@/${FLEET_DB:-egress25}?host=$FLEET_PG_DIR&port=$FLEET_PG_PORT" -c "$1"
}

fleet_migrate() {
    FLEET_DB=postgres fleet_psql "CREATE DATABASE egress25"
    printf 'store:\n  url: "%s"\n' "$(fleet_url postgres)" >"$FLEET_PG_DIR/superuser.yaml"
    "$1" --config "$FLEET_PG_DIR/superuser.yaml" store migrate >/dev/null
}

fleet_role() { fleet_psql "CREATE ROLE $1 LOGIN IN ROLE $2"; }

# Background load right now: "loadavg L1 L5 L15; busiest processes over 2 s: NAME %CPU, ..." (top's second
# sample, so the figures are the last 2 s, not a process's lifetime average).
fleet_load_note() {
    local busy
    busy=$(top -b -n 2 -d 2 -o %CPU -w 200 | awk '/^top -/{n++} n==2 && $1 ~ /^[0-9]+$/ && $9+0 > 0 {printf "%s %s%%, ", $12, $9; if (++k == 4) exit}')
    echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg); busiest processes over 2 s: ${busy:-none}"
}
