#!/usr/bin/env bash
# Sets up and runs Switchyard in front of a real local model (llama.cpp serving Gemma 3 270M):
# installs what is missing, builds a release binary, starts the model server on 127.0.0.1:8081,
# creates switchyard.yaml from the example (first run only), prints an API key for tenant
# 'acme', and serves on 127.0.0.1:8080 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "== building switchyard (release; the first build takes several minutes)" >&2
swift build -c release --product switchyard >&2
BIN="$PWD/.build/release/switchyard"

mkdir -p run
if ! curl -fsS http://127.0.0.1:8081/v1/models >/dev/null 2>&1; then
  echo "== starting the model server on 127.0.0.1:8081 (first run builds llama-cpp-python: 10-20 minutes)" >&2
  bash scripts/start-model-server.sh 8081 run/model-server.pid >&2
  trap 'kill "$(cat run/model-server.pid)" 2>/dev/null || true' EXIT
fi

[ -f switchyard.yaml ] || cp switchyard.example.yaml switchyard.yaml
KEY="$("$BIN" keys create --tenant acme --agent quickstart --expires 7d)"
cat >&2 <<MSG

Switchyard is starting on http://127.0.0.1:8080 with a key for tenant 'acme' (valid 7 days):

  export OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=$KEY
  curl \$OPENAI_BASE_URL/chat/completions -H "Authorization: Bearer \$OPENAI_API_KEY" \\
    -d '{"model":"chat","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'
  $BIN report usage --by tenant

MSG
"$BIN" serve --config switchyard.yaml
