#!/usr/bin/env bash
# Runs psql as the postgres user (PostgreSQL refuses to run as root), passing arguments through.
set -euo pipefail
if [ "$(id -un)" = "postgres" ]; then
  exec psql -X "$@"
fi
args=""
for a in "$@"; do args="$args $(printf '%q' "$a")"; done
if [ "$(id -u)" -eq 0 ]; then
  exec su postgres -c "psql -X $args"
fi
exec sudo -u postgres psql -X "$@"
