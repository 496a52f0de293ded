#!/usr/bin/env bash
# Installs what the tests need: Debian packages (SQLite, libpq and hiredis headers, PostgreSQL, Redis, curl, HAProxy, promtool) and a
# Python venv with the official OpenAI SDK and pytest. Idempotent; fast on a machine that has run it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# HAProxy: the load balancer in front of replicas (rolling restart); Redis: the fleet's shared
# quotas; Prometheus for its promtool, which checks the /metrics exposition; Chromium and its
# driver for the console tests in a real browser.
bash "$HERE/install-deps.sh" haproxy redis-server prometheus chromium chromium-driver
CACHE_DIR="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
VENV="$CACHE_DIR/test-venv"
REQUIREMENTS="$HERE/../tests/e2e/requirements.txt"
mkdir -p "$CACHE_DIR"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
STAMP="$VENV/.requirements.sha256"
if [ ! -f "$STAMP" ] || ! sha256sum -c --status "$STAMP" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r "$REQUIREMENTS"
  sha256sum "$REQUIREMENTS" >"$STAMP"
fi
bash "$HERE/install-model-server.sh" >/dev/null
