#!/usr/bin/env bash
# The gateway-overhead benchmark: nginx serves fixed OpenAI responses; wrk drives the same load
# straight at nginx and through `switchyard serve` (release build, auth + routing + metering +
# ledger on, SQLite store); prints one table. Closed-loop load comes from wrk, open-loop (fixed
# rate, latency counted from when each request was due) from bench/openloop.c. Everything binds 127.0.0.1 and is stopped at the end.
#
#   bench/run.sh                 # full run (~4 minutes after the release build)
#   BENCH_SECONDS=3 bench/run.sh # quicker
#   bench/run.sh soak            # 64 connections for BENCH_SOAK_MINUTES (10), RSS printed each minute
#   bench/run.sh hold            # start everything and wait (profiling by hand; see $WORK/env)
#   bench/run.sh instructions    # instructions per request under QEMU (no PMU needed); BENCH_COMPARE="other binaries"
#   bench/run.sh allocations     # heap allocations per request (jemalloc's counters, bench/alloccount.c), native:
#                                # tracing off, then on at each BENCH_TRACE_RATIOS ("0 1": 0 = every request unsampled)
#   bench/run.sh ledger          # BENCH_LEDGER_RATE (5000) requests/s for BENCH_LEDGER_SECONDS (30):
#                                # usage records stored per second, most waiting at once
#   BENCH_STORE=postgres ...     # any of these on PostgreSQL (started by the script, fsync on)
#   BENCH_REDIS=1 ...            # budgets and rate limits shared through Redis (started by the script);
#                                # `instructions` then measures each binary with sharing off and on
#   BENCH_TRACE_RATIOS="0.01 1"  # `instructions` also measures this checkout's binary with traces exported
#                                # (OTLP/HTTP to nginx) at each head-sampling ratio; BENCH_TRACE_WARMUP (2000) requests
#                                # warm each traced run up, past the exporter's first export
#   BENCH_RUNS=1                 # `instructions` also measures this checkout's binary with every request in one
#                                # agent run (x-switchyard-run; the same prompt each time, so each is flagged a loop)
#   BENCH_METRICS_PUSH=1         # `instructions` also measures this checkout's binary with its metrics pushed
#                                # over OTLP/HTTP to nginx every 5 s (swift-otel's backend beside swift-prometheus')
#   BENCH_SLOTS=1 ...            # the bench deployments get max_concurrency and the tenant concurrent_requests
#                                # (10,000 each: never reached), so with Redis their slots are leased
#   bench/run.sh replicas        # 3 replicas on PostgreSQL and Redis, BENCH_LEDGER_RATE (5000) requests/s
#                                # in total for BENCH_LEDGER_SECONDS (30): records stored per second, the
#                                # lease steps a request waited for, and the fleet's spend against the ledger
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CONCURRENCIES="${BENCH_CONCURRENCIES:-4 16 64 256}"

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash scripts/install-deps.sh
BIN="${BENCH_BIN:-}"  # a binary built elsewhere (another revision), or this checkout's release build
if [ -z "$BIN" ]; then
  echo "== building switchyard (release)" >&2
  swift build -c release --product switchyard >&2
  BIN="$ROOT/.build/release/switchyard"
fi

WORK="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
chmod 755 "$WORK"  # nginx workers run as www-data and must read the fixtures
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
GATEWAY_PORT="$(free_port)"
IDLE_PORT="$(free_port)"
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/proxy.pid" ] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null || true
  [ -d "$WORK/pg" ] && bash scripts/postgres.sh stop "$WORK/pg" || true
  [ -d "$WORK/redis" ] && bash scripts/redis.sh stop "$WORK/redis" || true
  for pid in ${REPLICA_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  [ -n "${GATEWAY_PID:-}" ] && kill "$GATEWAY_PID" 2>/dev/null || true
  [ -n "${IDLE_PID:-}" ] && kill "$IDLE_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

python3 bench/make_fixtures.py
cp bench/completion.json bench/stream.sse "$WORK/"
: >"$WORK/empty" # the OTLP answer for traced runs (an empty ExportTraceServiceResponse)
gcc -O2 -o "$WORK/openloop" bench/openloop.c
REQUEST_BODY='{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2}'
printf '%s' "$REQUEST_BODY" >"$WORK/request.json"
chmod 644 "$WORK/completion.json" "$WORK/stream.sse" "$WORK/empty"
# start_nginx NAME WORKERS SERVER_BLOCKS: an nginx with keep-alive settings for load, logging off.
start_nginx() {
  cat >"$WORK/$1.conf" <<NGINX
worker_processes $2;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
$3
}
NGINX
  nginx -c "$WORK/$1.conf"
}
# The upstream: a fixed completion and a fixed 50-chunk stream.
start_nginx nginx 1 "  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport backlog=4096;
    location = /v1/chat/completions { default_type application/json; alias $WORK/completion.json; error_page 405 =200 \$uri; }
    location = /stream/v1/chat/completions { default_type text/event-stream; alias $WORK/stream.sse; error_page 405 =200 \$uri; }
    location = /v1/traces { default_type application/x-protobuf; alias $WORK/empty; error_page 405 =200 \$uri; }
    location = /v1/metrics { default_type application/x-protobuf; alias $WORK/empty; error_page 405 =200 \$uri; }
  }"
# The reference proxy: nginx itself as a keep-alive reverse proxy in front of the same upstream,
# with as many workers as Switchyard has event loops. It shows what a mature C proxy adds on this
# machine, so the targets can be read against what is possible here at all.
start_nginx proxy "$(nproc)" "  upstream fixed { server 127.0.0.1:$NGINX_PORT; keepalive 512; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PROXY_PORT backlog=4096;
    location / { proxy_pass http://fixed; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"

# Governance on (BENCH_GOVERNANCE=0 for an A/B run without it), so its checks are measured:
# none of these refuse the benchmark's requests.
GOVERNANCE_YAML=""
if [ "${BENCH_GOVERNANCE:-1}" = 1 ]; then
  GOVERNANCE_YAML="$(cat <<'GOV'
policies:
  - name: bench-policy
    scope: tenant:bench
    denied_tools: [shell]
    max_input_tokens: 100000
    guardrails: { secrets: block, credit_cards: redact, emails: allow }
limits:
  - scope: tenant:bench
    requests_per_minute: 100000000
    tokens_per_minute: 1000000000000
CONCURRENT_REQUESTS_LINE
budgets:
  - name: bench-budget
    scope: tenant:bench
    limit: "100000000"
GOV
)"
fi
SLOTS_YAML=""
if [ "${BENCH_SLOTS:-0}" = 1 ]; then
  SLOTS_YAML="    max_concurrency: 10000"
  GOVERNANCE_YAML="${GOVERNANCE_YAML/CONCURRENT_REQUESTS_LINE/    concurrent_requests: 10000}"
fi
GOVERNANCE_YAML="${GOVERNANCE_YAML/CONCURRENT_REQUESTS_LINE
/}"
GOVERNANCE_YAML="${GOVERNANCE_YAML/CONCURRENT_REQUESTS_LINE/}"
# The store: SQLite by default; BENCH_STORE=postgres starts a throwaway PostgreSQL (fsync on).
# Several replicas need both PostgreSQL and Redis.
if [ "${1:-}" = replicas ]; then BENCH_STORE=postgres; BENCH_REDIS=1; fi
STORE_URL="sqlite://$WORK/switchyard.db"
if [ "${BENCH_STORE:-sqlite}" = postgres ]; then
  STORE_URL="$(POSTGRES_DURABLE=1 bash scripts/postgres.sh start "$WORK/pg" "$(free_port)")"
fi
REDIS_YAML=""
if [ "${BENCH_REDIS:-0}" = 1 ]; then
  command -v redis-server >/dev/null || bash scripts/install-deps.sh redis-server
  REDIS_PORT="$(free_port)"
  REDIS_YAML="  redis_url: \"$(bash scripts/redis.sh start "$WORK/redis" "$REDIS_PORT")\""
fi
cat >"$WORK/switchyard.yaml" <<YAML
server:
  listen: "127.0.0.1:$GATEWAY_PORT"
storage:
  url: "$STORE_URL"
  journal: "$WORK/journal.ndjson"
$REDIS_YAML
providers:
  - name: nginx
    kind: openai
    base_url: "http://127.0.0.1:$NGINX_PORT/v1"
    max_connections: 512
  - name: nginx-stream
    kind: openai
    base_url: "http://127.0.0.1:$NGINX_PORT/stream/v1"
    max_connections: 512
  - name: idle
    kind: openai
    base_url: "http://127.0.0.1:$IDLE_PORT/v1"
    max_connections: 2000
deployments:
  - name: fixed
    provider: nginx
    model: gpt-4o-mini
    price: { input_per_mtok: "0.15", output_per_mtok: "0.60" }
$SLOTS_YAML
  - name: fixed-stream
    provider: nginx-stream
    model: gpt-4o-mini
    price: { input_per_mtok: "0.15", output_per_mtok: "0.60" }
$SLOTS_YAML
  - name: idle
    provider: idle
    model: idle
    timeouts: { idle_seconds: 120, first_byte_seconds: 120 }
routes:
  - name: bench
    targets: [fixed]
  - name: bench-stream
    targets: [fixed-stream]
  - name: bench-idle
    targets: [idle]
tenants:
  - name: bench
observability:
  metrics_token_env: BENCH_METRICS_TOKEN
$GOVERNANCE_YAML
YAML
export BENCH_METRICS_TOKEN="bench-metrics-$RANDOM$RANDOM"
KEY="$("$BIN" keys create --config "$WORK/switchyard.yaml" --tenant bench 2>/dev/null)"
LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" "$BIN" serve --config "$WORK/switchyard.yaml" >"$WORK/serve.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_wrk() { # name url concurrency -> RESULT line with cpu
  local name="$1" url="$2" connections="$3" before after
  local threads=2
  [ "$connections" -lt 2 ] && threads=1
  before="$(cpu_ticks "$GATEWAY_PID")"
  local line
  line="$(BENCH_KEY="$KEY" wrk -t"$threads" -c"$connections" -d"${SECONDS_PER_RUN}s" --timeout 10s -s bench/post.lua "$url" | grep '^RESULT')"
  after="$(cpu_ticks "$GATEWAY_PID")"
  echo "$name $connections ${line#RESULT } $((after - before))"
}

run_open_loop() { # name port path rate -> RESULT line with cpu; 64 connections, more than the rate needs
  local name="$1" port="$2" path="$3" rate="$4" before after line
  before="$(cpu_ticks "$GATEWAY_PID")"
  line="$("$WORK/openloop" 127.0.0.1 "$port" "$path" "$WORK/request.json" "$rate" "$SECONDS_PER_RUN" 64 "$KEY" | grep '^RESULT')"
  after="$(cpu_ticks "$GATEWAY_PID")"
  echo "$name $rate ${line#RESULT } $((after - before))"
}

metric() { # name with labels, e.g. 'switchyard_ledger_records{state="written"}' [port] -> value
  curl -fsS -H "Authorization: Bearer $BENCH_METRICS_TOKEN" "http://127.0.0.1:${2:-$GATEWAY_PORT}/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

if [ "${1:-}" = replicas ]; then
  # Three replicas of one fleet (PostgreSQL ledger, budgets and limits shared through Redis), each
  # driven by its own open-loop client at a third of the rate, as a balancer would spread it.
  rate="${BENCH_LEDGER_RATE:-5000}"
  seconds="${BENCH_LEDGER_SECONDS:-30}"
  kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
  PORTS=""; REPLICA_PIDS=""
  for index in 0 1 2; do
    port="$(free_port)"
    sed -e "s#127.0.0.1:$GATEWAY_PORT#127.0.0.1:$port#" -e "s#$WORK/journal.ndjson#$WORK/journal-$index.ndjson#" \
      "$WORK/switchyard.yaml" >"$WORK/replica-$index.yaml"
    LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" "$BIN" serve --config "$WORK/replica-$index.yaml" >"$WORK/replica-$index.log" 2>&1 &
    REPLICA_PIDS="$REPLICA_PIDS $!"; PORTS="$PORTS $port"
  done
  for port in $PORTS; do
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  # Five seconds of the same load first: leases sized to the rate, then the steady state counted.
  for port in $PORTS; do
    "$WORK/openloop" 127.0.0.1 "$port" /v1/chat/completions "$WORK/request.json" "$((rate / 3))" 5 64 "$KEY" >/dev/null &
  done
  wait $(jobs -p | tail -n 3) 2>/dev/null || true
  waited_before=0
  for port in $PORTS; do waited_before=$((waited_before + $(metric 'switchyard_fleet_lease_steps{path="request"}' "$port"))); done
  index=0
  for port in $PORTS; do
    "$WORK/openloop" 127.0.0.1 "$port" /v1/chat/completions "$WORK/request.json" "$((rate / 3))" "$seconds" 64 "$KEY" \
      | grep '^RESULT' >"$WORK/replica-$index.txt" &
    index=$((index + 1))
  done
  wait $(jobs -p | tail -n 3) 2>/dev/null || true
  for port in $PORTS; do
    for _ in $(seq 1 300); do [ "$(metric switchyard_ledger_pending_records "$port")" = 0 ] && break; sleep 0.1; done
  done
  sleep 1  # every replica reports its last spend within 200 ms
  written=0; waited=$((0 - waited_before)); background=0
  for port in $PORTS; do
    written=$((written + $(metric 'switchyard_ledger_records{state="written"}' "$port")))
    waited=$((waited + $(metric 'switchyard_fleet_lease_steps{path="request"}' "$port")))
    background=$((background + $(metric 'switchyard_fleet_lease_steps{path="background"}' "$port")))
  done
  ledger="$(psql "$STORE_URL" -Atc "SELECT coalesce(sum(cost_nanos), 0) FROM usage_records")"
  fleet="$(redis-cli -p "$REDIS_PORT" --raw HGET "$(redis-cli -p "$REDIS_PORT" --raw KEYS 'switchyard:budget:*' | head -1)" spent)"
  python3 - "$rate" "$seconds" "$written" "$waited" "$background" "$ledger" "$fleet" "$WORK"/replica-*.txt <<'PY'
import json, sys
rate, seconds, written, waited, background, ledger, fleet = sys.argv[1:8]
results = [json.loads(open(path).read().split(" ", 1)[1]) for path in sys.argv[8:]]
answered = sum(r["requests"] for r in results)
errors = sum(r["errors"] for r in results)
duration = max(r["duration_us"] for r in results) / 1e6
print(f"3 replicas, {rate} requests/s offered in total for {seconds} s: {answered} answered ({answered / duration:.0f}/s, "
      f"{errors} errors); latency p50 {', '.join(str(r['p50']) for r in results)} µs, "
      f"p99 {', '.join(str(r['p99']) for r in results)} µs per replica")
print(f"  records stored (the 5 s warm-up included): {written}, {int(written) / (duration + 5):.0f}/s; "
      f"lease steps a request waited for after the warm-up: {waited}, in the background in all: {background}")
print(f"  spend: ledger {ledger} nano-USD, the fleet's budget counter in Redis {fleet.strip()}")
PY
  exit 0
fi

if [ "${1:-}" = hold ]; then
  # Everything started and left running for profiling by hand; the environment to drive it is in
  # $WORK/env (source it). Stops after BENCH_HOLD_SECONDS (3600) or when this script is killed.
  cat >"$WORK/env" <<ENV
GATEWAY_PID=$GATEWAY_PID
GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions
DIRECT_URL=http://127.0.0.1:$NGINX_PORT/v1/chat/completions
PROXY_URL=http://127.0.0.1:$PROXY_PORT/v1/chat/completions
BENCH_KEY=$KEY
ENV
  echo "held: source $WORK/env" >&2
  sleep "${BENCH_HOLD_SECONDS:-3600}"
  exit 0
fi

if [ "${1:-}" = ledger ]; then
  # Usage records at a fixed request rate (one record per request) into the configured store.
  rate="${BENCH_LEDGER_RATE:-5000}"
  seconds="${BENCH_LEDGER_SECONDS:-30}"
  written_before="$(metric 'switchyard_ledger_records{state="written"}')"
  (max=0; while :; do
    p="$(metric switchyard_ledger_pending_records || echo 0)"; [ "${p:-0}" -gt "$max" ] && max="$p"
    # Replaced, not rewritten: the sampler is killed at any moment, and a half-written file read empty.
    echo "$max" >"$WORK/max-pending.new" && mv "$WORK/max-pending.new" "$WORK/max-pending"; sleep 0.25; done) &
  SAMPLER=$!
  SECONDS_PER_RUN="$seconds" run_open_loop switchyard-open "$GATEWAY_PORT" /v1/chat/completions "$rate" >"$WORK/ledger.txt"
  kill "$SAMPLER"
  for _ in $(seq 1 100); do [ "$(metric switchyard_ledger_pending_records)" = 0 ] && break; sleep 0.1; done
  written="$(( $(metric 'switchyard_ledger_records{state="written"}') - written_before ))"
  python3 - "$WORK/ledger.txt" "$written" "$(cat "$WORK/max-pending")" "$(metric 'switchyard_ledger_records{state="spilled"}')" \
    "${BENCH_STORE:-sqlite}" "$rate" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, written, max_pending, spilled, store, rate, ticks_per_s = sys.argv[1:8]
name, offered, payload, ticks = open(path).read().split(" ", 3)
r = json.loads(payload)
seconds = r["duration_us"] / 1e6
print(f"ledger into {store}: {rate} requests/s offered for {seconds:.0f} s; {r['requests']} answered "
      f"({r['errors']} errors, {r['late']} waited for a connection), latency p50 {r['p50']} µs, p99 {r['p99']} µs, "
      f"p99.9 {r['p999']} µs")
print(f"  records stored: {written} ({int(written) / seconds:.0f}/s), most waiting at once: {max_pending}, "
      f"spilled to the journal: {spilled}; gateway CPU {int(ticks) / int(ticks_per_s) / max(1, r['requests']) * 1000:.3f} s per 1k")
PY
  # The store's own ceiling: 100,000 synthetic records in batches of 5,000, nothing else running.
  kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
  echo "  store ceiling: $("$BIN" ledger generate --config "$WORK/switchyard.yaml" --records 100000 --month 2026-10 2>&1 | tail -1)"
  exit 0
fi

if [ "${1:-}" = instructions ]; then
  # Instructions per request without hardware counters: each binary ($BIN, then every path in
  # BENCH_COMPARE, all on the same config) serves sequential requests under QEMU user mode with
  # the counting plugin bench/insncount.c. Figures are exact and repeatable to a fraction of a
  # percent; compare binaries as ratios within one run.
  command -v qemu-x86_64 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null; }
  gcc -O2 -shared -fPIC -o "$WORK/insncount.so" bench/insncount.c -lpthread
  kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
  printf '%s' '{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":64}' >"$WORK/stream-request.json"
  for bin in "$BIN" ${BENCH_COMPARE:-}; do
   # Sharing on too for this checkout's binary (older ones may not know storage.redis_url).
   sharing="off"
   [ -n "$REDIS_YAML" ] && [ "$bin" = "$BIN" ] && sharing="off on"
   # Traces too for this checkout's binary, at each ratio asked for.
   [ "$bin" = "$BIN" ] && for ratio in ${BENCH_TRACE_RATIOS:-}; do sharing="$sharing trace=$ratio"; done
   # An agent run too, if asked.
   [ "$bin" = "$BIN" ] && [ -n "${BENCH_RUNS:-}" ] && sharing="$sharing run"
   # And with the metrics pushed over OTLP too (every series in swift-otel's backend as well).
   [ "$bin" = "$BIN" ] && [ -n "${BENCH_METRICS_PUSH:-}" ] && sharing="$sharing push"
   for shared in $sharing; do
    run="$(mktemp -d "$WORK/instructions.XXXXXX")"
    # Its own store (binaries may differ in schema); no metrics token (older binaries lack the key).
    drop_redis='/redis_url/d'
    [ "$shared" = on ] && drop_redis='/^$/d'
    sed -e "s#$WORK/switchyard.db#$run/switchyard.db#" -e "s#$WORK/journal.ndjson#$run/journal.ndjson#" \
      -e '/^observability:/d' -e '/metrics_token_env/d' -e "$drop_redis" "$WORK/switchyard.yaml" >"$run/switchyard.yaml"
    case "$shared" in
      trace=*)
        printf 'observability:\n  tracing:\n    endpoint: "http://127.0.0.1:%s"\n    sample_ratio: %s\n' \
          "$NGINX_PORT" "${shared#trace=}" >>"$run/switchyard.yaml" ;;
      push)
        printf 'observability:\n  otlp_metrics:\n    endpoint: "http://127.0.0.1:%s"\n    interval_seconds: 5\n' \
          "$NGINX_PORT" >>"$run/switchyard.yaml" ;;
    esac
    key="$("$bin" keys create --config "$run/switchyard.yaml" --tenant bench 2>/dev/null)"
    mkfifo "$run/ctl"
    SWIFT_DETERMINISTIC_HASHING=1 LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" qemu-x86_64 -plugin "$WORK/insncount.so,ctl=$run/ctl,out=$run/count" \
      "$bin" serve --config "$run/switchyard.yaml" >"$run/serve.log" 2>&1 &
    GATEWAY_PID=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    # With traces, the warm-up outlasts the exporter's 5 s schedule delay (2,000 requests, and
    # at least 6 s), so its first export (a connection and the exporter's lazy set-up: once per
    # process) is not in the count: at 1 %, whose first batch waits for the timer, it was, and
    # read as +2.9 % per request (+0.4 % once the warm-up waits). Untraced runs of the same invocation
    # warm up as long, so every store holds as many records when counting starts.
    warmup=200
    warmup_seconds=0
    if [ -n "${BENCH_TRACE_RATIOS:-}" ]; then warmup="${BENCH_TRACE_WARMUP:-2000}"; warmup_seconds=6; fi
    headers=()
    [ "$shared" = run ] && headers=(--header "x-switchyard-run:bench-run")
    for kind in request stream-request; do
      echo "$bin sharing=$shared $kind $(python3 bench/instructions.py --port "$GATEWAY_PORT" --key "$key" --ctl "$run/ctl" \
        --out "$run/count" --body "$WORK/$kind.json" --requests "${BENCH_REQUESTS:-500}" --warmup "$warmup" \
        --warmup-seconds "$warmup_seconds" "${headers[@]}")"
    done
    kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
   done
  done
  exit 0
fi

if [ "${1:-}" = allocations ]; then
  # Allocations per request: the same sequential driver as `instructions`, reading jemalloc's
  # allocation counters (thread caches off, so each allocation reaches them) instead of QEMU's
  # instruction count. Tracing at ratio 0 traces nothing: its figure against "off" is what an
  # unsampled request allocates for tracing.
  gcc -O2 -shared -fPIC -o "$WORK/alloccount.so" bench/alloccount.c -ldl -lpthread
  kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
  printf '%s' '{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":64}' >"$WORK/stream-request.json"
  for mode in off ${BENCH_TRACE_RATIOS:-0 1}; do
    run="$(mktemp -d "$WORK/allocations.XXXXXX")"
    sed -e "s#$WORK/switchyard.db#$run/switchyard.db#" -e "s#$WORK/journal.ndjson#$run/journal.ndjson#" \
      -e '/^observability:/d' -e '/metrics_token_env/d' -e '/redis_url/d' "$WORK/switchyard.yaml" >"$run/switchyard.yaml"
    [ "$mode" != off ] && printf 'observability:\n  tracing:\n    endpoint: "http://127.0.0.1:%s"\n    sample_ratio: %s\n' \
      "$NGINX_PORT" "$mode" >>"$run/switchyard.yaml"
    key="$("$BIN" keys create --config "$run/switchyard.yaml" --tenant bench 2>/dev/null)"
    mkfifo "$run/ctl"
    ALLOCCOUNT_CTL="$run/ctl" ALLOCCOUNT_OUT="$run/count" MALLOC_CONF=tcache:false LD_PRELOAD="$WORK/alloccount.so" \
      LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" "$BIN" serve --config "$run/switchyard.yaml" >"$run/serve.log" 2>&1 &
    GATEWAY_PID=$!
    for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    for kind in request stream-request; do
      echo "tracing=$mode $kind $(python3 bench/instructions.py --port "$GATEWAY_PORT" --key "$key" --ctl "$run/ctl" \
        --out "$run/count" --body "$WORK/$kind.json" --requests "${BENCH_REQUESTS:-500}" --warmup "${BENCH_TRACE_WARMUP:-2000}")"
    done
    kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; GATEWAY_PID=""
  done
  exit 0
fi

if [ "${1:-}" = soak ]; then
  rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$GATEWAY_PID/status"; }
  echo "minute 0: RSS $(rss)"
  for minute in $(seq 1 "${BENCH_SOAK_MINUTES:-10}"); do
    line="$(BENCH_KEY="$KEY" wrk -t2 -c64 -d60s --timeout 10s -s bench/post.lua "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" | grep '^RESULT')"
    echo "minute $minute: RSS $(rss) ${line#RESULT }"
  done
  exit 0
fi

RESULTS="$WORK/results.txt"
: >"$RESULTS"
# Warm up connections and caches.
BENCH_KEY="$KEY" wrk -t2 -c16 -d2s -s bench/post.lua "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" >/dev/null
for connections in $CONCURRENCIES; do
  echo "== $connections connections" >&2
  run_wrk direct "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" "$connections" >>"$RESULTS"
  run_wrk switchyard "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" "$connections" >>"$RESULTS"
  run_wrk nginx-proxy "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$connections" >>"$RESULTS"
done
for rate in ${BENCH_RATES:-1000 4000}; do
  echo "== open loop, $rate requests/s" >&2
  run_open_loop direct-open "$NGINX_PORT" /v1/chat/completions "$rate" >>"$RESULTS"
  run_open_loop switchyard-open "$GATEWAY_PORT" /v1/chat/completions "$rate" >>"$RESULTS"
done
for connections in 16 64; do
  echo "== streams, $connections connections" >&2
  BENCH_BODY='{"model":"bench","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":64}' \
    run_wrk direct-stream "http://127.0.0.1:$NGINX_PORT/stream/v1/chat/completions" "$connections" >>"$RESULTS"
  BENCH_BODY='{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":64}' \
    run_wrk switchyard-stream "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" "$connections" >>"$RESULTS"
done

echo "== time to first chunk and 1,000 idle streams" >&2
# Measured on a quiet gateway: the ledger first catches up with the records of the load above
# (its writer would otherwise share the 2 cores with these sequential requests).
for _ in $(seq 1 600); do [ "$(metric switchyard_ledger_pending_records)" = 0 ] && break; sleep 0.1; done
python3 bench/streams.py --gateway "127.0.0.1:$GATEWAY_PORT" --direct "127.0.0.1:$NGINX_PORT" --key "$KEY" \
  --idle-port "$IDLE_PORT" --gateway-pid "$GATEWAY_PID" --idle-pid-file "$WORK/idle.pid" >"$WORK/streams.json"

sleep 0.5
python3 bench/report.py "$RESULTS" "$WORK/streams.json" "$GATEWAY_PID" "$(getconf CLK_TCK)" \
  "$(metric 'switchyard_ledger_records{state="written"}' || echo '?')"
