#!/usr/bin/env bash
# Debian packages Switchyard builds and runs with: SQLite and libpq headers (the two storage
# engines), hiredis headers (Redis, for budgets shared by several replicas), jemalloc (the binary's allocator: fewer instructions per request than glibc's),
# PostgreSQL (tests), python3-venv and curl (scripts). Installs only what is missing.
set -euo pipefail
# More packages may be named as arguments (the tests add HAProxy).
PACKAGES=(libsqlite3-dev libpq-dev libhiredis-dev libjemalloc-dev postgresql python3-venv curl ca-certificates "$@")
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
