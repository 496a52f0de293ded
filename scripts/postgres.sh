#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL (Debian's package) on 127.0.0.1 for the tests.
# Usage: scripts/postgres.sh start DIR PORT   → prints the connection URL
#        scripts/postgres.sh stop DIR
set -euo pipefail
ACTION="$1"
DIR="$2"
PORT="${3:-54329}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$BIN" ] || { echo "PostgreSQL server not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
# PostgreSQL refuses to run as root: run it as the 'postgres' user the Debian package creates.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$ACTION" in
start)
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  if [ ! -f "$DIR/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$DIR" -A trust -U switchyard --no-sync >"$DIR.initdb.log" 2>&1 || { cat "$DIR.initdb.log" >&2; exit 1; }
  fi
  # Tests run without fsync (speed); POSTGRES_DURABLE=1 (the ledger benchmark) keeps it on.
  durability="-c fsync=off"
  [ "${POSTGRES_DURABLE:-0}" = 1 ] && durability=""
  as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR $durability -c max_connections=200" start >/dev/null
  echo "postgres://switchyard@127.0.0.1:$PORT/postgres"
  ;;
stop)
  [ -f "$DIR/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null || true
  ;;
*)
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
  ;;
esac
