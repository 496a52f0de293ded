#!/usr/bin/env bash
# Starts or stops a throwaway Redis (Debian's redis-server) on 127.0.0.1, without persistence,
# for the tests and the benchmark.
# Usage: scripts/redis.sh start DIR PORT   → prints the URL
#        scripts/redis.sh stop DIR
set -euo pipefail
ACTION="$1"
DIR="$2"
PORT="${3:-63790}"
case "$ACTION" in
start)
  command -v redis-server >/dev/null || { echo "redis-server not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
  mkdir -p "$DIR"
  redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --dir "$DIR" \
    --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
  for _ in $(seq 1 100); do
    redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && { echo "redis://127.0.0.1:$PORT"; exit 0; }
    sleep 0.1
  done
  echo "redis-server did not answer on port $PORT within 10 s" >&2
  cat "$DIR/redis.log" >&2 || true
  exit 1
  ;;
stop)
  if [ -f "$DIR/redis.pid" ]; then
    kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true
    rm -f "$DIR/redis.pid"
  fi
  ;;
*)
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
  ;;
esac
