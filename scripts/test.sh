#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, starts a throwaway PostgreSQL,
# runs the Swift unit and storage tests (SQLite and PostgreSQL), then the end-to-end tests (the
# official OpenAI SDK → switchyard → a real llama.cpp server). Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE_DIR="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"

echo "== installing dependencies (Debian packages, Python venv, model server)"
bash scripts/install-test-deps.sh

RUN_DIR="$(mktemp -d /tmp/switchyard-test.XXXXXX)"
chmod 755 "$RUN_DIR"  # PostgreSQL runs as the 'postgres' user and needs to reach its data dir
cleanup() {
  bash "$ROOT/scripts/postgres.sh" stop "$RUN_DIR/pg" || true
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

echo "== starting PostgreSQL"
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
SWITCHYARD_TEST_POSTGRES_URL="$(bash scripts/postgres.sh start "$RUN_DIR/pg" "$PG_PORT")"
export SWITCHYARD_TEST_POSTGRES_URL
export SWITCHYARD_REQUIRE_POSTGRES=1
# The shared-quota tests start their own redis-server (installed above): missing, they fail.
export SWITCHYARD_REQUIRE_REDIS=1

echo "== each target imports exactly what Package.swift declares"
python3 scripts/check-imports.py

echo "== building"
swift build --build-tests

echo "== swift test (unit, storage on SQLite and PostgreSQL, gateway)"
swift test --skip-build

echo "== end-to-end (openai SDK → switchyard → llama.cpp)"
export SWITCHYARD_BIN="$ROOT/.build/debug/switchyard"
"$CACHE_DIR/test-venv/bin/python" -m pytest tests/e2e -q -p no:cacheprovider
