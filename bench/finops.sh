#!/usr/bin/env bash
# FinOps report benchmark: fills a store with a synthetic month of traffic (default 10 million
# records: 4 tenants × 3 agents, 3 deployments incl. a self-hosted one with hourly capacity, a
# mid-month price cut, customer/feature/outcome tags, a provider contract) and times every report.
#
#   bash bench/finops.sh [RECORDS] [sqlite|postgres|both]
#
# Needs a release build (built here) and, for postgres, the Debian postgresql package
# (scripts/install-deps.sh). Everything it starts, it stops; the store is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RECORDS="${1:-10000000}"
ENGINES="${2:-both}"
swift build -c release --product switchyard >/dev/null
BIN="$ROOT/.build/release/switchyard"
WORK="$(mktemp -d /tmp/switchyard-finops-bench.XXXXXX)"
chmod 755 "$WORK"
cleanup() {
  bash "$ROOT/scripts/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/finops-config.sh
source "$ROOT/bench/finops-config.sh"

seconds() { python3 -c 'import time; print(f"{time.monotonic():.3f}")'; }

run_engine() {
  local engine="$1" url="$2"
  config "$url"
  local start end
  start=$(seconds)
  "$BIN" ledger generate --records "$RECORDS" --month 2026-10 --config "$WORK/switchyard.yaml" >/dev/null
  end=$(seconds)
  printf "%-9s %-44s %8.1f s  (%s records/s)\n" "$engine" "ledger generate ($RECORDS records)" \
    "$(python3 -c "print($end-$start)")" "$(python3 -c "print(int($RECORDS/($end-$start)))")"
  echo "" > "$WORK/same.yaml"
  local span=(--since 2026-10-01 --until 2026-11-01)
  while IFS='|' read -r label args; do
    start=$(seconds)
    args="${args/SAME/$WORK/same.yaml}"
    # shellcheck disable=SC2086
    "$BIN" $args "${span[@]}" --config "$WORK/switchyard.yaml" >"$WORK/out.txt"
    end=$(seconds)
    printf "%-9s %-44s %8.2f s  (%s lines)\n" "$engine" "$label" "$(python3 -c "print($end-$start)")" "$(wc -l < "$WORK/out.txt")"
  done <<'REPORTS'
report cost --by tenant|report cost --by tenant
report cost --by customer (tag)|report cost --by customer
report cost --by model --bucket day|report cost --by model --bucket day
report unit --by feature (tag)|report unit --by feature
report commitments|report commitments
report concentration|report concentration
simulate (same prices)|simulate --scenario SAME
export focus (csv)|export focus --format csv
REPORTS
}

if [[ "$ENGINES" == sqlite || "$ENGINES" == both ]]; then
  run_engine sqlite "sqlite://$WORK/finops.db"
  ls -la "$WORK/finops.db" | awk '{printf "sqlite    database size %.0f MiB\n", $5/1048576}'
fi
if [[ "$ENGINES" == postgres || "$ENGINES" == both ]]; then
  PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  URL="$(bash scripts/postgres.sh start "$WORK/pg" "$PG_PORT")"
  run_engine postgres "$URL"
fi
