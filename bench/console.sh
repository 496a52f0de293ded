#!/usr/bin/env bash
# Console page times on a large ledger: fills a store with a synthetic month (default 10 million
# records, the FinOps benchmark's gateway and generator), serves it, signs in with the admin key
# and loads every page three times, reporting the median of the server's own time
# (`Server-Timing`, from the request to the finished page).
#
#   bash bench/console.sh [RECORDS] [sqlite|postgres|both]
#
# Needs a release build (built here). Everything it starts, it stops; the store is deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RECORDS="${1:-10000000}"
ENGINES="${2:-both}"
swift build -c release --product switchyard >/dev/null
BIN="$ROOT/.build/release/switchyard"
WORK="$(mktemp -d /tmp/switchyard-console-bench.XXXXXX)"
chmod 755 "$WORK"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  bash "$ROOT/scripts/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export SWITCHYARD_BENCH_ADMIN_KEY="sk-admin-console-bench-0123456789"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# shellcheck source=bench/finops-config.sh
source "$ROOT/bench/finops-config.sh"

run_engine() {
  local engine="$1" url="$2" port
  port="$(free_port)"
  EXTRA_CONFIG="admin:
  key_env: SWITCHYARD_BENCH_ADMIN_KEY
server:
  listen: \"127.0.0.1:$port\"
tenants:
  - name: acme
  - name: globex
budgets:
  - {name: acme-monthly, scope: \"tenant:acme\", limit: \"5000\", alert_at: [0.5, 0.8]}" config "$url"
  "$BIN" ledger generate --records "$RECORDS" --month 2026-11 --config "$WORK/switchyard.yaml" >/dev/null
  "$BIN" serve --config "$WORK/switchyard.yaml" >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  python3 - "$engine" "$port" <<'PY'
import http.cookiejar, os, re, statistics, sys, time, urllib.error, urllib.parse, urllib.request

engine, port = sys.argv[1], sys.argv[2]
origin = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(origin + "/readyz", timeout=2)
        break
    except Exception:
        if time.monotonic() > deadline:
            sys.exit("switchyard did not become ready")
        time.sleep(0.2)
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
form = opener.open(origin + "/console/login").read().decode()
csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
opener.open(origin + "/console/login", urllib.parse.urlencode(
    {"csrf": csrf, "key": os.environ["SWITCHYARD_BENCH_ADMIN_KEY"]}).encode())
month = "since=2026-11-01&until=2026-12-01"
pages = [
    "/console?month=2026-11",
    f"/console/costs?by=tenant&bucket=day&{month}",
    f"/console/costs?by=model&bucket=month&{month}",
    f"/console/costs?by=deployment&bucket=hour&{month}",
    f"/console/costs?by=customer&bucket=day&{month}",
    f"/console/costs/unit?by=feature&{month}",
    "/console/budgets", "/console/providers", "/console/incidents", "/console/runs", "/console/keys",
    "/console/audit", "/console/config",
]
for page in pages:
    times = []
    for _ in range(3):
        response = opener.open(origin + page, timeout=300)
        response.read()
        times.append(float(response.headers["Server-Timing"].split("dur=")[1]))
    print(f"{engine:9} {page:70} {statistics.median(times):9.1f} ms  (runs: {', '.join(f'{t:.0f}' for t in times)})")
PY
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

if [[ "$ENGINES" == sqlite || "$ENGINES" == both ]]; then
  run_engine sqlite "sqlite://$WORK/console.db"
fi
if [[ "$ENGINES" == postgres || "$ENGINES" == both ]]; then
  PG_PORT="$(free_port)"
  URL="$(bash scripts/postgres.sh start "$WORK/pg" "$PG_PORT")"
  run_engine postgres "$URL"
fi
