#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: `start DIR PORT` creates (first time) and starts it on
# 127.0.0.1:PORT with trust auth for `postgres`; `stop DIR` stops it at once; `remove DIR` stops it
# and deletes DIR. Binaries from TESSERA_TEST_POSTGRES_BIN (default Debian's PostgreSQL 15); as
# root it runs them as the postgres user, which PostgreSQL insists on.
set -euo pipefail
bin=${TESSERA_TEST_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
command=$1 dir=$2
# The server outlives this script: it must not inherit a descriptor its caller waits on (Foundation's
# Process notices a child's exit through one).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done
case $command in
start)
  port=$3
  if [ ! -d "$dir/db" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_postgres "$bin/initdb" -D "$dir/db" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  as_postgres "$bin/pg_ctl" -D "$dir/db" -l "$dir/log" -w -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=1000 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  ;;
stop)
  as_postgres "$bin/pg_ctl" -D "$dir/db" -m fast -w stop >/dev/null 2>&1 || true
  ;;
remove)
  as_postgres "$bin/pg_ctl" -D "$dir/db" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
esac
