#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `scripts/test-postgres.sh start` creates it (initdb, as user
# postgres) under $EGRESS25_TEST_PG_DIR (default /tmp/egress25-test-pg) and starts it on a unix socket in that
# directory and on 127.0.0.1:$EGRESS25_TEST_PG_PORT (default 54329); it prints the URL the tests read from
# EGRESS25_TEST_PG_URL. `stop` stops it and removes the directory. `url` prints the URL.
#
# Authentication: the superuser `postgres` over the unix socket (trust, for the test fixtures); every TCP login
# needs a password (scram-sha-256), so the tests can prove a wrong password is refused.
set -euo pipefail
dir=${EGRESS25_TEST_PG_DIR:-/tmp/egress25-test-pg}
port=${EGRESS25_TEST_PG_PORT:-54329}
url="postgresql://postgres@/postgres?host=$dir&port=$port"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "test-postgres: no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }
as_postgres() { runuser -u postgres -- "$@"; }

case "${1:-}" in
start)
    if [ -f "$dir/data/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "$url"; exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 0755 "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "$url"
    ;;
stop)
    if [ -d "$dir/data" ]; then as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
url)
    echo "$url"
    ;;
*)
    echo "usage: $0 start|stop|url" >&2; exit 2
    ;;
esac
