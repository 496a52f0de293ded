#!/usr/bin/env bash
# Starts the local llama.cpp server (Gemma 3 270M) on 127.0.0.1 in the background.
# Usage: scripts/start-model-server.sh PORT PIDFILE [extra llama_cpp.server args...]
# Waits until it answers (bounded), prints its base URL.
set -euo pipefail
PORT="${1:-8081}"
PIDFILE="${2:-./run/model-server-$PORT.pid}"
shift 2 || true
HERE="$(cd "$(dirname "$0")" && pwd)"
MODEL="$(bash "$HERE/install-model-server.sh" | tail -n 1)"
VENV="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/llama-venv"
mkdir -p "$(dirname "$PIDFILE")"
LOG="${PIDFILE%.pid}.log"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias gemma-3-270m --chat_format gemma \
  --host 127.0.0.1 --port "$PORT" --n_threads 1 --n_ctx 2048 "$@" >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then
    echo "http://127.0.0.1:$PORT/v1"
    exit 0
  fi
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "model server exited; log follows" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done
echo "model server did not become ready in 60 s; log: $LOG" >&2
exit 1
